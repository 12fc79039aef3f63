"""The case as evidence (classifiers/context.py): what the case already holds turns change
wording into a change of it, and never makes a change out of nothing."""

from __future__ import annotations

import pytest

from classifiers import Classification, Evidence, Identifier, MessageInput, classify
from classifiers.context import (
    EMPTY,
    EXISTING_ORDER,
    EXISTING_PO,
    OPEN_ENQUIRY,
    CaseContext,
    in_context,
    normalise,
)

PO = Identifier("po", "4500871234")
ORDER_CASE = EMPTY.with_message("order", (PO,), counts=True)
QUOTE_CASE = EMPTY.with_message("other", (Identifier("quote", "Q-2231"),), counts=True)
ENQUIRY_CASE = EMPTY.with_message("enquiry", (), counts=True)


def made(category: str, *evidence: tuple[str, str, str], scope_change: bool = False,
         identifiers: tuple[Identifier, ...] = ()) -> Classification:
    return Classification(category=category, scope_change=scope_change,
                          identifiers=identifiers, language="en", confidence=0.3,
                          evidence=tuple(Evidence(*e) for e in evidence), rules_version="t",
                          decided_by="weak-rule", needs_triage=True)


def rules_of(result: Classification) -> set[str]:
    return {e.rule_id for e in result.evidence}


def test_change_wording_below_the_threshold_in_an_order_case_changes_that_order():
    message = made("order", ("en.order.po_mention", "Purchase order", "subject"),
                   ("en.scope.date", "date: move delivery", "body"), identifiers=(PO,))
    result = in_context(message, ORDER_CASE)
    assert (result.category, result.scope_change) == ("order", True)
    added = [e for e in result.evidence if e.rule_id == EXISTING_ORDER]
    assert len(added) == 1 and added[0].field == "case"
    assert "date" in added[0].text and "4500871234" in added[0].text
    assert result.needs_triage is True  # the guess is still a person's to confirm


def test_the_same_message_without_a_case_is_left_as_the_classifier_said():
    message = made("enquiry", ("en.scope.date", "date: move delivery", "body"))
    assert in_context(message, EMPTY) is message


def test_an_enquiry_in_an_order_case_that_moves_the_date_is_a_change_of_the_order():
    message = made("enquiry", ("en.enquiry.question_mark", "?", "body"),
                   ("en.scope.date", "date: move delivery", "body"))
    result = in_context(message, ORDER_CASE)
    assert (result.category, result.scope_change) == ("order", True)


def test_a_weak_hint_alone_does_not_make_an_enquiry_an_order_change():
    message = made("enquiry", ("en.scope.weak_hint", "reference: change", "body"))
    assert in_context(message, ORDER_CASE) is message


def test_a_second_po_with_nothing_that_says_change_stays_a_new_order():
    second = Identifier("po", "4500871299")
    message = made("order", ("en.order.purchase_order_sent", "please find attached our "
                             "purchase order", "body"), identifiers=(second,))
    assert in_context(message, ORDER_CASE) is message


@pytest.mark.parametrize("field", ["subject"])
def test_change_wording_only_in_the_quoted_subject_is_not_the_message_s_own(field):
    message = made("order", ("en.scope.order_change", "reference: change to po", field))
    assert in_context(message, ORDER_CASE) is message


def test_a_message_that_says_nothing_changes_is_not_turned_into_a_change():
    message = made("order", ("en.scope.weak_hint", "reference: change", "body"),
                   ("en.scope.nothing_changes", "none: no changes", "body"))
    assert in_context(message, ORDER_CASE) is message


def test_an_order_change_phrase_counts_as_change_wording():
    message = made("order", ("en.order.change_or_cancel", "please cancel", "body"))
    result = in_context(message, ORDER_CASE)
    assert result.scope_change is True and EXISTING_ORDER in rules_of(result)


def test_a_quantity_change_of_an_open_quote_is_an_enquiry_with_a_scope_change():
    message = made("enquiry", ("en.scope.quantity", "quantity: 300 pieces", "body"))
    for context in (QUOTE_CASE, ENQUIRY_CASE):
        result = in_context(message, context)
        assert (result.category, result.scope_change) == ("enquiry", True)
        assert OPEN_ENQUIRY in rules_of(result)


def test_an_order_placed_in_an_enquiry_case_is_not_touched():
    message = made("order", ("en.order.per_quote", "as quoted", "body"),
                   ("en.scope.weak_hint", "reference: revised", "body"))
    assert in_context(message, QUOTE_CASE) is message


def test_citing_the_case_s_own_po_and_asking_is_a_question_not_a_new_order():
    message = made("order", ("en.order.po_mention", "PO number", "body"),
                   ("en.enquiry.question_mark", "?", "body"),
                   identifiers=(Identifier("po", "4500-871234"),))
    result = in_context(message, ORDER_CASE)
    assert (result.category, result.scope_change) == ("enquiry", False)
    assert EXISTING_PO in rules_of(result)


def test_citing_another_po_than_the_case_s_is_left_alone():
    message = made("order", ("en.order.po_mention", "PO number", "body"),
                   ("en.enquiry.question_mark", "?", "body"),
                   identifiers=(Identifier("po", "4500999999"),))
    assert in_context(message, ORDER_CASE) is message


@pytest.mark.parametrize("category", ["other", "feedback", "property"])
def test_other_categories_are_never_moved(category):
    message = made(category, ("en.scope.date", "date: postpone", "body"))
    assert in_context(message, ORDER_CASE) is message


def test_a_flagged_order_change_is_left_as_it_is():
    message = made("order", ("en.scope.date", "date: postpone", "body"), scope_change=True)
    assert in_context(message, ORDER_CASE) is message


def test_a_flagged_enquiry_in_an_order_case_is_a_change_of_the_order():
    message = made("enquiry", ("en.scope.date", "date: postpone", "body"), scope_change=True)
    result = in_context(message, ORDER_CASE)
    assert (result.category, result.scope_change) == ("order", True)
    assert in_context(message, ENQUIRY_CASE) is message  # an open enquiry's change: as it was


def test_a_guess_waiting_in_triage_does_not_make_the_case_hold_an_order():
    guessed = EMPTY.with_message("order", (PO,), counts=False)
    assert guessed.order is False and guessed.holds(PO)
    message = made("order", ("en.scope.date", "date: postpone", "body"))
    assert in_context(message, guessed) is message


def test_identifiers_compare_without_case_blanks_hashes_and_hyphens():
    assert normalise("PO-4500 871#234") == normalise("po4500871234")
    assert CaseContext(identifiers=frozenset({("rma", "rma70395")})).holds(
        Identifier("rma", "RMA-70395"))


def test_a_real_reply_with_a_change_phrase_in_an_order_case_end_to_end():
    result = classify(MessageInput(
        subject="Re: Purchase order 4500871234",
        body_text="Hi,\ncould we change the delivery to week 48?\n\nThanks\nAnna"))
    moved = in_context(result, ORDER_CASE)
    assert (moved.category, moved.scope_change) == ("order", True)


def test_a_named_change_survives_a_no_change_of_another_line():
    message = made("order", ("en.scope.date", "date: move line 10 to week 19", "body"),
                   ("en.scope.nothing_changes", "none: stays as it is", "body"))
    result = in_context(message, ORDER_CASE)
    assert (result.category, result.scope_change) == ("order", True)


def test_a_guessed_order_counts_when_the_message_names_its_number():
    guessed = EMPTY.with_message("order", (PO,), counts=False)
    names_it = made("enquiry", ("en.scope.hold", "hold: put on hold", "body"),
                    identifiers=(Identifier("po", "4500-871234"),))
    result = in_context(names_it, guessed)
    assert (result.category, result.scope_change) == ("order", True)
    other_po = made("enquiry", ("en.scope.hold", "hold: put on hold", "body"),
                    identifiers=(Identifier("po", "4500999999"),))
    assert in_context(other_po, guessed) is other_po


def test_change_wording_beside_a_quote_number_changes_the_open_enquiry():
    message = made("enquiry", ("en.scope.weak_hint", "reference: changes", "body"),
                   identifiers=(Identifier("quote", "Q-25-0412"),))
    result = in_context(message, ENQUIRY_CASE)
    assert (result.category, result.scope_change) == ("enquiry", True)
    without_number = made("enquiry", ("en.scope.weak_hint", "reference: changes", "body"))
    assert in_context(without_number, ENQUIRY_CASE) is without_number
