"""The route-table probe: every route of the app x every kind of caller, one right answer.

Generated from the app's own route table (``test_route_guards.walk``), so a new route is
probed without anyone adding it here. Each route is called on clinic A's host by:

* a signed-in member of each default role (owner, clinician, front desk, biller,
  auditor) and a member with no role: the role matrix (``core.authz.matrix``) says
  allowed or not; refused is exactly 403 from the permission guard, allowed is never
  401 or the guard's 403;
* an API token of A's owner scoped to the route's own permission object (allowed) and
  one scoped to another object (403): over the whole table every scope is used both ways;
* nobody: 401 for the JSON API, a redirect to the sign-in page (303) for pages;
* a member of clinic B, with B's session cookie and with B's token: 401;
* A's owner with the path's record ids taken from clinic B (another clinic's patient,
  appointment, encounter, ...): never 2xx, and 404 for a read.

Every answer is < 500. Record ids of A's own rows fill the other calls, so pages really
render for each role. Operator routes answer 404 on a clinic's host; public routes are
called anonymously only (their guard is ``public`` by review: test_route_guards).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from dataclasses import dataclass

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.authz.matrix import role_matrix
from core.encounters.models import Encounter
from core.lifecycle.plugins import enable_plugin
from core.patients import schemas as s
from core.patients import services
from core.tenancy import tenant_scope
from plugins.scheduling.feeds import create_feed
from plugins.scheduling.tests.sample_clinic import add_appointment, make_sample_clinic
from tests.test_route_guards import tessera_guards, walk

#: the roles probed; "" is a member with no role at all
ROLES = ("owner", "clinician", "front_desk", "biller", "auditor", "")
#: a route's path parameter -> the table its id comes from (else a random id: 404)
ID_TABLES = {
    "patient_id": "patients",
    "appointment_id": "scheduling_appointments",
    "encounter_id": "encounters",
    "location_id": "locations",
    "provider_id": "providers",
    "type_id": "scheduling_appointment_types",
    "feed_id": "scheduling_ics_feeds",
    "token_id": "api_tokens",
}
#: /api/patients/{id}/<kind>/{record_id}: the kind's table
RECORD_TABLES = {
    "contacts": "patient_contacts",
    "coverages": "patient_coverages",
    "allergies": "patient_allergies",
    "problems": "patient_problems",
    "medications": "patient_medications",
}
#: string path parameters: harmless values (a plugin name that does not exist, so the
#: owner's probe of "disable plugin" does not switch scheduling off for the rest)
STRING_PARAMS = {
    "name": "no-such-plugin",
    "slug": "no-such-clinic",
    "plugin": "no-such-plugin",
    "token": "not-a-token",
    "session_ref": "not-a-session",
    "purpose": "confirm",
    "path": "nothing",
    "file_path": "tessera.css",
}
#: routes whose allowed answer is a deliberate failure, with the reason (reviewed)
ALLOWED_TO_FAIL = {
    ("GET", "/api/sample/boom"): "the test plugin's deliberate crash for the errors tests",
}
#: reads that answer 2xx for any id by design, with the reason (reviewed)
READS_WITHOUT_RECORD: dict[tuple[str, str], str] = {}
GUARD_REFUSAL = "Your role does not allow this"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    guard: str
    params: tuple[str, ...]
    #: the plugin that contributed the route (its "enabled for this clinic" guard)
    plugin: str | None = None

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def permission(self) -> tuple[str, str] | None:
        """(object, action) of a ``requires`` guard (the tenant side of ``per_site``)."""
        guard = self.guard.split(";")[0].removeprefix("tenant: ")
        match = re.fullmatch(r"([a-z_]+:[a-z_]+) ([a-z_]+)", guard)
        return (match.group(1), match.group(2)) if match else None

    @property
    def kind(self) -> str:
        if self.permission:
            return "permission"
        guard = self.guard.split(";")[0].removeprefix("tenant: ")
        for kind in ("public", "operator", "login"):
            if guard.startswith(kind):
                return kind
        raise AssertionError(f"unknown guard {self.guard!r} on {self.method} {self.path}")


def app_routes(app) -> list[Route]:
    routes = []
    for route, handler in walk(app):
        guards = tessera_guards(handler)
        assert len(guards) == 1, (route.path, guards)
        names = tuple(route.path_parameters)
        for method in sorted(handler.http_methods):
            if method != "HEAD":
                routes.append(Route(method, route.path, guards[0], names, handler.opt.get("plugin")))
    return routes


async def _ids(owner_engine, tenant_id) -> dict[str, uuid.UUID]:
    found = {}
    async with owner_engine.connect() as conn:
        for name, table in {**ID_TABLES, **RECORD_TABLES}.items():
            row = await conn.execute(
                text(f"SELECT id FROM {table} WHERE tenant_id = :t ORDER BY id LIMIT 1"), {"t": tenant_id}
            )
            value = row.scalar()
            if value is not None:
                found[name] = value
    return found


def fill(route: Route, ids: dict[str, uuid.UUID]) -> str:
    """The route's path with its parameters filled from ``ids`` (else harmless values)."""
    record_kind = next((k for k in RECORD_TABLES if f"/{k}/" in route.path), None)

    def value(match: re.Match) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "uuid" or name.endswith("_id"):
            key = record_kind if name == "record_id" else name
            return str(ids.get(key) or uuid.uuid4())
        return STRING_PARAMS.get(name, "x")

    return re.sub(r"\{(\w+):(\w+)\}", value, route.path)


async def _seed(db, make_tenant, make_user, owner_engine, registry, name):
    clinic = await make_sample_clinic(db, make_tenant, make_user, owner_engine, name=name)
    async with db.session() as session:
        await enable_plugin(session, registry, clinic.tenant, "sample")
        await session.commit()
    pid = clinic.patients[0]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await add_appointment(db, clinic, now + dt.timedelta(days=1))
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            for kind, body in (
                ("contacts", s.ContactIn(name="Sam")),
                ("coverages", s.CoverageIn(payer_name="Acme", member_id="1")),
                ("allergies", s.AllergyIn(substance="Latex")),
                ("problems", s.ProblemIn(code="E11.9")),
                ("medications", s.MedicationIn(name="Metformin")),
            ):
                await services.add_record(session, services.KINDS[kind], pid, body)
            session.add(
                Encounter(
                    patient_id=pid,
                    provider_id=clinic.provider_id,
                    location_id=clinic.main_id,
                    starts_at=now,
                    ends_at=now + dt.timedelta(minutes=30),
                    type="office-visit",
                    place_of_service="11",
                )
            )
            await create_feed(
                session, provider_id=clinic.provider_id, label=None, show_names=False, created_by=None
            )
            await session.commit()
    return clinic


class Caller:
    """One way of calling: a fresh session of a user (so a probe that signs out or ends
    sessions cannot disturb the next), a token, or nobody."""

    def __init__(self, *, user=None, tenant=None, token=None):
        self.user, self.tenant, self.token = user, tenant, token


@dataclass
class World:
    """Two clinics, A probed and B the stranger, with A's callers."""

    a: object
    b: object
    a_users: dict
    token_of: object  # async (tenant, user, scopes) -> token
    own_ids: dict
    foreign_ids: dict
    b_token: str


async def make_world(db, make_tenant, make_user, owner_engine, registry) -> World:
    a = await _seed(db, make_tenant, make_user, owner_engine, registry, "Clinic A")
    b = await _seed(db, make_tenant, make_user, owner_engine, registry, "Clinic B")
    a_users = {role: a.users[role] for role in ("owner", "clinician", "front_desk", "biller")}
    a_users["auditor"] = await make_user(a.tenant, roles=("auditor",))
    a_users[""] = await make_user(a.tenant, roles=())

    async def token_of(tenant, user, scopes=None) -> str:
        with tenant_scope(tenant.id):
            async with db.session() as session:
                value, _ = await create_token(session, user_id=user.id, name="probe", scopes=scopes)
                await session.commit()
        return value

    b_token = await token_of(b.tenant, b.users["owner"])
    # A's own token ids are left out: the owner's probe of "revoke token" would revoke the
    # probe's own tokens (B's are fair game: revoking another clinic's token must fail)
    own_ids = {k: v for k, v in (await _ids(owner_engine, a.tenant.id)).items() if k != "token_id"}
    foreign_ids = await _ids(owner_engine, b.tenant.id)
    assert {"patient_id", "appointment_id", "encounter_id", "feed_id", "allergies"} <= set(foreign_ids)
    return World(a, b, a_users, token_of, own_ids, foreign_ids, b_token)


async def probe(app, world: World, routes: list[Route], session_store) -> tuple[list[str], Counter]:
    """Call every route of ``routes`` as every caller; the wrong answers, and a count of
    the statuses seen."""
    a, b = world.a, world.b
    matrix = role_matrix(app.state.authz.permissions.values())
    objects = sorted(app.state.authz.permissions)
    scoped = {obj: await world.token_of(a.tenant, a.users["owner"], [obj]) for obj in objects}
    owner = Caller(user=a.users["owner"], tenant=a.tenant)
    failures: list[str] = []
    seen: Counter = Counter()
    exceptions_used: set = set()

    async with AsyncTestClient(app=app, base_url=f"http://{a.tenant.slug}.localhost") as client:

        async def call(route: Route, caller: Caller | None, url_path: str):
            client.cookies.clear()
            headers = {"accept": "application/json"} if route.api else {}
            if caller is not None and caller.token:
                headers["authorization"] = f"Bearer {caller.token}"
            elif caller is not None:
                sid, data = await session_store.create(
                    user_id=caller.user.id, tenant_id=caller.tenant.id, mfa_verified=True
                )
                headers["cookie"] = f"{COOKIE_NAME}={sid}"
                headers["x-csrf-token"] = data.csrf_token
            kwargs = {}
            if route.method in UNSAFE:
                kwargs = {"json": {}} if route.api else {"data": {}}
            response = await client.request(
                route.method, url_path, headers=headers, follow_redirects=False, **kwargs
            )
            seen[response.status_code] += 1
            return response

        def fail(route, who, response, wanted):
            failures.append(
                f"{route.method} {route.path} as {who}: {response.status_code} (wanted {wanted}) "
                f"{response.text[:160]!r}"
            )

        def check_unauthenticated(route, who, response):
            if route.api:
                if response.status_code != 401:
                    fail(route, who, response, 401)
            elif response.status_code != 303 or not response.headers.get("location", "").startswith("/login"):
                fail(route, who, response, "303 to /login")

        def check_allowed(route, who, response):
            if response.status_code >= 500:
                if (route.method, route.path) in ALLOWED_TO_FAIL:
                    exceptions_used.add((route.method, route.path))
                else:
                    fail(route, who, response, "< 500")
            elif response.status_code == 401 or (
                response.status_code == 403 and GUARD_REFUSAL in response.text
            ):
                fail(route, who, response, "allowed")

        def check_refused(route, who, response):
            if response.status_code != 403 or GUARD_REFUSAL not in response.text:
                fail(route, who, response, "403 from the permission guard")

        def check_foreign(route, response):
            who = "A's owner with B's record ids"
            key = (route.method, route.path)
            if response.status_code >= 500:
                if key in ALLOWED_TO_FAIL:
                    exceptions_used.add(key)
                else:
                    fail(route, who, response, "< 500")
            elif key in READS_WITHOUT_RECORD and response.status_code < 300:
                exceptions_used.add(key)
            elif route.method == "GET" and response.status_code != 404:
                fail(route, who, response, 404)
            elif response.status_code < 400:
                fail(route, who, response, "4xx")

        for route in routes:
            own = fill(route, world.own_ids)
            anonymous = await call(route, None, own)
            if route.kind == "public":
                if anonymous.status_code >= 500:
                    fail(route, "nobody", anonymous, "< 500")
                continue
            if route.kind == "operator":
                if anonymous.status_code != 404:
                    fail(route, "nobody", anonymous, 404)
                answer = await call(route, owner, own)
                if answer.status_code != 404:
                    fail(route, "owner", answer, 404)
                continue
            check_unauthenticated(route, "nobody", anonymous)
            stranger = Caller(user=b.users["owner"], tenant=b.tenant)
            check_unauthenticated(route, "B's member", await call(route, stranger, own))
            check_unauthenticated(route, "B's token", await call(route, Caller(token=world.b_token), own))

            for role in ROLES:
                response = await call(route, Caller(user=world.a_users[role], tenant=a.tenant), own)
                who = f"role {role or '(none)'}"
                if route.kind == "login" or matrix.allows({role} - {""}, *route.permission):
                    check_allowed(route, who, response)
                else:
                    check_refused(route, who, response)

            if route.kind == "permission":
                obj, _ = route.permission
                other = objects[(objects.index(obj) + 1) % len(objects)]
                check_allowed(route, f"token [{obj}]", await call(route, Caller(token=scoped[obj]), own))
                check_refused(route, f"token [{other}]", await call(route, Caller(token=scoped[other]), own))

            if any(p.endswith("_id") for p in route.params):
                check_foreign(route, await call(route, owner, fill(route, world.foreign_ids)))

    probed = {(r.method, r.path) for r in routes}
    for key in (set(ALLOWED_TO_FAIL) | set(READS_WITHOUT_RECORD)) & probed - exceptions_used:
        failures.append(f"{key}: listed as an exception but answered like any route; remove it")
    return failures, seen


async def probe_platform(app, world: World, operator, routes: list[Route], session_store):
    """The same routes on the base domain (the platform area): a clinic's permission and
    plugin routes do not exist there (404 for everyone); operator routes and the
    per-site ones answer the operator, and nobody else (a clinic's session is bound to
    its clinic, so it counts as nobody here); signed-in routes answer an operator."""
    failures: list[str] = []
    seen: Counter = Counter()
    clinic_session = Caller(user=world.a.users["owner"], tenant=world.a.tenant)

    async with AsyncTestClient(app=app, base_url="http://localhost") as client:

        async def call(route: Route, who: str, caller: Caller | None) -> None:
            client.cookies.clear()
            headers = {"accept": "application/json"} if route.api else {}
            if who == "operator":
                sid, data = await session_store.create(
                    user_id=operator.id, tenant_id="platform", mfa_verified=True
                )
            elif caller is not None:
                sid, data = await session_store.create(
                    user_id=caller.user.id, tenant_id=caller.tenant.id, mfa_verified=True
                )
            if who != "nobody":
                headers["cookie"] = f"{COOKIE_NAME}={sid}"
                headers["x-csrf-token"] = data.csrf_token
            kwargs = {}
            if route.method in UNSAFE:
                kwargs = {"json": {}} if route.api else {"data": {}}
            url = fill(route, world.own_ids)
            response = await client.request(
                route.method, url, headers=headers, follow_redirects=False, **kwargs
            )
            seen[response.status_code] += 1
            status = response.status_code
            unauthenticated = (
                status == 401
                if route.api
                else (status == 303 and response.headers.get("location", "").startswith("/login"))
            )
            if route.kind == "public":
                wanted, ok = "< 500", status < 500
            elif route.plugin or route.kind == "permission":
                wanted, ok = 404, status == 404
            elif who == "operator":
                wanted, ok = "allowed", status < 500 and status not in (401, 403)
            else:
                wanted, ok = "401 / 303 to /login", unauthenticated
            if not ok:
                failures.append(
                    f"platform: {route.method} {route.path} as {who}: {status} (wanted {wanted}) "
                    f"{response.text[:160]!r}"
                )

        for route in routes:
            await call(route, "nobody", None)
            if route.kind != "public":
                await call(route, "operator", None)
                await call(route, "a clinic's owner", clinic_session)
    return failures, seen


def careless_plugin():
    """A plugin with the two defects the probe exists for: a read that answers for any
    record id (another clinic's too), and a page that crashes for the role allowed in."""
    from litestar import get

    from core.authz.guards import requires
    from core.plugins.manifest import Manifest
    from core.plugins.markers import hookimpl
    from core.plugins.types import Permission

    @get("/api/careless/patients/{patient_id:uuid}", guards=[requires("careless:things", "read")])
    async def leaky(patient_id: uuid.UUID) -> dict:
        return {"id": str(patient_id)}

    @get("/careless/crash", guards=[requires("careless:things", "read")])
    async def crash() -> str:
        raise RuntimeError("careless")

    class Careless:
        manifest = Manifest(name="careless", version="1.0", title="Careless", description="", core=">=0.1")

        @hookimpl
        def tessera_routes(self):
            return [leaky, crash]

        @hookimpl
        def tessera_permissions(self):
            return [Permission("careless:things", ("read",), "", default_grants={"clinician": ("read",)})]

    return Careless()


async def test_every_route_answers_each_caller_as_the_role_matrix_says(
    app, settings, db, make_tenant, make_user, owner_engine, registry, session_store
):
    world = await make_world(db, make_tenant, make_user, owner_engine, registry)
    routes = app_routes(app)
    assert len(routes) > 150  # core, scheduling and the test plugin were all walked
    failures, seen = await probe(app, world, routes, session_store)
    print(f"route probe: {len(routes)} route-methods, {sum(seen.values())} requests, {dict(seen)}")
    assert not failures, f"{len(failures)} wrong answers:\n" + "\n".join(failures)
    # the probe really exercised both sides of the matrix
    assert seen[403] > 100 and seen[401] > 100 and seen[200] > 100, seen

    from core.auth.models import PlatformOperator, User

    async with db.session() as session:
        operator = User(email=f"op-{uuid.uuid4().hex[:8]}@example.test", display_name="Operator")
        session.add(operator)
        await session.flush()
        session.add(PlatformOperator(user_id=operator.id))
        await session.commit()
    failures, seen = await probe_platform(app, world, operator, routes, session_store)
    print(f"platform probe: {sum(seen.values())} requests, {dict(seen)}")
    assert not failures, f"{len(failures)} wrong answers:\n" + "\n".join(failures)
    assert seen[404] > 100 and seen[200] > 5, seen

    # Negative control, on the same two clinics: a plugin whose read answers for another
    # clinic's record id and whose page crashes is caught, and on exactly those routes.
    from core.app import build_registry, create_app

    careless_registry = build_registry(settings, extra_plugins=[careless_plugin()])
    async with db.session() as session:
        await enable_plugin(session, careless_registry, world.a.tenant, "careless")
        await session.commit()
    careless_app = create_app(settings, registry=careless_registry)
    careless_routes = [r for r in app_routes(careless_app) if "careless" in r.path]
    failures, _ = await probe(careless_app, world, careless_routes, session_store)
    assert sorted(f.split(":")[0] for f in failures) == [
        "GET /api/careless/patients/{patient_id",  # B's patient id answered 200
        "GET /careless/crash as role clinician",
        "GET /careless/crash as role owner",
        "GET /careless/crash as token [careless",
    ], failures


def undeclared_guards(app) -> list[str]:
    """Permission guards naming an object or action no plugin declares: nobody but such a
    route's author would notice, since every caller (the owner too) is simply refused."""
    declared = app.state.authz.permissions
    wrong = []
    for route in app_routes(app):
        if route.kind == "permission":
            obj, action = route.permission
            if obj not in declared or action not in declared[obj].actions:
                wrong.append(f"{route.method} {route.path}: {obj} {action}")
    return wrong


def test_every_permission_guard_names_a_declared_permission(app, settings):
    assert undeclared_guards(app) == []
    # negative control: a guard with a misspelt object is reported
    from litestar import get

    from core.app import build_registry, create_app
    from core.authz.guards import requires
    from core.plugins.manifest import Manifest
    from core.plugins.markers import hookimpl

    @get("/typo/things", guards=[requires("typo:thngs", "read")])
    async def things() -> str:
        return "never reached"

    class Typo:
        manifest = Manifest(name="typo", version="1.0", title="Typo", description="", core=">=0.1")

        @hookimpl
        def tessera_routes(self):
            return [things]

    typo_app = create_app(settings, registry=build_registry(settings, extra_plugins=[Typo()]))
    assert undeclared_guards(typo_app) == ["GET /typo/things: typo:thngs read"]
