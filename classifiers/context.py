"""The case a message is threaded into is evidence: a message in a case that already holds an
order or a quote is judged as a possible change of it, not as something new.

:func:`in_context` is applied by the gateway after threading and before filing; the classifier
itself never sees a case. It is conservative: it only moves a decision the message's own
evidence already points to, and never makes a change out of nothing.

* ``ctx.existing_order``: the case holds an order (or a message of it that was only guessed
  to be one, whose order number this message names), and the message (called order or
  enquiry) carries change wording of its own in the new text (a scope rule, even below the
  scope threshold, or an order change/cancel phrase): it changes that order (category order,
  scope change; an enquiry already flagged as a change becomes an order change). An enquiry
  needs a named change (quantity, specification, date, place, a hold or a cancellation); the
  weak hints ("change", "revised") are enough for a message that is about an order already.
* ``ctx.open_enquiry``: the case holds an open enquiry or a quote (and no order), and an
  enquiry changes quantities, specification, date, place or price, or has change wording and
  names a quotation: an enquiry with a scope change (a change of the open quotation, not a
  new request).
* ``ctx.existing_po``: the case holds an order, the message was called order only because it
  names a purchase order, every order number it names is the case's own, and it asks
  something: a question about the existing order, an enquiry, not a new order.

Scope evidence found only in the subject does not count: a reply quotes its subject, and
"Re: Change to PO 4500871234" above "Thank you" changes nothing. A "no changes" rule cancels the
weak hints but not a named change: "move line 10 to week 19, line 20 stays as it is" is a
change, "no changes, just confirming" is none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from classifiers.types import Classification, Evidence, Identifier

EXISTING_ORDER = "ctx.existing_order"
OPEN_ENQUIRY = "ctx.open_enquiry"
EXISTING_PO = "ctx.existing_po"
CONTEXT_RULES: tuple[str, ...] = (EXISTING_ORDER, OPEN_ENQUIRY, EXISTING_PO)

# What a change of an order or a quotation names (the ``change`` of a scope rule).
_CHANGES = frozenset({"quantity", "specification", "date", "address", "cancellation", "hold"})
_ENQUIRY_CHANGES = _CHANGES | {"price"}
_NOTHING_CHANGES = "none"
_CHANGE_ORDER = "clf.change_order"
_ORDER_CHANGE_RULE = ".order.change_or_cancel"
_PO_MENTION_RULE = ".order.po_mention"
_OWN_TEXT = ("body", "attachment")


def normalise(value: str) -> str:
    """An identifier as compared: case, blanks, ``#`` and hyphens do not matter."""
    return "".join(ch for ch in value.lower() if ch not in " #-\t")


@dataclass(frozen=True)
class CaseContext:
    """What the case already holds when a message is filed into it."""

    order: bool = False  # a customer's order was received (or staff said so), or accepted
    enquiry: bool = False  # an open enquiry: the case is not closed and holds a request
    quote: bool = False  # a quote or RFQ number is on record in the case
    property: bool = False  # the customer-property register has an item on the case
    identifiers: frozenset[tuple[str, str]] = frozenset()  # (kind, normalised value)
    # Order numbers on the customer's messages classified order, guesses included.
    ordered: frozenset[str] = frozenset()

    def holds(self, identifier: Identifier) -> bool:
        return (identifier.kind, normalise(identifier.value)) in self.identifiers

    def with_message(self, category: str, identifiers: tuple[Identifier, ...], *,
                     counts: bool) -> CaseContext:
        """The context after a message is filed; ``counts``: it is the customer's and a rule
        or a person decided its category (a guess waiting in triage says nothing yet)."""
        known = self.identifiers | {(i.kind, normalise(i.value)) for i in identifiers}
        ordered = self.ordered | {normalise(i.value) for i in identifiers
                                  if category == "order" and i.kind == "po"}
        return replace(
            self, identifiers=frozenset(known), ordered=frozenset(ordered),
            order=self.order or (counts and category == "order"),
            enquiry=self.enquiry or (counts and category == "enquiry"),
            quote=self.quote or any(i.kind == "quote" for i in identifiers))


EMPTY = CaseContext()


def in_context(classification: Classification, context: CaseContext) -> Classification:
    """The classification as the case's context reads it (unchanged when no rule applies);
    the evidence names the context rule that moved it."""
    if classification.category not in ("order", "enquiry"):
        return classification
    changes = _own_changes(classification)
    if (_holds_order(classification, context) and _changes_order(classification, changes)
            and not (classification.category == "order" and classification.scope_change)):
        what = ", ".join(sorted(changes - {"reference"})) or "change"
        return _moved(classification, "order", True, EXISTING_ORDER,
                      f"{what} of the order already in the case{_po(classification, context)}")
    if classification.scope_change:
        return classification
    if ((context.enquiry or context.quote) and not context.order
            and classification.category == "enquiry" and _changes_quote(classification, changes)):
        what = ", ".join(sorted(changes & _ENQUIRY_CHANGES)) or "change"
        return _moved(classification, "enquiry", True, OPEN_ENQUIRY,
                      f"{what} of the enquiry or quote already in the case")
    if context.order and _cites_case_order(classification, context):
        return _moved(classification, "enquiry", False, EXISTING_PO,
                      f"asks about the order already in the case{_po(classification, context)}"
                      f", places none")
    return classification


def _own_changes(classification: Classification) -> set[str]:
    """What the message's own new text changes (scope rule kinds, "reference" for a general
    change word or an order change phrase). "No changes" leaves only the named changes."""
    kinds: set[str] = set()
    nothing = False
    for e in classification.evidence:
        if ".scope." in e.rule_id:
            kind = e.text.split(":", 1)[0].strip()
            nothing = nothing or kind == _NOTHING_CHANGES
            if e.field in _OWN_TEXT and kind != _NOTHING_CHANGES:
                kinds.add(kind)
        elif e.rule_id.endswith(_ORDER_CHANGE_RULE) and e.field in _OWN_TEXT:
            kinds.add("reference")
    return kinds & _ENQUIRY_CHANGES if nothing else kinds


def _holds_order(classification: Classification, context: CaseContext) -> bool:
    """The case holds an order, or a guessed one whose number this message names."""
    return context.order or any(i.kind == "po" and normalise(i.value) in context.ordered
                                for i in classification.identifiers)


def _changes_order(classification: Classification, changes: set[str]) -> bool:
    if classification.category == "order":
        return bool(changes)
    return bool(changes & _CHANGES)


def _changes_quote(classification: Classification, changes: set[str]) -> bool:
    """A named change, or change wording beside a quotation's number."""
    return bool(changes & _ENQUIRY_CHANGES) or (
        bool(changes) and any(i.kind == "quote" for i in classification.identifiers))


def _cites_case_order(classification: Classification, context: CaseContext) -> bool:
    """Called order only for naming an order number the case already holds, and asking."""
    if classification.category != "order":
        return False
    order_rules = {e.rule_id for e in classification.evidence if ".order." in e.rule_id
                   or e.rule_id == _CHANGE_ORDER}
    if not order_rules or not all(r.endswith(_PO_MENTION_RULE) for r in order_rules):
        return False
    pos = [i for i in classification.identifiers if i.kind == "po"]
    asks = any(".enquiry." in e.rule_id for e in classification.evidence)
    return bool(pos) and all(context.holds(i) for i in pos) and asks


def _po(classification: Classification, context: CaseContext) -> str:
    known = [i.value for i in classification.identifiers if i.kind == "po" and context.holds(i)]
    return f" ({known[0]})" if known else ""


def _moved(classification: Classification, category: str, scope_change: bool, rule: str,
           text: str) -> Classification:
    return replace(classification, category=category, scope_change=scope_change,
                   evidence=(*classification.evidence, Evidence(rule, text, "case")))
