"""Shared by the benchmark modules: where things are, the scenarios, the tools (wrk, py-spy), the machine."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
VENV_BIN = Path(sys.executable).parent
SCENARIOS = (
    ("limit", "the limit: raw asyncpg SELECT, no auth/audit"),
    ("chart", "chart read GET /api/patients/{id} (token)"),
    ("search", "patient search by name prefix"),
    ("create", "create patient POST /api/patients"),
    ("page", "chart page HTML GET /patients/{id} (session)"),
    ("calendar", "a provider's week, calendar HTML (session)"),
)
NOT_AVAILABLE: dict[str, str] = {}
CONNECTIONS = (1, 16, 64)


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# -- tools ----------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and apt:
        say("wrk is missing: installing it from Debian's packages (apt-get install wrk)")
        subprocess.run([apt, "update", "-qq"], check=False)
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "bench: wrk is not installed and this script cannot install it (needs root and apt-get).\n"
        "       Install it with `sudo apt-get install wrk` (Debian/Ubuntu) and run `make bench` again."
    )


def ensure_py_spy() -> str | None:
    exe = VENV_BIN / "py-spy"
    if not exe.exists():
        say("py-spy is missing: installing it into the venv (pip install py-spy)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=False)
    return str(exe) if exe.exists() else None


def machine_info(pg_version: str) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(
                x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
            ).split()[1]
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "os": platform.platform(),
    }
