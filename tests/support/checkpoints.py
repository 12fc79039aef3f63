"""Ledgers for the checkpoint tests: entries without blobs, a forger who re-chains history,
and where a signing key's public half lives."""

from __future__ import annotations

from pathlib import Path

from archive import Archive, Receipt
from archive import checkpoints as cps
from archive.entries import GENESIS_HASH, LedgerEntry, compute_entry_hash
from archive.ledger import NewEntry


def add_entries(archive: Archive, count: int, start: int = 0) -> None:
    """Ledger entries without blobs: checkpoints only look at the ledger."""
    archive.ledger.append_many([
        NewEntry(sha256=f"{start + i:064x}", size=i,
                 receipt=Receipt("file", {"alias": "sales@example.com", "n": start + i}))
        for i in range(count)])


def rewrite_entry(archive: Archive, seq: int) -> None:
    """A competent forger: edit one entry and re-chain everything after it, so the chain
    still verifies and only an earlier signed checkpoint can tell."""
    path = archive.ledger.path
    entries = [LedgerEntry.from_line(line) for line in path.read_bytes().splitlines(True)]
    out, prev = [], GENESIS_HASH
    for e in entries:
        fields = e.hashed_fields()
        fields["prev_hash"] = prev
        if e.seq == seq:
            fields["envelope"] = {**fields["envelope"], "alias": "forged@example.com"}
        prev = compute_entry_hash(fields)
        out.append(LedgerEntry(**fields, entry_hash=prev).to_line())
    path.write_bytes(b"".join(out))


def pub(key: Path) -> Path:
    return cps.public_key_path(key)


def configure_checkpoint_key(home: Path, folder: Path) -> Path:
    """A new signing key in ``folder`` named as the home's ``archive.checkpoint_key`` (open
    the installation afterwards); the key's path."""
    from archive import generate_key

    key = folder / "checkpoint.key"
    folder.mkdir(parents=True)
    generate_key(key)
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"', 1))
    return key
