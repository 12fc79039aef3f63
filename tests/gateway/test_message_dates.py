"""A message's own Date header beside the time the archive received it (issue 15: "dates are
archive times only"): shown by ``cases show``, the web timeline and the evidence package's
index, and ``search --since/--until --by sent`` filters imported history by when it was sent."""

from __future__ import annotations

import json
import zipfile

import pytest

from gateway.core.errors import GatewayError
from gateway.services.cases import list_cases
from gateway.services.evidence import selection
from gateway.services.search import search_archive
from tests.support.mail import make_message
from tests.support.web import file_mail, signed_in

SENT = "2019-01-15T08:00:00Z"  # the Date header below, in UTC


@pytest.fixture
def history(app, tmp_path):
    """Mail from 2019 imported today, and one sent today."""
    file_mail(app, tmp_path / "in",
              make_message(subject="Old flange order", sender="a@firm-a.example",
                           body="The flange order of 2019.",
                           date="Tue, 15 Jan 2019 09:00:00 +0100"),
              make_message(subject="New flange order", sender="b@firm-b.example",
                           body="The flange order of today."))
    refs = {c.subject: c.ref for c in list_cases(app, actor="test").items}
    return refs["Old flange order"], refs["New flange order"]


def test_cases_show_gives_the_date_header_beside_the_archive_time(app, history, cli):
    old, _ = history
    (message,) = cli("cases", "show", old, "--json").json()["messages"]
    assert message["date"] == SENT
    assert message["filed_at"] and not message["filed_at"].startswith("2019")
    text = cli("cases", "show", old).out
    assert "RECEIVED" in text and "SENT (DATE:)" in text
    (row,) = [line for line in text.splitlines() if "Old flange order" in line
              and "subject:" not in line]
    assert message["filed_at"][:19] in row and SENT[:19] in row


def test_search_filters_by_received_or_by_sent(app, history, cli):
    def found(*args):
        result = cli("search", "flange", "--json", *args)
        assert result.code == 0, result.err
        return sorted(hit["subject"] for hit in result.json())

    in_2019 = ("--since", "2019-01-01", "--until", "2019-02-01")
    assert found(*in_2019) == []  # received: everything was filed today
    assert found(*in_2019, "--by", "received") == []
    assert found(*in_2019, "--by", "sent") == ["Old flange order"]
    assert found("--since", "2020-01-01", "--by", "sent") == ["New flange order"]
    assert found("--since", "2020-01-01") == ["New flange order", "Old flange order"]
    with pytest.raises(GatewayError, match="dates filter by one of received, sent"):
        search_archive(app, actor="test", query="flange", by="written")


def test_the_timeline_and_the_package_show_both_dates(app, history, cli, tmp_path):
    old, _ = history
    filed = cli("cases", "show", old, "--json").json()["messages"][0]["filed_at"]
    with signed_in(app, "anna", "staff", "sales@northpoint.example") as anna:
        page = anna.get(f"/cases/{old}").text
    assert f'<time class="sent">{SENT}</time>' in page
    assert f'<time class="received">{filed}</time>' in page

    package = tmp_path / "evidence.zip"
    made = cli("audit", "export", "--case", old, "-o", str(package), "--as", "auditor")
    assert made.code == 0, made.err
    with zipfile.ZipFile(package) as archive:
        index = archive.read("index.html").decode()
    assert "<th>sent (Date:)</th>" in index and f"<td class=when>{SENT}</td>" in index


def test_audit_export_selects_by_received_or_by_sent(app, history, cli, tmp_path):
    def exported(name, *args):
        package = tmp_path / f"{name}.zip"
        made = cli("audit", "export", "-o", str(package), "--as", "auditor", "--json", *args)
        if made.code != 0:
            return made.err.strip()
        with zipfile.ZipFile(package) as archive:
            manifest = json.loads(archive.read("manifest.json"))
        return sorted(m["subject"] for m in manifest["messages"]), manifest["selection"]["by"]

    in_2019 = ("--from", "2019-01-01", "--to", "2019-01-31")
    assert "nothing matches the selection" in exported("received", *in_2019)
    assert exported("sent", *in_2019, "--by", "sent") == (["Old flange order"], "sent")
    assert exported("recent", "--from", "2020-01-01", "--by", "sent") == (
        ["New flange order"], "sent")
    assert exported("all", "--from", "2020-01-01") == (
        ["New flange order", "Old flange order"], "received")
    with pytest.raises(GatewayError, match="dates filter by one of received, sent"):
        selection(date_from="2019-01-01", by="written")


def test_the_search_page_filters_by_received_or_by_sent(app, history):
    with signed_in(app, "anna", "staff", "sales@northpoint.example",
                   "support@northpoint.example") as anna:
        def found(**params):
            page = anna.get("/search", params={"q": "flange", **params})
            assert page.status_code == 200, page.text
            return sorted(s for s in ("Old flange order", "New flange order") if s in page.text)

        in_2019 = {"since": "2019-01-01", "until": "2019-02-01"}
        assert found(**in_2019) == []
        assert found(**in_2019, by="sent") == ["Old flange order"]
        assert found(since="2020-01-01", by="sent") == ["New flange order"]
        assert found(since="2020-01-01") == ["New flange order", "Old flange order"]
        assert anna.get("/search", params={"q": "flange", "by": "written"}).status_code == 400
        assert anna.get("/search", params={"q": "x", "since": "soon"}).status_code == 400
        page = anna.get("/search", params={"q": "flange"}).text
    assert f"<td>{SENT}</td>" in page
