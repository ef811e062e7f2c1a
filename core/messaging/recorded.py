"""The recorded-messages folder: where messages go in development instead of out.

With ``TESSERA_SMTP_URL`` / ``TESSERA_SMS_URL`` unset, every e-mail and text is appended
as one JSON line to ``<TESSERA_DATA_DIR>/messages/<tenant id>.jsonl``
(``core.messaging.transports.RecordingTransport``). The file holds whole messages (PHI,
invitation and unlock links), which is why it lives in the data folder and never in a log.
``recorded_messages`` reads it back, newest first; ``tessera messages list`` prints it.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

SAFE_NAME = re.compile(r"^[0-9a-f-]{36}$")


def messages_folder(settings) -> Path:
    """``<data_dir>/messages``: the folder the recording transport writes to."""
    return Path(settings.data_dir) / "messages"


def recorded_messages(folder: Path, tenant_id: uuid.UUID, *, limit: int = 50) -> list[dict]:
    """The newest ``limit`` recorded messages of one clinic, newest first. Each is a dict
    with ``kind`` (``email``/``sms``), ``at`` (ISO time) and the message's own fields."""
    if not SAFE_NAME.match(str(tenant_id)):
        return []
    path = Path(folder) / f"{tenant_id}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:] if limit > 0 else []
    return [json.loads(line) for line in reversed(lines) if line.strip()]


def recorded_tenants(folder: Path) -> list[uuid.UUID]:
    """The clinics that have recorded messages in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(uuid.UUID(p.stem) for p in folder.glob("*.jsonl") if SAFE_NAME.match(p.stem))


__all__ = ["messages_folder", "recorded_messages", "recorded_tenants"]
