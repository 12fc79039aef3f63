"""'commgate rules evaluate | suggest | check' through the CLI, on SQLite and PostgreSQL.

The installation's labels are built as staff build them: messages wait in the triage queue
and 'cases classify' confirms or corrects them (tests/gateway/test_triage.py shows the flow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from classifiers.rules import DEFAULT_RULES_DIR
from tests.support.cases import ORDER
from tests.support.cli import run_cli
from tests.support.mail import make_message
from tests.support.triage import UNDECIDED, configure, ingest, triage

LATHE = dict(subject="Next week", message_id="<lathe1@customer.example>",
             body="Hi Tom,\nkindly reserve the lathe slot on Thursday.\n\nBest,\nAnna")
LATHE_AGAIN = dict(subject="Thursday", message_id="<lathe2@customer.example>",
                   body="Hello Tom,\nkindly reserve the lathe slot for Friday as well.\n\nAnna")


def labelled_installation(home: Path, cli, tmp_path: Path) -> dict[str, str]:
    """Every message waits (triage_below 0.99); a person confirms the order and corrects the
    undecided greeting to an order. Returns {message-id: case ref}."""
    configure(home, triage_below=0.99)
    ingest(cli, tmp_path, ORDER, UNDECIDED)
    refs = {row["waiting"][0]["subject"]: row["ref"] for row in triage(cli)}
    for ref in refs.values():
        result = cli("cases", "classify", ref, "--category", "order", "--as", "alice")
        assert result.code == 0, result.err
    return refs


def candidate_without_order_rules(tmp_path: Path) -> Path:
    """The shipped rules minus the English order rules: the purchase order is no longer one."""
    folder = tmp_path / "candidate"
    shutil.copytree(DEFAULT_RULES_DIR, folder)
    (folder / "en" / "order.toml").unlink()
    return folder


def test_evaluate_replays_staff_decisions_and_lists_the_decision_a_candidate_changes(
        home, cli, tmp_path):
    refs = labelled_installation(home, cli, tmp_path)
    candidate = candidate_without_order_rules(tmp_path)
    result = cli("rules", "evaluate", "--rules", str(candidate), "--as", "alice", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["messages"] == {"staff": 2, "corpus": 0}
    now = data["in_force"]
    # Both labelled order; the rules alone decide the purchase order and leave the greeting
    # to the fallback ("other": the alias's prior is not the rules' doing).
    assert now["classes"]["order"]["support"] == 2
    assert now["classes"]["order"]["recall"] == 0.5
    assert now["classes"]["order"]["precision"] == 1.0
    assert now["coverage"] == 0.5
    assert now["identifiers"]["recall"] is None  # staff label no identifiers
    assert data["candidate"]["classes"]["order"]["recall"] == 0.0
    changed = data["changes"]
    assert len(changed) == 1
    assert refs[ORDER["subject"]] in changed[0]["source"]
    assert changed[0]["in_force"] == {"category": "order", "scope_change": False}
    assert changed[0]["candidate"]["category"] != "order"
    assert changed[0]["expected"] == {"category": "order", "scope_change": False}
    text = cli("rules", "evaluate", "--rules", str(candidate), "--as", "alice")
    assert text.code == 0, text.err
    assert "1 decision(s) would change" in text.out
    assert f"{refs[ORDER['subject']]}" in text.out and "order -> " in text.out


def test_evaluate_an_edited_extra_rules_folder_shows_the_decision_it_wins(home, cli,
                                                                         tmp_path):
    refs = labelled_installation(home, cli, tmp_path)
    extra = tmp_path / "rules.d" / "en"
    extra.mkdir(parents=True)
    (extra / "order.toml").write_text(
        '[[rules]]\nid = "en.order.test_fair_meeting"\nweight = 5\n'
        'note = "test only: meeting at the fair counts as an order"\n'
        'phrases = ["at the fair"]\n'
        'examples = ["We will see you at the fair."]\n'
        'counter_examples = ["We skip the trade show this year."]\n')
    result = cli("rules", "evaluate", "--extra-rules", str(extra.parent), "--as", "alice",
                 "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["rules"]["candidate"] != data["rules"]["in_force"]
    assert [c["source"].split(" (")[1].split(",")[0] for c in data["changes"]] == [
        refs[UNDECIDED["subject"]]]
    change = data["changes"][0]
    assert (change["in_force"]["category"], change["candidate"]["category"]) == ("other",
                                                                                 "order")
    assert data["candidate"]["classes"]["order"]["recall"] == 1.0
    assert data["candidate"]["coverage"] == 1.0 and data["in_force"]["coverage"] == 0.5


def test_evaluate_records_the_archive_reads_in_the_access_log(home, cli, tmp_path):
    labelled_installation(home, cli, tmp_path)
    assert cli("rules", "evaluate", "--as", "auditor-bob").code == 0
    log = cli("audit", "log", "--action", "view-raw", "--json").json()
    assert len(log) == 1
    assert log[0]["actor"] == "auditor-bob"
    shown = {m["sha256"] for case in ("NPC-000001", "NPC-000002")
             for m in cli("cases", "show", case, "--json").json()["messages"]}
    assert set(log[0]["detail"]["sha256s"]) == shown
    assert "staff-classified messages" in log[0]["detail"]["reason"]


def write_corpus(folder: Path) -> Path:
    """A tiny labelled corpus: a purchase order with its number, a greeting labelled other."""
    (folder / "mail").mkdir(parents=True)
    (folder / "mail" / "1.eml").write_bytes(make_message(
        subject=ORDER["subject"], body=ORDER["body"], message_id="<c1@customer.example>"))
    (folder / "mail" / "2.eml").write_bytes(make_message(
        subject=UNDECIDED["subject"], body=UNDECIDED["body"], message_id="<c2@customer.example>"))
    labels = [{"file": "1.eml", "category": "order", "scope_change": False,
               "identifiers": ["#4500 871-234"], "language": "en"},
              {"file": "2.eml", "category": "other", "scope_change": False, "identifiers": []}]
    (folder / "labels.jsonl").write_text("".join(json.dumps(e) + "\n" for e in labels))
    return folder


def test_evaluate_scores_a_labelled_corpus_folder_with_and_without_an_installation(
        home, cli, tmp_path):
    corpus = write_corpus(tmp_path / "tiny")
    alone = cli("rules", "evaluate", "--corpus", str(corpus), "--json", use_home=False)
    assert alone.code == 0, alone.err
    data = alone.json()
    assert data["messages"] == {"staff": 0, "corpus": 2}
    now = data["in_force"]
    assert now["accuracy"] == 1.0 and now["macro_f1"] == 1.0
    # "#4500 871-234" is "4500871234" once spaces, '#' and hyphens are ignored
    assert now["identifiers"] == {"recall": 1.0, "precision": 1.0, "found": 1, "missed": 0,
                                  "extra": 0}
    assert now["languages"]["en"]["n"] == 2
    assert data["changes"] == []
    labelled_installation(home, cli, tmp_path)
    both = cli("rules", "evaluate", "--corpus", str(corpus), "--as", "alice", "--json")
    assert both.code == 0, both.err
    assert both.json()["messages"] == {"staff": 2, "corpus": 2}
    missing = cli("rules", "evaluate", "--corpus", str(tmp_path / "nowhere"))
    assert missing.code == 2 and "labels.jsonl" in missing.err


def test_suggest_lists_words_of_corrected_messages_that_no_rule_covers(home, cli, tmp_path):
    configure(home)
    ingest(cli, tmp_path, LATHE, LATHE_AGAIN, ORDER)
    waiting = triage(cli)
    assert len(waiting) == 2  # the two undecided requests; the order is decided
    for row in waiting:
        assert cli("cases", "classify", row["ref"], "--category", "order", "--as", "alice"
                   ).code == 0
    result = cli("rules", "suggest", "--as", "alice", "--json")
    assert result.code == 0, result.err
    found = {(s["category"], s["language"], s["ngram"]): s["count"] for s in result.json()}
    assert found[("order", "en", "reserve lathe slot")] == 2
    assert ("order", "en", "the") not in found  # a stop word
    assert all(count >= 2 for count in found.values())
    text = cli("rules", "suggest", "--as", "alice", "--min-count", "1")
    assert text.code == 0 and "order [en]" in text.out and "thursday" in text.out


def test_suggest_with_no_corrections_lists_nothing(home, cli, tmp_path):
    ingest(cli, tmp_path, ORDER)
    nothing = cli("rules", "evaluate", "--as", "alice")
    assert nothing.code == 0 and nothing.out.startswith("nothing to evaluate")
    result = cli("rules", "suggest", "--as", "alice", "--json")
    assert result.code == 0 and result.json() == []
    assert cli("audit", "log", "--action", "view-raw", "--json").json() == []


# 'rules check --rules FOLDER' reads no installation and no database: run once, not per backend.

def test_check_passes_on_the_shipped_rules():
    ok = run_cli("rules", "check", "--rules", str(DEFAULT_RULES_DIR))
    assert ok.code == 0, ok.out + ok.err
    assert ok.out.endswith("failing example(s)\n") and " no failing" in ok.out


def test_check_exits_1_on_a_broken_example_and_2_on_a_missing_folder(tmp_path):
    # Only the language the broken rule is in: the other languages are checked above.
    folder = tmp_path / "broken"
    shutil.copytree(DEFAULT_RULES_DIR / "en", folder / "en")
    with (folder / "en" / "order.toml").open("a") as rules:
        rules.write('\n[[rules]]\nid = "en.order.test_broken"\nweight = 4\nnote = "test"\n'
                    'phrases = ["reserve the lathe"]\n'
                    'examples = ["Please book the milling machine."]\n'
                    'counter_examples = ["We may reserve the lathe later."]\n')
    broken = run_cli("rules", "check", "--rules", str(folder), "--json")
    assert broken.code == 1
    problems = broken.json()["problems"]
    assert len(problems) >= 1
    assert any("en.order.test_broken" in p for p in problems)
    unreadable = run_cli("rules", "check", "--rules", str(tmp_path / "nowhere"))
    assert unreadable.code == 2 and "Traceback" not in unreadable.err
