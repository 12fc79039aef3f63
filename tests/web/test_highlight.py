"""Marking the classification evidence's words in a message: plain (segment, is_match) pairs
that join back into the text, whatever the text and the evidence hold; the template escapes
each segment (tests/web/test_case_evidence.py checks the page)."""

from __future__ import annotations

import pytest

from gateway.web.highlight import highlight, message_evidence


def joined(segments):
    return "".join(piece for piece, _ in segments)


def marked(segments):
    return [piece for piece, matched in segments if matched]


def test_words_are_found_whatever_their_case_and_every_time():
    text = "Complaint: this is a formal COMPLAINT about a complaint."
    segments = highlight(text, ["complaint"])
    assert marked(segments) == ["Complaint", "COMPLAINT", "complaint"]
    assert joined(segments) == text


def test_overlapping_and_touching_matches_become_one_mark():
    text = "please send a quote for drawing DWG-1234 today"
    segments = highlight(text, ["quote for", "quote for drawing DWG-1234",
                                "drawing DWG-1234 today"])
    assert segments == [("please send a ", False),
                        ("quote for drawing DWG-1234 today", True)]
    assert marked(highlight("abcdef", ["abc", "def"])) == ["abcdef"]


def test_a_phrase_matches_across_a_line_break():
    text = "this is a formal\r\ncomplaint, Anna"
    assert marked(highlight(text, ["formal complaint"])) == ["formal\r\ncomplaint"]


@pytest.mark.parametrize("phrases", [[], [""], ["   "], ["not in the text"]])
def test_evidence_absent_from_the_text_marks_nothing(phrases):
    assert highlight("Hello Anna", phrases) == [("Hello Anna", False)]
    assert highlight("", phrases) == [("", False)]


def test_hostile_text_stays_plain_text_in_its_segments():
    text = "<script>alert('x')</script> and \"quotes\" & <b>bold</b> .* (regex) [a-z]+"
    phrases = ["<script>alert('x')</script>", '"quotes" &', ".*", "(regex) [a-z]+", "<b>"]
    segments = highlight(text, phrases)
    assert joined(segments) == text
    assert marked(segments) == ["<script>alert('x')</script>", '"quotes" &', "<b>", ".*",
                                "(regex) [a-z]+"]


def test_the_evidence_of_a_message_marks_subject_and_body_words_where_they_were_found():
    message = {
        "category": "feedback", "confidence": 0.82, "language": "en", "scope_change": False,
        "needs_triage": False, "thread_rule": "new-case", "rules_version": "r1",
        "subject": "Complaint: PO 4500012345 damaged",
        "identifiers": [{"kind": "po", "value": "4500012345"}],
        "evidence": [{"rule_id": "en.feedback.complaint", "text": "Complaint", "field": "subject"},
                     {"rule_id": "en.feedback.escalation_threat", "text": "formal complaint",
                      "field": "body"},
                     {"rule_id": "gw.queue_prior", "text": "queue prior of the alias",
                      "field": "header"}],
    }
    view = message_evidence(message, "this is a formal complaint: it arrived damaged")
    assert marked(view.subject) == ["Complaint"]
    assert marked(view.body) == ["formal complaint"]
    assert [(e.rule_id, e.shown) for e in view.items] == [
        ("en.feedback.complaint", True), ("en.feedback.escalation_threat", True),
        ("gw.queue_prior", False)]
    assert view.identifiers == ({"kind": "po", "value": "4500012345"},)
    purged = message_evidence(message, None)
    assert purged.body == () and [e.shown for e in purged.items] == [True, False, False]
