"""``/audit``: the compliance desk. Archive status (ledger size, last checkpoint, last verify),
legal holds, retention (the policy and what an expiry run would remove now), the access log,
and the evidence package of ``commgate audit export`` as a download; the Customer
Communication Procedure (``/audit/procedure``), the mock audit (``/audit/sample``) and its
audit pack as a download (``commgate procedure``, ``audit sample``, ``audit pack``).

Only the compliance role and admins come here. The package is made by the same service as on
the command line (``export_evidence``: the export is in the access log before a message byte
is read) into a private temporary folder, sent, and deleted once sent.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gateway.core.errors import GatewayError
from gateway.services.audit import archive_status
from gateway.services.compliance import audit_log, expire_retention, legal_holds
from gateway.services.evidence import export_evidence, selection
from gateway.services.readiness import audit_pack, audit_sample, customer_procedure
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in

router = APIRouter()
FormText = Annotated[str, Form()]
AUDIT = frozenset({"compliance", "admin"})
ACCESS_SHOWN = 200  # newest access records on the page; 'commgate audit log' has them all


@router.get("/audit")
def audit(request: Request, action: str = "") -> Response:
    user = signed_in(request, AUDIT)
    ctx = state_of(request).ctx
    log = audit_log(ctx, actor=user.name, action=action or None).rows
    return render(request, "audit.html", {
        "status": archive_status(ctx, actor=user.name),
        "holds": legal_holds(ctx, actor=user.name).rows,
        "retention": ctx.settings.config.retention,
        "expiry": expire_retention(ctx, actor=user.name, dry_run=True),
        "access": list(reversed(log))[:ACCESS_SHOWN], "access_total": len(log),
        "action": action})


@router.post("/audit/export")
def export(request: Request, cases: FormText = "", date_from: FormText = "",
           date_to: FormText = "", alias: FormText = "", customer: FormText = "",
           csrf: FormText = "") -> Response:
    """An evidence package of the selection, as ``commgate audit export`` writes it."""
    user = signed_in(request, AUDIT)
    check_csrf(request, csrf)
    refs = tuple(ref for ref in cases.replace(",", " ").split() if ref)
    try:
        selected = selection(cases=refs, date_from=date_from.strip() or None,
                             date_to=date_to.strip() or None, alias=alias.strip() or None,
                             customer=customer.strip() or None)
    except (ValueError, GatewayError) as exc:
        raise BadForm(str(exc)) from None
    folder = Path(tempfile.mkdtemp(prefix="commgate-export-"))
    try:
        report = export_evidence(state_of(request).ctx, actor=user.name, selected=selected,
                                 output=folder / "evidence.zip").report
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(report.path, media_type="application/zip",
                        filename=f"evidence-{report.export_seq}.zip",
                        headers={"X-Commgate-Export-Seq": str(report.export_seq),
                                 "X-Commgate-Package-Sha256": report.sha256},
                        background=BackgroundTask(shutil.rmtree, folder, True))


@router.get("/audit/procedure")
def procedure(request: Request, days: int = 90) -> Response:
    """The Customer Communication Procedure as ``commgate procedure`` writes it."""
    user = signed_in(request, AUDIT)
    try:
        view = customer_procedure(state_of(request).ctx, actor=user.name, days=days)
    except GatewayError as exc:
        raise BadForm(str(exc)) from None
    return render(request, "audit_procedure.html", {"p": view.document, "days": days})


@router.get("/audit/sample")
def sample(request: Request, days: int = 90, per_kind: int = 5,
           seed: int | None = None) -> Response:
    """The mock audit as ``commgate audit sample`` prints it, and the pack to download."""
    user = signed_in(request, AUDIT)
    try:
        view = audit_sample(state_of(request).ctx, actor=user.name, days=days,
                            per_kind=per_kind, seed=seed)
    except GatewayError as exc:
        raise BadForm(str(exc)) from None
    return render(request, "audit_sample.html", {"s": view.sample, "days": days,
                                                 "per_kind": per_kind})


@router.post("/audit/pack")
def pack(request: Request, days: FormText = "90", per_kind: FormText = "5",
         seed: FormText = "", csrf: FormText = "") -> Response:
    """The audit pack of ``commgate audit pack``, recorded as an export, sent and deleted."""
    user = signed_in(request, AUDIT)
    check_csrf(request, csrf)
    try:
        numbers = int(days), int(per_kind), int(seed) if seed.strip() else None
    except ValueError:
        raise BadForm("days, per kind and seed must be whole numbers") from None
    folder = Path(tempfile.mkdtemp(prefix="commgate-pack-"))
    try:
        view = audit_pack(state_of(request).ctx, actor=user.name,
                          output=folder / "audit-pack.zip", days=numbers[0],
                          per_kind=numbers[1], seed=numbers[2])
    except GatewayError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BadForm(str(exc)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    report = view.package
    return FileResponse(report.path, media_type="application/zip",
                        filename=f"audit-pack-{report.export_seq}.zip",
                        headers={"X-Commgate-Export-Seq": str(report.export_seq),
                                 "X-Commgate-Package-Sha256": report.sha256,
                                 "X-Commgate-Sample-Seed": str(view.sample.seed)},
                        background=BackgroundTask(shutil.rmtree, folder, True))
