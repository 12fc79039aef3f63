"""The one list of reply and forward markers (classifiers/subjects.py): the classifier, the
threader and our outbound replies read a subject the same way."""

from __future__ import annotations

import pytest

from classifiers.subjects import ALL_MARKERS, MARKERS, REPLY_SUBJECT, has_marker, strip_markers
from gateway.processing.threader import is_reply_subject, normalise_subject
from gateway.workflows.outbound.queue import reply_subject

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs")

# What mail clients of each language write, nested and with Outlook's and phones' variants.
_WRITTEN = [
    "AW: WG: Angebot 4711", "Antwort: Angebot 4711", "RE[2]: Angebot 4711",
    "Re : TR : Devis 4711", "RÉF : Devis 4711", "RES: ENC: Proposta 4711", "RV: Pedido 4711",
    "R: I: Offerta 4711", "Rif: Offerta 4711", "Antw: Doorst: Offerte 4711",
    "ODP: PD: Oferta 4711", "Odp: PŘ: Nabídka 4711", "SV: VB: Offert 4711",
    "VS: SV: Tilbud 4711", "Re^2: Fwd: Quote 4711", "AW(3): FW: Angebot 4711",
    "回复\uff1a Angebot 4711",  # a Chinese client, full-width colon
]


def test_every_supported_language_has_reply_and_forward_markers():
    assert set(LANGUAGES) <= set(MARKERS)
    assert all(reply and forward for reply, forward in (MARKERS[lang] for lang in LANGUAGES))
    assert len(ALL_MARKERS) == len(set(ALL_MARKERS))


@pytest.mark.parametrize("subject", _WRITTEN)
def test_the_threader_and_our_replies_strip_the_same_markers(subject):
    base = subject.rsplit(" ", 2)[-2:]
    assert has_marker(subject) and is_reply_subject(subject)
    assert strip_markers(subject) == " ".join(base)
    assert normalise_subject(subject) == " ".join(base).lower()
    assert reply_subject(_Case(subject)) == "Re: " + " ".join(base)


@pytest.mark.parametrize("subject", ["Reparatur der Pumpe", "Invoice 4711", "Rfq: 40 bearings",
                                     "Ice: cold chain", "Svar ønskes", "Odpad 4711"])
def test_words_that_merely_start_like_a_marker_are_no_marker(subject):
    assert not has_marker(subject) and strip_markers(subject) == subject
    assert not REPLY_SUBJECT.match(subject)


@pytest.mark.parametrize(("subject", "marked"), [
    ("Automatische Antwort: AW: Angebot 4711", "angebot 4711"),
    ("Réponse automatique : Re: Devis 4711", "devis 4711"),
    ("Odpowiedź automatyczna: ODP: Oferta 4711", "oferta 4711"),
    ("Accepted: Kick-off Angebot 4711", "kick-off angebot 4711"),
    ("Angenommen: Kick-off Angebot 4711", "kick-off angebot 4711"),
])
def test_automatic_replies_repeat_the_subject_they_answer(subject, marked):
    assert is_reply_subject(subject)
    assert normalise_subject(subject) == marked


class _Case:
    def __init__(self, subject: str) -> None:
        self.subject = subject
