"""Score a batch of hand-written scope-change probes and say, for each miss, which gate stopped it.

A probe file (``tests/classifiers/data/scope_probes_*.toml``) holds ``[[probe]]`` tables with
``id``, ``lang``, ``subject``, ``body``, ``scope`` (the label, written before scoring),
``category`` and optionally ``from`` and ``headers``. For a missed change the trace names the
gates a scope flag passes, in the order the classifier applies them:

* ``cut``: the scope rules find more in the whole body (quote markers removed) than in the
  new text ``prepare`` kept (quote, signature or closing cut);
* ``reply-subject``: scope rules fired in an inherited reply subject, which counts nothing;
* ``negation`` / ``condition``: scope matches dropped by a negator or a conditional;
* ``threshold``: the scope score is above 0 but below ``SCOPE_MIN``;
* ``no-rule``: no scope rule fired at all (wording);
* ``category-other``: the score reached ``SCOPE_MIN`` but the message was filed ``other``.

    PYTHONPATH=$PWD python bench/scope_probe.py tests/classifiers/data/scope_probes_1.toml
"""

from __future__ import annotations

import argparse
import importlib
from collections import Counter
from pathlib import Path
from unittest import mock

import _project_path  # noqa: F401  (must come before gateway)

from classifiers import MessageInput, classify, load_rules, matching
from classifiers.prepare import Prepared
from classifiers.rules import SCOPE, RuleSet
from classifiers.types import Classification
from tests.support.probes import load_probes, to_message

# The module, not the function ``classifiers.classify`` that the package exports.
classify_module = importlib.import_module("classifiers.classify")


def _scope_ids(result: Classification) -> set[str]:
    return {e.rule_id for e in result.evidence if ".scope." in e.rule_id}


def _scope_score(msg: MessageInput, rules: RuleSet) -> float:
    """The scope score ``classify`` computes for ``msg`` (subject factors applied)."""
    text = classify_module.prepare(msg.body_text, msg.subject).text
    lang = classify_module.detect_language(text, msg.subject)
    reply = bool(classify_module.REPLY_SUBJECT.match(msg.subject))
    hits = classify_module._hits(msg.subject, text, "", lang, rules)
    weighted = classify_module._weights(hits, reply=reply)
    return float(sum(w for w, h in weighted.values() if h.rule.category == SCOPE))


def gates(msg: MessageInput, result: Classification, rules: RuleSet) -> list[str]:
    """The gates that stopped the scope flag of a labelled change (see the module doc)."""
    found: list[str] = []
    score = _scope_score(msg, rules)
    whole = "\n".join(line.lstrip("> ") for line in msg.body_text.splitlines())
    with mock.patch.object(classify_module, "prepare",
                           lambda body, subject="": Prepared(whole, False, False)):
        if _scope_score(msg, rules) > score:
            found.append("cut")
    with mock.patch.object(classify_module, "REPLY_SCOPE_FACTOR", 1.5):
        if _scope_score(msg, rules) > score:
            found.append("reply-subject")
    with mock.patch.object(matching, "negated", lambda *a: False):
        if _scope_score(msg, rules) > score:
            found.append("negation")
    with mock.patch.object(matching, "conditional", lambda *a: False):
        if _scope_score(msg, rules) > score:
            found.append("condition")
    if score >= classify_module.SCOPE_MIN and result.category == "other":
        found.append("category-other")
    elif 0 < score < classify_module.SCOPE_MIN:
        found.append(f"threshold ({score:.1f})")
    elif score <= 0 and not found:
        found.append("no-rule" if not _scope_ids(result) else f"negative ({score:.1f})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probes", type=Path, nargs="+")
    parser.add_argument("--quiet", action="store_true", help="the totals only")
    args = parser.parse_args()
    rules = load_rules()
    tp = fp = fn = tn = 0
    stopped: Counter[str] = Counter()
    for path in args.probes:
        for probe in load_probes(path):
            msg = to_message(probe)
            r = classify(msg, rules)
            want, got = bool(probe["scope"]), r.scope_change
            tp += want and got
            fp += got and not want
            fn += want and not got
            tn += not want and not got
            mark = "ok  " if want == got else ("MISS" if want else "FP  ")
            line = f"{mark} {probe['id']:34} {r.language} {r.category:8} {r.decided_by:9}"
            if want and not got:
                why = gates(msg, r, rules)
                stopped.update(g.split(" ")[0] for g in why)
                line += "  stopped by: " + ", ".join(why)
            elif got and not want:
                line += "  " + ", ".join(sorted(_scope_ids(r)))
            if not args.quiet or mark != "ok  ":
                print(line)
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    print(f"changes found {tp}/{tp + fn}, non-changes kept {tn}/{tn + fp}; "
          f"scope P {p:.3f} R {rec:.3f} F1 {f1:.3f}")
    if stopped:
        print("gates of the misses: " + ", ".join(f"{g} {n}" for g, n in stopped.most_common()))


if __name__ == "__main__":
    main()
