"""Score one half of the held-out corpus (odd or even file numbers) without showing the even one.

The even half is the blind estimate for corpora of other companies: rules may be written
from the odd half (its per-file differences are printed with ``--differences``), while the
even half only ever gives its headline figures, so nobody tunes rules to its wording.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from classifiers import load_rules
from classifiers.evaluation import differences, evaluate
from gateway.workflows.rule_eval import classify_raw, load_corpus

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heldout"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("half", choices=("odd", "even"))
    parser.add_argument("--differences", action="store_true",
                        help="per-file differences (odd half only)")
    args = parser.parse_args()
    if args.differences and args.half == "even":
        parser.error("the even half is blind: aggregate figures only")
    rest = 1 if args.half == "odd" else 0
    rules = load_rules()
    pairs = []
    for m in load_corpus(HELDOUT):
        if int(Path(m.source).stem) % 2 != rest:
            continue
        result = classify_raw(m.raw, rules)
        pairs.append((m.expected, result))
        if args.differences and (notes := differences(m.expected, result)):
            print(f"{m.source}: {'; '.join(notes)}")
    r = evaluate(pairs)
    print(f"{args.half} half: n {r.n}  macro-F1 {r.macro_f1:.3f}  accuracy {r.accuracy:.3f}  "
          f"coverage {r.coverage:.3f}  scope F1 {r.scope_f1:.3f}  "
          f"id recall {r.id_recall:.3f} ({r.id_tp}/{r.id_tp + r.id_fn})  "
          f"id precision {r.id_precision:.3f} ({r.id_tp}/{r.id_tp + r.id_fp})")


if __name__ == "__main__":
    main()
