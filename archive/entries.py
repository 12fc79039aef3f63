"""Wire types of the archive: what an intake hands in (Receipt) and what the ledger records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archive.errors import LedgerFormatError

GENESIS_HASH = "0" * 64
# compute_entry_hash's canonical JSON: json.dumps with these arguments builds exactly this
# encoder on every call, which costs about as much as encoding an entry; built once.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# The JSON values in_key_order returns as they are (a subclass takes the general checks).
_SCALARS = frozenset({str, int, float, bool, type(None)})
# "internal": records the archive keeps about itself (access log, tombstones), not mail.
DIRECTIONS = ("inbound", "outbound", "internal")
# receipt: a message's bytes arrived; access: someone searched, viewed, exported or purged
# (the blob is the JSON access record); tombstone: a blob was removed under retention (the
# entry names the removed blob, so the chain, and proofs over it, still verify); events: the
# case events one database transaction added (the blob lists them; the gateway's
# gateway/db/event_ledger.py writes it, docs/ledger-events.md).
KINDS = ("receipt", "access", "tombstone", "events")


@dataclass(frozen=True)
class Receipt:
    """How one message reached us: recorded next to its bytes, never merged into them.

    ``envelope`` holds the transport facts (alias, MAIL FROM, RCPT TO, peer, IMAP mailbox,
    UIDVALIDITY/UID, file name ...) as JSON-serialisable values.
    """

    transport: str
    envelope: Mapping[str, Any] = field(default_factory=dict)
    direction: str = "inbound"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if not self.transport:
            raise ValueError("transport must be named")


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only ledger record; ``entry_hash`` chains it to the entry before it."""

    seq: int
    time: str
    kind: str
    sha256: str
    size: int
    direction: str
    transport: str
    envelope: Mapping[str, Any]
    prev_hash: str
    entry_hash: str

    @property
    def alias(self) -> str:
        return str(self.envelope.get("alias", ""))

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "sha256": self.sha256,
            "size": self.size,
            "direction": self.direction,
            "transport": self.transport,
            "envelope": in_key_order(self.envelope),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return compute_entry_hash(self.hashed_fields())

    def to_line(self) -> bytes:
        """One JSON line, ``seq`` first so a reader can skip entries without parsing them."""
        body = {"seq": self.seq, **self.hashed_fields(), "entry_hash": self.entry_hash}
        return (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> LedgerEntry:
        try:
            data = json.loads(line)
            return cls(
                seq=int(data["seq"]),
                time=str(data["time"]),
                kind=str(data["kind"]),
                sha256=str(data["sha256"]),
                size=int(data["size"]),
                direction=str(data["direction"]),
                transport=str(data["transport"]),
                envelope=dict(data["envelope"]),
                prev_hash=str(data["prev_hash"]),
                entry_hash=str(data["entry_hash"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerFormatError(f"unreadable ledger line: {exc}") from exc


def in_key_order(value: Any) -> Any:
    """``value`` with the keys of every object in it sorted, as canonical JSON orders them.

    Envelopes are written to the ledger this way, so a line's envelope text is already its
    canonical form: ``archive verify`` hashes it as it stands instead of parsing and
    re-encoding it. The JSON value, and so the entry hash, is the same in any key order.
    Most values are plain strings and numbers: they are let through before the ABC checks."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: (item if type(item := value[key]) in _SCALARS else in_key_order(item))
                for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [in_key_order(item) for item in value]
    return value


def compute_entry_hash(fields: Mapping[str, Any]) -> str:
    """sha256 over canonical JSON (sorted keys, no spaces, UTF-8) of the hashed fields."""
    canonical = _CANONICAL.encode(fields)
    return hashlib.sha256(canonical.encode()).hexdigest()
