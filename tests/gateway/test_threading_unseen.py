"""Threading mail of conversations commgate was not written from (issue 16): case tags of
earlier systems, colleagues and earlier Cc, stripped replies in the customer's language,
automatic replies. Each fixture mail is written here for its rule, in the language a customer
of that country writes; the stranger and the look-alike domain show that precision stays.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME
from gateway.db.events import case_by_ref
from gateway.db.models import CaseAlias, CaseLink
from gateway.processing.threader import foreign_tags, normalise_subject, tag_key
from gateway.workflows.cases import show_case
from gateway.workflows.lifecycle import set_status
from tests.support.mail import make_message
from tests.support.threading import cases, rules_of, run


def _events(app, ref, kind):
    with app.db.session() as session:
        return [e["data"] for e in show_case(session, ref)["events"] if e["kind"] == kind]


def _german_conversation(app, tmp_path):
    """Anna asks (no tag); the old helpdesk's answer is not here, but Anna's reply to it carries
    its tag [KPS-31207] and threads by References: the tag becomes an alias of NPC-000001."""
    run(app, tmp_path, [make_message(
        subject="Kalibrierung von 6 Messuhren", sender="Anna Huber <anna@kunde.example>",
        message_id="<q1@kunde.example>", date="Mon, 02 Nov 2026 09:00:00 +0100",
        body="Guten Tag, bitte um ein Angebot für die Kalibrierung von 6 Messuhren.")])
    run(app, tmp_path, [make_message(
        subject="AW: [KPS-31207] Kalibrierung von 6 Messuhren",
        sender="Anna Huber <anna@kunde.example>", message_id="<q2@kunde.example>",
        references="<q1@kunde.example> <old-helpdesk-1@helpdesk.northpoint.example>",
        date="Wed, 04 Nov 2026 10:00:00 +0100",
        body="Danke, der Termin passt uns.")])
    assert rules_of(app, "NPC-000001") == ["new-case", "references"]


# -- case tags of earlier systems ------------------------------------------------------------

def test_a_foreign_tag_on_a_header_threaded_message_becomes_an_alias(app, tmp_path):
    _german_conversation(app, tmp_path)
    with app.db.session() as session:
        alias = session.scalars(select(CaseAlias)).one()
        assert (alias.tag, alias.case_id, alias.rule) == ("KPS-31207", 1, "references")
    assert _events(app, "NPC-000001", "message_threaded")[-1]["aliases"] == ["KPS-31207"]


@pytest.mark.parametrize("sender", [
    "Anna Huber <anna@kunde.example>",  # the customer herself, headers stripped by her phone
    "Ben Wolf <ben@kunde.example>",  # a colleague
    "Ben Wolf <ben@eu.kunde.example>",  # a colleague at a subsidiary: the same organisation
])
def test_a_participant_or_the_customers_organisation_joins_by_a_foreign_tag(app, tmp_path,
                                                                           sender):
    _german_conversation(app, tmp_path)
    run(app, tmp_path, [make_message(
        subject="WG: [KPS-31207] Kalibrierung - Liefertermin", sender=sender,
        date="Mon, 09 Nov 2026 08:00:00 +0100", body="Bitte den Liefertermin bestätigen.")])
    (only,) = cases(app)
    assert only["message_count"] == 3
    assert _events(app, "NPC-000001", "message_threaded")[-1] | {"seq": 0, "sha256": ""} == {
        "rule": "foreign-tag", "key": "KPS-31207", "seq": 0, "sha256": ""}


@pytest.mark.parametrize("sender", [
    "Mallory <mallory@elsewhere.example>",  # a stranger who learnt the number
    "Ben Wolf <ben@kunde-example.com>",  # a look-alike of the customer's domain
    "Ben Wolf <ben@kunde.example.evil.test>",  # the customer's name under another domain
    "Ben Wolf <ben.kunde@gmail.com>",  # free mail is nobody's organisation
])
def test_a_stranger_reusing_a_known_foreign_tag_gets_a_new_linked_case(app, tmp_path, sender):
    _german_conversation(app, tmp_path)
    run(app, tmp_path, [make_message(
        subject="Re: [KPS-31207] Rechnung anbei", sender=sender,
        date="Mon, 09 Nov 2026 08:00:00 +0100", body="Bitte die Rechnung anbei begleichen.")])
    assert [c["message_count"] for c in cases(app)] == [2, 1]
    assert rules_of(app, "NPC-000002") == ["new-case"]
    with app.db.session() as session:
        link = session.scalars(select(CaseLink)).one()
        assert (link.case_id, link.other_case_id, link.kind) == (2, 1, "possible-follow-up")
        # The stranger's tag names nothing new: only the customer's case holds it.
        assert session.scalars(select(CaseAlias.case_id)).all() == [1]
    assert _events(app, "NPC-000002", "case_opened")[0]["possible_follow_up_of"] == "NPC-000001"


def test_a_tag_on_the_message_that_opened_the_case_names_it_for_an_earlier_cc(app, tmp_path):
    """French: the first message (a reply to the old helpdesk, whose mail we never saw) opens
    the case with [Ticket#4471]; Marie was in Cc and later writes with only the tag."""
    run(app, tmp_path, [make_message(
        subject="RE : [Ticket#4471] Problème de livraison des brides",
        sender="Julien Ferrand <j.ferrand@sudmeca.example>",
        to="sales@northpoint.example", date="Tue, 03 Nov 2026 10:00:00 +0100",
        extra_headers="Cc: Marie Dupont <marie.dupont@transports-rapides.example>",
        body="Bonjour, les brides ne sont toujours pas arrivées.")])
    run(app, tmp_path, [make_message(
        subject="TR : [Ticket#4471] bordereau de transport",
        sender="Marie Dupont <marie.dupont@transports-rapides.example>",
        date="Thu, 05 Nov 2026 15:00:00 +0100",
        body="Bonjour, veuillez trouver le bordereau ci-joint.")])
    (only,) = cases(app)
    assert rules_of(app, only["ref"]) == ["new-case", "foreign-tag"]


def test_a_case_number_in_parentheses_is_a_foreign_tag_too(app, tmp_path):
    """Spanish, the staff's own numbering "(Caso 20931)" and an earlier To address."""
    run(app, tmp_path, [make_message(
        subject="Pedido de rodamientos (Caso 20931)", sender="Lucía Gómez <lucia@cliente.example>",
        message_id="<p1@cliente.example>", date="Mon, 02 Nov 2026 09:00:00 +0100",
        body="Buenos días, adjunto el pedido de rodamientos.")])
    run(app, tmp_path, [make_message(
        subject="RV: Pedido de rodamientos (caso 20931) - albarán",
        sender="Pablo Ruiz <pablo@cliente.example>", date="Fri, 06 Nov 2026 09:00:00 +0100",
        body="Hola, reenvío el albarán.")])
    (only,) = cases(app)
    assert rules_of(app, only["ref"]) == ["new-case", "foreign-tag"]


def test_a_foreign_tag_naming_two_cases_names_neither(app, tmp_path):
    """Two customers of two old systems both had a [Ticket#100]: the tag proves nothing."""
    run(app, tmp_path, [
        make_message(subject="[Ticket#100] Portal login fails", sender="anna@kunde.example",
                     date="Mon, 02 Nov 2026 09:00:00 +0100"),
        make_message(subject="Lieferschein fehlt", sender="olaf@firma.example",
                     message_id="<o1@firma.example>", date="Mon, 02 Nov 2026 10:00:00 +0100"),
    ])
    run(app, tmp_path, [make_message(subject="Re: [Ticket#100] Lieferschein fehlt",
                                     sender="olaf@firma.example", in_reply_to="<o1@firma.example>",
                                     date="Mon, 02 Nov 2026 11:00:00 +0100")])
    run(app, tmp_path, [make_message(subject="Re: [Ticket#100] noch offen",
                                     sender="anna@kunde.example",
                                     date="Tue, 03 Nov 2026 09:00:00 +0100")])
    assert [c["message_count"] for c in cases(app)] == [1, 2, 1]


def test_the_tag_shapes_are_configurable(home, tmp_path):
    with (home / CONFIG_NAME).open("a") as config:
        config.write("\n[threading]\nforeign_tags = ['\\{SR\\s*\\d{6}\\}']\n")
    configured = App.open(home)
    try:
        run(configured, tmp_path, [make_message(
            subject="Re: Ersatzteil {SR 204711} [KPS-1]", sender="anna@kunde.example",
            message_id="<s1@kunde.example>", date="Mon, 02 Nov 2026 09:00:00 +0100")])
        run(configured, tmp_path, [make_message(
            subject="{SR 204711} Ersatzteil", sender="ben@kunde.example",
            date="Tue, 03 Nov 2026 09:00:00 +0100")])
        run(configured, tmp_path, [make_message(
            subject="Re: [KPS-1] Ersatzteil für die Pumpe", sender="ben@kunde.example",
            date="Tue, 03 Nov 2026 09:00:00 +0100")])
        # The configured shape joins; the default "[KPS-1]" shape is no longer a tag.
        assert [c["message_count"] for c in cases(configured)] == [2, 1]
        assert rules_of(configured, "NPC-000001") == ["new-case", "foreign-tag"]
    finally:
        configured.close()


# -- stripped replies: the customer's language -------------------------------------------------

@pytest.mark.parametrize(("original", "reply"), [
    ("Offert på 40 st lager 6204", "SV: Offert på 40 st lager 6204"),  # Swedish Outlook
    ("Tilbud på 40 stk. lejer 6204", "VS: SV: Tilbud på 40 stk. lejer 6204"),  # Danish
    ("Offerte voor 40 lagers 6204", "Antw: Offerte voor 40 lagers 6204"),  # Dutch
    ("Offerta per 40 cuscinetti 6204", "R: I: Offerta per 40 cuscinetti 6204"),  # Italian
    ("Oferta na 40 łożysk 6204", "ODP: PD: Oferta na 40 łożysk 6204"),  # Polish
    ("Nabídka na 40 ložisek 6204", "Odp: PŘ: Nabídka na 40 ložisek 6204"),  # Czech
    ("Proposta para 40 rolamentos 6204", "RES: ENC: Proposta para 40 rolamentos 6204"),  # pt
    ("Devis pour 40 roulements 6204", "Re : TR : Devis pour 40 roulements 6204"),  # French
    ("Angebot über 40 Lager 6204", "AW: WG: RE[2]: Angebot über 40 Lager 6204"),  # German
    ("Presupuesto de 40 rodamientos 6204", "RE: RV: Presupuesto de 40 rodamientos 6204"),
    ("Árajánlat 40 csapágyra 6204", "Vá: Re: Árajánlat 40 csapágyra 6204"),  # Hungarian
    ("Ponudba za 40 ležajev 6204", "Odg: Ponudba za 40 ležajev 6204"),  # Slovenian Outlook
    ("Offer for 40 bearings 6204", "RE: *EXTERNAL* Re: Offer for 40 bearings 6204"),  # banner
    ("Offer for 40 bearings 6204", "EXT: Re: Offer for 40 bearings 6204"),
])
def test_a_stripped_reply_in_the_senders_language_joins_by_subject(app, tmp_path, original,
                                                                   reply):
    run(app, tmp_path, [make_message(subject=original, sender="kim@kunde.example",
                                     date="Mon, 02 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [make_message(subject=reply, sender="kim@kunde.example",
                                     date="Wed, 04 Nov 2026 09:00:00 +0100")])
    (only,) = cases(app)
    assert rules_of(app, only["ref"]) == ["new-case", "subject"]


def test_someone_in_cc_earlier_joins_a_stripped_reply_a_colleague_who_was_not_does_not(
        app, tmp_path):
    run(app, tmp_path, [make_message(
        subject="Reklamation Pumpe P-100 vibriert", sender="anna@kunde.example",
        extra_headers="Cc: qs@kunde.example", date="Mon, 02 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [
        make_message(subject="AW: Reklamation Pumpe P-100 vibriert", sender="qs@kunde.example",
                     date="Tue, 03 Nov 2026 09:00:00 +0100"),
        make_message(subject="AW: Reklamation Pumpe P-100 vibriert",
                     sender="einkauf@kunde.example", date="Tue, 03 Nov 2026 10:00:00 +0100"),
    ])
    assert [c["message_count"] for c in cases(app)] == [2, 1]
    assert rules_of(app, "NPC-000001") == ["new-case", "subject"]


# -- automatic replies ---------------------------------------------------------------------------

_OUT_OF_OFFICE = ("Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All")


def _resolved_order_case(app, tmp_path):
    run(app, tmp_path, [make_message(
        subject="Bestellung 4500012345 - 40 Lager 6204", sender="anna@kunde.example",
        body="Hiermit bestellen wir 40 Stück Lager 6204 gemäß Angebot.",
        date="Mon, 02 Nov 2026 09:00:00 +0100")])
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001", for_update=True)
        set_status(session, case, "resolved", "alice")
        category = case.category
    return category


def _out_of_office(subject: str) -> bytes:
    return make_message(subject=subject, sender="anna@kunde.example",
                        body="Ich bin bis 20.11. nicht im Büro.", extra_headers=(
                            "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All"),
                        date="Tue, 10 Nov 2026 09:00:00 +0100")


def _by_subject_only(subject: str) -> bytes:
    return make_message(subject=subject, sender="anna@kunde.example",
                        body="Je suis absente jusqu'au 20 novembre.",
                        date="Tue, 10 Nov 2026 09:00:00 +0100")


def _calendar_answer(subject: str) -> bytes:
    head = make_message(subject=subject, sender="anna@kunde.example", body="",
                        date="Tue, 10 Nov 2026 09:00:00 +0100").split(b"\r\n\r\n", 1)[0]
    head = head.replace(b"Content-Type: text/plain; charset=utf-8",
                        b'Content-Type: multipart/alternative; boundary="b"')
    body = (b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAngenommen.\r\n"
            b"--b\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n"
            b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n--b--\r\n")
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(("raw", "reason"), [
    (_out_of_office("Automatische Antwort: Re: Bestellung 4500012345 [NPC-000001]"),
     "automatic message (Auto-Submitted: auto-replied)"),
    (_by_subject_only("Réponse automatique : Re: commande [NPC-000001]"),
     "automatic reply (subject)"),
    (_calendar_answer("Angenommen: Abstimmung Liefertermin [NPC-000001]"), "calendar answer"),
])
def test_an_automatic_reply_joins_by_our_tag_without_reopening_or_recategorising(
        app, tmp_path, raw, reason):
    category = _resolved_order_case(app, tmp_path)
    run(app, tmp_path, [raw])
    (only,) = cases(app)
    assert only["status"] == "resolved" and only["category"] == category
    assert rules_of(app, "NPC-000001") == ["new-case", "case-tag"]
    assert _events(app, "NPC-000001", "reopen_skipped")[0]["reason"] == reason
    classified = _events(app, "NPC-000001", "message_classified")[-1]
    assert classified["automatic"] == reason and classified["needs_triage"] is False
    assert not _events(app, "NPC-000001", "category_changed")


# -- the default tag shapes of earlier systems -------------------------------------------------

@pytest.mark.parametrize(("subject", "tags"), [
    ("AW: [KPS-31207] Kalibrierung", {"KPS-31207"}),
    ("[Ticket#4471] Problème de livraison", {"TICKET#4471"}),
    ("Re: [ticket # 4471] Problème de livraison", {"TICKET#4471"}),
    ("Pedido de rodamientos (Caso 20931)", {"CASO 20931"}),
    ("Sv: [Ärende 55012] Offert", {"ÄRENDE 55012"}),
    ("Odp: (Zgłoszenie: 4711) reklamacja", {"ZGŁOSZENIE: 4711"}),
    ("[#12345] Login schlägt fehl", {"#12345"}),  # Freshdesk-style
    ("Re: [rt.example.com #123] Portal", {"RT.EXAMPLE.COM#123"}),  # Request Tracker
    ("Case 00012345 [ ref:_00D5J1aB2._5005J1abcde:ref ]", {"REF:_00D5J1AB2._5005J1ABCDE:REF"}),
    ("Re: [NPC-000012] ours, not foreign", set()),
    ("Re: [EXTERNAL] Angebot (Rev 2) für KW 12 [KW 12]", set()),
    ("[Ticket#2026110410000231] Defekter Sensor", {"TICKET#2026110410000231"}),  # OTRS
])
def test_the_default_shapes_find_tags_of_common_systems_and_nothing_else(subject, tags):
    assert foreign_tags(subject, "NPC") == tags
    assert not any(t.lower() in normalise_subject(subject, "NPC") for t in tags)


def test_a_tag_is_compared_without_its_spacing_or_case():
    assert tag_key("[ kps - 31207 ]") == tag_key("[KPS-31207]") == "KPS-31207"
    assert tag_key("(case 12345)") == tag_key("[Case 12345]") == "CASE 12345"


# -- mail of other companies (probe corpus, 2026-12-07) ----------------------------------------

@pytest.mark.parametrize(("subject", "sender", "joins"), [
    ("KPS-31207 Liefertermin?", "anna@kunde.example", True),  # the tag without brackets
    ("Rechnung zu Ref. KPS 31207", "ben@kunde.example", True),  # a colleague, rewritten
    ("KPS-31207 Rechnung anbei", "mallory@elsewhere.example", False),  # a stranger
    ("KPS-31208 Kalibrierung", "anna@kunde.example", False),  # another number names nothing
])
def test_a_known_alias_is_found_without_its_brackets(app, tmp_path, subject, sender, joins):
    _german_conversation(app, tmp_path)
    run(app, tmp_path, [make_message(subject=subject, sender=sender,
                                     date="Mon, 09 Nov 2026 08:00:00 +0100")])
    assert [c["message_count"] for c in cases(app)] == ([3] if joins else [2, 1])
    with app.db.session() as session:  # a bare word never makes an alias, nor a link
        assert session.scalars(select(CaseAlias.tag)).all() == ["KPS-31207"]
        assert session.scalars(select(CaseLink)).all() == []


def test_two_tenants_of_one_helpdesk_platform_are_not_one_customer(app, tmp_path):
    """Two customers' cloud helpdesks on the same platform domain, the same project key and
    number: the second is a stranger to the first's case (a new case, linked); the first
    helpdesk's own later mail still joins."""
    run(app, tmp_path, [make_message(
        subject="[SUP-42] Calibration certificate missing",
        sender="jira@alderbank-labs.atlassian.net", date="Mon, 02 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [make_message(
        subject="[SUP-42] HMI panel flickers", sender="jira@quillon-systems.atlassian.net",
        date="Tue, 03 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [make_message(
        subject="[SUP-42] Calibration certificate missing - reminder",
        sender="jira@alderbank-labs.atlassian.net", date="Wed, 04 Nov 2026 09:00:00 +0100")])
    assert [c["message_count"] for c in cases(app)] == [2, 1]
    assert _events(app, "NPC-000002", "case_opened")[0]["possible_follow_up_of"] == "NPC-000001"


def test_a_colleague_copying_the_customer_joins_a_stripped_forward_by_subject(app, tmp_path):
    run(app, tmp_path, [make_message(
        subject="Zapytanie ofertowe - zawory kulowe DN50", sender="marta@polmetex.example",
        date="Mon, 02 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [
        make_message(subject="PD: Zapytanie ofertowe - zawory kulowe DN50",
                     sender="piotr@polmetex.example", extra_headers="Cc: marta@polmetex.example",
                     date="Tue, 03 Nov 2026 09:00:00 +0100"),
        # Copying the customer does not make a stranger a colleague.
        make_message(subject="PD: Zapytanie ofertowe - zawory kulowe DN50",
                     sender="lars@distributor.example",
                     extra_headers="Cc: marta@polmetex.example",
                     date="Tue, 03 Nov 2026 10:00:00 +0100"),
    ])
    assert [c["message_count"] for c in cases(app)] == [2, 1]
    assert rules_of(app, "NPC-000001") == ["new-case", "subject"]


def test_a_stripped_reply_whose_subject_names_two_cases_joins_neither(app, tmp_path):
    """One buyer, two orders titled alike: which one 'Re: Purchase order' answers is a guess."""
    run(app, tmp_path, [make_message(subject="Purchase order", sender="orders@marine.example",
                                     body="PO CM-7781 attached.",
                                     date="Mon, 02 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [make_message(subject="Purchase order", sender="orders@marine.example",
                                     body="PO CM-7790 attached.",
                                     date="Tue, 03 Nov 2026 09:00:00 +0100")])
    run(app, tmp_path, [make_message(subject="Re: Purchase order", sender="orders@marine.example",
                                     body="Re CM-7781: 15 m cable please.",
                                     date="Wed, 04 Nov 2026 09:00:00 +0100")])
    assert [c["message_count"] for c in cases(app)] == [1, 1, 1]
