"""Probe mails of branch i12-orders: orders (and their near misses) in wording no corpus had.

Five batches in ``tests/classifiers/data/order_probes_N.jsonl``, each written and labelled
(Norland labelling rules) before it was scored once (docs/classifier.md, "Orders on other
companies' mail"). Batch 1 was scored before any ``o4_*`` rule and the rules of round 1 were
written from its misses; batch 2 was first scored after round 1, batch 3 after round 2,
batch 4 after round 3 and batch 5 after round 4 (the final rules). The floors below are
accuracies, a little under the figures measured when this test was written, not per-message
results: a later rule may trade one probe for another, it must not lose ground on mail
nobody tuned for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import MessageInput, classify, load_rules
from tests.support.probes import load_labelled_mails, misclassified

RULES = load_rules()
DATA = Path(__file__).parent / "data"

# batch -> minimum share of probes with the right category. Measured at commit time:
# 1: 60/62 (written from), 2: 59/62 (51/62 when first scored), 3: 55/60 (51/60 when first
# scored), 4: 55/60 (49/60 when first scored), 5: 50/60 (first and only score; main 49/60).
FLOORS = {1: 0.95, 2: 0.90, 3: 0.88, 4: 0.88, 5: 0.80}


def _probes(batch: int) -> list[dict[str, object]]:
    return load_labelled_mails(DATA / f"order_probes_{batch}.jsonl")


@pytest.mark.parametrize("batch", sorted(FLOORS))
def test_probe_batch_keeps_its_accuracy(batch: int) -> None:
    probes = _probes(batch)
    wrong = misclassified(probes, RULES)
    assert 1 - len(wrong) / len(probes) >= FLOORS[batch], wrong


def test_probe_batches_cover_eleven_languages() -> None:
    languages = {p["language"] for b in FLOORS for p in _probes(b)}
    assert languages == {"en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs"}


def _classify(body: str, subject: str = "") -> tuple[str, list[str]]:
    result = classify(MessageInput(subject=subject, body_text=body), RULES)
    return result.category, [e.rule_id for e in result.evidence]


def test_work_authorised_on_an_item_in_care_is_an_order() -> None:
    category, evidence = _classify(
        "Quote accepted. The instrument is already at your workshop, please go ahead with "
        "the repair. PO 55102.")
    assert category == "order", evidence
    assert "clf.work_on_item_in_care" in evidence


def test_custody_question_without_authorisation_stays_property() -> None:
    category, evidence = _classify(
        "We've got two die sets and a fixture at your place - can you let me know whether "
        "they're safe and undamaged after the fire?")
    assert category == "property", evidence
    assert "clf.work_on_item_in_care" not in evidence


def test_item_lines_beside_a_po_number_are_an_order() -> None:
    category, evidence = _classify(
        "Hello Sabine,\n\nplease send us:\n\n2x seal kit SK-40\n1x impeller CP 40\n\n"
        "Our PO no. 23-7781. Prices as in your price list.", "seal kits")
    assert category == "order", evidence
    assert "clf.order_lines" in evidence


def test_a_status_question_naming_its_lines_is_no_order() -> None:
    category, evidence = _classify(
        "Could you give me an update on our PO 4500918832 (2x MV-80 control valves)? "
        "No change needed, just the status please.", "Status PO 4500918832?")
    assert category == "enquiry", evidence
    assert "clf.order_lines" not in evidence


NEAR_MISSES = [
    "How soon could you ship 20 units?",
    "Could you please send us the 3D models in STEP format and the drawings?",
    "Can you please send the EUR.1 certificate today?",
    "Let's go out to lunch when you come back.",
    "Anytime you want to go to lunch, I'd be glad to go.",
    "We are still waiting for the green light from finance.",
    "Our reorder level for tips is 20 boxes. How do I reorder through the web shop?",
]


@pytest.mark.parametrize("body", NEAR_MISSES)
def test_near_misses_are_no_order(body: str) -> None:
    category, evidence = _classify(body)
    assert category != "order", evidence
