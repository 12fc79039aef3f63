"""``/audit``: the compliance desk. Archive status (ledger size, last checkpoint, last verify),
legal holds, retention (the policy and what an expiry run would remove now), the access log,
and the evidence package of ``commgate audit export`` as a download.

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
