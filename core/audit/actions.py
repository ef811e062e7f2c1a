"""The audit log's vocabulary of actions: core's (``core.audit.models.ACTIONS``) plus those
installed plugins declare through ``tessera_audit_actions``, each ``"<plugin>.<action>"``.

The vocabulary belongs to the process, like the mapped tables: a plugin's actions are
declared when the plugin registry loads and stay declared (an action recorded once must
remain readable and filterable even after its plugin is gone).
"""

from __future__ import annotations

import re

from core.audit.models import ACTIONS

ACTION = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

_declared: dict[str, str] = {}


def declare(plugin: str, actions: list[str]) -> None:
    """Add ``plugin``'s actions; raises ``ValueError`` for one outside its namespace."""
    for action in actions:
        if not isinstance(action, str) or not ACTION.match(action) or not action.startswith(f"{plugin}."):
            raise ValueError(
                f"plugin {plugin!r} declares audit action {action!r}; its actions must be named "
                f"'{plugin}.<action>' in lower case"
            )
    for action in actions:
        _declared[action] = plugin


def is_known(action: str) -> bool:
    return action in ACTIONS or action in _declared


def all_actions() -> tuple[str, ...]:
    """Core's actions, then the plugins' in alphabetical order."""
    return (*ACTIONS, *sorted(_declared))
