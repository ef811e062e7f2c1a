"""HTTP routes of core.auth (HTML and JSON), collected by core's builtin plugin.

One module per feature: sign-in and sign-out (``signin``), the second factor (``mfa``),
the password (``password``), the user's sessions (``account_sessions``), personal API
tokens (``api_tokens``), the clinic's security settings (``security_settings``) and the
unlock link of a waiting sign-in (``unlock``);
``common`` holds what they share. Every route declares a guard.
"""

from __future__ import annotations

from core.auth.routes.account_sessions import (
    api_session_revoke,
    api_sessions,
    api_sessions_revoke_others,
    session_revoke,
    sessions_page,
    sessions_revoke_others,
)
from core.auth.routes.api_tokens import (
    api_tokens,
    api_tokens_create,
    api_tokens_revoke,
    tokens_create,
    tokens_page,
    tokens_revoke,
)
from core.auth.routes.mfa import (
    api_mfa,
    api_mfa_confirm,
    api_mfa_new_codes,
    api_mfa_off,
    api_mfa_setup,
    mfa_enrol_page,
    mfa_enrol_submit,
    mfa_new_codes,
    mfa_off,
    mfa_page,
    mfa_submit,
)
from core.auth.routes.password import api_password, password_page, password_submit
from core.auth.routes.security_settings import (
    api_security_settings,
    api_security_settings_save,
    security_settings_page,
    security_settings_save,
)
from core.auth.routes.signin import api_login, api_logout, api_me, login_page, login_submit, logout
from core.auth.routes.unlock import unlock_page, unlock_submit

ROUTES: list = [
    login_page,
    login_submit,
    api_login,
    logout,
    api_logout,
    api_me,
    unlock_page,
    unlock_submit,
    mfa_page,
    mfa_submit,
    api_mfa,
    mfa_enrol_page,
    mfa_enrol_submit,
    api_mfa_setup,
    api_mfa_confirm,
    mfa_new_codes,
    mfa_off,
    api_mfa_new_codes,
    api_mfa_off,
    password_page,
    password_submit,
    api_password,
    sessions_page,
    session_revoke,
    sessions_revoke_others,
    api_sessions,
    api_session_revoke,
    api_sessions_revoke_others,
    tokens_page,
    tokens_create,
    tokens_revoke,
    api_tokens,
    api_tokens_create,
    api_tokens_revoke,
    security_settings_page,
    security_settings_save,
    api_security_settings,
    api_security_settings_save,
]
