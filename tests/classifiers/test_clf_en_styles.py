"""English category rules on writing styles and trades the labelled corpora do not cover.

Every sentence here was written for this test (none is taken from a corpus): terse mobile
mail, procurement-system and web-form notifications, other trades (electronics, software,
logistics), hypothetical and interrogative wording. They check that the concept sequences of
``classifiers/rules/en`` decide the category the labelling rules give, not that a phrase list
happens to contain one company's wording.
"""

from __future__ import annotations

import pytest

from classifiers import Classification, MessageInput, classify, load_rules

RULES = load_rules()


def run(subject: str, body: str) -> Classification:
    return classify(MessageInput(subject=subject, body_text=body), RULES)


CASES = [
    # orders: terse, procurement systems, subscriptions, changes of existing orders
    ("order", "urgent", "pls send 10 more of the 6mm pins asap, same as last time. PO to follow"),
    ("order", "PO 88123", "Purchase Order 88123 has been issued to you. Please log in to the "
     "supplier portal to acknowledge it."),
    ("order", "order", "hi, we'd like to order 2x pump seals, delivery to our Leeds site. thx"),
    ("order", "cancel pos 3", "cancel pos 3 on PO 4471 pls, rest unchanged"),
    ("order", "Re: quote 1182", "ok go ahead with option B, PO number 5561"),
    ("order", "qty change PO 5521", "pls increase qty on PO 5521 line 1 from 200 to 250"),
    ("order", "Release 14", "Release 14 against our blanket order 55001 is attached."),
    ("order", "renewal", "Please renew our support contract for 2026, PO attached."),
    ("order", "PO#77120", "Hello, PO#77120 for 500 connectors is attached. Delivery by 20 June."),
    ("order", "order", "Hi team, please process our order for 3 licences of the Pro edition."),
    ("order", "Re: Offer 2231", "Thanks for the offer, we'll take it. Please ship to the address "
     "below."),
    ("order", "Reorder", "Same as last month please - 40 boxes of the M8 nuts. Thanks, Dave"),
    ("order", "PO", "Please see attached PO"),
    ("order", "Re: Quotation Q-118", "We accept. Please proceed."),
    ("order", "hold", "Please hold PO 5521 until further notice, do not ship."),
    # enquiries: web forms, sourcing events, terse questions, hypothetical hand-overs
    ("enquiry", "Website enquiry", "New message from contact form\nName: J. Smith\nMessage: Do you "
     "machine titanium? What is your max part size?"),
    ("enquiry", "RFQ-7781 invitation", "You have been invited to respond to sourcing event "
     "RFQ-7781. Closing date 14 May. Log in to view the documents."),
    ("enquiry", "price?", "how much for 50 off in 304? lead time?"),
    ("enquiry", "Lead time", "Can u do 200 pcs by end of month?"),
    ("enquiry", "status", "Any news on our order 4471? When will it ship?"),
    ("enquiry", "Question re delivery", "Hello, what's the earliest you could deliver 2 pallets "
     "to Glasgow?"),
    ("enquiry", "Pricing", "We are interested in your cable assemblies. Please send us your "
     "price list and MOQ."),
    ("enquiry", "before sending", "If we send you our fixture, would you store it free of charge?"),
    ("enquiry", "idea", "In order to plan our budget, what order of magnitude are we talking "
     "about?"),
    ("enquiry", "repair", "Should we send the broken pump to you or will a technician come here?"),
    ("enquiry", "samples?", "Would it help if we sent you a sample part, or do you only work from "
     "drawings?"),
    # feedback: dissatisfaction by its shape, praise, surveys
    ("feedback", "not impressed", "Parts arrived late again and two were scratched. Really poor."),
    ("feedback", "thanks", "Just wanted to say the new brackets fit perfectly, great job by your "
     "team."),
    ("feedback", "ref 4471", "This is the third time I've chased this. Nobody gets back to me."),
    ("feedback", "order", "We have placed our order with another supplier, your lead times are "
     "too long."),
    ("feedback", "Disappointed", "The last three shipments arrived with broken cartons. This "
     "keeps happening and it needs to stop."),
    ("feedback", "complaint", "I have been waiting 3 weeks for a reply to my email. This is not "
     "acceptable."),
    # customer property: hand-over, custody, data, credentials, returns
    ("property", "samples", "we've posted you 3 samples of our material for the trial, please "
     "return any leftovers"),
    ("property", "access", "here are the logins for our supplier portal: user norland, password "
     "Spring2025"),
    ("property", "drawings", "Attached our drawings rev B for the housing, confidential."),
    ("property", "our gauge", "Is our master gauge still at your site? We need it back next week."),
    ("property", "RMA 5521", "unit going back to you today under RMA 5521 via DHL"),
    ("property", "samples", "Can you tell me if the samples we sent last week have arrived?"),
    ("property", "Boards for rework", "We are sending 12 PCBs to you for rework, please handle "
     "with ESD care."),
    ("property", "our tooling", "Please confirm our injection mould is stored safely at your "
     "plant."),
    ("property", "Return", "Please return our test fixture as we need it for another supplier."),
    # boundaries of the labelling rules: a drawing sent with an RFQ is property, asking for
    # OUR drawing or samples is an enquiry, a credit-note chaser for old returns and a question
    # how to return faulty parts are feedback, an order citing a drawing number is an order
    ("property", "quote", "Please quote 500 pcs to the attached drawing."),
    ("enquiry", "drawing", "Can you send us your drawing of the standard flange? We need it for "
     "our design."),
    ("enquiry", "samples", "Could you send us two samples of the gasket for testing?"),
    ("enquiry", "password", "I forgot my password for the portal, can you reset it please?"),
    ("feedback", "returns", "We returned the faulty units two months ago and still no credit. "
     "Very poor."),
    ("feedback", "return process", "How do we return a faulty unit? Is there a form?"),
    ("order", "PO 5512", "Our PO 5512 is attached. Drawing number 77-120 rev C applies, as "
     "quoted."),
    ("order", "samples order", "Please send 2 samples of the gasket, our PO 9912 covers the cost."),
    ("order", "call-off", "Please deliver the next 200 pcs from our framework order, week 32."),
    ("other", "Re: confirmation", "Thank you for the confirmation."),
    # other: hand-written out-of-office, promotions, acknowledgements, applications
    ("other", "Out of office", "I am on annual leave until 12 May with no access to email."),
    ("other", "webinar", "Join our free webinar on 5-axis machining. Register now! Unsubscribe "
     "here."),
    ("other", "job", "I am writing to apply for the position of CNC programmer. My CV is "
     "attached."),
    ("other", "Re: PO 4471", "Thanks, received."),
]


@pytest.mark.parametrize(("category", "subject", "body"), CASES)
def test_category_of_hand_written_mail_in_other_styles(
    category: str, subject: str, body: str
) -> None:
    assert run(subject, body).category == category


def test_a_hand_over_in_a_question_or_condition_is_no_property() -> None:
    for body in (
        "Before we ship anything to you, what would a repair cost?",
        "If we lent you our fixture, would it be insured while at your site?",
        "Do I need to send it back or can you send a replacement?",
    ):
        assert run("Repair", body).category != "property", body


def test_a_hand_over_with_a_following_condition_is_no_property() -> None:
    result = run("NDA", "We will send the drawings once the NDA is signed. Do you have a template?")
    assert result.category == "enquiry"
