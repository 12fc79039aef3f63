"""classifiers.evaluation: the arithmetic every rule figure rests on, on hand-made results."""

from __future__ import annotations

import pytest

from classifiers import Classification, Identifier
from classifiers.evaluation import Expected, differences, evaluate, normalise_identifier, prf


def result(category: str, *, scope: bool = False, ids: tuple[str, ...] = (),
           language: str = "en", decided_by: str = "rule") -> Classification:
    return Classification(category=category, scope_change=scope,
                          identifiers=tuple(Identifier("po", v) for v in ids),
                          language=language, confidence=0.9, evidence=(), rules_version="t",
                          decided_by=decided_by)


def test_prf_from_counts_and_empty_denominators():
    assert prf(3, 1, 2) == pytest.approx((0.75, 0.6, 2 * 0.75 * 0.6 / 1.35))
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(0, 2, 0) == (0.0, 0.0, 0.0)


def test_per_class_macro_f1_accuracy_and_confusion():
    pairs = [(Expected("order", False), result("order")),
             (Expected("order", False), result("enquiry")),
             (Expected("enquiry", False), result("enquiry")),
             (Expected("enquiry", False), result("order")),
             (Expected("enquiry", False), result("enquiry"))]
    report = evaluate(pairs)
    order = next(c for c in report.classes if c.category == "order")
    enquiry = next(c for c in report.classes if c.category == "enquiry")
    assert (order.precision, order.recall, order.support, order.predicted) == (0.5, 0.5, 2, 2)
    assert enquiry.precision == pytest.approx(2 / 3) and enquiry.recall == pytest.approx(2 / 3)
    # property, feedback and other occur on neither side: not in the macro average
    assert report.macro_f1 == pytest.approx((0.5 + 2 / 3) / 2)
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.confusion_count("enquiry", "order") == 1
    assert report.confusion_count("order", "order") == 1
    assert report.confusion_count("property", "order") == 0


def test_scope_change_counts_the_changes_as_the_positive_class():
    pairs = [(Expected("order", True), result("order", scope=True)),
             (Expected("order", True), result("order")),
             (Expected("order", False), result("order", scope=True)),
             (Expected("order", False), result("order"))]
    report = evaluate(pairs)
    assert (report.scope_precision, report.scope_recall, report.scope_f1) == (0.5, 0.5, 0.5)


def test_coverage_counts_rule_and_header_decisions_only():
    pairs = [(Expected("order", False), result("order", decided_by="rule")),
             (Expected("other", False), result("other", decided_by="header")),
             (Expected("enquiry", False), result("enquiry", decided_by="weak-rule")),
             (Expected("feedback", False), result("other", decided_by="fallback"))]
    report = evaluate(pairs)
    assert report.coverage == 0.5 and report.decided == 2
    assert (report.business, report.business_decided) == (3, 1)
    assert report.business_coverage == pytest.approx(1 / 3)


@pytest.mark.parametrize(("written", "normal"), [
    ("PO# 4500-1234", "po45001234"), ("po 45001234", "po45001234"),
    ("RMA\u201324\u20130322", "rma240322"), (" ab#12 ", "ab12"), ("Q-2025-77", "q202577")])
def test_identifiers_compare_ignoring_case_spaces_hashes_and_hyphens(written, normal):
    assert normalise_identifier(written) == normal


def test_identifier_recall_and_precision_over_normalised_sets():
    pairs = [(Expected("order", False, ("PO# 4500-1234", "RMA-1")),
              result("order", ids=("po 45001234", "SN 9"))),
             (Expected("order", False, ()), result("order", ids=("X-1",))),
             # a person's triage label says nothing about identifiers: not counted
             (Expected("order", False, None), result("order", ids=("Y-2",)))]
    report = evaluate(pairs)
    assert (report.id_tp, report.id_fn, report.id_fp) == (1, 1, 2)
    assert report.id_recall == 0.5 and report.id_precision == pytest.approx(1 / 3)
    assert differences(*pairs[0]) == ["missed ids ['rma1']", "extra ids ['sn9']"]


def test_no_identifier_labels_give_no_identifier_figures():
    report = evaluate([(Expected("order", False), result("order", ids=("1",)))])
    assert report.id_recall is None and report.id_precision is None
    assert report.to_dict()["identifiers"]["recall"] is None


def test_accuracy_per_language_prefers_the_labelled_language():
    pairs = [(Expected("order", False, language="de"), result("order", language="en")),
             (Expected("order", False), result("enquiry", language="fr")),
             (Expected("order", False), result("order", language="fr"))]
    languages = {s.language: (s.n, s.accuracy) for s in evaluate(pairs).languages}
    assert languages == {"de": (1, 1.0), "fr": (2, 0.5)}


def test_an_empty_evaluation_is_zero_not_an_error():
    report = evaluate([])
    assert (report.n, report.macro_f1, report.coverage, report.accuracy) == (0, 0.0, 0.0, 0.0)
