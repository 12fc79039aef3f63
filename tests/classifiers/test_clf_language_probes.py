"""Language identification on two hand-labelled probe sets of short business mail
(``tests/fixtures/langid/probe_a.tsv``, ``probe_b.tsv``: 15 mails per language and 20 mixed
ones each; B was written after the change and never tuned on). Minimum accuracy per
language group, not per message: a later change may trade one mail for another, but must not
lose a group. Figures in docs/classifier.md (branch i12-lang)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.language import SUPPORTED, detect_language
from classifiers.language_words import exclusive_words
from classifiers.prepare import prepare

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "langid"
GROUPS = {
    "germanic": ("en", "de", "nl", "sv", "da"),
    "romance": ("fr", "es", "it", "pt"),
    "slavic": ("pl", "cs"),
}


def _rows(name: str) -> list[tuple[str, str, str, bool]]:
    rows, mixed = [], False
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        mixed = mixed or line.startswith("# mixed")
        if line.strip() and not line.startswith("#"):
            lang, subject, body = line.split("\t")
            rows.append((lang, subject, body.replace("\\n", "\n"), mixed))
    return rows


def _accuracy(rows: list[tuple[str, str, str]]) -> float:
    hits = sum(detect_language(prepare(body, subject).text, subject) == lang
               for lang, subject, body in rows)
    return hits / len(rows)


@pytest.mark.parametrize("probe", ["probe_a.tsv", "probe_b.tsv"])
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_short_mail_per_language_group(probe: str, group: str) -> None:
    rows = [(lang, s, b) for lang, s, b, mixed in _rows(probe)
            if not mixed and lang in GROUPS[group]]
    assert len(rows) >= 15 * len(GROUPS[group])
    assert _accuracy(rows) >= 0.95


@pytest.mark.parametrize("probe", ["probe_a.tsv", "probe_b.tsv"])
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_one_line_without_subject_per_language_group(probe: str, group: str) -> None:
    # The body alone: a web form or a one-line reply with an empty or generic subject.
    rows = [(lang, "", b) for lang, _, b, mixed in _rows(probe)
            if not mixed and lang in GROUPS[group]]
    assert _accuracy(rows) >= 0.95


@pytest.mark.parametrize("probe", ["probe_a.tsv", "probe_b.tsv"])
def test_mixed_mail_follows_the_senders_own_text(probe: str) -> None:
    rows = [(lang, s, b) for lang, s, b, mixed in _rows(probe) if mixed]
    assert len(rows) == 20
    assert _accuracy(rows) >= 0.9


def test_probe_sets_cover_every_supported_language() -> None:
    for probe in ("probe_a.tsv", "probe_b.tsv"):
        langs = [lang for lang, _, _, mixed in _rows(probe) if not mixed]
        counts = {lang: langs.count(lang) >= 15 for lang in SUPPORTED}
        assert counts == dict.fromkeys(SUPPORTED, True)


def test_a_word_counts_only_for_the_one_lexicon_that_lists_it(tmp_path: Path) -> None:
    for lang, text in {
        "en": 'phrases = ["newsletter", "order now"]',
        "de": '[concepts.x]\nforms = ["newsletter", "bestellen", "zu"]',
        "pt": '[concepts.x]\nforms = ["encomendar"]\nsequences = [["@x", "segue", "?anexo"]]',
    }.items():
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "concepts.toml").write_text(text, encoding="utf-8")
    words = exclusive_words(["en", "de", "pt"], tmp_path)
    assert words == {"order": "en", "now": "en", "bestellen": "de", "encomendar": "pt",
                     "segue": "pt"}


def test_portuguese_order_line_is_portuguese() -> None:
    # Seen in production: n-grams alone called it Spanish, so the pt order rules never ran.
    assert detect_language("Gostaríamos de encomendar 10 unidades.") == "pt"
