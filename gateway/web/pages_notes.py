"""The case page's "record a call or meeting" form (``commgate cases note``): the note is
archived and filed like mail, with the signed-in person as its author; a scope change opens
the scope-change review. Served by the installation's own App (``commgate web``, ``run``), the
note is filed at once; a bare context leaves it queued for the daemon's worker."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse

from gateway.bootstrap import App
from gateway.services.cases import archive_note, record_note, show_case
from gateway.web.common import BadForm, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import WORK_CASES, require_queue

router = APIRouter()
FormText = Annotated[str, Form()]
CHANNELS = ("phone", "meeting", "visit", "portal")
SCOPE_WORDS = {"": None, "yes": True, "no": False}
MAX_UPLOAD = 25 * 1024 * 1024


@router.post("/cases/{ref}/notes")
def add_note(request: Request, ref: str, channel: FormText = "", summary: FormText = "",
             outcome: FormText = "", scope_change: FormText = "", csrf: FormText = "",
             attachment: Annotated[UploadFile | None, File()] = None) -> Response:
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    ctx = state_of(request).ctx
    require_queue(user, show_case(ctx, actor=user.name, ref=ref).alias)
    if channel not in CHANNELS or scope_change not in SCOPE_WORDS:
        raise BadForm("choose a channel, and yes, no or 'let the classifier decide'")
    given = None
    if attachment is not None and attachment.filename:
        data = attachment.file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise BadForm("the attachment is larger than 25 MiB", status=413)
        given = (attachment.filename, data)
    scope = SCOPE_WORDS[scope_change]
    if isinstance(ctx, App):
        case = record_note(ctx, actor=user.name, ref=ref, channel=channel, summary=summary,
                           outcome=outcome, attachment=given, scope_change=scope).case
    else:
        case = archive_note(ctx, actor=user.name, ref=ref, channel=channel, summary=summary,
                            outcome=outcome, attachment=given, scope_change=scope).case
    return RedirectResponse(f"/cases/{quote(case, safe='')}#notes", status_code=303)
