"""Scope change in English: one test per family, each as a statement, a question and a terse
imperative, and the negatives the labelling rules name (no changes, conditions, new orders with
special requirements, "as quoted", acknowledgements, capability questions, owed deliveries).

The sentences are written for these tests in several writing styles (formal, chatty, mobile
shorthand); none comes from a labelled corpus.
"""

from __future__ import annotations

import pytest

from classifiers import Classification, MessageInput, classify, load_rules

RULES = load_rules()


def run(subject: str, body: str) -> Classification:
    return classify(MessageInput(subject=subject, body_text=body), RULES)


def changes(result: Classification) -> set[str]:
    """The change kinds named in the scope evidence ("date: postpone delivery" -> "date")."""
    return {
        e.text.split(":", 1)[0]
        for e in result.evidence
        if e.rule_id.startswith("en.scope.") and ":" in e.text
    }


FAMILIES = {
    "cancellation": [
        ("PO 88-1203", "We hereby cancel our purchase order 88-1203 in full; the project is off."),
        ("Line 2", "Is it still possible to cancel line 2 of our order before you start?"),
        ("cxl", "pls cancel 4471-02, sent twice by mistake"),
    ],
    "hold": [
        ("Order 5521", "Our customer has frozen the project, so please put order 5521 on hold."),
        ("Shipment", "Could you hold the shipment for PO 7710 until we confirm the site is ready?"),
        ("PO 3391", "do not ship until further notice pls"),
    ],
    "quantity": [
        ("PO 4410", "Please increase the quantity on PO 4410 line 1 from 250 to 400 pcs."),
        ("Order 7781", "Could we reduce the quantity on order 7781 to 120 units?"),
        ("PO 2291 l.3", "qty 500 not 300 on line 3"),
    ],
    "date": [
        ("Order 9920", "Due to a site delay we need to postpone delivery of order 9920 to wk 14."),
        ("Delivery", "Could we move delivery of PO 5512 to week 48?"),
        ("PO 3340", "push to wk 12 pls"),
        ("SO 77812", "Is there any chance of pulling in SO 77812 by a week?"),
    ],
    "address": [
        ("Order 6612", "Please change the delivery address on order 6612 to our Leeds warehouse."),
        ("PO 1180", "Can you change the ship-to address for PO 1180 to our second plant?"),
    ],
    "specification": [
        ("PO 4512", "Engineering have revised the drawing: please change the finish on PO 4512 "
                    "to black oxide."),
        ("Quote 311", "Could you change the material in your quote 311 to 316L?"),
        ("rev", "PO 6631 - make to rev C not rev B"),
    ],
    "price": [
        ("Quote 2210", "Could you extend the validity of quote 2210 to the end of June?"),
        ("Order 8891", "Your acknowledgement for order 8891 shows the wrong unit price, please "
                       "correct the price to the quoted EUR 4.10."),
        ("Q-1190", "can u hold the price on Q-1190 another 30 days?"),
    ],
    "terms": [
        ("PO 4470", "For our PO 4470 we would like to change the delivery terms from EXW to DAP."),
    ],
    "obligation": [
        ("Late delivery 7712", "Order 7712 arrived three weeks late. We expect a 5% credit on "
                               "the invoice."),
        ("Inspection", "From now on every delivery to our plant must include a measurement "
                       "report; deliveries without it will be rejected."),
    ],
}


@pytest.mark.parametrize(
    ("what", "subject", "body"),
    [(what, s, b) for what, cases in FAMILIES.items() for s, b in cases],
)
def test_scope_change_family(what: str, subject: str, body: str) -> None:
    result = run(subject, body)
    assert result.scope_change is True, result.evidence
    assert what in changes(result)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        # nothing changes
        ("PO 4410", "No changes to the order, just confirming the delivery date is still week 20."),
        ("Order 5521", "Nothing changes on our side, please go ahead as planned."),
        # a condition or a possibility, not a request
        ("Order 5521", "If we need to change the quantity later, how much notice do you need?"),
        ("PO 7710", "Should we have to postpone the delivery, we will let you know in good time."),
        # new orders and RFQs, even with special requirements
        ("New PO 4471", "Please find our PO 4471 for 300 pcs as quoted. Delivery to our Leeds "
                        "warehouse, 3.1 certificates required, packed in VCI bags."),
        ("RFQ", "Please quote 500 brackets in 316L with a passivated finish, delivery in 6 weeks."),
        ("Order", "We would like to order 40 flanges as per your quotation 2281."),
        # general capability questions
        ("Material", "Can you generally supply these pins in 17-4PH instead of 303?"),
        ("Lead time", "What is your usual lead time for 1,000 pcs?"),
        # demands to deliver what is already owed
        ("PO 6631", "You still have not sent the CoC for PO 6631. Please send it today."),
        ("Short delivery", "We received 180 instead of 200 pcs on PO 3391, please ship the "
                           "missing 20."),
        # pure acknowledgements and status questions
        ("Re: Order confirmation 8891", "Thanks, received."),
        ("Order 8891", "When will order 8891 ship? Any update on the delivery date?"),
        # negated requests
        ("PO 5512", "Please don't cancel the order, we still want the parts."),
        # the change concerns future orders only
        ("New address", "Please note our new delivery address for all future orders."),
    ],
)
def test_not_a_scope_change(subject: str, body: str) -> None:
    result = run(subject, body)
    assert result.scope_change is False, result.evidence


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Re: PO 2231", "hi, can we bump line 1 up to 600? thx"),
        ("Order 4471", "Could you please ship the balance of order 4471 in March rather than "
                       "February?"),
        ("PO 9912", "We would need to delay the delivery of PO 9912 by two weeks, is that ok?"),
        ("Re: your quotation 8812", "Kindly revise your offer for 2000 pcs, the customer "
                                    "increased the volume."),
        ("PO 1120", "Delivery date for PO 1120 has to move from 12 May to 2 June, sorry."),
        ("RMA 5531", "For RMA 5531 please also check the second sensor and add it to the repair."),
        ("Subscription", "Please downgrade our plan from 20 users to 10 at the next renewal."),
        ("PO 7710", "change qty to 50 pls"),
        ("PO 7710", "Could you split PO 7710 into two deliveries, half now and half in June?"),
        ("Contract 22", "We want to terminate the service contract 22 at the end of this year."),
        ("Order 5510", "Please remove item 4 from order 5510, we found stock internally."),
        ("Re: Order 6620", "pls deliver to our Hamburg site instead of Bremen for this one"),
        ("Quote 3320", "Is it possible to extend the quote 3320 until end of next month?"),
        ("PO 8841", "The drawing changed to rev F - please manufacture the remaining parts to "
                    "rev F."),
        ("PO 3312", "Sorry we ordered wrong, the colour must be RAL 7035 not RAL 9005, please "
                    "amend."),
        ("Order 1191", "We need the parts earlier, can you expedite order 1191 to ship this "
                       "Friday?"),
        ("Late delivery PO 8812", "Because of the delay we will charge you the penalty of 2% "
                                  "per week as per our terms."),
        ("PO 6623", "We are cancelling lines 3 and 4, rest unchanged."),
        ("Order 7734", "Hold production on order 7734 pending our design review."),
        ("Re: SO-4410", "Sent from my iPhone\n\nneed 200 more on this one, same price"),
        ("PO 5521", "Can you make it 40 pcs pls, not 25"),
        ("po 7781", "plz change del date to 14/6"),
        ("Order 8823", "we dont need line 3 anymore, pls remove"),
        ("Re: Quotation 7711", "We would like to have the option with anodised finish added "
                               "to the quotation."),
        ("PO 3390", "Our customer pushed the project back, so can the delivery for PO 3390 go "
                    "out in August instead?"),
        ("PO 4421 - change", "Kindly note the quantity for item 2 shall be 75 nos in place of "
                             "50 nos."),
        ("Order 1102", "We have decided to cancel the remaining quantity of order 1102."),
        ("PO 6610", "Could you pack the parts in individual bags instead of bulk?"),
        ("PO 2219", "Please ship by sea instead of air for PO 2219, we're not in a hurry now."),
        ("Re: quote 331", "Can you requote with delivery DDP Warsaw?"),
        ("PO 8810", "Due to budget cuts we have to reduce PO 8810 by half."),
        ("PO 1129", "The quantity on PO 1129 is wrong, it should be 120 not 210, please correct."),
        ("Our order 4471", "We need to postpone. New date tbc."),
        ("Service visit", "Could we reschedule next week's service visit to the 24th?"),
        ("PO 2235", "Please send the goods to our Lyon warehouse, not to Paris as stated on "
                    "PO 2235."),
        ("Order 5520", "pls put 5520 on hold, customer issue"),
        ("Calibration 301", "Please add the two torque wrenches we sent yesterday to "
                            "calibration order 301."),
        ("Order 3319", "Would it be possible to receive order 3319 one week later than "
                       "confirmed?"),
        ("PO 7723", "Please we want to change the colour for PO 7723 to blue, is possible?"),
        ("Contract 2024-17", "In accordance with clause 8 we give notice to reduce the annual "
                             "volume under contract 2024-17 to 40,000 units."),
        ("Re: Offer 5512", "We kindly ask you to adapt your offer 5512 to 3 pieces instead of 5."),
        ("PO 8890", "we have to cancel, sorry - project stopped"),
        ("PO 2201", "Instead of the 24 V version we now need the 230 V version on PO 2201."),
        ("Job 771", "Please skip the painting on job 771, we will paint in-house."),
        ("Order 4412", "Can we change payment terms on order 4412 to 60 days?"),
        ("PO 3318", "The packaging on PO 3318 must be changed to wooden crates for sea freight."),
        ("Order 5590", "Please deliver 50 pcs now and hold the remaining 150 until we call them "
                       "off."),
        ("Order 2281", "Can you swap the stainless fittings on order 2281 for brass ones?"),
        ("PO 6621", "Please amend PO 6621: delivery address is now Unit 4, Riverside Park."),
        ("Order 8873", "Since the machine is down we urgently need order 8873 two weeks earlier "
                       "than the confirmed date."),
        ("Calibration", "Please also calibrate the two spare gauges in the same job, at the same "
                        "rate."),
        ("Re: Order 7731", "Hi Tom, small change - can you make the brackets in 3 mm plate instead "
                           "of 2 mm? Rest as ordered."),
        ("PO 4419", "Further to our PO 4419, we now require delivery in two lots: 100 in May and "
                    "100 in July."),
        ("Order 5518", "Please be advised that order 5518 is cancelled with immediate effect."),
        ("Job 3304", "Can the overhaul on job 3304 be limited to the gearbox only? We'll do the "
                     "motor ourselves."),
        ("PO 9917 revision", "Revision 2 of PO 9917 attached: line 3 quantity reduced to 20."),
        ("Licences", "We'd like to go from 10 to 25 licences from next month."),
        ("Quote 8812", "Could you keep quote 8812 open until the end of September?"),
        ("PO 3356", "Due to a design change the holes on item 2 move 3 mm inward. Updated drawing "
                    "attached."),
        ("Order 1187", "Hold order 1187 pls - waiting for customer approval"),
        ("PO 7742", "We need to bring delivery of PO 7742 forward to 14 March if at all possible."),
        ("Order 6652", "Please note we will only accept 95 of the 120 units on order 6652; the "
                       "rest can be cancelled."),
        ("PO 2218", "Pls invoice in EUR instead of GBP for PO 2218 - our finance team asked."),
        ("Order 4480", "Could you remove the documentation package from order 4480 and reduce the "
                       "price accordingly?"),
        ("Maintenance contract", "We would like to increase the number of service visits under our "
                                 "contract from 2 to 4 per year."),
        ("PO 5502", "Our customer moved their shutdown, so PO 5502 is now needed in week 41 "
                    "instead of week 45."),
        ("Re: PO 6670", "Quick one - make that 12 boxes, not 10."),
        ("Order 2294", "Is it too late to change the voltage on order 2294 to 110 V?"),
        ("RMA 7781", "Regarding RMA 7781: please replace the unit instead of repairing it."),
        ("Complaint PO 4403", "Given the repeated delays, we require all remaining deliveries on "
                              "PO 4403 to be shipped express at your expense."),
        ("PO 5530", "Good morning, our project slipped so we'd like to take delivery of PO 5530 in "
                    "January rather than December."),
        ("Order 7719 - amendment", "Amendment: item 1 now 35 pcs, item 2 deleted."),
        ("Re: Quote 4471", "Thanks for the quote. We'd also need it with an IP67 enclosure - can "
                           "you update it?"),
        ("PO 2290", "Could the parts on PO 2290 be supplied with a 2.2 certificate instead "
                    "of 3.1?"),
        ("order 3381", "pls dont ship 3381 yet, we'll confirm date"),
        ("PO 6610", "Our new ship-to for PO 6610 is: Hall 3, Dock Road, Tilbury."),
        ("Order 9981", "Please reduce the order 9981 to the 40 pcs already produced and close it."),
        ("Quotation 5521", "Please revise quotation 5521 for a 3-year term instead of 1 year."),
        ("PO 4480", "We need to change the finish on PO 4480 from zinc to nickel, please confirm "
                    "impact on price."),
        ("Job 2201", "Please stop all work on job 2201 immediately."),
        ("Order 1123", "We'd rather have the order delivered to site directly than to our "
                       "warehouse."),
        ("PO 7731", "Kindly split PO 7731 so that line 1 ships now and lines 2-3 with the next "
                    "delivery."),
        ("Subscription", "Please cancel the premium support add-on on our subscription from next "
                         "billing cycle."),
        ("PO 3340 - price", "The price on your confirmation for PO 3340 is 5% above the agreed "
                            "price, please adjust."),
        ("Late order 5512", "Because order 5512 is late we will deduct the penalty from your "
                            "invoice as per clause 12."),
        ("Re: PO 8841", "Morning - any chance you could ship PO 8841 a week early? Our line "
                        "starts sooner than planned."),
        ("Order 3391", "Unfortunately we must withdraw order 3391, the end customer went "
                       "bankrupt."),
        ("PO 7715", "Please supply the remaining 60 pieces of PO 7715 with black anodising "
                    "instead of clear."),
        ("Quote 1182", "Please requote 1182 on FCA terms, we will arrange collection ourselves."),
        ("PO 2250 qty", "Qty on PO 2250 should read 600, not 60 - typo on our side."),
        ("Order 9912", "We've decided to drop item 3 from order 9912."),
        ("PO 4471", "Is it still possible to add 2 spare motors to PO 4471 before it ships?"),
        ("Service contract", "We'd like to extend our service contract by another 12 months on "
                             "the same terms."),
        ("PO 5519", "Due to the steel surcharge dispute we ask you to hold all shipments on PO "
                    "5519 until resolved."),
        ("Order 7790", "Please change the labelling on order 7790 to our new logo, artwork "
                       "attached."),
        ("Re: delivery date", "Can we push SO 88123 out to the 30th? Warehouse is full."),
    ],
)
def test_scope_change_in_other_styles(subject: str, body: str) -> None:
    assert run(subject, body).scope_change is True


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("PO 2231", "Please confirm receipt of PO 2231."),
        ("Quote", "Please quote 2000 pcs, delivery to our Hamburg site, packed on euro pallets."),
        ("PO 9912", "Attached our PO 9912 as per your quote, delivery week 20 as agreed."),
        ("Complaint", "The last delivery was late and the boxes were damaged. Very disappointed."),
        ("Portal", "How do I change my password in the portal?"),
        ("Question", "Do you offer a discount for annual volumes above 10,000 pcs?"),
        ("Re: Quote 3320", "Is quote 3320 still valid?"),
        ("Newsletter", "We have changed our privacy policy. Read more on our website."),
        ("Visit", "Can we arrange a visit to your plant in week 23?"),
        ("PO 7710", "If the price changes we will need a new approval, so please let me know."),
        ("PO 8812", "Please expedite, we are still waiting for PO 8812 which was due last week!"),
        ("Delay", "The delay of the delivery cost us a week of production."),
        ("PO 5521", "Received the goods, thanks. Quantity 25 pcs correct."),
        ("Question", "What would it cost if we doubled the quantity next year?"),
        ("Question", "Can your finish be changed to black oxide in general, or only on request?"),
        ("Quote 331", "We accept your quotation 331 as quoted, please proceed."),
        ("RFQ", "Please quote 500 pcs with delivery DDP Warsaw and 3.1 certificates."),
        ("Holiday", "Our plant is closed from 24 Dec to 2 Jan, please plan deliveries "
                    "accordingly."),
        ("Order 4471", "Is there any chance to get a status update on order 4471?"),
        ("PO 6610", "This is our first order with you: PO 6610 for 300 bushings, packed in "
                    "individual bags."),
        ("Parcel", "Your parcel is on its way. Track your parcel or change your delivery: "
                   "https://track.example/1550"),
        ("RMA", "I've sent the manifold for repair. Could you raise the RMA at your end?"),
        ("Out of office", "I am out of the office until Monday. For urgent changes to orders "
                          "contact sales."),
        ("Newsletter", "Big changes are coming to our product range - read all about it."),
        ("Order 3319", "Order 3319 arrived one week later than confirmed. Not acceptable."),
        ("RFQ", "Would it be possible to quote 3 pieces and 5 pieces?"),
        ("Question", "What is the cancellation policy for custom parts?"),
        ("Thanks", "Thanks a lot for changing the date so quickly last time!"),
        ("PO 6621", "Attached PO 6621, delivery to Unit 4, Riverside Park, as agreed on the "
                    "phone."),
        ("Invoiced twice", "You invoiced us twice for the same delivery. Please cancel one of "
                           "them."),
        ("Order 7731", "Hi Tom, the brackets arrived, all good. Rest as ordered too."),
        ("PO 4419", "Attached our PO 4419 for 200 pcs, delivery in two lots: 100 in May and 100 in "
                    "July."),
        ("Cancellation", "We noticed your order 5518 was cancelled by your system. Was that "
                         "intended?"),
        ("RFQ", "Please quote 25 licences for the standard plan."),
        ("Quote 8812", "Until when is quote 8812 open?"),
        ("Drawing", "Attached is the drawing for the new bracket we need quoted, 200 pcs."),
        ("Order 1187", "Order 1187 received, thank you."),
        ("PO 7742", "When can you deliver PO 7742? We hope before 14 March."),
        ("Invoice", "Could you resend the invoice for order 6652? We cannot find it."),
        ("Feedback", "The service visit last week was excellent, thanks to your engineer."),
        ("PO 5502", "Please confirm PO 5502 is on track for week 45."),
        ("Question", "Is it possible to get the brackets in 3 mm plate as a standard option?"),
        ("Late delivery", "PO 4403 is two weeks late. Please ship the missing parts immediately."),
        ("Info", "We have moved our accounts department to a new office, no action needed."),
        ("Auto-reply", "Thank you for your message. We will reply within 24 hours."),
        ("PO 5530", "Please deliver PO 5530 in January as per our schedule."),
        ("Order 7719", "Item 1 35 pcs, item 2 10 pcs - please confirm price and delivery."),
        ("Quote 4471", "Thanks for the quote, we will review it internally and come back to you."),
        ("Certificates", "Which certificates can you supply with your parts, 2.2 or 3.1?"),
        ("order 3381", "when will 3381 ship?"),
        ("Address", "Please find our company details and ship-to address for the new account."),
        ("Complaint", "The parts on order 9981 have burrs on the edges. Please investigate."),
        ("Praise", "Thanks for splitting the delivery last month, it really helped us."),
        ("Job 2201", "Work on job 2201 looks great so far, keep it up."),
        ("Price list", "Could you send your current price list?"),
        ("Visit", "Our auditor will visit your plant on 14 May; please confirm the time."),
        ("Order", "Please supply 50 pcs, delivered to site directly, not to our warehouse."),
        ("PO 8841", "Will PO 8841 ship on time? Our line starts next week."),
        ("Order 3391", "Please find attached order 3391 for 40 units."),
        ("Quote", "Please quote FCA terms, we will arrange collection ourselves."),
        ("Repair", "What does a clean-and-test cost compared to a full overhaul?"),
        ("PO 2250", "PO 2250 for 600 pcs attached, please confirm."),
        ("Item 3", "Item 3 on order 9912 was damaged in transit, photos attached."),
        ("Contract", "When does our service contract expire?"),
        ("Steel surcharge", "We do not accept the steel surcharge on your invoice for PO 5519."),
        ("Artwork", "Attached our new logo for the labels on future orders."),
        ("Thanks", "Thanks for shipping SO 88123 so quickly."),
        ("Colour", "Did you change the anodising supplier? The colour looks warmer."),
    ],
)
def test_not_a_scope_change_in_other_styles(subject: str, body: str) -> None:
    assert run(subject, body).scope_change is False


def test_partial_invariance_does_not_cancel_a_change() -> None:
    """'Lines 1 and 3 remain unchanged' is what a change order says about the rest."""
    result = run(
        "PO 2291",
        "Please cancel line 2 of PO 2291. Lines 1 and 3 remain unchanged, no other changes.",
    )
    assert result.scope_change is True
    assert "cancellation" in changes(result)


def test_cancellation_of_an_order_is_an_order() -> None:
    result = run("Cancel PO 4500123456", "Please cancel our PO 4500123456 in full.")
    assert (result.category, result.scope_change) == ("order", True)
    assert any(e.rule_id == "clf.change_order" for e in result.evidence)


def test_change_to_an_open_quote_stays_an_enquiry() -> None:
    result = run(
        "Quote Q-25-0311",
        "Thanks for quote Q-25-0311. Could you revise it for 500 pcs instead of 200 and "
        "send an updated quote?",
    )
    assert (result.category, result.scope_change) == ("enquiry", True)


def test_compensation_claim_in_a_complaint_stays_feedback() -> None:
    result = run(
        "Late again - order 7712",
        "This is the third late delivery in a row and we are very disappointed. We will deduct "
        "5% from your invoice and expect the replacements by air at your cost.",
    )
    assert (result.category, result.scope_change) == ("feedback", True)


@pytest.mark.parametrize("body", [
    "May we postpone the delivery to week 12?",
    "Before you start, please change the finish to black anodised.",
    "We usually order 500, but please reduce line 2 to 300 this time.",
])
def test_a_request_after_a_supposition_or_a_habit_is_still_a_change(body: str) -> None:
    # "may" opening a question asks; a comma before "please", or a "but", starts a new main
    # clause, so "before", "usually" and "if" of the first clause do not make it hypothetical.
    result = run("Re: PO 4500123456", body)
    assert (result.category, result.scope_change) == ("order", True)


def test_a_supposition_in_the_same_clause_still_holds() -> None:
    result = run("Re: PO 4500123456", "If we need to reduce the quantity we will let you know.")
    assert result.scope_change is False


def test_a_change_named_only_in_an_inherited_reply_subject_is_no_change() -> None:
    # "Re: Your change request on NPC-1": our own subject, answered with a plain confirmation.
    result = run("Re: Your change request on NPC-000001", "Hello,\nconfirmed, thank you.\nAnna")
    assert result.scope_change is False
    fresh = run("Change request: PO 4500123456", "Please reduce line 2 to 300 pcs.")
    assert fresh.scope_change is True
