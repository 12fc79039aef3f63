"""SQLite and PostgreSQL file the same mail into the same cases.

The labelled development corpus (200 messages, threads, several aliases) is ingested into two
fresh homes, one per backend, in the same test; the resulting cases must agree on everything
that does not depend on the wall clock: references, category, status, scope-change flag,
alias, customer and subject, the messages of each case (sha256, category, flags, thread rule),
and each case's events (kinds in order, with their data).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import App
from gateway.cli.main import main as cli_main
from gateway.config import DATABASE_URL_ENV
from gateway.installation import init_home
from gateway.workflows.cases import list_cases, show_case
from tests.support.corpora import CORPORA
from tests.support.databases import BACKENDS, fresh_pg_database

MAIL = CORPORA / "labelled-dev" / "mail"
ACME = ["sales@acme-fluidics.example", "support@acme-fluidics.example",
        "returns@acme-fluidics.example"]

pytestmark = [pytest.mark.corpora, pytest.mark.skipif(
    not {"sqlite", "postgresql"} <= set(BACKENDS),
    reason="needs both backends (COMMGATE_TEST_BACKENDS excludes one)")]


@pytest.fixture
def postgres_url(pg_template: str) -> Iterator[str]:
    """A fresh database copied from the migrated template, dropped afterwards."""
    with fresh_pg_database(pg_template, "commgate_agree") as url:
        yield url


def ingest_into(home: Path, url: str, monkeypatch: pytest.MonkeyPatch
                ) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Initialise ``home`` on ``url``, ingest the corpus; (dialect, summary, case details)."""
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    init_home(str(home), "ACM", ACME)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(["--home", str(home), "ingest", "--json", str(MAIL)])
    assert code == 0, err.getvalue()[-3000:]
    app = App.open(home)
    try:
        with app.db.session() as session:
            cases = [show_case(session, row["ref"]) for row in list_cases(session)]
        dialect = app.db.dialect
    finally:
        app.close()
    return dialect, json.loads(out.getvalue()), cases


def comparable(case: dict[str, Any]) -> dict[str, Any]:
    """A case without its timestamps."""
    return {
        **{key: case[key] for key in ("ref", "category", "status", "scope_change", "alias",
                                      "customer", "subject", "message_count")},
        "messages": [{key: m[key] for key in ("sha256", "message_id", "category",
                                              "scope_change", "thread_rule", "alias", "seq",
                                              "identifiers", "language")}
                     for m in case["messages"]],
        "events": [(e["kind"], e["actor"], e["data"]) for e in case["events"]],
    }


def test_sqlite_and_postgresql_build_the_same_cases(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lite_dialect, lite_summary, lite_cases = ingest_into(
        tmp_path / "sqlite-home", f"sqlite+pysqlite:///{tmp_path / 'agree.db'}", monkeypatch)
    pg_dialect, pg_summary, pg_cases = ingest_into(
        tmp_path / "pg-home", postgres_url, monkeypatch)
    assert (lite_dialect, pg_dialect) == ("sqlite", "postgresql")

    files = sorted(MAIL.glob("*.eml"))
    assert len(files) == 200
    assert lite_summary["seen"] == len(files)
    assert lite_summary == pg_summary
    assert len(lite_cases) == lite_summary["new_cases"] > 1

    # The same references, each with the same flags, messages and events.
    assert [c["ref"] for c in lite_cases] == [c["ref"] for c in pg_cases]
    for lite, pg in zip(lite_cases, pg_cases, strict=True):
        ref = lite["ref"]
        assert (lite["category"], lite["status"], lite["scope_change"]) == (
            pg["category"], pg["status"], pg["scope_change"]), ref
        assert {m["sha256"] for m in lite["messages"]} == {m["sha256"] for m in pg["messages"]}
        assert [e["kind"] for e in lite["events"]] == [e["kind"] for e in pg["events"]], ref
        assert comparable(lite) == comparable(pg), ref

    # Sanity: the corpus does thread (some case holds several messages) and every message
    # was filed exactly once across the cases.
    shas = [m["sha256"] for case in lite_cases for m in case["messages"]]
    assert len(shas) == len(set(shas)) == lite_summary["filed"]
    assert max(len(case["messages"]) for case in lite_cases) > 1
