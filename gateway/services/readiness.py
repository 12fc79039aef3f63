"""Audit readiness (ISO 9001 8.2.1): the procedure generated from the configuration, the mock
audit and the audit pack (``commgate procedure``, ``commgate audit sample``, ``commgate audit
pack``; the web application's ``/audit/procedure`` and ``/audit/sample``).

The procedure and the mock audit read configuration, rows and case events and hand out no
message content (case references, names, dates and staff notes only), so, like the archive
status, they are not archive accesses. The audit pack carries the sampled mail: it is an export,
recorded in the access log before a message byte is read (``gateway.evidence.package``), with
``purpose`` "audit-pack".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.evidence import procedure as procedure_doc
from gateway.evidence.audit_pack import build_pack
from gateway.evidence.package import PackageReport
from gateway.services.base import View
from gateway.workflows.mock_audit import AuditSample, take_sample

if TYPE_CHECKING:
    from gateway.core.context import Context

PROCEDURE_FORMATS = procedure_doc.FORMATS
MAX_DAYS = 3660
MAX_PER_KIND = 1000


@dataclass(frozen=True)
class ProcedureView(View):
    """The procedure (``document``), rendered as ``text`` in ``format``."""

    document: procedure_doc.Procedure
    format: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return self.document.to_json()


@dataclass(frozen=True)
class SampleView(View):
    sample: AuditSample

    def to_json(self) -> dict[str, Any]:
        return self.sample.to_json()


@dataclass(frozen=True)
class PackView(View):
    package: PackageReport
    sample: AuditSample

    def to_json(self) -> dict[str, Any]:
        return {**self.package.to_dict(), "seed": self.sample.seed,
                "readiness": self.sample.to_json()["readiness"]}


def _check(days: int, per_kind: int | None = None) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise WorkflowError(f"not allowed because --days must be 1 to {MAX_DAYS}")
    if per_kind is not None and not 1 <= per_kind <= MAX_PER_KIND:
        raise WorkflowError(f"not allowed because --per-kind must be 1 to {MAX_PER_KIND}")


def customer_procedure(ctx: Context, *, actor: str, days: int = 90,
                       fmt: str = "md") -> ProcedureView:
    """The Customer Communication Procedure of this installation, conformance over ``days``."""
    del actor  # a reading of configuration and figures: nothing recorded
    _check(days)
    if fmt not in PROCEDURE_FORMATS:
        raise WorkflowError(f"not allowed because {fmt!r} is not a format "
                            f"({', '.join(PROCEDURE_FORMATS)})")
    with ctx.db.session() as session:
        document = procedure_doc.build(session, ctx.settings, days=days, now=utcnow())
    return ProcedureView(document, fmt, procedure_doc.render(document, fmt))


def audit_sample(ctx: Context, *, actor: str, days: int = 90, per_kind: int = 5,
                 seed: int | None = None) -> SampleView:
    """A mock audit: up to ``per_kind`` records of each kind from the last ``days``, traced."""
    del actor
    _check(days, per_kind)
    with ctx.db.session() as session:
        return SampleView(take_sample(session, ctx.settings, since=utcnow() - timedelta(days=days),
                                      per_kind=per_kind, seed=seed))


def audit_pack(ctx: Context, *, actor: str, output: Path, days: int = 90, per_kind: int = 5,
               seed: int | None = None) -> PackView:
    """The audit pack at ``output`` (never overwritten), recorded as an export."""
    _check(days, per_kind)
    pack = build_pack(ctx, actor=actor, output=output, days=days, per_kind=per_kind,
                      seed=seed, now=utcnow())
    return PackView(pack.package, pack.sample)

