"""``make bench``: seed (if needed), serve with production settings, drive with wrk, report.

Everything is a ratio taken in the same run: each scenario against "the limit" (a bare
handler doing the chart read's SELECT with raw asyncpg, bench/limit_plugin.py), the chart
read with row-level security against the same server connecting as the owner (who is not
subject to RLS), the audit sealer's throughput against the chart read's audit write rate.
See docs/benchmarks.md for the method and the latest figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import asyncpg

from bench.data import audit_counts, create_sessions, mark_tokens_used, seal_backlog, seeded_scale
from bench.load import check_answers, paced_chart, rls_ab, wrk
from bench.micro import casbin_micro, rls_sql_cost
from bench.profiling import profile_chart
from bench.seed import (
    FULL,
    QUICK,
    Scale,
    asyncpg_dsn,
    bench_settings,
    data_dir_for,
    database_for,
    folder_mark,
    prepare,
    seed,
)
from bench.server import CpuMeter, Server
from bench.tools import (
    CONNECTIONS,
    NOT_AVAILABLE,
    RESULTS,
    SCENARIOS,
    ensure_py_spy,
    ensure_wrk,
    machine_info,
    say,
)
from core.settings import REPO_ROOT, Settings


def print_table(results: dict, scenarios: list[tuple[str, str]]) -> None:
    limit64 = results["scenarios"]["limit"]["64"]["rps"]
    rows = [
        (
            "scenario",
            "conns",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "x limit",
            "errors",
            "app CPU/req",
            "PG CPU/req",
        )
    ]
    for name, _ in scenarios:
        for c in CONNECTIONS:
            r = results["scenarios"][name][str(c)]
            limit = results["scenarios"]["limit"][str(c)]["rps"] or 1
            rows.append((name, str(c), f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                         f"{r['p99_ms']:.1f}", f"{r['rps'] / limit:.2f}", str(r["errors"] + r["non_2xx"]),
                         f"{r.get('app_cpu_ms', 0):.2f} ms", f"{r.get('db_cpu_ms', 0):.2f} ms"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)))
    o = results["overheads"]
    print()
    print(f"limit at 64 conns: {limit64:.0f} req/s")
    paced = results.get("paced")
    if paced:
        print(f"chart read at 64 conns paced to {paced['share']:.0%} of its throughput: {paced['rps']:.0f} req/s, "
              f"p50 {paced['p50_ms']:.1f}, p95 {paced['p95_ms']:.1f}, p99 {paced['p99_ms']:.1f} ms, "
              f"errors {paced['errors'] + paced['non_2xx']}")  # fmt: skip
    if "rls_sql" in o:
        x = o["rls_sql"]
        print(f"RLS in PostgreSQL: {x['pg_cpu_us_per_request_rls_on']} µs of PostgreSQL CPU per chart read with RLS, "
              f"{x['pg_cpu_us_per_request_rls_off']} µs without: {x['overhead_pct']:+.1f} %")  # fmt: skip
    if "rls" in o:
        print(f"RLS: chart read at 64 conns {o['rls']['rps_rls_on']:.0f} req/s with RLS, {o['rls']['rps_rls_off']:.0f} "
              f"without: overhead {o['rls']['overhead_pct']:+.1f} % (alternating slices, two servers)")  # fmt: skip
    print(f"casbin: {o['casbin']['us_per_check']} µs per Authorizer.allowed (uncached enforce: "
          f"{o['casbin']['us_per_uncached_enforce']} µs; a user's first check in a worker: "
          f"{o['casbin']['us_per_first_check']} µs) at {o['casbin']['tenants']} tenants x "
          f"{o['casbin']['users_per_tenant']} users")  # fmt: skip
    a = o.get("audit")
    if a:
        print(f"audit: written {a['write_rate']:.0f} events/s during the chart read at 64 conns; sealed "
              f"{a['seal_rate']:.0f} events/s = {a['seal_to_write']:.1f}x the write rate (target >= 2x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Tessera benchmarks (docs/benchmarks.md)")
    parser.add_argument("--full", action="store_true", help="1,000 tenants x 1,000 patients, longer runs")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (quick 8, full 30)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", help="default: tessera_bench (quick), tessera_bench_1000x1000 (full)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--reseed", action="store_true", help="recreate the database even if it matches")
    parser.add_argument("--jobs", type=int, help="seeding processes (default: one per core, at most 4)")
    parser.add_argument("--seed-only", action="store_true", help="seed (if needed) and stop")
    parser.add_argument(
        "--scenarios",
        help="comma-separated subset of " + ",".join(n for n, _ in SCENARIOS) + " (limit is always run)",
    )
    args = parser.parse_args()
    scale: Scale = FULL if args.full else QUICK
    seconds = args.seconds or (30 if args.full else 8)
    database = args.database or database_for(scale)
    data_dir = data_dir_for(scale)
    settings = bench_settings(database, args.redis_url)
    chosen = [n for n, _ in SCENARIOS]
    if args.scenarios:
        wanted = {"limit", *(x.strip() for x in args.scenarios.split(",") if x.strip())}
        unknown = wanted - set(chosen)
        if unknown:
            sys.exit(f"bench: unknown scenario(s) {', '.join(sorted(unknown))}")
        chosen = [n for n in chosen if n in wanted]
    scenarios = [(n, t) for n, t in SCENARIOS if n in chosen]

    seeding: dict = {"reused": True}
    have = asyncio.run(seeded_scale(settings))
    want = (scale.tenants, scale.tenants * scale.patients)
    if (
        args.reseed
        or have is None
        or have[0] != want[0]
        or have[1] < want[1]
        or not all((data_dir / name).exists() for name in ("tokens.tsv", "targets.tsv", "schedule.tsv"))
        # tokens and targets written by another seeding (another clone, or --reseed elsewhere)
        or have[2] is None
        or have[2] != folder_mark(data_dir)
    ):
        say(f"seeding {database}: {scale.tenants} tenants x {scale.patients} patients (COPY)")
        started = time.monotonic()
        prepare(settings)
        seeding = seed(settings, scale, data_dir, args.jobs)
        seeding["seconds_total"] = round(time.monotonic() - started, 1)
        say(f"seeded in {seeding['seconds_total']} s ({seeding['jobs']} processes): {seeding['rows']}")
    else:
        say(f"reusing {database} ({have[0]} tenants, {have[1]} patients); --reseed to recreate")
    if args.seed_only:
        return
    wrk_bin = ensure_wrk()
    py_spy = ensure_py_spy()
    say(f"created {asyncio.run(create_sessions(settings, data_dir))} sessions in Redis")
    say(f"marked {asyncio.run(mark_tokens_used(settings))} API tokens as used a moment ago")

    async def pg_version() -> str:
        conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
        try:
            return await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()

    results: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "full" if args.full else "quick",
        "scale": {"tenants": scale.tenants, "patients_per_tenant": scale.patients},
        "machine": machine_info(asyncio.run(pg_version())) | {"load_average_at_start": os.getloadavg()},
        "server": {
            "workers": args.workers,
            "db_pool_size": Settings().db_pool_size,
            "wrk_threads": "min(conns, 2)",
        },
        "seconds_per_run": seconds,
        "seeding": seeding,
        "scenarios": {},
        "not_available": NOT_AVAILABLE,
        "overheads": {},
    }
    server = Server(settings, args.port, args.workers)
    say(f"starting tessera serve --workers {args.workers} on 127.0.0.1:{args.port}")
    server.start()
    try:
        say("warming up")
        for name, _ in scenarios:
            wrk(wrk_bin, args.port, name, 16, 3, data_dir)
        asyncio.run(seal_backlog(settings))  # start the audit measurement with no backlog
        for name, title in scenarios:
            results["scenarios"][name] = {"title": title}
            for c in CONNECTIONS:
                before = asyncio.run(audit_counts(settings)) if (name, c) == ("chart", 64) else None
                with CpuMeter(server) as meter:
                    r = wrk(wrk_bin, args.port, name, c, seconds, data_dir)
                r.update(meter.per_request(r["requests"]))
                results["scenarios"][name][str(c)] = r
                check_answers(name, c, r)
                say(f"{name:8} c={c:<3} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f}  p95 {r['p95_ms']:6.1f}  "
                    f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors'] + r['non_2xx']}  "
                    f"CPU/req app {r['app_cpu_ms']:.2f} ms, PostgreSQL {r['db_cpu_ms']:.2f} ms")  # fmt: skip
                if before is not None:
                    after = asyncio.run(audit_counts(settings))
                    written = after[0] - before[0]
                    sealed = asyncio.run(seal_backlog(settings))
                    write_rate = written / r["seconds"]
                    seal_rate = sealed["sealed"] / sealed["seconds"] if sealed["seconds"] else 0.0
                    results["overheads"]["audit"] = {
                        "written": written,
                        "write_rate": round(write_rate, 1),
                        "sealed": sealed["sealed"],
                        "seal_seconds": sealed["seconds"],
                        "seal_rate": round(seal_rate, 1),
                        "seal_to_write": round(seal_rate / write_rate, 2) if write_rate else None,
                        "method": "audit rows inserted during the chart read at 64 conns / run time, vs. "
                        "one seal_all() pass over that backlog (sealer role, right after the run)",
                    }
        if "chart" in chosen:
            results["paced"] = paced_chart(wrk_bin, args.port, seconds, data_dir, results)
            if py_spy:
                say("profiling one worker with py-spy during a chart read at 64 conns")
                results["profile_chart"] = profile_chart(py_spy, server, wrk_bin, seconds, data_dir)
            else:
                results["profile_chart"] = {"skipped": "py-spy could not be installed"}
            say("RLS on vs. off: a second server connected as the owner, chart reads alternating")
            owner = Server(settings, args.port + 1, args.workers, bypass_rls=True)
            owner.start()
            try:
                results["overheads"]["rls"] = rls_ab(wrk_bin, server, owner, seconds, data_dir)
            finally:
                owner.stop()
    finally:
        server.stop()
    say("RLS at the SQL level: the chart read's statements as the app role vs. the owner")
    results["overheads"]["rls_sql"] = asyncio.run(rls_sql_cost(settings, data_dir))
    say("casbin micro-benchmark (1,000 tenants x 10 users)")
    results["overheads"]["casbin"] = casbin_micro()
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print()
    print_table(results, scenarios)
    say(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
