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
import collections
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg

from bench.seed import (
    FULL,
    QUICK,
    Scale,
    asyncpg_dsn,
    bench_settings,
    data_dir_for,
    database_for,
    database_mark,
    folder_mark,
    prepare,
    seed,
)
from core.settings import REPO_ROOT, Settings

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


# -- data -----------------------------------------------------------------------------------


def schema_is_current(settings: Settings, applied: set[str]) -> bool:
    """Whether the database's applied revisions include every migration head of this
    checkout (core and every installed plugin). The version table keeps one row per branch
    tip, and a head another branch depends on (core's, under scheduling's) is not a row of
    its own, so the check walks the revisions below the applied ones."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import ResolutionError

    from core.app import build_registry
    from core.db.admin import alembic_config
    from core.plugins.registry import flatten

    registry = build_registry(settings)
    dirs = [d for _, found in registry.call_each("tessera_migration_dirs") for d in flatten([found])]
    script = ScriptDirectory.from_config(alembic_config(settings, dirs))
    try:
        covered = {rev.revision for rev in script.iterate_revisions(tuple(applied), "base")}
    except ResolutionError:  # a revision this checkout does not have: not its schema
        return False
    return set(script.get_heads()) <= covered


async def seeded_scale(settings: Settings) -> tuple[int, int, str | None] | None:
    """(tenants, patients, seeding id) of the bench database, or None when it is missing or
    its schema is not this checkout's (a migration was added since it was seeded)."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        applied = {r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        if not schema_is_current(settings, applied):
            return None
        return (
            await conn.fetchval("SELECT count(*) FROM tenants"),
            await conn.fetchval("SELECT count(*) FROM patients"),
            await database_mark(conn),
        )
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


async def create_sessions(settings: Settings, data_dir: Path) -> int:
    """One signed-in session per load user (tokens.tsv) for the chart page scenario."""
    from redis.asyncio import Redis

    from core.auth.sessions import SessionStore

    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        tenant_ids = {r["slug"]: r["id"] for r in await conn.fetch("SELECT slug, id FROM tenants")}
    finally:
        await conn.close()
    redis = Redis.from_url(settings.redis_url)
    store = SessionStore(redis)
    count = 0
    lines = []
    try:
        for line in (data_dir / "tokens.tsv").read_text().splitlines():
            slug, user_id, _ = line.split("\t")
            if not user_id:
                continue
            sid, _ = await store.create(
                user_id=uuid.UUID(user_id), tenant_id=tenant_ids[slug], mfa_verified=True, user_agent="wrk"
            )
            lines.append(f"{slug}\t{sid}\n")
            count += 1
    finally:
        await redis.aclose()
    (data_dir / "sessions.tsv").write_text("".join(lines))
    return count


async def mark_tokens_used(settings: Settings) -> int:
    """Every token used a moment ago, as in a running instance whose integrations call every
    few minutes. Otherwise nearly every request of a run over thousands of tokens would be
    its token's first in LAST_USED_RESOLUTION and pay the last-used write (UPDATE, COMMIT,
    then BEGIN and set_config again): a cost each token pays once per 15 minutes."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        status = await conn.execute("UPDATE api_tokens SET last_used_at = now()")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def audit_counts(settings: Settings) -> tuple[int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE seal_seq IS NULL) AS unsealed FROM audit_events"
        )
        return row["total"], row["unsealed"]
    finally:
        await conn.close()


async def seal_backlog(settings: Settings) -> dict:
    from core.audit.seal import seal_all, sealer_engine

    engine = sealer_engine(settings)
    try:
        started = time.monotonic()
        result = await seal_all(engine)
        seconds = time.monotonic() - started
    finally:
        await engine.dispose()
    return {"sealed": result.sealed, "tenants": result.tenants, "seconds": round(seconds, 3)}


# -- server ---------------------------------------------------------------------------------


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


# -- load -----------------------------------------------------------------------------------


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


# -- casbin ---------------------------------------------------------------------------------


def casbin_micro(tenants: int = 1000, users: int = 10, checks: int = 200_000) -> dict:
    """Authorizer.allowed with 1,000 tenants x 10 users assigned: µs per check."""
    from core.app import build_registry
    from core.auth.principal import Principal
    from core.authz.enforcer import Authorizer

    registry = build_registry(Settings())
    authz = Authorizer(registry.permissions())
    rng = random.Random(6)  # noqa: S311 - synthetic ids
    roles = [frozenset({r}) for r in ("owner", "clinician", "clinician", "front_desk", "biller")]
    principals, assignments = [], []
    for _ in range(tenants):
        tenant = uuid.uuid4()
        for _ in range(users):
            user, held = uuid.uuid4(), rng.choice(roles)
            assignments.append((str(user), str(tenant), held))
            principals.append(
                Principal(
                    user_id=user, email="x@y", display_name="x", tenant_id=tenant, roles=held, via="token"
                )
            )
    started = time.perf_counter()
    authz.assign_many(assignments)
    load_seconds = time.perf_counter() - started
    objects = [("core:patients", "read"), ("core:patients", "write"), ("core:audit", "read")]
    sample = [(rng.choice(principals), rng.choice(objects)) for _ in range(checks)]
    started = time.perf_counter()
    for p, (obj, act) in sample:
        authz.allowed(p, p.tenant_id, obj, act)
    per_check = (time.perf_counter() - started) / checks * 1e6
    # a user's first check in a worker assigns its roles in casbin (no bulk load): the
    # cost of that, over all 10,000 users one at a time, on a fresh Authorizer
    cold = Authorizer(registry.permissions())
    started = time.perf_counter()
    for p in principals:
        cold.allowed(p, p.tenant_id, "core:patients", "read")
    first_check = (time.perf_counter() - started) / len(principals) * 1e6
    uncached_n = 5000
    started = time.perf_counter()
    for p, (obj, act) in sample[:uncached_n]:
        authz.enforcer.enforce(str(p.user_id), str(p.tenant_id), obj, act)
    uncached = (time.perf_counter() - started) / uncached_n * 1e6
    return {
        "tenants": tenants,
        "users_per_tenant": users,
        "grouping_rules": len(authz.enforcer.get_grouping_policy()),
        "policy_rules": len(authz.enforcer.get_policy()),
        "us_per_check": round(per_check, 2),
        "us_per_uncached_enforce": round(uncached, 1),
        "us_per_first_check": round(first_check, 1),
        "assign_seconds": round(load_seconds, 2),
    }


# -- RLS at the SQL level ------------------------------------------------------------------


async def rls_sql_cost(settings: Settings, data_dir: Path, rounds: int = 6, per_round: int = 500) -> dict:
    """The chart read's own statements (BEGIN with set_config, token look-up, the patient
    with contacts and its audit INSERT; rolled back) on two connections, one as the app role (RLS forced) and one
    as the owner (not subject to RLS), in alternating rounds; PostgreSQL CPU per request
    from /proc of each connection's backend. RLS acts only inside PostgreSQL, so this
    isolates it from the app servers' warm-up and the machine's noise."""
    from core.audit.record import Event, event_params
    from core.auth.middleware import _TOKEN_LOOKUP
    from core.auth.tokens import token_digest
    from core.patients.services import _READ_AND_AUDIT

    tokens: dict[str, list[bytes]] = collections.defaultdict(list)
    for line in (data_dir / "tokens.tsv").read_text().splitlines():
        slug, _, token = line.split("\t")
        tokens[slug].append(token_digest(token))
    targets = [line.split("\t") for line in (data_dir / "targets.tsv").read_text().splitlines()]
    owner = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    app = await asyncpg.connect(asyncpg_dsn(settings.app_url()))
    try:
        ids = {r["slug"]: r["id"] for r in await owner.fetch("SELECT slug, id FROM tenants")}
        rng = random.Random(6)  # noqa: S311 - picking sample rows
        work = [
            (ids[slug], rng.choice(tokens[slug]), uuid.UUID(pid))
            for slug, pid in rng.sample(targets, per_round)
        ]
        pids = {
            "on": await app.fetchval("SELECT pg_backend_pid()"),
            "off": await owner.fetchval("SELECT pg_backend_pid()"),
        }
        spent = {"on": 0.0, "off": 0.0}
        found = {"on": 0, "off": 0}

        async def one_round(arm: str, conn: asyncpg.Connection) -> None:
            before = cpu_times([pids[arm]])
            for tenant_id, digest, patient_id in work:
                await conn.execute(f"BEGIN; SELECT set_config('app.tenant_id', '{tenant_id}', true)")
                try:
                    token = await conn.fetchrow(_TOKEN_LOOKUP.sql, tenant_id, digest)
                    event = Event(tenant_id, uuid.uuid4(), "user", token["user_id"], token["id"], "bench",
                                  "read", "patient", str(patient_id), patient_id, "success", "10.0.0.1",
                                  "bench", None, False, {})  # fmt: skip
                    rows = await conn.fetch(_READ_AND_AUDIT.sql, tenant_id, patient_id, *event_params(event))
                    found[arm] += len(rows) > 0
                finally:
                    await conn.execute("ROLLBACK")
            spent[arm] += _spent(before, cpu_times([pids[arm]]))

        for i in range(rounds):
            for arm in ("on", "off") if i % 2 == 0 else ("off", "on"):
                await one_round(arm, app if arm == "on" else owner)
    finally:
        await app.close()
        await owner.close()
    n = rounds * per_round
    on_us, off_us = 1e6 * spent["on"] / n, 1e6 * spent["off"] / n
    return {
        "pg_cpu_us_per_request_rls_on": round(on_us, 1),
        "pg_cpu_us_per_request_rls_off": round(off_us, 1),
        "overhead_pct": round((on_us / off_us - 1) * 100, 1) if off_us else None,
        "patients_found": found,
        "method": f"the chart read's statements on one connection as the app role and one as the owner, "
        f"{rounds} alternating rounds of {per_round} requests, PostgreSQL backend CPU from /proc",
    }


# -- profile --------------------------------------------------------------------------------


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
