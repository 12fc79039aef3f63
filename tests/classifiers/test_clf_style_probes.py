"""Probe mails of branch i12-en: English in the styles other companies send.

Five batches in ``tests/classifiers/data/style_probes_N.jsonl`` (terse mobile mail,
procurement-system POs and sourcing invitations, web-form, review-platform and helpdesk
notifications, long reply chains with a short new text, forwards, business content only in
the subject, signature- and disclaimer-heavy mail, learner English), each written and labelled
(Norland labelling rules) before it was scored once (docs/classifier.md, "English in other
companies' mail styles"). The ``e1_*`` rules of round 1 were written from batch 1, round 2 from
batch 2, round 3 from batch 3 and round 4 from batch 4; batch 5 was written after round 4 and
never written from. The floors are accuracies a little under those measured at commit time:
a later rule may trade one probe for another, it must not lose ground on mail nobody tuned for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import load_rules
from tests.support.probes import category_and_rules, load_labelled_mails, misclassified

RULES = load_rules()
DATA = Path(__file__).parent / "data"

# batch -> minimum share of probes with the right category. Measured at commit time (first
# score on main before any e1 rule, then now): 1: 57/63 -> 63/63, 2: 34/40 -> 40/40,
# 3: 28/40 -> 39/40, 4: 20/31 -> 29/31, 5: 20/25 -> 20/25 (first and only score; main 20/25).
FLOORS = {1: 0.95, 2: 0.95, 3: 0.92, 4: 0.88, 5: 0.76}


@pytest.mark.parametrize("batch", sorted(FLOORS))
def test_probe_batch_keeps_its_accuracy(batch: int) -> None:
    probes = load_labelled_mails(DATA / f"style_probes_{batch}.jsonl")
    wrong = misclassified(probes, RULES)
    assert 1 - len(wrong) / len(probes) >= FLOORS[batch], wrong


@pytest.mark.parametrize(("subject", "body", "category", "rule"), [
    ("Re: PO 7781", "Hold this one pls, dont ship till I confirm", "order",
     "en.scope.hold_until"),
    ("New order #WS-10442 received", "Order #WS-10442, 3 x grease nipple kit.", "order",
     "en.order.o4_system_issued_order"),
    ("Order: 30 x hose clamp 40-60mm, PO 11893", "Tom", "order",
     "en.order.e1_order_heading_line"),
    ("Drawings for the new tool attached - rev C", "QA dept", "property",
     "en.property.e1_subject_drawings_attached"),
    ("call me", "can someone call me re the hoses for the tractor, need them by fri", "enquiry",
     "en.enquiry.e1_call_back"),
    ("Re: Q-22510", "Yep thats fine, crack on", "order", "en.order.e1_ok_carry_on"),
    ("RE: PO 60677 - qty", "can you knock the 100 down to 75 on this one?", "order",
     "en.scope.e1_knock_down_to"),
])
def test_style_constructions(subject: str, body: str, category: str, rule: str) -> None:
    got, rules = category_and_rules(subject, body, RULES)
    assert got == category, rules
    assert rule in rules


@pytest.mark.parametrize(("subject", "body", "category"), [
    # a supposed fault asks, it does not complain
    ("returning the pump?", "If the pump turns out to be faulty, should we send it back to you "
     "or to the manufacturer?", "enquiry"),
    # a technical question naming a defect is no complaint (labelled-norland 184's shape)
    ("brass on steel?", "Is there a galvanic corrosion problem with brass fittings on steel?",
     "enquiry"),
    # 'scrap' disposes of goods; only 'scrap that order' cancels
    ("old parts", "Please scrap the old gauges, we don't need them back.", "property"),
])
def test_near_misses_keep_their_category(subject: str, body: str, category: str) -> None:
    got, rules = category_and_rules(subject, body, RULES)
    assert got == category, rules
