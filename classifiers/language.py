"""Which language the sender wrote the new text in: en, de, fr, es, it, nl, pt, pl, sv, da, cs.

The identification is ``py3langid`` (naive Bayes over byte n-grams; its model ships inside the
wheel, nothing is downloaded), restricted to the supported languages. It was chosen by
measurement (``bench/langid_eval.py``, figures in docs/classifier.md): on hand-written short
business mails it is as accurate as ``lingua-language-detector`` on subject + body and on
subjects alone, at a fifth of lingua's time and a fraction of its memory in high-accuracy
mode; counting function words confuses Italian, Portuguese and Czech on short text.

Only the customer's own newest text counts: the sample is the subject plus the head of the
new text, and it stops at the first quoted line or reply/forward header that
``classifiers.prepare`` did not already cut (a Dutch reply above quoted English history).
A bilingual footer further down is past the head and does not decide.

On short text the n-grams have little to go on, so words that only one language's rule
lexicon lists add evidence (``classifiers.language_words``): ``_WORD_EVIDENCE`` on the
log-probability scale per such word, enough to settle a close pair (pt/es, sv/da) on a line,
far too little to outvote a paragraph. Measured with ``bench/langid_probe.py`` and
``bench/langid_eval.py`` (docs/classifier.md, branch i12-lang).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

SUPPORTED: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs")
DEFAULT = "en"

# The newest text is at the top; a subject and a few lines decide reliably, and py3langid's
# cost grows with every byte it walks, so the sample is capped. bench/langid_eval.py scores
# 120 exactly as 200 (every language of the hand-written set and of both labelled corpora;
# docs/classifier.md, "Language sample of 120 characters"), at two thirds of the walk.
_HEAD_CHARS = 120
# Added to a language's log-probability per word of the sample only its lexicon lists.
# 4 scored best of 2-8 on the hand-written subjects (bench/langid_probe.py, docs).
_WORD_EVIDENCE = 4.0
# A paragraph of this size is a message of its own; the next paragraph may be a footer.
_ENOUGH_CHARS = 60
_MIN_LETTERS = 3
# _MIN_LETTERS letters, anything between them: one search instead of a list of every letter.
_ENOUGH_LETTERS = re.compile(rf"[^\W\d_](?:.*?[^\W\d_]){{{_MIN_LETTERS - 1}}}", re.S)
# Lines where quoted history begins, in every supported language: a ">" quote, a reply
# header ("Op … schreef …:", "W dniu … napisał:", "Den … skrev …:", "Il … ha scritto:",
# "Em … escreveu:", "Dne … napsal:") or an Outlook header block ("Van:", "Od:", "Från:").
_REPLY_VERB = re.compile(
    r"\b(?:wrote|schrieb|a [ée]crit|escribi[óo]|ha scritto|scrisse|schreef|escreveu"
    r"|napisa[łl]a?|skrev|napsal[a]?)\b",
    re.I,
)
_HEADER_BLOCK = re.compile(r"^\s*\*?(?:from|von|de|da|van|od|fr[åa]n|fra)\s*:\*?\s.*@", re.I)
_PUNCTUATION = string.punctuation + "¿¡«»„\u201c\u201d\u2018\u2019\u2013\u2014\u2026"
_SEPARATOR = re.compile(r"^\s*-{2,}\s*\S.{0,40}-{2,}\s*$")


def _quote_starts(line: str) -> bool:
    """True when ``line`` opens quoted history (cheap tests first: this runs on every line)."""
    stripped = line.strip()
    if stripped.startswith(">"):
        return True
    if stripped.endswith(":") and len(stripped) < 300 and _REPLY_VERB.search(stripped):
        return True
    return bool(_HEADER_BLOCK.match(stripped) or _SEPARATOR.match(stripped))


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """py3langid's model cut down to the supported languages (in compact tables:
    ``classifiers.langid_model``), loaded on first use."""
    from classifiers.langid_model import load_identifier

    return load_identifier(SUPPORTED)


def own_text(text: str) -> str:
    """The sender's newest text: the first paragraphs of ``text``, up to ``_HEAD_CHARS``.

    Stops at the first line that starts quoted history (such lines before any own text are
    skipped: the reply may be below the quote, or a forward may have no text of its own),
    and at a paragraph break once
    ``_ENOUGH_CHARS`` are collected, so that a long footer in another language after a short
    message (a bilingual disclaimer, a company boilerplate block) does not outvote it.
    """
    lines: list[str] = []
    size = 0
    for line in text[: _HEAD_CHARS * 4].split("\n"):
        if not line.strip():
            if size >= _ENOUGH_CHARS:
                break
            continue
        if _quote_starts(line):
            if size:
                break
            continue  # before any own text: a bottom-posted reply or a bare forward follows
        lines.append(line)
        size += len(line) + 1
        if size >= _HEAD_CHARS:
            break
    return "\n".join(lines)[:_HEAD_CHARS]


def detect_language(text: str, subject: str = "") -> str:
    """Return the ISO 639-1 code (one of ``SUPPORTED``) of the sender's newest text.

    ``text`` is the new text of the body (``classifiers.prepare``), ``subject`` the subject;
    either may be empty. ``DEFAULT`` ("en") when there are fewer than three letters to go by.
    """
    sample = f"{subject}\n{own_text(text)}" if subject else own_text(text)
    if _ENOUGH_LETTERS.search(sample, 0, 200) is None:
        return DEFAULT
    identifier = _identifier()
    totals: list[float] = identifier._decide(sample).tolist()  # raw log-probabilities
    # Words split at spaces and apostrophes ("l'ordine"), punctuation stripped at their ends:
    # about half the time of a regular expression's word search, the same words but for
    # the few joined by a hyphen or slash.
    words = sample.lower().replace("'", " ").replace("\u2019", " ").split()
    second, first = sorted(totals)[-2:]
    if first - second <= _WORD_EVIDENCE * len(words):  # else no word could change the lead
        columns = _word_columns()
        for word in words:
            column = columns.get(word.strip(_PUNCTUATION))
            if column is not None:
                totals[column] += _WORD_EVIDENCE
    best = max(range(len(totals)), key=totals.__getitem__)
    code: str = identifier.nb_classes[best]
    return code if code in SUPPORTED else DEFAULT


@lru_cache(maxsize=1)
def _word_columns() -> dict[str, int]:
    """Word -> the identifier's score column of the one supported language whose rule
    lexicon lists it (``classifiers.language_words``), built on first use."""
    from classifiers.language_words import default_exclusive_words

    columns: list[str] = _identifier().nb_classes
    return {w: columns.index(lang) for w, lang in default_exclusive_words(SUPPORTED).items()}
