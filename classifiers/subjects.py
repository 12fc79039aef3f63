"""Reply and forward markers at the start of a subject: the one list the classifier, the
threader and our outbound replies share.

A mail client answering or forwarding puts a marker in front of the earlier subject, in the
user's language: ``Re:``, ``AW:``, ``SV:``, ``Odp:``, ``R:``, ``RES:``, ``TR :``... Outlook
adds counters (``RE[2]:``, ``AW(3):``, ``Re^2:``), French clients a space before the colon,
East Asian clients a full-width colon; chains nest them (``AW: WG: Re:``). The words are data:
one tuple per language, so a language is added in one place.
"""

from __future__ import annotations

import re

# (reply markers, forward markers) of each supported language, lower-case.
MARKERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("re",), ("fw", "fwd")),
    "de": (("aw", "antwort", "wtr"), ("wg",)),
    "fr": (("re", "réf", "ref"), ("tr", "fwd")),
    "es": (("re", "res"), ("rv", "reenv")),
    "it": (("r", "rif", "re"), ("i", "inoltro")),
    "nl": (("antw",), ("doorst", "fw")),
    "pt": (("res", "re"), ("enc", "fwd", "rv")),
    "pl": (("odp",), ("pd", "fw")),
    "sv": (("sv",), ("vb", "vs")),
    "da": (("sv",), ("vs", "vb")),
    "cs": (("odp", "re"), ("př", "přeposlat", "fw")),
    # Neighbours whose mail reaches the same mailboxes, and clients that ship them.
    "other": (("vs", "ynt", "atb", "回复", "答复", "回覆", "πρ"), ("vl", "fs", "转发")),
    # Hungarian (Outlook "Vá:", clients "Válasz:") and Turkish forwards; Japanese, Korean and
    # Russian mail clients' words.
    "hu": (("v", "vá", "válasz"), ("továbbítás", "tov")),
    "more": (("返信", "회신", "답장", "отв", "ответ"), ("i̇lt", "ilt", "転送", "전달", "пересл")),
    # Outlook in Latvian, Lithuanian, Slovenian/Croatian and Greek.
    "outlook": (("ats", "odg", "απ", "σχετ"), ("pārs", "pers", "posr", "προωθ", "πρθ")),
}
# What out-of-office responders and calendar clients put before the subject they answer, in
# the same languages: an automatic reply's subject is the earlier mail's subject too.
AUTOMATIC_MARKERS: tuple[str, ...] = (
    "automatic reply", "auto reply", "autoreply", "auto-reply", "out of office",
    "automatische antwort", "abwesenheitsnotiz",
    "réponse automatique", "reponse automatique",
    "respuesta automática", "respuesta automatica", "fuera de la oficina",
    "risposta automatica", "fuori sede", "automatisch antwoord",
    "resposta automática", "resposta automatica",
    "odpowiedź automatyczna", "automatyczna odpowiedź",
    "automatiskt svar", "autosvar", "automatisk svar",
    "automatická odpověď",
)
# Outlook's answers to a meeting request (they count only on mail with a text/calendar part).
CALENDAR_ANSWERS: tuple[str, ...] = (
    "accepted", "declined", "tentative", "tentatively accepted",
    "angenommen", "abgelehnt", "mit vorbehalt angenommen", "vorläufig angenommen",
    "accepté", "refusé", "accepté provisoirement",
    "aceptado", "rechazado", "aceptado provisionalmente",
    "accettato", "rifiutato", "accettato con riserva",
    "geaccepteerd", "geweigerd", "voorlopig geaccepteerd",
    "aceito", "recusado", "aceite", "recusada",
    "zaakceptowano", "odrzucono", "wstępnie zaakceptowano",
    "accepterat", "avböjt", "accepteret", "afvist",
    "přijato", "odmítnuto", "předběžně přijato",
)

# The reply markers the classifier counts as an inherited subject (a forward is the
# classifier's own case: the forwarded text is someone else's, see prepare.py). "vs" is a
# reply in Finnish and a forward in Danish; "pd" and "wtr" are kept as they always were.
CLASSIFIER_REPLY = ("re", "aw", "sv", "vs", "antw", "antwort", "wtr", "odp", "pd", "r", "res",
                    "rif", "ref", "réf")
CLASSIFIER_FORWARD = ("fwd", "fw", "wg", "tr", "rv", "enc", "i")

_COUNTER = r"(?:\[\d+\]|\^\d+|\(\d+\))?"
_COLON = r"[:\uff1a]"


def _words(*groups: tuple[str, ...]) -> list[str]:
    # Longest first, so "antwort" is tried before "antw" and "re" never eats "res".
    return sorted({w for group in groups for w in group}, key=lambda w: (-len(w), w))


def _marker(words: list[str]) -> str:
    return rf"(?:{'|'.join(re.escape(w) for w in words)})\s*{_COUNTER}\s*{_COLON}"


ALL_MARKERS = _words(*(reply for reply, _ in MARKERS.values()),
                     *(forward for _, forward in MARKERS.values()))


def _phrases(phrases: tuple[str, ...]) -> str:
    # Longest first; a space matches a space or a hyphen ("auto-reply", "Auto Reply").
    ordered = sorted(phrases, key=lambda w: (-len(w), w))
    return "|".join(r"[ -]".join(re.escape(p) for p in w.split(" ")) for w in ordered)


# One marker at the start of a subject (any language, reply or forward).
MARKER = re.compile(rf"^\s*{_marker(ALL_MARKERS)}\s*", re.IGNORECASE)
# Every marker at the start, nested: "AW: WG: RE[2]: ".
MARKERS_RUN = re.compile(rf"^\s*(?:{_marker(ALL_MARKERS)}\s*)+", re.IGNORECASE)
# An out-of-office or calendar answer's marker ("Automatische Antwort:", "Accepted:").
AUTOMATIC_SUBJECT = re.compile(rf"^\s*(?:{_phrases(AUTOMATIC_MARKERS)})\s*{_COLON}\s*",
                               re.IGNORECASE)
CALENDAR_SUBJECT = re.compile(rf"^\s*(?:{_phrases(CALENDAR_ANSWERS)})\s*{_COLON}\s*",
                              re.IGNORECASE)
REPLY_SUBJECT = re.compile(rf"^\s*{_marker(_words(CLASSIFIER_REPLY))}", re.IGNORECASE)
FORWARD_SUBJECT = re.compile(rf"^\s*{_marker(_words(CLASSIFIER_FORWARD))}", re.IGNORECASE)


def strip_markers(subject: str) -> str:
    """The subject without the reply/forward markers at its start (nested ones included)."""
    return MARKERS_RUN.sub("", subject)


def has_marker(subject: str) -> bool:
    """Does the subject start with a reply or forward marker?"""
    return bool(MARKER.match(subject))


def strip_automatic(subject: str) -> str:
    """The subject an out-of-office or calendar answer repeats, without its marker."""
    return CALENDAR_SUBJECT.sub("", AUTOMATIC_SUBJECT.sub("", subject, count=1), count=1)
