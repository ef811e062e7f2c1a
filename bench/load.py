"""Driving the server: wrk runs, the paced chart read, the RLS A/B between two servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.server import Server
from bench.tools import HERE, say


def wrk(
    wrk_bin: str,
    port: int,
    scenario: str,
    connections: int,
    seconds: int,
    data_dir: Path,
    delay_ms: float = 0,
) -> dict:
    """One wrk run; ``delay_ms`` paces each connection (a random pause of that mean before
    each request, see scenarios/common.lua) instead of sending back to back."""
    env = dict(os.environ, BENCH_DATA=str(data_dir), BENCH_LUA_DIR=str(HERE / "scenarios"))
    if delay_ms:
        env["BENCH_DELAY_MS"] = f"{delay_ms:.1f}"
    cmd = [
        wrk_bin, "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
        "--timeout", "5s", "-s", str(HERE / "scenarios" / f"{scenario}.lua"), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(
            f"wrk {scenario} -c{connections} failed: {out.stderr.strip() or out.stdout[-500:]}"
        )
    data = json.loads(line.split(" ", 1)[1])
    seconds_run = data["duration_us"] / 1e6
    return {
        "rps": round(data["requests"] / seconds_run, 1),
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": data["errors_connect"]
        + data["errors_read"]
        + data["errors_write"]
        + data["errors_timeout"],
        "non_2xx": data["non_2xx"],
        "seconds": round(seconds_run, 2),
    }


# -- the run --------------------------------------------------------------------------------


def check_answers(scenario: str, connections: int, r: dict) -> None:
    """Stop when requests fail: a table of fast 401s and 404s would measure nothing."""
    failed = r["errors"] + r["non_2xx"]
    if failed > 0.01 * max(r["requests"], 1):
        sys.exit(
            f"bench: {failed} of {r['requests']} {scenario} requests at {connections} connections failed "
            "(socket errors or non-2xx answers). If the database was seeded from another checkout, "
            "run again with --reseed."
        )


#: the paced run's rate, as a share of the chart read's saturated throughput at 64 conns
PACED_SHARE = 0.5


def paced_chart(wrk_bin: str, port: int, seconds: int, data_dir: Path, results: dict) -> dict:
    """The chart read at 64 connections paced to half its saturated throughput: the latency
    a clinic sees when the machine is busy but not overrun. wrk stays closed-loop per
    connection, but with each connection idle most of the time, waiting for a reply
    rarely delays the next request (little coordinated omission)."""
    saturated = results["scenarios"]["chart"]["64"]["rps"]
    target = PACED_SHARE * saturated
    delay_ms = 64 * 1000 / target  # each connection's mean interval; replies shorten it a little
    say(
        f"chart read at 64 conns paced to {PACED_SHARE:.0%} of {saturated:.0f} req/s (mean pause {delay_ms:.0f} ms)"
    )
    r = wrk(wrk_bin, port, "chart", 64, seconds, data_dir, delay_ms=delay_ms)
    r.update(share=PACED_SHARE, target_rps=round(target, 1), mean_delay_ms=round(delay_ms, 1))
    return r


def rls_ab(wrk_bin: str, on: Server, off: Server, seconds: int, data_dir: Path, rounds: int = 4) -> dict:
    """The chart read at 64 connections against two servers running side by side — the app
    role (RLS forced) and the owner (a superuser, which RLS does not apply to) — in
    alternating slices (on, off, off, on, ...), so the machine's load hits both alike."""
    slice_seconds = max(2, seconds // 2)
    for server in (on, off):  # both warm (casbin's role cache, pools, statement caches) first
        wrk(wrk_bin, server.port, "chart", 64, seconds, data_dir)
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for i in range(rounds):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for arm in order:
            server = on if arm == "on" else off
            runs[arm].append(wrk(wrk_bin, server.port, "chart", 64, slice_seconds, data_dir))

    def total(arm: str) -> dict:
        rs = runs[arm]
        requests = sum(r["requests"] for r in rs)
        secs = sum(r["seconds"] for r in rs)
        return {
            "rps": round(requests / secs, 1) if secs else 0.0,
            "p99_ms": sorted(r["p99_ms"] for r in rs)[len(rs) // 2],
            "slices_rps": [r["rps"] for r in rs],
        }

    a, b = total("on"), total("off")
    return {
        "rps_rls_on": a["rps"],
        "rps_rls_off": b["rps"],
        "p99_ms_on": a["p99_ms"],
        "p99_ms_off": b["p99_ms"],
        "slices_on": a["slices_rps"],
        "slices_off": b["slices_rps"],
        "overhead_pct": round((b["rps"] / a["rps"] - 1) * 100, 1) if a["rps"] else None,
        "method": f"chart read at 64 conns, two servers side by side (app role with RLS forced; the "
        f"owner, a superuser that RLS does not apply to), each warmed with a {seconds} s run, then "
        f"{rounds} alternating slices of {slice_seconds} s each",
    }
