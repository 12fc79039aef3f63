"""Quote stripping, language detection and identifier extraction."""

from __future__ import annotations

import pytest

from classifiers import load_rules
from classifiers.identifiers import extract_identifiers
from classifiers.language import detect_language
from classifiers.prepare import new_text

RULES = load_rules()


@pytest.mark.parametrize(
    "body",
    [
        "Please cancel line 3.\n\nOn Tue, 5 Nov 2024 at 10:02, Sales <s@x.example> wrote:\n> old",
        "Please cancel line 3.\n\nAm 05.11.2024 um 10:02 schrieb Vertrieb <s@x.example>:\nalt",
        "Please cancel line 3.\n\nLe 5 nov. 2024 à 10:02, Ventes <s@x.example> a écrit :\nvieux",
        "Please cancel line 3.\n\nEl 5 nov 2024, a las 10:02, Ventas <s@x.example> escribió:\n"
        "viejo",
        "Please cancel line 3.\n\n-----Original Message-----\nFrom: Sales\nold text",
        "Please cancel line 3.\n\n-----Ursprüngliche Nachricht-----\nVon: Vertrieb\nalt",
        "Please cancel line 3.\n\nFrom: Sales <s@x.example>\nSent: Monday\nTo: me\nold text",
        "Please cancel line 3.\n\nVon: Vertrieb <s@x.example>\nGesendet: Montag\nAn: mich\nalt",
        "Please cancel line 3.\n> old quoted line\n>> older",
        "Please cancel line 3.\n-- \nJane Doe\nBuyer",
    ],
)
def test_new_text_strips_quotes_and_signatures(body: str) -> None:
    assert new_text(body) == "Please cancel line 3."


def test_forwarded_content_is_kept() -> None:
    body = (
        "see below, can you help?\n\nFrom: Elena <e@x.example>\nSent: Thursday\n"
        "Subject: sizing\n\nWe need a pump for 45 m3/h."
    )
    assert "45 m3/h" in new_text(body, "FW: pump sizing")
    assert "45 m3/h" not in new_text(body, "Re: pump sizing")
    marker = "hi\n---------- Forwarded message ---------\nFrom: a\nDate: b\n\nQuestion text"
    assert "Question text" in new_text(marker, "pump")


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Dear Sir, please send us the datasheet for the pump. Thank you and regards", "en"),
        ("Sehr geehrte Damen und Herren, bitte senden Sie uns das Datenblatt. Vielen Dank", "de"),
        ("Bonjour, pourriez-vous nous envoyer la fiche technique pour notre pompe ? Merci", "fr"),
        (
            "Hola, por favor envíen la ficha técnica de la bomba para nuestro proyecto. Gracias",
            "es",
        ),
        ("", "en"),
        ("12345 !!!", "en"),
        (
            "Ich bin bis Montag nicht im Büro. Ihre E-Mail wird nicht weitergeleitet.\n"
            "I am out of the office until Monday. Your e-mail will not be forwarded.",
            "de",
        ),
    ],
)
def test_language_detection(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def _values(subject: str, body: str) -> list[str]:
    return [i.value for i in extract_identifiers(subject, body, RULES)]


def test_label_words_are_stripped() -> None:
    body = "Our PO 4500871234 and PO# 7100-3382; pump S/N AF19-044102 is noisy."
    assert _values("", body) == ["4500871234", "7100-3382", "AF19-044102"]


def test_prefixed_identifiers_are_kept_whole_with_kinds() -> None:
    body = "RMA-24-0412, quote Q-2024-1183, drawing DWG-20817, SO-24-05512, PO NB-PO-24-0917."
    ids = extract_identifiers("", body, RULES)
    assert [(i.kind, i.value) for i in ids] == [
        ("rma", "RMA-24-0412"),
        ("quote", "Q-2024-1183"),
        ("drawing", "DWG-20817"),
        ("po", "SO-24-05512"),
        ("po", "NB-PO-24-0917"),
    ]


def test_subject_first_and_case_insensitive_dedupe() -> None:
    assert _values("RMA-24-0412 shipped", "rma-24-0412 and Q-2024-1183") == [
        "RMA-24-0412",
        "Q-2024-1183",
    ]


def test_distractors_are_not_identifiers() -> None:
    body = (
        "Re: [NPC-1042] [ACME-2031] invoice RE-24-33190, customer no. 20417, tracking "
        "1Z4E72196811802271, pump CP 50-200, valve MV-40, DN100, tag P-CIP-203, "
        "tender ZVF-2024-118, we order 500 pcs, Rev. C"
    )
    assert _values("", body) == []


def test_drawing_list_after_one_label_and_revision_excluded() -> None:
    body = "we request the drawings NS-7781-A and NS-7781-B; Zeichnungs-Nr. RK-4410-002 (Rev. C)"
    assert _values("", body) == ["NS-7781-A", "NS-7781-B", "RK-4410-002"]


def test_extra_identifier_patterns_add_company_formats() -> None:
    rules = load_rules(extra_identifier_patterns=[("serial", r"\bAF\d{2}-\d{6}\b")])
    ids = extract_identifiers("", "The damaged pump (AF24-110392) is back.", rules)
    assert [(i.kind, i.value) for i in ids] == [("serial", "AF24-110392")]
    assert _values("", "The damaged pump (AF24-110392) is back.") == []


def test_forward_markers_and_outlook_blocks_need_a_colon_or_a_double_dash() -> None:
    """``prepare`` asks the forward-marker pattern only about lines with a ":" or a "--", and
    the Outlook "From:" pattern only about lines with a ":": every line either matches holds
    one. Each marker matches as written, and no longer once those characters are gone."""
    import random

    from classifiers import prepare

    markers = [
        "---------- Forwarded message ---------", "-- Weitergeleitete Nachricht --",
        "--- Message transféré ---", "-- Mensaje reenviado --", "-- Messaggio inoltrato --",
        "-- Mensagem reencaminhada --", "Begin forwarded message:",
        "Anfang der weitergeleiteten Nachricht:", "Début du message réexpédié :",
        "Inicio del mensaje reenviado:", "Inizio messaggio inoltrato:",
        "Início da mensagem encaminhada:",
    ]
    froms = ["From: Ann <a@b.example>", "*Von:* Jo", "De : Marie", "Från: Lis", "Fra: Ole"]
    rng = random.Random(7)
    for line in markers + froms:
        pattern = prepare._FORWARD_MARKERS if line in markers else prepare._BLOCK_FROM
        assert pattern.match(line), line
        for _ in range(50):
            other = rng.choice([" ", "-", ".", "\t", "", "x", "\uff1b", "\ua789"])
            changed = line.replace(":", other)
            while "--" in changed:
                changed = changed.replace("--", "-")
            assert ":" not in changed and "--" not in changed
            assert not prepare._FORWARD_MARKERS.match(changed), changed
            assert not prepare._BLOCK_FROM.match(changed), changed
