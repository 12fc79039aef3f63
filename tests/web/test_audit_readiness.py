"""The procedure and mock-audit pages: compliance and admins only; what staff typed is escaped;
the audit pack downloads, is in the access log and verifies offline."""

from __future__ import annotations

import pytest

from gateway.services.compliance import audit_log
from gateway.services.package_check import check_package
from tests.support.audit_findings import complaint_closed_without_corrective_action
from tests.support.web import SCRIPT, active_content, csrf_of, signed_in

SALES = "sales@northpoint.example"


@pytest.fixture
def complaint(cli, tmp_path):
    return complaint_closed_without_corrective_action(cli, tmp_path, note=f"not one {SCRIPT}")


def test_procedure_and_sample_need_the_compliance_role(app, client, complaint):
    assert client.get("/audit/procedure").status_code == 303
    assert client.get("/audit/sample").status_code == 303
    for role in ("staff", "reviewer"):
        with signed_in(app, f"x{role}", role, SALES) as person:
            assert person.get("/audit/procedure").status_code == 403
            assert person.get("/audit/sample").status_code == 403
            token = csrf_of(person.get("/cases").text)
            assert person.post("/audit/pack", data={"csrf": token}).status_code == 403
    assert not [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]


def test_the_procedure_page_shows_the_map_and_escapes_what_staff_wrote(app, complaint):
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/audit/procedure?days=30")
    assert page.status_code == 200
    assert all(f"<td>{alias}</td>" in page.text for alias in (
        SALES, "support@northpoint.example", "returns@northpoint.example"))
    assert SCRIPT not in page.text and "&lt;script&gt;" in page.text
    assert active_content(page.text) == []
    assert f'<a href="/cases/{complaint}">{complaint}</a>: closed without corrective action' \
        in page.text


def test_the_sample_page_downloads_a_pack_that_verifies(app, complaint, tmp_path):
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/audit/sample?seed=5")
        assert page.status_code == 200 and "Seed 5" in page.text
        assert "corrective action" in page.text and SCRIPT not in page.text
        pack = cora.post("/audit/pack", data={"csrf": csrf_of(page.text), "days": "90",
                                              "per_kind": "5", "seed": "5"})
        bad = cora.post("/audit/pack", data={"csrf": csrf_of(page.text), "days": "x"})
    assert bad.status_code == 400
    assert pack.status_code == 200 and pack.headers["X-Commgate-Sample-Seed"] == "5"
    saved = tmp_path / "pack.zip"
    saved.write_bytes(pack.content)
    (export,) = [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]
    assert (export["actor"], export["detail"]["purpose"]) == ("cora", "audit-pack")
    checked = check_package(package=saved)
    assert (checked.status, checked.problems) == ("unsigned", ())
