"""Score ``classifiers.language.detect_language`` on a hand-labelled probe set of short mail.

The probe file is ``language<TAB>subject<TAB>body`` per line (``\\n`` in a field is a line
break; ``#`` lines are comments; rows after a ``# mixed`` line are mixed-language mails). Each
body goes through ``classifiers.prepare`` first, as in ``classify``. Prints accuracy per
language, on the mixed rows, the confused pairs (gold -> detected) and, with ``--errors``,
every miss.

Run::

    PYTHONPATH=$PWD .venv/bin/python bench/langid_probe.py tests/fixtures/langid/probe_a.tsv
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import _project_path  # noqa: F401  (must come before classifiers)

LANGS = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs")


def probe_rows(path: Path) -> list[tuple[str, str, str, bool]]:
    """(gold language, subject, body, mixed) of a probe file."""
    rows = []
    mixed = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# mixed"):
            mixed = True
        if not line.strip() or line.startswith("#"):
            continue
        lang, subject, body = line.split("\t")
        rows.append((lang, subject, body.replace("\\n", "\n"), mixed))
    return rows


def detect(subject: str, body: str) -> str:
    """What ``classify`` reports as the language of this mail."""
    from classifiers.language import detect_language
    from classifiers.prepare import prepare

    return detect_language(prepare(body, subject).text, subject)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", nargs="+", type=Path)
    ap.add_argument("--errors", action="store_true", help="print every miss")
    args = ap.parse_args()
    per: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    pairs: Counter[str] = Counter()
    misses = []
    for path in args.probe:
        for lang, subject, body, mixed in probe_rows(path):
            got = detect(subject, body)
            key = "mixed" if mixed else lang
            per[key][0] += got == lang
            per[key][1] += 1
            if got != lang:
                pairs[f"{lang}->{got}"] += 1
                misses.append(f"{lang}->{got}  {subject!r}  {body[:70]!r}")
    print("  ".join(f"{k} {per[k][0]}/{per[k][1]}" for k in (*LANGS, "mixed") if k in per))
    ok = sum(v[0] for v in per.values())
    n = sum(v[1] for v in per.values())
    single = [per[k] for k in LANGS if k in per]
    print(f"single-language {sum(v[0] for v in single)}/{sum(v[1] for v in single)}, "
          f"all {ok}/{n} = {ok / n:.3f}")
    print("confused: " + (", ".join(f"{p} {c}" for p, c in pairs.most_common()) or "none"))
    if args.errors:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
