"""The server under test (production settings) and CPU accounting of its processes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.seed import (
    asyncpg_dsn,
)
from core.settings import REPO_ROOT, Settings


class Server:
    def __init__(self, settings: Settings, port: int, workers: int, *, bypass_rls: bool = False) -> None:
        self.settings, self.port, self.workers, self.bypass_rls = settings, port, workers, bypass_rls
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TESSERA_DATABASE_URL=self.settings.database_url,
            TESSERA_REDIS_URL=self.settings.redis_url,
            TESSERA_PLUGIN_MODULES="bench.limit_plugin",
            TESSERA_BENCH_LIMIT_DSN=asyncpg_dsn(self.settings.owner_url()),
            TESSERA_SECRET_KEY=secrets.token_urlsafe(32),
            TESSERA_DEBUG="0",
            TESSERA_EMBEDDED="0",
            PYTHONPATH=str(REPO_ROOT),
        )
        env.pop("TESSERA_APP_DATABASE_URL", None)
        if self.bypass_rls:  # the owner: superuser here, so RLS does not apply to it
            env["TESSERA_APP_DATABASE_URL"] = self.settings.database_url
        return env

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "core.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=self.env(), stdout=subprocess.DEVNULL, stderr=sys.stderr
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: the server exited with {self.proc.returncode}")
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{self.port}/healthz", headers={"Host": "localhost"}
                )
                with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 - our own server
                    if resp.status == 200:
                        time.sleep(1.0 * self.workers)  # let every worker finish booting
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        sys.exit("bench: the server did not answer /healthz within 60 s")

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if self.proc and int(fields[1]) == self.proc.pid:
                pids.append((int(fields[11]) + int(fields[12]), int(stat.parent.name)))
        return [pid for _, pid in sorted(pids, reverse=True)]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# -- CPU accounting -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_times(pids: list[int] | None = None, name: str | None = None) -> dict[int, int]:
    """pid -> user + system CPU ticks of ``pids`` or of every process whose command is
    ``name`` (from /proc: measured, not sampled, indifferent to what else the machine runs)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            if pids is not None and pid not in pids:
                continue
            comm, fields = stat.read_text().rsplit(")", 1)
            if name is not None and comm.split("(", 1)[1] != name:
                continue
            fields = fields.split()
            found[pid] = int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return found


def _spent(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds spent between two snapshots by the processes alive at the end."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / _TICK


class CpuMeter:
    """CPU per request of the app's workers and of PostgreSQL (every server process, so
    other databases' work on the same server counts too) over one wrk run."""

    def __init__(self, server: Server) -> None:
        self.workers = server.worker_pids()

    def __enter__(self) -> CpuMeter:
        self.app0, self.db0 = cpu_times(self.workers), cpu_times(name="postgres")
        return self

    def __exit__(self, *exc) -> None:
        self.app = _spent(self.app0, cpu_times(self.workers))
        self.db = _spent(self.db0, cpu_times(name="postgres"))

    def per_request(self, requests: int) -> dict:
        n = max(requests, 1)
        return {"app_cpu_ms": round(1000 * self.app / n, 2), "db_cpu_ms": round(1000 * self.db / n, 2)}
