"""Signed Merkle checkpoints over the ledger, and the proofs an auditor checks against them.

Why: the hash chain shows the ledger is internally coherent, but whoever can write the archive
can rewrite the whole chain. A checkpoint is a tree size and RFC 9162 root signed with an
Ed25519 key kept *outside* the archive; once an auditor holds a checkpoint, any later change to
the first ``tree_size`` entries is detectable, one entry can be proven with ~log2(n) hashes, and
two checkpoints can be proven to describe one append-only history.

Checkpoints are appended to ``ARCHIVE/checkpoints/checkpoints.jsonl`` with the ledger's care:
one line per checkpoint, written with a single ``O_APPEND`` write under ``flock`` and fsynced.
Leaves are the ledger entries' ``entry_hash`` bytes, leaf index = ``seq - 1``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archive import merkle
from archive.blobstore import describe_os_error, fsync_dir
from archive.entries import LedgerEntry
from archive.errors import ArchiveError, ArchiveWriteError, LedgerFormatError
from archive.ledger import utc_now_iso
from archive.verify import Inconsistency

if TYPE_CHECKING:
    from archive.store import Archive

FORMAT = "commgate-checkpoint/v1"
PROOF_FORMAT = "commgate-inclusion/v1"
CONSISTENCY_FORMAT = "commgate-consistency/v1"
_ENTRY_HASH_FIELD = b'"entry_hash":"'

PublicKeyLike = Ed25519PublicKey | Path | str


class CheckpointError(ArchiveError):
    """Raised when a checkpoint cannot be written or read (bad key, rewritten ledger, ...)."""


class KeyLocationError(CheckpointError):
    """Raised when a signing key would live inside the archive it is meant to vouch for."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the first ``tree_size`` ledger entries have Merkle root ``root_hash``."""

    tree_size: int
    root_hash: str  # hex
    time: str  # UTC, ISO 8601 with "Z"
    key_id: str  # hex sha256 of the raw public key: which key to check with
    signature: str  # base64 Ed25519 signature over signed_bytes()

    def signed_bytes(self) -> bytes:
        """What the key signs: a versioned, line-based text, so no JSON canonicalisation."""
        return (f"{FORMAT}\n{self.tree_size}\n{self.root_hash}\n{self.time}\n{self.key_id}\n"
                ).encode()

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def to_line(self) -> bytes:
        return (json.dumps(self.to_json(), separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            cp = cls(tree_size=int(data["tree_size"]), root_hash=str(data["root_hash"]),
                     time=str(data["time"]), key_id=str(data["key_id"]),
                     signature=str(data["signature"]))
            if cp.tree_size < 0 or len(bytes.fromhex(cp.root_hash)) != merkle.HASH_SIZE:
                raise ValueError("bad tree size or root hash")
            return cp
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"unreadable checkpoint: {exc}") from exc

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        """True when ``public_key`` signed exactly these fields."""
        if self.key_id != key_id(public_key):
            return False
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True),
                              self.signed_bytes())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


# --- keys -------------------------------------------------------------------------------------


def public_key_path(private_key_path: Path) -> Path:
    """The public key sits next to the private key: ``KEY`` -> ``KEY.pub``."""
    return Path(f"{private_key_path}.pub")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def archive_root(archive: Archive) -> Path:
    """The archive folder (``Archive.open(root)``), where ``checkpoints/`` lives."""
    root = getattr(archive, "root", None)
    if root is None:
        ledger_root = getattr(archive.ledger, "root", None)
        if ledger_root is None:
            raise CheckpointError("checkpoints need a filesystem archive (no archive root known)")
        root = Path(ledger_root).parent
    return Path(root)


def refuse_key_inside(key_path: Path, root: Path) -> None:
    """A key stored in the archive would let whoever rewrites the archive re-sign it too."""
    key = Path(key_path).resolve()
    if key.is_relative_to(Path(root).resolve()):
        raise KeyLocationError(
            f"signing key {key_path} is inside the archive {root}; keep it outside the archive "
            "(e.g. /etc/commgate/checkpoint.key) so rewriting the archive cannot re-sign it")


def generate_key(path: Path, archive_root_path: Path | None = None) -> Path:
    """Write a new Ed25519 private key (PEM, mode 0600) and ``PATH.pub``; return the latter.

    Never overwrites: losing the old key would orphan every checkpoint it signed.
    """
    path = Path(path)
    if archive_root_path is not None:
        refuse_key_inside(path, archive_root_path)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_path = public_key_path(path)
    for target in (path, pub_path):
        if target.exists():
            raise CheckpointError(f"{target} already exists; refusing to overwrite a key")
    try:
        _write_new(path, private_pem, 0o600)
        _write_new(pub_path, public_pem, 0o644)
        fsync_dir(path.parent)
    except FileExistsError as exc:
        raise CheckpointError(f"{exc.filename} already exists; refusing to overwrite a key"
                              ) from exc
    return pub_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may only narrow the mode; make it exact
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: Path, archive_root_path: Path) -> Ed25519PrivateKey:
    """Load the signing key, refusing one inside the archive or readable by others."""
    path = Path(path)
    refuse_key_inside(path, archive_root_path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise CheckpointError(f"signing key {path} has mode {mode:04o}; run chmod 600 {path}")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise CheckpointError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """A public key object, or a PEM file holding one."""
    if isinstance(key, Ed25519PublicKey):
        return key
    try:
        loaded = serialization.load_pem_public_key(Path(key).read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read public key {key}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CheckpointError(f"{key} is not a PEM public key: {exc}") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise CheckpointError(f"{key} is not an Ed25519 public key")
    return loaded


def sign_checkpoint(private_key: Ed25519PrivateKey, tree_size: int, root: bytes,
                    time: str | None = None) -> Checkpoint:
    """Sign (tree_size, root) now; the low-level step under :func:`write_checkpoint`."""
    kid = key_id(private_key.public_key())
    unsigned = Checkpoint(tree_size, root.hex(), time or utc_now_iso(), kid, "")
    signature = base64.b64encode(private_key.sign(unsigned.signed_bytes())).decode()
    return Checkpoint(tree_size, root.hex(), unsigned.time, kid, signature)


# --- ledger leaves ----------------------------------------------------------------------------


def ledger_leaves(archive: Archive) -> Iterator[bytes]:
    """The ``entry_hash`` bytes of each complete ledger entry in order, without full parsing.

    Raises ``LedgerFormatError`` on a gap in the sequence: a checkpoint must never be taken
    over a damaged ledger."""
    for _seq, leaf, _raw in ledger_lines(archive):
        yield leaf


def ledger_lines(archive: Archive) -> Iterator[tuple[int, bytes, bytes]]:
    """``(seq, entry_hash bytes, raw line)`` of each complete ledger entry, in order.

    Reads the hash from the end of the line (``LedgerEntry.to_line`` writes it last) and falls
    back to a full parse for any line of another shape. Raises ``LedgerFormatError`` on a gap in
    the sequence."""
    expected = 1
    for line in archive.ledger.raw_lines():
        raw = line.raw
        if raw[-1:] != b"\n":
            return  # torn tail: a write no one acknowledged
        leaf = None
        if raw[-81:-67] == _ENTRY_HASH_FIELD and raw[-3:] == b'"}\n' and raw[:7] == b'{"seq":':
            try:
                seq = int(raw[7:raw.index(b",", 7)])
                leaf = binascii.unhexlify(raw[-67:-3])
            except ValueError:  # binascii.Error is a ValueError
                leaf = None
        if leaf is None:
            entry = LedgerEntry.from_line(raw)
            seq = entry.seq
            try:
                leaf = bytes.fromhex(entry.entry_hash)
            except ValueError:
                leaf = b""
            if len(leaf) != merkle.HASH_SIZE:
                raise LedgerFormatError(f"ledger line {line.number}: entry_hash is not 32 bytes")
        if seq != expected:
            raise LedgerFormatError(f"ledger line {line.number}: expected seq {expected}, found "
                                    f"{seq}; run 'commgate archive verify'")
        yield seq, leaf, raw
        expected += 1


# --- the checkpoint log -----------------------------------------------------------------------


def checkpoints_path(archive: Archive) -> Path:
    return archive_root(archive) / "checkpoints" / "checkpoints.jsonl"


def load_checkpoints(archive: Archive) -> list[Checkpoint]:
    """Every checkpoint, oldest first; a torn final line (crash mid-append) is ignored."""
    return [cp for cp, _ in _read_checkpoints(checkpoints_path(archive), strict=True)
            if cp is not None]


def _read_checkpoints(path: Path, strict: bool) -> Iterator[tuple[Checkpoint | None, str]]:
    """(checkpoint, "") per line, or (None, problem) when not ``strict``."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return
            try:
                yield Checkpoint.from_json(json.loads(raw)), ""
            except (ValueError, CheckpointError) as exc:
                problem = f"checkpoints line {number}: {exc}"
                if strict:
                    raise CheckpointError(problem) from exc
                yield None, problem


def write_checkpoint(archive: Archive, key_path: Path, *, only_if_grown: bool = False
                     ) -> Checkpoint:
    """Sign the Merkle root of the whole ledger and append it to the checkpoint log.

    One streaming pass over the ledger (memory O(log n)); the same pass recomputes the root at
    the previous checkpoint's size and refuses to sign if it changed, so this key never vouches
    for a rewritten history. With ``only_if_grown`` an unchanged ledger returns the last
    checkpoint instead of writing a new one (for periodic runs).
    """
    key = load_private_key(Path(key_path), archive_root(archive))
    with checkpoint_log_locked(archive):
        previous = load_checkpoints(archive)
        last = previous[-1] if previous else None
        builder = merkle.TreeBuilder()
        old_root = merkle.EMPTY_ROOT
        for leaf in ledger_leaves(archive):
            builder.append(leaf)
            if last is not None and builder.size == last.tree_size:
                old_root = builder.root()
        if last is not None:
            refuse_unless_extended(last, builder.size, old_root)
            if only_if_grown and builder.size == last.tree_size:
                return last
        checkpoint = sign_checkpoint(key, builder.size, builder.root())
        _append_line(checkpoints_path(archive), checkpoint.to_line())
        return checkpoint


def refuse_unless_extended(last: Checkpoint, size: int, old_root: bytes | None) -> None:
    """Never sign (nor prove against) a ledger of ``size`` entries that does not extend the
    last checkpoint: entries removed, or its first ``last.tree_size`` entries now hashing to
    ``old_root`` instead of the signed root (``old_root`` is not looked at when entries were
    removed)."""
    if size < last.tree_size:
        raise CheckpointError(
            f"the ledger has {size} entries but checkpoint {last.time} covered "
            f"{last.tree_size}: entries were removed; run 'commgate archive verify'")
    if old_root is None or old_root.hex() != last.root_hash:
        raise CheckpointError(
            f"the first {last.tree_size} ledger entries no longer match checkpoint "
            f"{last.time}: history was rewritten; run 'commgate archive verify'")


def proof_json(seq: int, tree_size: int, entry_hash: str, root_hash: str,
               path: list[str]) -> dict[str, Any]:
    """An inclusion proof as evidence packages carry it (hex strings)."""
    return {"format": PROOF_FORMAT, "seq": seq, "leaf_index": seq - 1, "tree_size": tree_size,
            "entry_hash": entry_hash, "root_hash": root_hash, "path": path}


def append_checkpoint(archive: Archive, checkpoint: Checkpoint) -> None:
    """Append an already signed checkpoint (import from another node, tests), fsynced."""
    with checkpoint_log_locked(archive):
        append_locked(archive, checkpoint)


def append_locked(archive: Archive, checkpoint: Checkpoint) -> None:
    """Append ``checkpoint``, fsynced; the caller holds :func:`checkpoint_log_locked`."""
    _append_line(checkpoints_path(archive), checkpoint.to_line())


@contextlib.contextmanager
def checkpoint_log_locked(archive: Archive) -> Iterator[None]:
    """One writer of the checkpoint log at a time, so "the last checkpoint" stays the last
    while a new one is computed and appended."""
    path = checkpoints_path(archive)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(path.parent / "checkpoints.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ArchiveWriteError(describe_os_error(exc, path.parent)) from exc
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock_fd)


def _append_line(path: Path, line: bytes) -> None:
    """One O_APPEND write then fsync (caller holds the lock)."""
    created = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A crash mid-append left a line without its newline; never acknowledged.
                data = os.pread(fd, size, 0)
                os.ftruncate(fd, data.rfind(b"\n") + 1)
                os.fsync(fd)
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)
    except OSError as exc:
        raise ArchiveWriteError(describe_os_error(exc, path.parent)) from exc


# --- verification and proofs ------------------------------------------------------------------


class CheckpointCheck:
    """``verify_checkpoints`` in two halves, so that the Merkle roots can come from a pass over
    the ledger somebody makes anyway: ``archive verify`` feeds the hashed leaves of its own
    walk into ``tree`` instead of reading the ledger a second time.

    Built before the pass: reads the checkpoint log and does the checks that need no leaves.
    Per checkpoint, oldest first: it parses; its signature verifies with ``public_key``; it is
    not smaller than the one before; the ledger still holds that many entries. ``finish``, once
    ``tree`` has its leaves: each checkpoint is consistent with the one before it (an RFC 9162
    consistency proof built from the ledger verifies against both signed roots) and its root
    equals the root of the ledger's first ``tree_size`` entries.
    ``Inconsistency.seq`` is the checkpoint's tree size (0 for an unreadable line).
    """

    def __init__(self, archive: Archive, public_key: PublicKeyLike) -> None:
        self.checkpoints: list[Checkpoint] = []
        self.cheap_problem: Inconsistency | None = None
        lines = list(_read_checkpoints(checkpoints_path(archive), strict=False))
        key = load_public_key(public_key) if lines else None  # no checkpoint, nothing to check
        head = archive.ledger.head()
        ledger_size = head.seq if head else 0
        for cp, problem in lines:
            assert key is not None  # loaded above whenever there is a line
            if cp is None:
                self.cheap_problem = Inconsistency(0, "unreadable-checkpoint", problem)
            elif not cp.signature_valid(key):
                self.cheap_problem = Inconsistency(
                    cp.tree_size, "bad-signature", f"checkpoint {cp.time} (size {cp.tree_size}) "
                    f"is not signed by key {key_id(key)[:16]}")
            elif self.checkpoints and cp.tree_size < self.checkpoints[-1].tree_size:
                self.cheap_problem = Inconsistency(
                    cp.tree_size, "checkpoint-shrank", f"checkpoint {cp.time} has "
                    f"{cp.tree_size} entries, the one before had "
                    f"{self.checkpoints[-1].tree_size}")
            elif cp.tree_size > ledger_size:
                self.cheap_problem = Inconsistency(
                    cp.tree_size, "checkpoint-beyond-ledger", f"checkpoint {cp.time} covers "
                    f"{cp.tree_size} entries, the ledger holds {ledger_size}: entries were "
                    "removed")
            if self.cheap_problem:
                break
            assert cp is not None
            self.checkpoints.append(cp)
        ranges = {(0, cp.tree_size) for cp in self.checkpoints}
        for old, new in itertools.pairwise(self.checkpoints):
            ranges.update(merkle.consistency_ranges(old.tree_size, new.tree_size))
        self.tree = merkle.RangeRoots(ranges)

    def finish(self) -> Inconsistency | None:
        """The first problem, now that ``tree`` holds the ledger's leaves (or None)."""
        try:
            roots = self.tree.roots()
        except ValueError as exc:
            return Inconsistency(0, "unreadable-ledger", f"cannot read the ledger's leaves: {exc}")
        checkpoints = self.checkpoints
        for i, cp in enumerate(checkpoints):
            if i:
                old = checkpoints[i - 1]
                proof = [roots[r] for r in merkle.consistency_ranges(old.tree_size, cp.tree_size)]
                if not merkle.verify_consistency(old.tree_size, cp.tree_size,
                                                 bytes.fromhex(old.root_hash),
                                                 bytes.fromhex(cp.root_hash), proof):
                    return Inconsistency(cp.tree_size, "inconsistent-checkpoints",
                                         f"checkpoint {cp.time} (size {cp.tree_size}) does not "
                                         f"extend checkpoint {old.time} (size {old.tree_size})")
            actual = roots[(0, cp.tree_size)].hex()
            if actual != cp.root_hash:
                return Inconsistency(cp.tree_size, "checkpoint-root-mismatch",
                                     f"the first {cp.tree_size} ledger entries hash to {actual}, "
                                     f"checkpoint {cp.time} signed {cp.root_hash}: an entry at "
                                     f"or before seq {cp.tree_size} was changed")
        return self.cheap_problem


def verify_checkpoints(archive: Archive, public_key: PublicKeyLike) -> Inconsistency | None:
    """The first problem with the checkpoint log against the ledger, or None (the checks of
    :class:`CheckpointCheck`; all roots and proofs come from one streaming pass over the
    ledger)."""
    check = CheckpointCheck(archive, public_key)
    tree = check.tree
    try:
        if tree.needed:
            for leaf in ledger_leaves(archive):
                tree.append(leaf)
                if tree.size == tree.needed:
                    break
    except (LedgerFormatError, ValueError) as exc:
        return Inconsistency(0, "unreadable-ledger", f"cannot read the ledger's leaves: {exc}")
    return check.finish()


def inclusion_proof(archive: Archive, seq: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """A JSON-ready proof that ledger entry ``seq`` is in ``checkpoint`` (~log2(n) hashes).

    Refuses when the ledger no longer matches the checkpoint, so no useless proof ships.
    """
    size = checkpoint.tree_size
    if not 1 <= seq <= size:
        raise CheckpointError(f"seq {seq} is not covered by checkpoint {checkpoint.time} "
                              f"(entries 1..{size})")
    index = seq - 1
    path_ranges = merkle.inclusion_ranges(index, size)
    seen: list[bytes] = []

    def leaves() -> Iterator[bytes]:
        for i, leaf in enumerate(ledger_leaves(archive)):
            if i == index:
                seen.append(leaf)
            yield leaf

    roots = merkle.range_roots(leaves(), [*path_ranges, (0, size)])
    if roots[(0, size)].hex() != checkpoint.root_hash:
        raise CheckpointError(f"the ledger no longer matches checkpoint {checkpoint.time}; "
                              "run 'commgate archive verify'")
    return proof_json(seq, size, seen[0].hex(), checkpoint.root_hash,
                      [roots[r].hex() for r in path_ranges])


def inclusion_problem(entry_hash: str, proof: Mapping[str, Any], checkpoint: Checkpoint,
                      public_key: PublicKeyLike) -> str | None:
    """Why ``proof`` does not show ``entry_hash`` in the signed ``checkpoint``, or None."""
    key = load_public_key(public_key)
    if not checkpoint.signature_valid(key):
        return "the checkpoint's signature does not verify"
    try:
        if proof.get("format") != PROOF_FORMAT:
            return f"unknown proof format {proof.get('format')!r}"
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(h)) for h in proof["path"]]
        leaf = bytes.fromhex(entry_hash)
    except (KeyError, TypeError, ValueError) as exc:
        return f"malformed proof: {exc}"
    if size != checkpoint.tree_size:
        return (f"the proof is for a tree of {size} entries, "
                f"the checkpoint has {checkpoint.tree_size}")
    if proof.get("root_hash", checkpoint.root_hash) != checkpoint.root_hash:
        return "the proof names another root than the checkpoint"
    if proof.get("entry_hash", entry_hash) != entry_hash:
        return "the proof is for another entry"
    if int(proof.get("seq", index + 1)) != index + 1:
        return "the proof's seq and leaf_index disagree"
    if not merkle.verify_inclusion(leaf, index, size, path, bytes.fromhex(checkpoint.root_hash)):
        return "the audit path does not lead to the checkpoint's root"
    return None


def verify_inclusion(entry_hash: str, proof: Mapping[str, Any], checkpoint: Checkpoint,
                     public_key: PublicKeyLike) -> bool:
    """True when the signed ``checkpoint`` provably contains the entry ``entry_hash``."""
    return inclusion_problem(entry_hash, proof, checkpoint, public_key) is None


def consistency_proof(archive: Archive, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
    """A JSON-ready proof, built from the current ledger, that ``new`` extends ``old``.

    Built, not judged: if the ledger was rewritten the proof simply fails to verify.
    """
    ranges = merkle.consistency_ranges(old.tree_size, new.tree_size)
    roots = merkle.range_roots(ledger_leaves(archive), ranges)
    return {
        "format": CONSISTENCY_FORMAT,
        "first_size": old.tree_size,
        "second_size": new.tree_size,
        "path": [roots[r].hex() for r in ranges],
    }


def verify_consistency(proof: Mapping[str, Any], old: Checkpoint, new: Checkpoint,
                       public_key: PublicKeyLike) -> bool:
    """True when both checkpoints are signed and ``new`` provably only appended to ``old``."""
    key = load_public_key(public_key)
    if not (old.signature_valid(key) and new.signature_valid(key)):
        return False
    try:
        if (proof.get("format") != CONSISTENCY_FORMAT
                or int(proof["first_size"]) != old.tree_size
                or int(proof["second_size"]) != new.tree_size):
            return False
        path = [bytes.fromhex(str(h)) for h in proof["path"]]
    except (KeyError, TypeError, ValueError):
        return False
    return merkle.verify_consistency(old.tree_size, new.tree_size, bytes.fromhex(old.root_hash),
                                     bytes.fromhex(new.root_hash), path)
