"""A message's own Date header beside the time the archive received it (issue 15: "dates are
archive times only"): shown by ``cases show``, the web timeline and the evidence package's
index, and ``search --since/--until --by sent`` filters imported history by when it was sent."""

from __future__ import annotations

import zipfile

import pytest

from gateway.core.errors import GatewayError
from gateway.services.cases import list_cases
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
