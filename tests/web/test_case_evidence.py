"""The case page shows each message's classification evidence: the decision, the thread rule,
the identifiers, and each rule with its words marked in the text, all of it escaped."""

from __future__ import annotations

import re

from sqlalchemy import update

from gateway.db.models import Message
from tests.support.mail import make_message
from tests.support.web import SCRIPT, account, active_content, file_mail, log_in, web_client

COMPLAINT = make_message(
    subject="Complaint: PO 4500012345 damaged",
    body="Hello,\nthis is a formal complaint: the bearings for PO 4500012345 arrived damaged, "
         "unacceptable. Please send RMA-2231 labels.\nAnna")


def page_of(app, ref):
    account(app, "anna", "staff", ("sales@northpoint.example",))
    with web_client(app) as anna:
        assert log_in(anna, "anna").status_code == 303
        page = anna.get(f"/cases/{ref}")
    assert page.status_code == 200
    return page.text


def evidence_rows(html):
    """(rule id, words cell) of each row of the evidence tables."""
    return re.findall(r"<tr><td><code>(.*?)</code></td><td>\w*</td>\s*<td>(.*?)</td></tr>",
                      html, re.S)


def test_each_rule_and_its_words_are_shown_and_marked_in_the_text(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", COMPLAINT)
    html = page_of(app, ref)
    rows = dict(evidence_rows(html))
    assert rows["en.feedback.escalation_threat"] == "<mark>formal complaint</mark>"
    assert rows["en.feedback.complaint"] == "<mark>Complaint</mark>"
    assert rows["clf.rma_reference"] == "<mark>RMA-2231</mark>"
    text = re.search(r'<pre class="text">(.*?)</pre>', html, re.S).group(1)
    assert "this is a <mark>formal complaint</mark>: the bearings" in text
    assert "RMA-2231</mark> labels" in text
    subject = re.search(r'<dd class="subject">(.*?)</dd>', html, re.S).group(1)
    assert subject.startswith("<mark>Complaint</mark>: PO 4500012345")
    for fact in ("<dt>Category</dt><dd>feedback</dd>", "<dt>Language</dt><dd>en</dd>",
                 "<dt>Thread rule</dt><dd>new-case</dd>", "<dt>Needs triage</dt><dd>no</dd>",
                 "<dt>Scope change</dt><dd>no</dd>"):
        assert fact in html
    assert re.search(r"<dt>Confidence</dt><dd>0\.\d\d</dd>", html)
    assert '<span class="identifier">po 4500012345</span>' in html
    assert '<span class="identifier">rma RMA-2231</span>' in html


def test_hostile_evidence_and_text_are_escaped_and_still_marked(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", make_message(
        subject="Order \"now\" <b>", body=f"Please order 20 pieces. {SCRIPT} and more"))
    hostile = [{"rule_id": "x\"><script>alert(1)</script>", "text": SCRIPT, "field": "body"},
               {"rule_id": "subject.rule", "text": "\"now\" <b>", "field": "subject"},
               {"rule_id": "absent.rule", "text": "<img src=x onerror=alert(2)>",
                "field": "body"}]
    with app.db.session() as session:
        session.execute(update(Message).values(evidence=hostile))
    html = page_of(app, ref)
    assert active_content(html) == []
    escaped = "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"
    text = re.search(r'<pre class="text">(.*?)</pre>', html, re.S).group(1)
    assert text.rstrip() == f"Please order 20 pieces. <mark>{escaped}</mark> and more"
    rows = evidence_rows(html)
    assert rows[0] == ("x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;", f"<mark>{escaped}</mark>")
    assert rows[1] == ("subject.rule", "<mark>&#34;now&#34; &lt;b&gt;</mark>")
    assert rows[2][0] == "absent.rule"
    assert rows[2][1].startswith("&lt;img src=x onerror=alert(2)&gt; <span class=\"note\">")
    subject = re.search(r'<dd class="subject">(.*?)</dd>', html, re.S).group(1)
    assert subject == "Order <mark>&#34;now&#34; &lt;b&gt;</mark>"


def test_a_message_waiting_for_a_person_says_so_and_opens_its_evidence(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", COMPLAINT)
    with app.db.session() as session:
        session.execute(update(Message).values(needs_triage=True, evidence=[]))
    html = page_of(app, ref)
    assert re.search(r'<details class="evidence" id="evidence-\d+" open>', html)
    assert "<dt>Needs triage</dt><dd>yes</dd>" in html
    assert "No rule fired on this message." in html
