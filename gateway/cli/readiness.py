"""Audit readiness commands: ``procedure`` (the Customer Communication Procedure from the
configuration, with measured conformance), ``audit sample`` (the mock audit) and ``audit pack``
(procedure, templates, traces and the sampled cases' evidence in one verifiable zip)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.cli._common import (
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    reader_of,
    subcommands_of,
)

_MARK = {"present": "ok     ", "missing": "MISSING", "n/a": "n/a    "}


def register(sub: Any) -> None:
    p = sub.add_parser("procedure", help="write the Customer Communication Procedure of this "
                       "installation, with conformance measured from the records")
    p.add_argument("--days", type=int, default=90, help="measure conformance over the last N "
                   "days (default 90)")
    p.add_argument("--format", dest="fmt", choices=("md", "html"), default="md")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write it here (default: print it)")
    p.add_argument("--json", action="store_true", help="the procedure's content as JSON")
    p.set_defaults(handler=cmd_procedure)

    audit = subcommands_of(sub, "audit")
    p = audit.add_parser("sample", help="mock audit: trace a random sample of recent orders, "
                         "scope changes, complaints and property items")
    _sample_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_audit_sample)

    p = audit.add_parser("pack", help="the audit pack: procedure, templates, mock audit and "
                         "the sampled cases' evidence in one verifiable zip")
    _sample_options(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.zip")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_audit_pack)


def _sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=90, help="records of the last N days "
                   "(default 90)")
    p.add_argument("--per-kind", type=int, default=5, metavar="N",
                   help="records sampled per kind (default 5)")
    p.add_argument("--seed", type=int, metavar="S", help="repeat an earlier sample (default: "
                   "a new seed, printed)")


def cmd_procedure(args: argparse.Namespace) -> int:
    from gateway.services.readiness import customer_procedure

    with opened_app(args) as app:
        view = customer_procedure(app, actor=reader_of(args), days=args.days, fmt=args.fmt)
    if args.output is not None:
        args.output.write_text(view.text, encoding="utf-8")
    if args.json:
        emit_json(view.to_json())
    elif args.output is not None:
        kept = sum(r.measured.numerator for r in view.document.conformance)
        judged = sum(r.measured.denominator for r in view.document.conformance)
        print(f"wrote {args.output}: {len(view.document.lifecycle_map)} lifecycle rows, "
              f"{len(view.document.conformance)} conformance rules ({kept}/{judged} records "
              f"kept the rule over the last {args.days} days)")
    else:
        print(view.text, end="")
    return EXIT_OK


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def print_sample(sample: Any) -> None:
    """The mock audit as text: readiness per element, then each trace's evidence."""
    population = ", ".join(f"{kind} {count}" for kind, count in sample.population.items())
    print(f"mock audit, seed {sample.seed} (repeat with --seed {sample.seed}); records since "
          f"{sample.since:%Y-%m-%d}: {population}")
    print(f"readiness: overall {_score(sample.overall.rate)} ({sample.overall.present} "
          f"present, {sample.overall.missing} missing)")
    for name, score in sample.elements.items():
        print(f"  {name:<12} {_score(score.rate):>4}  ({score.present} present, "
              f"{score.missing} missing)")
    for trace in sample.traces:
        print(f"\n{trace.kind} {trace.ref}: {trace.label}")
        for item in trace.evidence:
            print(f"  {_MARK.get(item.status, item.status)} {item.name}: {item.detail}")


def cmd_audit_sample(args: argparse.Namespace) -> int:
    from gateway.services.readiness import audit_sample

    with opened_app(args) as app:
        view = audit_sample(app, actor=reader_of(args), days=args.days,
                            per_kind=args.per_kind, seed=args.seed)
    if args.json:
        emit_json(view.to_json())
    else:
        print_sample(view.sample)
    return EXIT_OK


def cmd_audit_pack(args: argparse.Namespace) -> int:
    from gateway.services.readiness import audit_pack

    with opened_app(args) as app:
        actor = actor_of(args)
        view = audit_pack(app, actor=actor, output=args.output, days=args.days,
                          per_kind=args.per_kind, seed=args.seed)
    if args.json:
        emit_json(view.to_json())
        return EXIT_OK
    report, sample = view.package, view.sample
    signed = "signed" if report.signed else "UNSIGNED (no checkpoint key configured)"
    print(f"wrote {report.path}: mock audit seed {sample.seed}, readiness "
          f"{_score(sample.overall.rate)}; {len(report.cases)} case(s), {report.messages} "
          f"message(s), {report.files} files, {signed}; export logged as ledger seq "
          f"{report.export_seq}\nsha256 {report.sha256}\n"
          f"check it offline: commgate audit verify-package {report.path}")
    return EXIT_OK
