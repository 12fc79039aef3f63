"""``commgate demo``: a throw-away home, the bundled sample mail ingested, the cases shown."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from gateway.bootstrap import App
from gateway.cli._common import CASE_COLUMNS, render_table
from gateway.installation import init_home
from gateway.services.cases import list_cases
from gateway.services.intake import ingest_paths

SAMPLE_MAIL = Path(__file__).parent / "mail"
DEMO_ACTOR = "demo"
DEMO_PREFIX = "NPC"
DEMO_ALIASES = ["sales@northpoint.example", "support@northpoint.example",
                "returns@northpoint.example"]


def run_demo(home: Path | None, say: Callable[[str], None]) -> int:
    home = home or Path(tempfile.mkdtemp(prefix="commgate-demo-"))
    init_home(str(home), DEMO_PREFIX, DEMO_ALIASES)
    samples = sorted(SAMPLE_MAIL.glob("*.eml"))
    say(f"commgate demo: ingesting {len(samples)} sample messages into {home}\n")
    app = App.open(home)
    try:
        summary = ingest_paths(app, actor=DEMO_ACTOR, paths=samples)
        cases = list_cases(app, actor=DEMO_ACTOR).to_json()
        verified = app.archive.verify()
    finally:
        app.close()
    say(summary.render())
    say("")
    say(render_table(cases, CASE_COLUMNS))
    say(f"\n{len(cases)} cases; archive verify: "
        f"{'intact' if verified.ok else verified.first_problem}")
    say(f"\nExplore: commgate --home {home} cases show {cases[0]['ref'] if cases else 'REF'}"
        f"\n         commgate --home {home} archive verify")
    return 0
