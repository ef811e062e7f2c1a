"""A py-spy profile of the chart read and its summary."""

from __future__ import annotations

import collections
import subprocess
import time
from pathlib import Path

from bench.load import wrk
from bench.server import Server
from core.settings import REPO_ROOT


def profile_chart(py_spy: str, server: Server, wrk_bin: str, seconds: int, data_dir: Path) -> dict:
    pids = server.worker_pids()
    if not pids:
        return {"skipped": "no worker process found"}
    raw = data_dir / "profile-chart.txt"
    svg = data_dir / "profile-chart.svg"
    spies = [
        subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                          "--format", fmt, "--output", str(out), "--nonblocking"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for fmt, out in (("raw", raw), ("flamegraph", svg))
        for pid in pids[:1]
    ]  # fmt: skip
    time.sleep(1)
    wrk(wrk_bin, server.port, "chart", 64, seconds, data_dir)
    for spy in spies:
        try:
            _, err = spy.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            continue
        if spy.returncode:
            return {"skipped": f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"}
    return summarize_profile(raw) | {"raw": str(raw), "flamegraph": str(svg)}


def summarize_profile(path: Path, top: int = 25) -> dict:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n

    def share(counter):
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {"samples": total, "inclusive_pct": share(inclusive), "self_pct": share(own)}


def _frame(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module/path.py)`` without the line number."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(REPO_ROOT) + "/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"
