"""Meta-test: every route that touches PHI has a test proving its access is audited.

A handler is a PHI route when it is marked ``@phi_route`` (``core.audit.phi``) or declares
``opt={"phi": True}``. Some test module under ``tests/``, ``plugins/`` or ``examples/``
must call ``assert_audited(..., route="<METHOD> <path>")`` (see ``tests/audit_helpers.py``). The
check reads the test sources, so it holds whichever subset of tests runs and in any order.
"""

from __future__ import annotations

import pytest
from litestar import get

from core.app import build_registry, create_app
from core.audit.phi import normalize_path, phi_route, phi_routes
from core.authz.guards import requires
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from tests.audit_helpers import routes_asserted_in, test_files, uncovered_phi_routes


def test_every_phi_route_has_an_audit_test(app):
    asserted = routes_asserted_in(test_files())
    missing = uncovered_phi_routes(app, asserted)
    assert not missing, (
        "PHI routes without a test that proves they are audited (call "
        "tests.audit_helpers.assert_audited(..., route='<METHOD> <path>') after requesting them):\n  "
        + "\n  ".join(missing)
    )


def test_phi_marker_survives_app_assembly(app):
    found = set(phi_routes(app))
    assert ("GET", "/api/audit/patients/{patient_id}") in found
    assert ("GET", "/audit/patients/{patient_id}") in found
    assert ("GET", "/api/audit") not in found


def test_meta_test_flags_an_unaudited_phi_route(settings, tmp_path):
    """Proof the check bites: a plugin's PHI route with no assert_audited is reported, and
    stops being reported once a test names it."""

    @phi_route
    @get(
        "/careless/patients/{patient_id:uuid}",
        name="careless:chart",
        guards=[requires("careless:charts", "read")],
    )
    async def chart(patient_id: str) -> str:
        return "chart"

    @get(
        "/careless/patients/{patient_id:uuid}/notes",
        name="careless:notes",
        guards=[requires("careless:charts", "read")],
        opt={"phi": True},
    )
    async def notes(patient_id: str) -> str:
        return "notes"

    class Careless:
        manifest = Manifest(name="careless", version="1.0", title="Careless", description="", core=">=0.1")

        @hookimpl
        def tessera_routes(self):
            return [chart, notes]

    app = create_app(settings, registry=build_registry(settings, extra_plugins=[Careless()]))
    missing = [line for line in uncovered_phi_routes(app, set()) if "careless" in line]
    assert missing == ["GET /careless/patients/{patient_id}", "GET /careless/patients/{patient_id}/notes"]

    test_module = tmp_path / "test_careless.py"
    test_module.write_text(
        "from tests.audit_helpers import assert_audited\n"
        "async def test_chart(db, tenant, patient):\n"
        "    await assert_audited(db, tenant, action='read', patient_id=patient.id,\n"
        "                         route='/careless/patients/{patient_id}')\n"
    )
    asserted = routes_asserted_in(test_files([tmp_path]))
    assert asserted == {"GET /careless/patients/{patient_id}"}
    still = [line for line in uncovered_phi_routes(app, asserted) if "careless" in line]
    assert still == ["GET /careless/patients/{patient_id}/notes"]


def test_helpers():
    from tests.audit_helpers import route_key

    assert route_key("/a/{id:uuid}") == "GET /a/{id}"
    assert route_key("patch /a/{id}") == "PATCH /a/{id}"
    assert normalize_path("/api/patients/{patient_id:uuid}/") == "/api/patients/{patient_id}"
    assert normalize_path("/a/{x}/b/{y:int}") == "/a/{x}/b/{y}"
    with pytest.raises(TypeError):
        phi_route(lambda: None)
