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

from gateway.cli._common import EXIT_FAILED, EXIT_OK, add_actor_option, emit_json, opened_app

if TYPE_CHECKING:
    from classifiers import RuleSet
    from gateway.config import Settings
    from gateway.workflows.rule_eval import Comparison


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


def _settings(args: argparse.Namespace, required: bool) -> Settings | None:
    """The installation's settings, or None when none is named and none is required."""
    from gateway.config import HOME_ENV, find_home, load_settings

    if not required and not (args.home or os.environ.get(HOME_ENV)):
        return None
    return load_settings(find_home(args.home))


def _rules_folder(settings: Settings | None, path: Path | None,
                  extra: Path | None = None) -> RuleSet:
    """A rules folder (None: the installation's, else the shipped one) with the installation's
    identifier formats and ``extra`` (None: its extra_rules). A broken one is the operator's
    to fix (exit 2)."""
    from classifiers import RulesError, load_rules
    from gateway.core.errors import RulesConfigError

    patterns: list[tuple[str, str]] = []
    if settings is not None:
        cfg = settings.config.classifier
        patterns = [(p.kind, p.pattern) for p in cfg.identifier_patterns]
        if path is None and cfg.rules_path:
            path = settings.resolve(cfg.rules_path)
        if extra is None and cfg.extra_rules:
            extra = settings.resolve(cfg.extra_rules)
    try:
        return load_rules(path, patterns, extra)
    except RulesError as exc:
        raise RulesConfigError(f"rules {path or 'shipped'}"
                               f"{f' + {extra}' if extra else ''}: {exc}") from None


def cmd_rules_evaluate(args: argparse.Namespace) -> int:
    from gateway.db.events import current_actor
    from gateway.processing.classification import rules_for
    from gateway.workflows.rule_eval import compare, load_corpus, staff_labelled

    corpora = [item for folder in args.corpus for item in load_corpus(folder)]
    settings = _settings(args, required=not args.corpus)
    in_force = rules_for(settings, fresh=True)
    candidate = (in_force if args.rules is None and args.extra_rules is None
                 else _rules_folder(settings, args.rules, args.extra_rules))
    staff = []
    if settings is not None:
        actor = current_actor(args.actor)
        with opened_app(args) as app:
            staff = staff_labelled(app, actor)
    result = compare(staff + corpora, in_force, candidate)
    summary = {"rules": {"in_force": in_force.version, "candidate": candidate.version},
               "messages": {"staff": len(staff), "corpus": len(corpora)},
               "in_force": result.in_force.to_dict(), "candidate": result.candidate.to_dict(),
               "changes": [c.to_dict() for c in result.changes]}
    if args.json:
        emit_json(summary)
        return EXIT_OK
    if not staff and not corpora:
        print("nothing to evaluate: no message was confirmed or corrected with 'commgate cases "
              "classify' yet, and no --corpus folder was given")
        return EXIT_OK
    print(f"rules in force {in_force.version}, candidate {candidate.version}: "
          f"{len(staff)} staff-classified message(s), {len(corpora)} corpus message(s)")
    print("\n".join(_figures(result)))
    print(f"\n{len(result.changes)} decision(s) would change")
    for change in result.changes:
        print(f"  {change.source}: {_label(change.in_force)} -> {_label(change.candidate)} "
              f"(labelled {_label(change.expected)})")
    return EXIT_OK


def _figures(result: Comparison) -> list[str]:
    """In force and candidate side by side: per class P/R/F1, then the headline figures."""
    def cell(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    now, new = result.in_force, result.candidate
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
    from gateway.db.events import current_actor
    from gateway.processing.classification import rules_for
    from gateway.workflows.rule_eval import staff_labelled
    from gateway.workflows.rule_suggest import suggest

    actor = current_actor(args.actor)
    with opened_app(args) as app:
        rules = rules_for(app.settings, fresh=True)
        corrected = staff_labelled(app, actor, corrected_only=True)
    suggestions = suggest(corrected, rules, min_count=args.min_count)
    if args.json:
        emit_json([s.to_dict() for s in suggestions])
        return EXIT_OK
    print(f"{len(corrected)} corrected message(s); candidates in at least {args.min_count}:")
    group = None
    for s in suggestions:
        if (s.category, s.language) != group:
            group = (s.category, s.language)
            print(f"{s.category} [{s.language}]")
        print(f"  {s.count:>4}  {s.ngram}")
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    from classifiers.examples import check_examples
    from gateway.processing.classification import rules_for

    # A folder named on the command line is checked on its own; else the rules in force.
    rules = (rules_for(_settings(args, required=False), fresh=True) if args.rules is None
             else _rules_folder(None, args.rules))
    problems = check_examples(rules)
    if args.json:
        emit_json({"rules_version": rules.version, "rules": rules.rule_count,
                   "problems": problems})
    else:
        print("\n".join(problems))
        print(f"rules {rules.version}: {rules.rule_count} rules, "
              f"{len(problems) or 'no'} failing example(s)")
    return EXIT_FAILED if problems else EXIT_OK

