"""Hand-written probe batches (``tests/classifiers/data/*_probes_*``) as classifier input: the
TOML scope batches, read by the probe tests and by ``bench/scope_probe.py`` alike, so both score
the same messages, and the JSON-lines category batches of the order and boundary tests."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from classifiers import MessageInput, RuleSet, classify


def load_probes(path: Path) -> list[dict[str, Any]]:
    """The ``[[probe]]`` tables of a probe file."""
    with path.open("rb") as fh:
        probes: list[dict[str, Any]] = tomllib.load(fh)["probe"]
    return probes


def to_message(probe: dict[str, Any]) -> MessageInput:
    """A probe as the classifier's input."""
    headers = tuple((str(n), str(v)) for n, v in probe.get("headers", ()))
    return MessageInput(subject=probe["subject"], body_text=probe["body"],
                        from_addr=probe.get("from", ""), headers=headers)


def load_labelled_mails(path: Path) -> list[dict[str, Any]]:
    """The mails of a JSON-lines probe batch (``*_probes_N.jsonl``: one labelled mail a line)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def misclassified(mails: list[dict[str, Any]], rules: RuleSet) -> list[str]:
    """One line per mail of a JSON-lines batch whose category is not its label."""
    wrong = []
    for mail in mails:
        headers = tuple((str(k), str(v)) for k, v in mail["headers"])
        sender = next((v for k, v in headers if k == "From"), "")
        category = classify(MessageInput(subject=str(mail["subject"]), body_text=str(mail["body"]),
                                         from_addr=sender, headers=headers), rules).category
        if category != mail["category"]:
            wrong.append(f"{mail['id']} {mail['language']} {mail['category']}->{category}: "
                         f"{mail['subject']}")
    return wrong


def category_and_rules(subject: str, body: str, rules: RuleSet) -> tuple[str, set[str]]:
    """The category of a mail of ``subject`` and ``body`` and the ids of its evidence's rules."""
    c = classify(MessageInput(subject=subject, body_text=body), rules)
    return c.category, {e.rule_id for e in c.evidence}
