"""A purchase order and a change to it, filed by the real pipeline: the case most workflow
tests start from."""

from __future__ import annotations

from gateway.processing.ingest import ingest
from tests.support.mail import make_message, write_messages

ORDER = dict(subject="Purchase order 4500871234", message_id="<po@customer.example>",
             body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump "
                  "housings PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna")
CHANGE = dict(subject="Change to PO 4500871234", message_id="<chg@customer.example>",
              in_reply_to="<po@customer.example>",
              body="Hello,\nplease increase the quantity on PO 4500871234 to 260 pieces, same "
                   "delivery date.\n\nRegards\nAnna")


def file(app, tmp_path, *messages, folder="in"):
    ingest(app, write_messages(tmp_path / folder, [make_message(**m) for m in messages]))
