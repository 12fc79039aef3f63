"""Check an evidence package offline: no archive, no database, only the zip and a public key.

Why: the auditor does not trust the operator. Everything they need is in the package, and the
trust comes from the Ed25519 key they got out of band (``--public-key``): the signed checkpoint
vouches for a Merkle root, each inclusion proof ties one ledger entry to that root, each entry's
hash is recomputed from its fields, and each entry's sha256 names the exact bytes of one
``.eml``. ``SHA256SUMS`` and the manifest's file list cover every other file, so an added,
removed or altered file is reported too.

This module imports nothing from the gateway's database side (it must run on an auditor's
laptop); only the archive's pure hashing code and ``cryptography``.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive import merkle
from archive.checkpoints import PROOF_FORMAT, Checkpoint, CheckpointError, key_id
from archive.entries import compute_entry_hash

FORMAT = "commgate-evidence/v1"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
REPORT = "index.html"
EXPORT_RECORD = "export-record.json"
MESSAGES_DIR = "messages/"
ENTRY_FIELDS = ("seq", "time", "kind", "sha256", "size", "direction", "transport", "envelope",
                "prev_hash")
PACKAGE = "(package)"
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_CHUNK = 1 << 20


def message_path(seq: int, sha256: str) -> str:
    """Where a message's bytes sit in the package: never a name taken from the mail."""
    return f"{MESSAGES_DIR}{int(seq):09d}-{sha256}.eml"


@dataclass(frozen=True)
class Problem:
    file: str
    problem: str


@dataclass
class VerifyResult:
    """``status`` is "verified" (signed and intact), "unsigned" (intact, but no signature an
    auditor could check) or "failed" (see ``problems``: the first problem of each file)."""

    path: str
    status: str = "failed"
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    messages: int = 0
    purged: int = 0
    checkpoint: dict[str, Any] | None = None
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "ok": self.ok, "files": self.files,
                "messages": self.messages, "purged": self.purged,
                "checkpoint": self.checkpoint, "key_id": self.key_id,
                "problems": [{"file": p.file, "problem": p.problem} for p in self.problems]}


class _Problems:
    """The first problem per file, in the order found."""

    def __init__(self) -> None:
        self.by_file: dict[str, str] = {}

    def add(self, file: str, problem: str) -> None:
        self.by_file.setdefault(file, problem)

    def as_list(self) -> list[Problem]:
        return [Problem(f, p) for f, p in self.by_file.items()]


def verify_package(path: Path | str, public_key: Path | str | bytes | None = None
                   ) -> VerifyResult:
    """Re-check a package; ``public_key`` (a PEM file or PEM bytes) pins the signing key."""
    result = VerifyResult(path=str(path))
    problems = _Problems()
    pinned: Ed25519PublicKey | None = None
    if public_key is not None:
        try:
            pem = public_key if isinstance(public_key, bytes) else Path(public_key).read_bytes()
            pinned = _load_key(pem)
        except (OSError, ValueError) as exc:
            problems.add("--public-key", f"cannot use the pinned public key: {exc}")
            result.problems = problems.as_list()
            return result
    try:
        with zipfile.ZipFile(path) as package:
            _verify_open(package, pinned, problems, result)
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        problems.add(PACKAGE, f"not a readable zip file: {exc}")
    result.problems = problems.as_list()
    if result.problems:
        result.status = "failed"
    return result


def _verify_open(package: zipfile.ZipFile, pinned: Ed25519PublicKey | None,
                 problems: _Problems, result: VerifyResult) -> None:
    actual = _hash_members(package, problems)
    result.files = len(actual)
    sums = _read_sums(package, actual, problems)
    for name, digest in actual.items():
        if name == SUMS or sums is None:
            continue
        if name not in sums:
            problems.add(name, "not listed in SHA256SUMS: a file was added to the package")
        elif sums[name] != digest:
            problems.add(name, f"sha256 {digest} differs from SHA256SUMS ({sums[name]}): the "
                               "file was altered")
    for name in (sums or {}):
        if name not in actual:
            problems.add(name, "listed in SHA256SUMS but missing from the package")
    manifest = _read_manifest(package, actual, problems)
    if manifest is None:
        return
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        problems.add(MANIFEST, "has no file list")
        listed = {}
    for name, digest in actual.items():
        if name in (SUMS, MANIFEST):
            continue
        if name not in listed:
            problems.add(name, "not listed in the manifest: a file was added to the package")
        elif listed[name] != digest:
            problems.add(name, f"sha256 {digest} differs from the manifest ({listed[name]})")
    for name in listed:
        if name not in actual:
            problems.add(name, "listed in the manifest but missing from the package")
    head = _tree_head(manifest, pinned, problems, result)
    _verify_messages(manifest, actual, head, problems, result)
    record = manifest.get("export_record")
    if isinstance(record, dict):
        problem = _entry_problem(record.get("entry"), record.get("proof"), head, kind="access")
        sha = (record.get("entry") or {}).get("sha256") if isinstance(record.get("entry"),
                                                                       dict) else None
        if problem is None and actual.get(EXPORT_RECORD) != sha:
            problem = "its sha256 differs from the ledger entry that recorded this export"
        if problem is None:
            problem = _record_mismatch(package, manifest)
        if problem:
            problems.add(EXPORT_RECORD, problem)
    else:
        problems.add(MANIFEST, "does not name the access-log entry that recorded this export")
    if not problems.by_file:
        result.status = "verified" if result.checkpoint else "unsigned"


def _record_mismatch(package: zipfile.ZipFile, manifest: Mapping[str, Any]) -> str | None:
    """The logged record says how many messages and which cases were exported: a package
    with a message (or case) taken out of both the zip and the manifest disagrees with it."""
    try:
        detail = json.loads(package.read(EXPORT_RECORD))["detail"]
        messages, cases = int(detail["messages"]), list(detail["cases"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"unreadable export record: {exc}"
    listed = manifest.get("messages") or []
    refs = [c.get("ref") for c in manifest.get("cases") or [] if isinstance(c, dict)]
    if messages != len(listed):
        return (f"the logged export had {messages} message(s), the manifest lists "
                f"{len(listed)}: messages were removed or added")
    if cases != refs:
        return f"the logged export had cases {cases}, the manifest lists {refs}"
    return None


def _hash_members(package: zipfile.ZipFile, problems: _Problems) -> dict[str, str]:
    """sha256 of every member; unsafe or duplicate names are problems, not files."""
    actual: dict[str, str] = {}
    for info in package.infolist():
        name = info.filename
        if (name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/")
                or info.is_dir()):
            problems.add(name, "unsafe or unexpected entry name in the zip")
            continue
        if name in actual:
            problems.add(name, "appears twice in the zip (a second copy was added)")
            continue
        digest = hashlib.sha256()
        try:
            with package.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:  # CRC errors among them
            problems.add(name, f"cannot be read from the zip: {exc}")
            continue
        actual[name] = digest.hexdigest()
    return actual


def _read_sums(package: zipfile.ZipFile, actual: Mapping[str, str], problems: _Problems
               ) -> dict[str, str] | None:
    if SUMS not in actual:
        problems.add(SUMS, "missing from the package")
        return None
    sums: dict[str, str] = {}
    for number, line in enumerate(package.read(SUMS).decode("utf-8", "replace").splitlines(),
                                  start=1):
        match = _SUM_LINE.match(line)
        if not match:
            problems.add(SUMS, f"line {number} is not '<sha256>  <file>'")
            continue
        sums[match.group(2)] = match.group(1)
    return sums


def _read_manifest(package: zipfile.ZipFile, actual: Mapping[str, str], problems: _Problems
                   ) -> dict[str, Any] | None:
    if MANIFEST not in actual:
        problems.add(MANIFEST, "missing from the package")
        return None
    try:
        manifest = json.loads(package.read(MANIFEST))
    except ValueError as exc:
        problems.add(MANIFEST, f"is not valid JSON: {exc}")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        problems.add(MANIFEST, f"is not a {FORMAT} manifest")
        return None
    return manifest


@dataclass(frozen=True)
class _Head:
    tree_size: int
    root_hash: str


def _tree_head(manifest: Mapping[str, Any], pinned: Ed25519PublicKey | None,
               problems: _Problems, result: VerifyResult) -> _Head | None:
    """The Merkle root the proofs must lead to: the signed checkpoint's, checked against the
    embedded key and the pinned one; or, in an unsigned package, its stated tree head."""
    raw = manifest.get("checkpoint")
    if raw is None:
        if pinned is not None:
            problems.add(MANIFEST, "the package is unsigned (no checkpoint), but a public key "
                                   "was pinned: it cannot be checked against that key")
        head = manifest.get("tree_head") or {}
        try:
            return _Head(int(head["tree_size"]), str(head["root_hash"]))
        except (KeyError, TypeError, ValueError):
            problems.add(MANIFEST, "has neither a checkpoint nor a tree head")
            return None
    try:
        checkpoint = Checkpoint.from_json(raw)
        embedded = _load_key(str((manifest.get("public_key") or {}).get("pem", "")).encode())
    except (CheckpointError, ValueError) as exc:
        problems.add(MANIFEST, f"checkpoint or public key unreadable: {exc}")
        return None
    result.key_id = key_id(embedded)
    if pinned is not None and key_id(pinned) != key_id(embedded):
        problems.add(MANIFEST, f"signed with key {key_id(embedded)[:16]}, not with the pinned "
                               f"key {key_id(pinned)[:16]}")
        return None
    if not checkpoint.signature_valid(pinned or embedded):
        problems.add(MANIFEST, f"the checkpoint's signature does not verify with key "
                               f"{key_id(pinned or embedded)[:16]}")
        return None
    result.checkpoint = checkpoint.to_json()
    return _Head(checkpoint.tree_size, checkpoint.root_hash)


def _verify_messages(manifest: Mapping[str, Any], actual: Mapping[str, str], head: _Head | None,
                     problems: _Problems, result: VerifyResult) -> None:
    messages = manifest.get("messages")
    if not isinstance(messages, list):
        problems.add(MANIFEST, "has no message list")
        return
    expected_files: set[str] = set()
    for item in messages:
        if not isinstance(item, dict):
            problems.add(MANIFEST, "a message entry is not an object")
            continue
        result.messages += 1
        raw_entry = item.get("entry")
        entry: dict[str, Any] = raw_entry if isinstance(raw_entry, dict) else {}
        seq, sha = item.get("seq"), item.get("sha256")
        label = f"{MANIFEST}: message seq {seq}"
        if entry.get("seq") != seq or entry.get("sha256") != sha:
            problems.add(label, "its ledger entry names another seq or sha256")
            continue
        purged = item.get("purged")
        if purged:
            result.purged += 1
            problem = _entry_problem(entry, item.get("proof"), head, kind=None)
            tomb = purged.get("tombstone") if isinstance(purged, dict) else None
            tomb_entry = tomb.get("entry") if isinstance(tomb, dict) else None
            if problem is None:
                problem = _entry_problem(tomb_entry, tomb.get("proof") if tomb else None, head,
                                         kind="tombstone")
                if problem is None and tomb_entry and tomb_entry.get("sha256") != sha:
                    problem = "its tombstone names another blob"
                if problem:
                    problem = f"tombstone: {problem}"
            if problem:
                problems.add(label, problem)
            continue
        name = item.get("file")
        if not isinstance(seq, int) or not isinstance(sha, str) or name != message_path(seq,
                                                                                       sha):
            problems.add(label, "its file name does not follow messages/<seq>-<sha256>.eml")
            continue
        expected_files.add(name)
        if name not in actual:
            problems.add(name, "missing: the message was removed from the package")
            continue
        if actual[name] != sha:
            problems.add(name, f"its bytes hash to {actual[name]}, its ledger entry says "
                               f"{sha}: the message was altered")
            continue
        problem = _entry_problem(entry, item.get("proof"), head, kind=None)
        if problem:
            problems.add(name, problem)
    for name in actual:
        if name.startswith(MESSAGES_DIR) and name not in expected_files:
            problems.add(name, "a message file the manifest does not list")


def _entry_problem(entry: Any, proof: Any, head: _Head | None, kind: str | None) -> str | None:
    """Why this ledger entry is not provably in the tree head, or None."""
    if not isinstance(entry, dict) or set(entry) != {*ENTRY_FIELDS, "entry_hash"}:
        return "its ledger entry is missing or malformed"
    if kind is not None and entry["kind"] != kind:
        return f"its ledger entry is of kind {entry['kind']!r}, expected {kind!r}"
    recomputed = compute_entry_hash({k: entry[k] for k in ENTRY_FIELDS})
    if recomputed != entry["entry_hash"]:
        return (f"ledger entry seq {entry['seq']} was altered: its fields hash to "
                f"{recomputed[:16]}…, not to its entry_hash {str(entry['entry_hash'])[:16]}…")
    if head is None:
        return "no usable checkpoint to prove the entry against"
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT:
        return "its inclusion proof is missing or of an unknown format"
    try:
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(h)) for h in proof["path"]]
        leaf, root = bytes.fromhex(entry["entry_hash"]), bytes.fromhex(head.root_hash)
    except (KeyError, TypeError, ValueError) as exc:
        return f"malformed inclusion proof: {exc}"
    if size != head.tree_size or proof.get("root_hash") != head.root_hash:
        return "its inclusion proof is for another tree than the checkpoint"
    if index + 1 != entry["seq"] or proof.get("entry_hash") != entry["entry_hash"]:
        return "its inclusion proof is for another entry"
    if not merkle.verify_inclusion(leaf, index, size, path, root):
        return "its inclusion proof does not lead to the checkpoint's root"
    return None


def _load_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
