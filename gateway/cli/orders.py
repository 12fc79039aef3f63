"""``commgate review``, ``commgate order`` and ``commgate property``: the enquiry → order,
scope-change and customer-property workflows from the command line. Each command does its work
in one transaction, records who acted (``--as``) and prints JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.cli._common import (
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    reader_of,
    render_table,
)

if TYPE_CHECKING:
    from gateway.services.base import View


def register(sub: Any) -> None:
    _register_review(sub)
    _register_order(sub)
    _register_property(sub)


def _command(group: Any, name: str, help_text: str, handler: Callable[..., int],
             actor: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    if actor:
        add_actor_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def _register_review(sub: Any) -> None:
    group = sub.add_parser("review", help="requirement checklists and scope-change reviews"
                           ).add_subparsers(dest="review_command", required=True,
                                            metavar="ACTION")
    p = _command(group, "checklist", "record requirement-review checklist items of a case",
                 cmd_review_checklist)
    p.add_argument("ref")
    p.add_argument("--item", action="append", default=[], metavar="ITEM=STATE[:NOTE]",
                   help="scope, requirements, delivery-date, special-handling or "
                        "customer-property = ok, not-ok or n/a (repeat)")
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        p = _command(group, name, f"{verb} a pending review and confirm it to the customer",
                     cmd_review_decide)
        p.add_argument("ref")
        p.add_argument("--review", type=int, metavar="ID",
                       help="which review (default: the case's only pending one)")
        p.add_argument("--note", required=True, help="why: recorded with the decision")
        p.add_argument("--template", metavar="NAME",
                       help="published template of the confirmation (default per review kind)")
        p.add_argument("--no-confirmation", action="store_true",
                       help="send no confirmation (the customer was told another way: say how "
                            "in --note)")
        p.set_defaults(approve=name == "approve")
    p = _command(group, "list", "reviews of all cases", cmd_review_list, actor=False)
    p.add_argument("--pending", action="store_true", help="only those waiting for a decision")
    p.add_argument("--case", metavar="REF", help="only this case's reviews")


def _register_order(sub: Any) -> None:
    group = sub.add_parser("order", help="accept or decline orders; the order record"
                           ).add_subparsers(dest="order_command", required=True,
                                            metavar="ACTION")
    for name in ("accept", "decline"):
        p = _command(group, name, f"{name} the order of a case on one of its messages",
                     cmd_order_decide)
        p.add_argument("ref")
        p.add_argument("--message", required=True, metavar="ID",
                       help="the customer's message: its pk ('order show' lists them) or "
                            "Message-ID")
        p.add_argument("--note", default="", required=name == "decline")
        p.set_defaults(accept=name == "accept")
    p = _command(group, "show", "linked enquiries, checklist, reviews and decisions of a case",
                 cmd_order_show, actor=False)
    p.add_argument("ref")
    p = _command(group, "list", "order decisions of all cases, newest first", cmd_order_list,
                 actor=False)
    p.add_argument("--decision", choices=("accepted", "declined"),
                   help="only the accepted or only the declined ones")


def _register_property(sub: Any) -> None:
    group = sub.add_parser("property", help="the customer property register"
                           ).add_subparsers(dest="property_command", required=True,
                                            metavar="ACTION")
    p = _command(group, "add", "register an item of a case's customer", cmd_property_add)
    p.add_argument("ref")
    p.add_argument("--kind", required=True,
                   help="physical-item, tooling, sample, drawing, data or credentials")
    p.add_argument("--description", required=True)
    p.add_argument("--owner", default="", help="whose it is (default: the case's customer)")
    p.add_argument("--identifier", action="append", default=[], metavar="KIND=VALUE",
                   help="serial=..., drawing=... (repeat)")
    p.add_argument("--handling", default="", help="handling instructions")
    p.add_argument("--attachment", metavar="SHA256",
                   help="a drawing/data file the customer sent: its attachment sha256")
    p.add_argument("--condition", default="")
    p.add_argument("--location", default="")
    p = _command(group, "confirm", "confirm an item proposed from a property notice",
                 cmd_property_confirm)
    p.add_argument("id", type=int)
    p.add_argument("--kind")
    p.add_argument("--description")
    p.add_argument("--handling")
    p.add_argument("--note", default="")
    p = _command(group, "receive", "record that an announced item arrived", cmd_property_receive)
    p.add_argument("id", type=int)
    p.add_argument("--condition", required=True, help="condition on receipt")
    p.add_argument("--location", required=True, help="where it is kept")
    p.add_argument("--handling", help="handling instructions")
    p.add_argument("--note", default="")
    p = _command(group, "status", "move an item along its chain of custody",
                 cmd_property_status)
    p.add_argument("id", type=int)
    p.add_argument("status", help="received, in-use, returned, destroyed, lost-damaged or "
                                  "dismissed (a proposal only)")
    p.add_argument("--note", default="")
    p.add_argument("--location", help="where it is now")
    p.add_argument("--destination", default="", help="returned: where it was sent (required "
                   "with returned; becomes its place)")
    p.add_argument("--shipping-ref", default="", metavar="REF",
                   help="returned: the shipment's reference (carrier and tracking number)")
    p = _command(group, "move", "record a new storage place", cmd_property_move)
    p.add_argument("id", type=int)
    p.add_argument("--location", required=True)
    p.add_argument("--note", default="")
    p = _command(group, "list", "the register", cmd_property_list, actor=False)
    p.add_argument("--customer", help="only this owner (an address or a domain)")
    p.add_argument("--all", action="store_true", help="include dismissed proposals")
    p = _command(group, "show", "one item with its chain of custody", cmd_property_show,
                 actor=False)
    p.add_argument("id", type=int)


# -- running ----------------------------------------------------------------------------------

def _print(args: argparse.Namespace, value: Any, text: str) -> int:
    if args.json:
        emit_json(value)
    else:
        print(text)
    return EXIT_OK


# -- review -----------------------------------------------------------------------------------

def cmd_review_checklist(args: argparse.Namespace) -> int:
    from gateway.services.orders import set_checklist

    with opened_app(args) as app:
        result = set_checklist(app, actor=actor_of(args), ref=args.ref,
                               items=args.item)
    lines = [f"{name:<18} {v['state'] if v else '-':<7} {v['note'] if v else ''}"
             for name, v in result.checklist.items()]
    lines.append("complete" if not result.gaps else "incomplete: " + "; ".join(result.gaps))
    return _print(args, result.to_json(), "\n".join(lines))


def cmd_review_decide(args: argparse.Namespace) -> int:
    from gateway.services.orders import decide_review

    with opened_app(args) as app:
        review = decide_review(app, actor=actor_of(args), ref=args.ref,
                               approve=args.approve, note=args.note, review_id=args.review,
                               template=args.template, confirm=not args.no_confirmation)
    sent = (f"; confirmation {review.confirmation_message_id} queued"
            if review.confirmation_message_id else "; no confirmation sent")
    return _print(args, review.to_json(),
                  f"review {review.id} on {review.case} {review.status}{sent}")


REVIEW_COLUMNS = [("id", "ID", 5), ("case", "CASE", 12), ("kind", "KIND", 17),
                  ("status", "STATUS", 8), ("decided_by", "BY", 16),
                  ("confirmed_by_message_pk", "CONFIRMED", 9), ("summary", "SUMMARY", 60)]


def cmd_review_list(args: argparse.Namespace) -> int:
    from gateway.services.orders import list_reviews

    with opened_app(args) as app:
        rows = list_reviews(app, actor=reader_of(args), pending_only=args.pending,
                            case=args.case).to_json()
    return _print(args, rows, f"{render_table(rows, REVIEW_COLUMNS)}\n{len(rows)} reviews")


# -- order ------------------------------------------------------------------------------------

def cmd_order_decide(args: argparse.Namespace) -> int:
    from gateway.services.orders import decide_order

    with opened_app(args) as app:
        view = decide_order(app, actor=actor_of(args), ref=args.ref,
                            message=args.message, accept=args.accept, note=args.note).to_json()
    return _print(args, view, f"order {view['ref']} {view['decision']} by {view['actor']} on "
                              f"message {view['message']['pk']} ({view['message']['subject']})")


ORDER_COLUMNS = [("id", "ID", 5), ("case", "CASE", 12), ("decision", "DECISION", 9),
                 ("actor", "BY", 16), ("at", "AT", 20), ("note", "NOTE", 50)]


def cmd_order_list(args: argparse.Namespace) -> int:
    from gateway.services.orders import list_orders

    with opened_app(args) as app:
        rows = list_orders(app, actor=reader_of(args), decision=args.decision).to_json()
    return _print(args, rows, f"{render_table(rows, ORDER_COLUMNS)}\n{len(rows)} decisions")


def cmd_order_show(args: argparse.Namespace) -> int:
    from gateway.services.orders import order_record

    with opened_app(args) as app:
        record = order_record(app, actor=reader_of(args), ref=args.ref).to_json()
    if args.json:
        emit_json(record)
        return EXIT_OK
    linked = ", ".join(f"{c['ref']} ({c['category']})" for c in record["linked"]) or "none"
    print(f"{record['ref']}  {record['category']}  {record['status']}"
          f"{'  REVIEW REQUIRED' if record['review_required'] else ''}\n"
          f"subject:  {record['subject']}\ncustomer: {record['customer']}\nlinked:   {linked}\n")
    for name, value in record["checklist"].items():
        done = f"{value['state']:<7} {value['by']} {value['at']} {value['note']}" if value else "-"
        print(f"  {name:<18} {done}")
    print()
    for review in record["reviews"]:
        print(f"review {review['id']} {review['kind']} {review['status']}: {review['summary']}")
    for decision in record["decisions"]:
        print(f"{decision['decision']} by {decision['actor']} on {decision['at']}, message "
              f"{decision['message']['pk']}: {decision['note']}")
    print()
    print(render_table(record["messages"], [("pk", "PK", 6), ("date", "DATE", 20),
                                            ("direction", "DIR", 8), ("from", "FROM", 30),
                                            ("subject", "SUBJECT", 50)]))
    return EXIT_OK


# -- property ---------------------------------------------------------------------------------

PROPERTY_COLUMNS = [("id", "ID", 5), ("case", "CASE", 12), ("kind", "KIND", 13),
                    ("status", "STATUS", 12), ("proposed", "PROPOSED", 8),
                    ("owner", "OWNER", 28), ("location", "LOCATION", 24),
                    ("description", "DESCRIPTION", 40)]


def _item_line(view: dict[str, Any]) -> str:
    return (f"property item {view['id']} ({view['kind']}, {view['case']}): {view['status']}"
            f"{' (proposed)' if view['proposed'] else ''}"
            f"{', at ' + view['location'] if view['location'] else ''}")


def _print_item(args: argparse.Namespace, item: View) -> int:
    view = item.to_json()
    return _print(args, view, _item_line(view))


def cmd_property_add(args: argparse.Namespace) -> int:
    from gateway.services.property import add_item

    with opened_app(args) as app:
        item = add_item(app, actor=actor_of(args), ref=args.ref, kind=args.kind,
                        description=args.description, owner=args.owner,
                        identifiers=args.identifier, handling=args.handling,
                        attachment=args.attachment, condition=args.condition,
                        location=args.location)
    return _print_item(args, item)


def cmd_property_confirm(args: argparse.Namespace) -> int:
    from gateway.services.property import confirm_item

    with opened_app(args) as app:
        item = confirm_item(app, actor=actor_of(args), item_id=args.id, kind=args.kind,
                            description=args.description, handling=args.handling,
                            note=args.note)
    return _print_item(args, item)


def cmd_property_receive(args: argparse.Namespace) -> int:
    from gateway.services.property import receive_item

    with opened_app(args) as app:
        item = receive_item(app, actor=actor_of(args), item_id=args.id,
                            condition=args.condition, location=args.location,
                            handling=args.handling, note=args.note)
    return _print_item(args, item)


def cmd_property_status(args: argparse.Namespace) -> int:
    from gateway.services.property import set_status

    with opened_app(args) as app:
        item = set_status(app, actor=actor_of(args), item_id=args.id, status=args.status,
                          note=args.note, location=args.location,
                          destination=args.destination, shipping_ref=args.shipping_ref)
    return _print_item(args, item)


def cmd_property_move(args: argparse.Namespace) -> int:
    from gateway.services.property import move_item

    with opened_app(args) as app:
        item = move_item(app, actor=actor_of(args), item_id=args.id,
                         location=args.location, note=args.note)
    return _print_item(args, item)


def cmd_property_list(args: argparse.Namespace) -> int:
    from gateway.services.property import list_items

    with opened_app(args) as app:
        rows = list_items(app, actor=reader_of(args), customer=args.customer,
                          include_dismissed=args.all).to_json()
    return _print(args, rows, f"{render_table(rows, PROPERTY_COLUMNS)}\n{len(rows)} items")


def cmd_property_show(args: argparse.Namespace) -> int:
    from gateway.services.property import show_item

    with opened_app(args) as app:
        view = show_item(app, actor=reader_of(args), item_id=args.id).to_json()
    if args.json:
        emit_json(view)
        return EXIT_OK
    print(_item_line(view))
    for key in ("description", "owner", "identifiers", "received_at", "condition", "handling",
                "sha256", "filename"):
        if view[key]:
            print(f"  {key + ':':<13} {view[key]}")
    for step in view["history"]:
        print(f"  {step['at']}  {step['actor']:<10} {step['action']:<10} "
              f"{step['from'] or '-'} -> {step['to']}  {step['note']}"
              f"  {json.dumps(step['data'], ensure_ascii=False) if step['data'] else ''}")
    return EXIT_OK
