"""Compare language identifiers on short business mail: accuracy per language, time, memory.

Candidates (all ship their model inside the wheel; nothing is downloaded at run time):

* ``words``     function-word counting extended to the 11 languages (the old approach)
* ``py3langid`` naive Bayes over byte n-grams, restricted to the 11 languages
* ``lingua``    lingua-language-detector, restricted to the 11 languages, high accuracy mode
* ``lingua-low`` the same in low accuracy mode (trigrams only)
* ``commgate``  what ``classifiers.language.detect_language`` does now

Texts: ``tests/fixtures/langid/short_mail.tsv`` (30 hand-written mails per language; scored
on subject + body and on the subject alone) and the labelled corpora given on the command
line (gold ``language`` field; the text scored is what ``classify`` passes in: subject plus
the new text from ``classifiers.prepare``). Each candidate runs in a fresh process, so the
RSS it adds (VmRSS after warm-up minus before import) and its time are its own.

Run::

    .venv/bin/python bench/langid_eval.py \\
        ../shared/corpora/labelled-dev ../shared/corpora/labelled-norland
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _project_path  # noqa: F401  (must come before archive/gateway)

LANGS = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "langid" / "short_mail.tsv"
CANDIDATES = ("words", "py3langid", "lingua", "lingua-low", "commgate")

_FUNCTION_WORDS = {
    "en": "the and of to is are was were for with our your we you this that it have has "
    "please would could will be not on at from can thanks thank regards dear",
    "de": "der die das und ist sind wir sie ihr ihre ihnen unser unsere unserer mit für "
    "bitte nicht ein eine einen dem den des auf zu von vielen dank grüße gruß "
    "sehr geehrte geehrter damen herren hallo ich auch noch wurde werden",
    "fr": "le les et est sont nous vous votre vos notre nos pour avec une des du au aux "
    "pas merci bonjour cordialement madame monsieur je il elle sur dans ce cette",
    "es": "el los las y es son nosotros usted ustedes su sus nuestro nuestra para con una "
    "del al por gracias hola saludos estimado estimada señor señora muy pero que",
    "it": "il gli della delle dei degli nel nella è sono siamo vostro vostra nostro nostra "
    "per con grazie buongiorno cordiali saluti non anche più questo questa",
    "nl": "het een en is zijn wij we u uw ons onze voor met niet van dank bedankt graag "
    "groet groeten met vriendelijke geachte heer mevrouw ik ook nog werd worden",
    "pt": "os as é são nós nosso nossa vosso vossa para com uma obrigado obrigada não "
    "também mais este esta do da dos das ao na no cumprimentos",
    "pl": "i w z na się jest są my nasz nasza nasze państwa dla oraz nie do że to "
    "dziękujemy dzień dobry pozdrawiam prosimy czy jak",
    "sv": "och är vi ni er ert vår vårt våra för med inte av till att det den tack hej "
    "hälsningar vänliga vänligen också",
    "da": "og er vi i jer jeres vores for med ikke af til at det den tak hej hilsen "
    "venlig venligst også",
    "cs": "a je jsou my naše náš váš vaše pro s se není na do že to děkujeme dobrý den "
    "pozdravem prosím také",
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
Detect = Callable[[str], str]  # text -> ISO 639-1 code


def _words_detector() -> Detect:
    sets = {lang: frozenset(words.split()) for lang, words in _FUNCTION_WORDS.items()}

    def detect(text: str) -> str:
        counts: Counter[str] = Counter()
        for word in _WORD.findall(text.lower()):
            for lang, words in sets.items():
                if word in words:
                    counts[lang] += 1
        return counts.most_common(1)[0][0] if counts else "en"

    return detect


def _py3langid_detector() -> Detect:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE)
    ident.set_languages(list(LANGS))
    return lambda text: ident.classify(text)[0]


def _lingua_detector(low: bool) -> Detect:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in LANGS]
    builder = LanguageDetectorBuilder.from_languages(*langs)
    if low:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def detect(text: str) -> str:
        lang = detector.detect_language_of(text)
        return lang.iso_code_639_1.name.lower() if lang else "en"

    return detect


def _commgate_detector() -> Callable[[str, str], str]:
    from classifiers.language import detect_language

    return detect_language  # called as detect_language(new_text, subject)


def build(candidate: str) -> Callable[..., str]:
    if candidate == "words":
        return _words_detector()
    if candidate == "py3langid":
        return _py3langid_detector()
    if candidate.startswith("lingua"):
        return _lingua_detector(candidate == "lingua-low")
    return _commgate_detector()


def fixture_items() -> list[tuple[str, str, str]]:
    """(language, subject, body) of the hand-written evaluation set."""
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, subject, body = line.split("\t")
            rows.append((lang, subject, body))
    return rows


def corpus_items(folder: Path) -> list[tuple[str, str, str]]:
    """(gold language, subject, new text) as ``classify`` sees them."""
    from classifiers.prepare import prepare
    from gateway.processing.classification import to_input
    from gateway.processing.parsing import parse_message

    rows = []
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        msg = to_input(parse_message((folder / "mail" / entry["file"]).read_bytes()))
        text = prepare(msg.body_text or "", msg.subject or "").text
        rows.append((entry["language"], msg.subject or "", text))
    return rows


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(candidate: str, corpora: list[str]) -> dict[str, Any]:
    """Run one candidate over every text set; return accuracy, time and memory as JSON."""
    sets = {"fixture": fixture_items()}
    for folder in corpora:
        sets[Path(folder).name] = corpus_items(Path(folder))
    import numpy  # noqa: F401  (the daemon has it loaded through spaCy; not the detector's cost)

    before = _rss_kb()
    call: Callable[[str, str], str]  # (subject, body) -> language
    if candidate == "commgate":
        detect = build(candidate)
        call = lambda subject, body: detect(body, subject)  # noqa: E731
    else:
        detect = build(candidate)
        call = lambda subject, body: detect(f"{subject}\n{body}")  # noqa: E731
    out: dict[str, Any] = {"candidate": candidate, "sets": {}}
    all_inputs = []
    for name, rows in sets.items():
        per: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        subj: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        for lang, subject, body in rows:
            got = call(subject, body)
            per[lang][0] += got == lang
            per[lang][1] += 1
            got_s = call(subject, "")
            subj[lang][0] += got_s == lang
            subj[lang][1] += 1
            all_inputs.append((subject, body))
        out["sets"][name] = {"full": dict(per), "subject": dict(subj)}
    out["rss_added_mb"] = round((_rss_kb() - before) / 1024, 1)
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        for subject, body in all_inputs:
            call(subject, body)
        timings.append((time.perf_counter() - t0) / len(all_inputs))
    out["us_per_msg"] = round(min(timings) * 1e6, 1)
    return out


def _acc(cells: dict[str, list[int]]) -> str:
    ok = sum(v[0] for v in cells.values())
    n = sum(v[1] for v in cells.values())
    return f"{ok / n:.3f}" if n else "-"


def report(results: list[dict[str, Any]]) -> None:
    for name in results[0]["sets"]:
        langs = [lang for lang in LANGS if lang in results[0]["sets"][name]["full"]]
        for mode in ("full", "subject"):
            label = "subject + body" if mode == "full" else "subject alone"
            if name != "fixture":
                label = "subject + new text" if mode == "full" else "subject alone"
            print(f"\n{name}: accuracy on {label}")
            print(f"{'candidate':<11}" + "".join(f"{lang:>6}" for lang in langs) + "    all")
            for res in results:
                cells = res["sets"][name][mode]
                row = "".join(
                    f"{cells[lang][0] / cells[lang][1]:6.2f}" for lang in langs
                )
                print(f"{res['candidate']:<11}{row}  {_acc(cells)}")
    print("\ncost per message (subject + body, best of 3 passes) and RSS added after warm-up")
    for res in results:
        print(f"{res['candidate']:<11} {res['us_per_msg']:8.1f} µs   {res['rss_added_mb']:6.1f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", help="labelled corpus folders (labels.jsonl + mail/)")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.corpora)))
        return 0
    results = []
    for cand in args.candidates.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, *args.corpora, "--child", cand],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode:
            # lingua is a comparison candidate only: pip install lingua-language-detector
            print(f"{cand}: skipped ({proc.stderr.strip().splitlines()[-1]})")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
