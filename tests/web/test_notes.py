"""The case page's "record a call or meeting" form: the note is archived and filed with the
signed-in person as author, shown on the case page, needs the right to work the case's queue
and a CSRF token, and a scope change opens the scope-change review."""

from __future__ import annotations

from gateway.services.cases import show_case
from tests.support.mail import make_message
from tests.support.web import SCRIPT, active_content, file_mail, form_token, signed_in

ORDER = make_message(subject="Purchase order 4500123456",
                     body="Hello,\nplease find our purchase order 4500123456 for 250 pump "
                          "housings.\nAnna")


def test_a_call_recorded_on_the_case_page_opens_the_review(app, client, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", ORDER)
    form = {"channel": "phone", "summary": f"Anna phoned: 400 instead of 250 {SCRIPT}",
            "outcome": "we confirm in writing", "scope_change": "yes"}
    assert client.post(f"/cases/{ref}/notes", data=form).status_code == 303  # to the login
    with signed_in(app, "cora", "compliance") as cora:  # may read, not work cases
        token = form_token(cora, f"/cases/{ref}")
        assert cora.post(f"/cases/{ref}/notes", data=form | {"csrf": token}).status_code == 403
    with signed_in(app, "ben", "staff", "sales@northpoint.example") as ben:
        assert ben.post(f"/cases/{ref}/notes", data=form | {"csrf": "forged"}
                        ).status_code == 403
        assert show_case(app, actor="t", ref=ref).notes == ()
        token = form_token(ben, f"/cases/{ref}")
        done = ben.post(f"/cases/{ref}/notes", data=form | {"csrf": token},
                        files={"attachment": ("../../minutes.txt", b"400 pcs, 1 Feb\n")})
        assert done.status_code == 303 and done.headers["location"] == f"/cases/{ref}#notes"
        page = ben.get(f"/cases/{ref}").text
    case = show_case(app, actor="t", ref=ref)
    (note,) = case.notes
    assert (note["actor"], note["channel"], note["attachments"], note["scope_change"],
            case.order["review_required"]) == ("ben", "phone", ["minutes.txt"], True, True)
    assert f'id="note-{note["message_pk"]}"' in page and "Anna phoned: 400 instead of 250" in page
    assert active_content(page) == []
