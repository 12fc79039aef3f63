"""``commgate rules evaluate | suggest | check``: judge a rule change before it is put in force.

``evaluate`` replays every message staff confirmed or corrected (``commgate cases classify``)
and any labelled corpus folders through the rules in force and a candidate rules folder, and
prints the figures of both (classifiers/evaluation.py) and each message whose decision would
change. ``suggest`` lists frequent words of corrected messages that no rule covers
(gateway/workflows/rule_suggest.py). ``check`` runs every rule's examples and counter-examples.
Reading archived messages is recorded in the access log first (gateway/workflows/rule_eval.py).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli._common import EXIT_FAILED, EXIT_OK, actor_of, add_actor_option, emit_json

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.services.rules import Evaluation


def register(sub: Any) -> None:
    rules = sub.add_parser("rules", help="evaluate, suggest and check classifier rules"
                           ).add_subparsers(dest="rules_command", required=True,
                                            metavar="ACTION")
    p = rules.add_parser("evaluate", help="score a candidate rules folder against the rules in "
                         "force on staff-classified messages and labelled corpora")
    p.add_argument("--rules", type=Path, metavar="DIR",
                   help="candidate rules folder in place of the shipped rules (or the "
                        "installation's rules_path); its extra_rules still apply")
    p.add_argument("--extra-rules", type=Path, metavar="DIR",
                   help="candidate folder in place of the installation's [classifier] "
                        "extra_rules (an edited copy of rules.d)")
    p.add_argument("--corpus", type=Path, action="append", default=[], metavar="DIR",
                   help="a labelled corpus folder (labels.jsonl + mail/); repeatable. Without "
                        "an installation (--home, $COMMGATE_HOME) only corpora are scored")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rules_evaluate)

    p = rules.add_parser("suggest", help="frequent words of corrected messages that no rule "
                         "covers, per category and language")
    p.add_argument("--min-count", type=int, default=2, metavar="N",
                   help="in at least N corrected messages (default 2)")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rules_suggest)

    p = rules.add_parser("check", help="run every rule's examples and counter-examples; exit 1 "
                         "on a failing one")
    p.add_argument("--rules", type=Path, metavar="DIR",
                   help="rules folder (default: the installation's, else the shipped rules)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rules_check)


def _settings(args: argparse.Namespace) -> Settings | None:
    """The installation's settings, or None when none is named (--home, $COMMGATE_HOME)."""
    from gateway.config import find_home, load_settings

    return load_settings(find_home(args.home)) if _home_named(args) else None


def _home_named(args: argparse.Namespace) -> bool:
    from gateway.config import HOME_ENV

    return bool(args.home or os.environ.get(HOME_ENV))


def cmd_rules_evaluate(args: argparse.Namespace) -> int:
    from gateway.cli._common import opened_app
    from gateway.services.rules import evaluate, evaluate_corpora

    options = {"rules": args.rules, "extra_rules": args.extra_rules, "corpora": args.corpus}
    if args.corpus and not _home_named(args):
        view = evaluate_corpora(**options)
    else:
        with opened_app(args) as app:
            view = evaluate(app, actor=actor_of(args), **options)
    if args.json:
        emit_json(view.to_json())
        return EXIT_OK
    if not view.staff_messages and not view.corpus_messages:
        print("nothing to evaluate: no message was confirmed or corrected with 'commgate cases "
              "classify' yet, and no --corpus folder was given")
        return EXIT_OK
    result = view.comparison
    print(f"rules in force {view.in_force_version}, candidate {view.candidate_version}: "
          f"{view.staff_messages} staff-classified message(s), {view.corpus_messages} corpus "
          f"message(s)")
    print("\n".join(_figures(view)))
    print(f"\n{len(result.changes)} decision(s) would change")
    for change in result.changes:
        print(f"  {change.source}: {_label(change.in_force)} -> {_label(change.candidate)} "
              f"(labelled {_label(change.expected)})")
    return EXIT_OK


def _figures(view: Evaluation) -> list[str]:
    """In force and candidate side by side: per class P/R/F1, then the headline figures."""
    def cell(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    now, new = view.comparison.in_force, view.comparison.candidate
    lines = [f"{'':<15}{'in force':^21}{'candidate':^21}",
             f"{'class':<10}{'n':>5}" + f"{'P':>7}{'R':>7}{'F1':>7}" * 2]
    for a, b in zip(now.classes, new.classes, strict=True):
        if a.support or a.predicted or b.predicted:
            lines.append(f"{a.category:<10}{a.support:>5}" + "".join(
                f"{cell(v):>7}" for v in (a.precision, a.recall, a.f1,
                                           b.precision, b.recall, b.f1)))
    for name, x, y in (("macro-F1", now.macro_f1, new.macro_f1),
                       ("accuracy", now.accuracy, new.accuracy),
                       ("scope F1", now.scope_f1, new.scope_f1),
                       ("id recall", now.id_recall, new.id_recall),
                       ("coverage", now.coverage, new.coverage)):
        lines.append(f"{name:<15}{cell(x):>21}{cell(y):>21}")
    return lines


def _label(decision: tuple[str, bool]) -> str:
    return decision[0] + ("+scope" if decision[1] else "")


def cmd_rules_suggest(args: argparse.Namespace) -> int:
    from gateway.cli._common import opened_app
    from gateway.services.rules import suggest_words

    with opened_app(args) as app:
        suggestions = suggest_words(app, actor=actor_of(args), min_count=args.min_count)
    if args.json:
        emit_json(suggestions.to_json())
        return EXIT_OK
    print(f"{suggestions.corrected} corrected message(s); candidates in at least "
          f"{args.min_count}:")
    group = None
    for s in suggestions.items:
        if (s.category, s.language) != group:
            group = (s.category, s.language)
            print(f"{s.category} [{s.language}]")
        print(f"  {s.count:>4}  {s.ngram}")
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.services.rules import check_examples

    # A folder named on the command line is checked on its own; else the rules in force.
    check = check_examples(_settings(args) if args.rules is None else None, rules=args.rules)
    if args.json:
        emit_json(check.to_json())
    else:
        print("\n".join(check.problems))
        print(f"rules {check.rules_version}: {check.rules} rules, "
              f"{len(check.problems) or 'no'} failing example(s)")
    return EXIT_FAILED if check.problems else EXIT_OK
