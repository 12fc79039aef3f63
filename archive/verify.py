"""Recompute every hash of the archive and name the first inconsistency precisely."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archive import merkle, parallel
from archive.blobstore import BlobStore, FilesystemBlobStore
from archive.entries import GENESIS_HASH, LedgerEntry
from archive.errors import BlobNotFoundError, LedgerFormatError
from archive.ledger import FileLedger, Ledger


@dataclass(frozen=True)
class Inconsistency:
    """The first thing found wrong: the sequence number it concerns and what is wrong."""

    seq: int
    problem: str  # machine-readable: missing-blob, altered-blob, altered-entry, ...
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}: {self.detail}"


@dataclass
class SeqRanges:
    """Sequence numbers met in ascending order, as ``[first, last]`` ranges: every one is
    counted, the first ``limit`` ranges are listed (millions of scattered seqs cost no
    memory)."""

    limit: int = 1000
    ranges: list[list[int]] = field(default_factory=list)
    count: int = 0
    unlisted: int = 0  # seqs in ranges past the limit
    _last: int = -2
    _listing: bool = False

    def add(self, seq: int) -> None:
        self.add_range(seq, seq)

    def add_range(self, first: int, last: int) -> None:
        """``first..last``, all after the seqs added before."""
        self.count += last - first + 1
        if first == self._last + 1:
            if self._listing:
                self.ranges[-1][1] = last
            else:
                self.unlisted += last - first + 1
        elif len(self.ranges) < self.limit:
            self.ranges.append([first, last])
            self._listing = True
        else:
            self.unlisted += last - first + 1
            self._listing = False
        self._last = last


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    blobs: int
    head_seq: int
    first_problem: Inconsistency | None
    # The entry hash of the last entry the walk got past (the genesis hash if none).
    head_hash: str = GENESIS_HASH
    # Entries the walk got past that the ``recorded`` copy does not know (none without one).
    unrecorded: SeqRanges = field(default_factory=SeqRanges)

    @property
    def ok(self) -> bool:
        return self.first_problem is None


EntryCheck = Callable[[LedgerEntry], Inconsistency | None]
# An independent copy of the entry hashes: ``recorded(first, last)`` maps each seq in
# ``first..last`` that the copy knows of to the entry_hash it recorded.
RecordedHashes = Callable[[int, int], Mapping[int, str]]


def verify_archive(
    ledger: Ledger,
    blobs: BlobStore,
    progress: Callable[[int], None] | None = None,
    extra_check: EntryCheck | None = None,
    since: int = 0,
    recorded: RecordedHashes | None = None,
    tree: merkle.RangeRoots | None = None,
) -> VerifyReport:
    """Walk the chain from the genesis entry; stop at the first inconsistency.

    Checks, per entry: the line parses, its hash matches its content (edited entry), its
    sequence number follows the previous one (removed or reordered entry), its ``prev_hash``
    names the previous entry (spliced chain), its blob exists and hashes to its name with the
    recorded size (missing or altered blob). Each distinct blob is re-hashed once.
    ``extra_check`` lets a caller compare each entry with an independent record of it.
    ``since`` makes a run incremental where it is expensive: the whole chain is still checked
    (cheap, and the only way to trust entry ``since``), but blobs only from that seq on.
    ``recorded`` is the bulk form of such a check: an entry whose hash differs from the copy
    is a ``rewritten-entry`` (checked where ``extra_check`` would be); entries the copy lacks
    do not stop the walk, they are collected in the report's ``unrecorded``.
    ``tree`` gets the Merkle leaf hash of every entry the walk gets past, in order, so a
    checkpoint check needs no second pass over the ledger (CheckpointCheck).

    A file ledger over a filesystem blob store (the real archive) is checked by
    ``_verify_files``: the same checks, the same first problem, on every core.
    """
    if (extra_check is None and isinstance(ledger, FileLedger)
            and isinstance(blobs, FilesystemBlobStore)):
        return _verify_files(ledger, blobs, progress, since, recorded, tree)
    compared = _RecordedCheck(recorded, extra_check) if recorded is not None else None
    if compared is not None:
        extra_check = compared
    expected_seq, prev_hash = 1, GENESIS_HASH
    checked_blobs: set[str] = set()
    # A blob may be missing only because retention removed it: then a later tombstone entry
    # names it. Missing blobs wait here until their tombstone turns up or the ledger ends.
    awaiting_tombstone: dict[str, Inconsistency] = {}
    entries = 0
    for line in ledger.raw_lines():
        if not line.raw.endswith(b"\n"):
            # A torn tail is a write a crash interrupted before it was acknowledged.
            break
        try:
            entry = LedgerEntry.from_line(line.raw)
        except LedgerFormatError as exc:
            return _report(entries, checked_blobs, expected_seq - 1, Inconsistency(
                expected_seq, "unreadable-entry", f"ledger line {line.number}: {exc}"),
                prev_hash, compared)
        problem = _check_entry(entry, expected_seq, prev_hash, blobs, checked_blobs,
                               check_blob=entry.seq >= since and entry.kind != "tombstone")
        if problem is not None and problem.problem == "missing-blob":
            awaiting_tombstone.setdefault(entry.sha256, problem)
            problem = None
        if problem is None and extra_check is not None:
            problem = extra_check(entry)
        if problem:
            return _report(entries, checked_blobs, expected_seq - 1,
                           _earliest(problem, awaiting_tombstone), prev_hash, compared)
        if entry.kind == "tombstone":
            awaiting_tombstone.pop(entry.sha256, None)
        entries += 1
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
        if tree is not None:
            tree.append(bytes.fromhex(entry.entry_hash))
        if progress:
            progress(entries)
    missing = min(awaiting_tombstone.values(), key=lambda p: p.seq, default=None)
    return _report(entries, checked_blobs, expected_seq - 1, missing, prev_hash, compared)


def _earliest(problem: Inconsistency, missing: dict[str, Inconsistency]) -> Inconsistency:
    return min([problem, *missing.values()], key=lambda p: p.seq)


def _report(entries: int, blobs: set[str], head: int, problem: Inconsistency | None,
            head_hash: str = GENESIS_HASH, compared: _RecordedCheck | None = None
            ) -> VerifyReport:
    return VerifyReport(entries=entries, blobs=len(blobs), head_seq=head, first_problem=problem,
                        head_hash=head_hash,
                        unrecorded=compared.unrecorded if compared is not None else SeqRanges())


def _check_entry(
    entry: LedgerEntry,
    expected_seq: int,
    prev_hash: str,
    blobs: BlobStore,
    checked_blobs: set[str],
    check_blob: bool = True,
) -> Inconsistency | None:
    if entry.computed_hash() != entry.entry_hash:
        return Inconsistency(entry.seq, "altered-entry",
                             "the entry's content does not match its entry_hash")
    if entry.seq != expected_seq:
        kind = "missing-entry" if entry.seq > expected_seq else "reordered-entry"
        return Inconsistency(expected_seq, kind,
                             f"expected seq {expected_seq}, found seq {entry.seq}")
    if entry.prev_hash != prev_hash:
        return Inconsistency(entry.seq, "broken-chain",
                             "prev_hash does not name the previous entry")
    if not check_blob or entry.sha256 in checked_blobs:
        return None
    try:
        actual = blobs.hash_of_stored(entry.sha256)
        size = blobs.size_of(entry.sha256)
    except BlobNotFoundError:
        return Inconsistency(entry.seq, "missing-blob", f"blob {entry.sha256} is missing")
    if actual != entry.sha256:
        return Inconsistency(entry.seq, "altered-blob",
                             f"blob {entry.sha256} now hashes to {actual}")
    if size != entry.size:
        return Inconsistency(entry.seq, "altered-blob",
                             f"blob {entry.sha256} has {size} bytes, the entry says {entry.size}")
    checked_blobs.add(entry.sha256)
    return None


class _RecordedCheck:
    """``recorded`` as a per-entry check, for ledgers and stores without a fast path."""

    def __init__(self, recorded: RecordedHashes, then: EntryCheck | None) -> None:
        self.recorded = recorded
        self.then = then
        self.known: Mapping[int, str] = {}
        self.end = 0
        self.unrecorded = SeqRanges()

    def __call__(self, entry: LedgerEntry) -> Inconsistency | None:
        if entry.seq > self.end:
            self.end = entry.seq + _RECORDED_CHUNK - 1
            self.known = self.recorded(entry.seq, self.end)
        copy = self.known.get(entry.seq)
        if copy is not None and copy != entry.entry_hash:
            return _rewritten(entry.seq)
        problem = self.then(entry) if self.then is not None else None
        if problem is None and copy is None:
            self.unrecorded.add(entry.seq)
        return problem


def _rewritten(seq: int) -> Inconsistency:
    return Inconsistency(seq, "rewritten-entry",
                         "the ledger entry differs from the copy the database recorded")


# -- the file archive on every core ------------------------------------------------------------
#
# The ledger is read in segments (bounded memory however long it is). Each segment is cut into
# chunks of whole lines; a chunk task parses its lines, recomputes each entry hash and re-hashes
# each blob an entry names (parallel.run_tasks spreads the chunks over the cores). What a task
# returns per entry is all the walk below needs to apply the checks one entry after the other,
# in the order verify_archive always has: so the first problem, and its seq, are the same.

_RECORDED_CHUNK = 10_000
_SEGMENT_BYTES = 16 << 20
_CHUNKS_PER_CPU = 16
_MIN_CHUNK_LINES = 16
# Below this many entries a fork costs more than the second core saves.
_PARALLEL_FROM_LINES = 512
_READ_CHUNK = 1 << 18  # per read of a large blob, into one reused buffer per task
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Canonical JSON as archive.entries.compute_entry_hash writes it: json.dumps with these
# arguments builds exactly this encoder on every call; built once here.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_MISSING = "missing"

# Per line, a chunk task returns either (line index in the chunk, why it is unreadable), or
# (seq, kind, sha256, size, prev_hash, entry_hash, hash_ok, blob) where blob is None (not to be
# checked), _MISSING, (hash of the stored file, its size) or the exception reading it raised.
_Line = tuple[Any, ...]


def _verify_files(ledger: FileLedger, blobs: FilesystemBlobStore,
                  progress: Callable[[int], None] | None, since: int,
                  recorded: RecordedHashes | None,
                  tree: merkle.RangeRoots | None) -> VerifyReport:
    walk = _Walk(progress, recorded, tree)
    try:
        fd = os.open(ledger.path, os.O_RDONLY)
    except FileNotFoundError:
        return walk.report(None)
    prefix = f"{blobs.blob_dir}/"
    try:
        offset = 0
        # Entries appended while we verify are verified too (the file is read to its end).
        while (segment := _read_segment(fd, offset)) is not None:
            problem = _verify_segment(walk, segment, since, prefix)
            if problem is not None:
                return walk.report(problem)
            offset += len(segment)
    finally:
        os.close(fd)
    return walk.report(min(walk.awaiting.values(), key=lambda p: p.seq, default=None))


def _read_segment(fd: int, offset: int) -> bytes | None:
    """Whole lines from ``offset`` on, about _SEGMENT_BYTES of them; None at the end.

    A final line without its newline is a torn write a crash left (never acknowledged): it is
    not an entry, and the walk ends before it, as it always has."""
    want = _SEGMENT_BYTES
    while True:
        data = os.pread(fd, want, offset)
        cut = data.rfind(b"\n") + 1
        if cut:
            return data[:cut] if cut < len(data) else data
        if len(data) < want:
            return None
        want *= 2  # one line longer than a segment


def _verify_segment(walk: _Walk, data: bytes, since: int, prefix: str) -> Inconsistency | None:
    lines = data.count(b"\n")
    helpers = parallel.idle_helpers() if lines >= _PARALLEL_FROM_LINES else 0
    chunks = 1
    if helpers:
        chunks = max(1, min(parallel.MAX_TASKS, lines // _MIN_CHUNK_LINES,
                            (helpers + 1) * _CHUNKS_PER_CPU))
    bounds = [0]
    step = len(data) // chunks
    for n in range(1, chunks):
        cut = data.find(b"\n", max(n * step, bounds[-1])) + 1
        if 0 < cut < len(data):
            bounds.append(cut)
    bounds.append(len(data))

    capture = walk.tree.capture_sorted if walk.tree is not None else None

    def task(n: int) -> tuple[list[_Line], _Pieces | None]:
        lines = _check_lines(data, bounds[n], bounds[n + 1], since, prefix)
        return lines, _merkle_pieces(lines, capture) if capture is not None else None

    first_seq = walk.expected_seq
    found: list[Inconsistency] = []
    line_base = 0

    def in_order(n: int, result: tuple[list[_Line], _Pieces | None]) -> None:
        # Called in chunk order while helpers still work on later chunks.
        nonlocal line_base
        if found:
            return  # the walk stopped at an earlier chunk
        chunk, pieces = result
        problem = walk.feed(chunk, line_base)
        if problem is not None:
            found.append(problem)
            return
        walk.add_to_tree(chunk, pieces)
        line_base += data.count(b"\n", bounds[n], bounds[n + 1])

    parallel.run_tasks(len(bounds) - 1, task, helpers,
                       meanwhile=lambda: walk.load_recorded(first_seq, lines),
                       in_order=in_order)
    return found[0] if found else None


# The Merkle subtrees covering a chunk's entries, and the nodes inside them a checkpoint check
# wants (merkle.subtree_pieces), hashed by the task that checked the chunk.
_Pieces = tuple[list[tuple[int, bytes]], dict[tuple[int, int], bytes]]


def _merkle_pieces(lines: list[_Line], capture: list[tuple[int, int]]) -> _Pieces | None:
    """The chunk's entries as Merkle leaves (leaf index = seq - 1), or None when they do not
    follow one another intact (then the walk stops in this chunk anyway)."""
    if not lines or len(lines[-1]) == 2 or not lines[-1][6]:
        return None if lines else ([], {})
    first = lines[0][0]
    if lines[-1][0] != first + len(lines) - 1:
        return None
    leaves = [merkle.leaf_hash(bytes.fromhex(line[5])) for line in lines]
    return merkle.subtree_pieces(first - 1, leaves, capture)


def _check_lines(data: bytes, start: int, end: int, since: int, prefix: str) -> list[_Line]:
    """Parse the lines in ``data[start:end]``, recompute their entry hashes, hash their blobs.

    Stops after a line that ends the walk whatever came before it (unreadable, or altered)."""
    out: list[_Line] = []
    blob_states: dict[str, Any] = {}
    chunk = data[start:end]
    try:
        # What json.loads does to each line that starts with '{"' (UTF-8, surrogatepass).
        lines: list[Any] = chunk.decode("utf-8", "surrogatepass").split("\n")
    except UnicodeDecodeError:
        lines = chunk.split(b"\n")
    plain_line = _PLAIN_LINE.fullmatch if _FAST else None
    buffer = memoryview(bytearray(_READ_CHUNK))
    for index in range(len(lines) - 1):  # the chunk ends with a newline: last item is empty
        line = lines[index]
        plain = (plain_line(line) if plain_line is not None and type(line) is str
                 and line.startswith('{"') else None)
        parsed = _parse_plain(plain) if plain is not None else None
        if parsed is None:
            general = _parse(line)
            if isinstance(general, str):  # unreadable: what LedgerEntry.from_line says about it
                out.append((index, general))
                break
            parsed = general
        seq, kind, sha, size, prev, entry_hash, computed = parsed
        hash_ok = computed == entry_hash
        blob = None
        if hash_ok and seq >= since and kind != "tombstone":
            blob = blob_states.get(sha)
            if blob is None:
                # A plain line's sha256 is hex already (_PLAIN_LINE); as BlobStore.path_of:
                blob = blob_states[sha] = (
                    _blob_state(f"{prefix}{sha[:2]}/{sha}", buffer, size)
                    if plain is not None or _HEX64.fullmatch(sha)
                    else ValueError(f"not a sha256 hex digest: {sha!r}"))
        out.append((seq, kind, sha, size, prev, entry_hash, hash_ok, blob))
        if not hash_ok:
            break
    return out


def _parse_plain(plain: re.Match[str]) -> tuple[Any, ...] | None:
    """A line as FileLedger writes it, every value but the envelope plain (_PLAIN_LINE): those
    values' text is their canonical JSON.

    The envelope is written in canonical key order too (archive.entries.in_key_order), so the
    hashed text is first put together from the line as it stands. If that hashes to the
    recorded entry_hash, the text is exactly what the writer hashed: its other values hold no
    quote or backslash, so only one reading of it fits the line, and the envelope text is the
    writer's canonical JSON (so the line also parses). Otherwise (an envelope written in
    another key order, or an altered line) the envelope is parsed and re-encoded, as before."""
    (seq_text, time, kind, sha, size_text, direction, transport, envelope_text, prev,
     entry_hash) = plain.groups()
    head = f'{{"direction":"{direction}","envelope":'
    tail = (f',"kind":"{kind}","prev_hash":"{prev}","seq":{seq_text},"sha256":"{sha}",'
            f'"size":{size_text},"time":"{time}","transport":"{transport}"}}')
    computed = hashlib.sha256(f"{head}{envelope_text}{tail}".encode()).hexdigest()
    if computed != entry_hash:
        try:
            envelope = _DECODER.decode(envelope_text)
            if type(envelope) is not dict:
                return None
            computed = hashlib.sha256(
                f"{head}{_encode_envelope(envelope)}{tail}".encode()).hexdigest()
        except ValueError:
            return None  # the general path says what is wrong
    return int(seq_text), kind, sha, int(size_text), prev, entry_hash, computed


def _parse(line: str | bytes) -> tuple[Any, ...] | str:
    """(seq, kind, sha256, size, prev_hash, entry_hash, recomputed hash), or why the line is
    unreadable (LedgerEntry.from_line's message)."""
    try:
        if not _FAST or type(line) is not str or not line.startswith('{"'):
            raise TypeError  # not the common shape: the exact path below
        d = _DECODER.decode(line)
        # Exactly the conversions of LedgerEntry.from_line, in its order.
        seq, time, kind, sha = int(d["seq"]), str(d["time"]), str(d["kind"]), str(d["sha256"])
        size, direction, transport = int(d["size"]), str(d["direction"]), str(d["transport"])
        envelope, prev, entry_hash = (dict(d["envelope"]), str(d["prev_hash"]),
                                      str(d["entry_hash"]))
        computed = hashlib.sha256(_canonical(seq, time, kind, sha, size, direction, transport,
                                             envelope, prev).encode()).hexdigest()
    except (ValueError, KeyError, TypeError):
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        try:
            entry = LedgerEntry.from_line(raw + b"\n")  # as read, with its newline
        except LedgerFormatError as exc:
            return str(exc)
        return (entry.seq, entry.kind, entry.sha256, entry.size, entry.prev_hash,
                entry.entry_hash, entry.computed_hash())
    return seq, kind, sha, size, prev, entry_hash, computed


# A line exactly as FileLedger writes it (LedgerEntry.to_line's key order, compact), with every
# value except the envelope plain: numbers without sign or leading zero, strings with nothing
# JSON escapes (no quote, backslash or control character). Such a value's text is what JSON
# decodes it to and what the canonical encoder writes for it; a line that does not match (or
# whose envelope is not an object) takes the general path.
_STR = r'"([^"\\\x00-\x1f]*)"'
_HEX = r'"([0-9a-f]{64})"'  # a plain string too; a blob name needs no further check
_INT = r"(0|[1-9][0-9]*)"
_PLAIN_LINE = re.compile(
    rf'\{{"seq":{_INT},"time":{_STR},"kind":{_STR},"sha256":{_HEX},"size":{_INT},'
    rf'"direction":{_STR},"transport":{_STR},"envelope":(\{{.*\}}),"prev_hash":{_STR},'
    rf'"entry_hash":{_STR}\}}', re.DOTALL)
_DECODER = json.JSONDecoder()
_string = json.encoder.encode_basestring  # how the encoder writes a str (ensure_ascii=False)
# _CANONICAL.encode builds this C encoder on every call, which costs more than encoding a
# small envelope; built once (without the circular-reference check, which data parsed from
# JSON never needs) it writes the same text.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_value = (
    _c_encoder(None, _CANONICAL.default, _string, None, ":", ",", True, False, True)
    if _c_encoder is not None else None)


def _encode_envelope(envelope: dict[str, Any]) -> str:
    if _encode_value is None:
        return _CANONICAL.encode(envelope)
    return "".join(_encode_value(envelope, 0))


def _canonical(seq: int, time: str, kind: str, sha256: str, size: int, direction: str,
               transport: str, envelope: dict[str, Any], prev_hash: str) -> str:
    """compute_entry_hash's canonical JSON of an entry's hashed fields, written out directly:
    keys in sorted order, compact, str and int as the encoder writes them."""
    return (f'{{"direction":{_string(direction)},"envelope":{_encode_envelope(envelope)},'
            f'"kind":{_string(kind)},"prev_hash":{_string(prev_hash)},"seq":{seq!r},'
            f'"sha256":{_string(sha256)},"size":{size!r},"time":{_string(time)},'
            f'"transport":{_string(transport)}}}')


def _canonical_agrees() -> bool:
    """Guard for _canonical: if LedgerEntry's hashed fields ever change, use the slow path."""
    sample = LedgerEntry(7, "2026-01-01T00:00:00.000000Z", "receipt", "a" * 64, 12, "inbound",
                         "smtp", {"rcpt": ["ü@x.example"], "alias": "\"q\"", "n": [1, 2.5]},
                         "b" * 64, "")
    fields = sample.hashed_fields()
    return (set(fields) == {"seq", "time", "kind", "sha256", "size", "direction", "transport",
                            "envelope", "prev_hash"}
            and hashlib.sha256(_canonical(**fields).encode())
            .hexdigest() == sample.computed_hash())


_FAST = _canonical_agrees()


def _blob_state(path: str, buffer: memoryview, recorded_size: int) -> Any:
    """(hash of the stored bytes, their count), _MISSING, or what went wrong reading them.

    Reads to the end into ``buffer`` (reused: no allocation per blob). A read of a regular
    file comes back short only at its end, so one that brings exactly the recorded size with
    room to spare in the buffer needs no further read to find the end; any other count reads
    on until a read returns nothing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return _MISSING
    except OSError as exc:
        return exc
    try:
        digest = hashlib.sha256()
        size = 0
        room = len(buffer)
        while count := os.readv(fd, (buffer,)):
            digest.update(buffer[:count])
            size += count
            if count < room and size == recorded_size:
                break
        return digest.hexdigest(), size
    except OSError as exc:
        return exc
    finally:
        os.close(fd)


class _Walk:
    """The checks of verify_archive, entry after entry, over what the chunk tasks found."""

    def __init__(self, progress: Callable[[int], None] | None,
                 recorded: RecordedHashes | None,
                 tree: merkle.RangeRoots | None = None) -> None:
        self.progress = progress
        self.recorded = recorded
        self.tree = tree
        # None: nothing to compare with (and so nothing is "unrecorded").
        self.known: Mapping[int, str] | None = None if recorded is None else {}
        self.unrecorded = SeqRanges()
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.entries = 0
        self.checked: set[str] = set()
        # Missing blobs wait for a later tombstone naming them (see verify_archive).
        self.awaiting: dict[str, Inconsistency] = {}

    def load_recorded(self, first: int, count: int) -> None:
        # Every entry the walk gets past has the seq it expects: first, first + 1, ...
        if self.recorded is not None:
            self.known = self.recorded(first, first + count - 1)

    def report(self, problem: Inconsistency | None) -> VerifyReport:
        return VerifyReport(entries=self.entries, blobs=len(self.checked),
                            head_seq=self.expected_seq - 1, first_problem=problem,
                            head_hash=self.prev_hash, unrecorded=self.unrecorded)

    def feed(self, lines: list[_Line], line_base: int) -> Inconsistency | None:
        checked, awaiting, known, progress = (self.checked, self.awaiting, self.known,
                                              self.progress)
        expected, prev_hash, entries = self.expected_seq, self.prev_hash, self.entries
        problem: Inconsistency | None = None
        try:
            for line in lines:
                if len(line) == 2:
                    index, why = line
                    return Inconsistency(expected, "unreadable-entry",
                                         f"ledger line {line_base + index + 1}: {why}")
                seq, kind, sha, size, prev, entry_hash, hash_ok, blob = line
                if not hash_ok:
                    problem = Inconsistency(seq, "altered-entry",
                                            "the entry's content does not match its entry_hash")
                elif seq != expected:
                    problem = Inconsistency(expected, "missing-entry" if seq > expected
                                            else "reordered-entry",
                                            f"expected seq {expected}, found seq {seq}")
                elif prev != prev_hash:
                    problem = Inconsistency(seq, "broken-chain",
                                            "prev_hash does not name the previous entry")
                elif blob is not None and sha not in checked:
                    if isinstance(blob, str):  # _MISSING
                        awaiting.setdefault(sha, Inconsistency(seq, "missing-blob",
                                                               f"blob {sha} is missing"))
                    elif isinstance(blob, BaseException):
                        raise blob
                    elif blob[0] != sha:
                        problem = Inconsistency(seq, "altered-blob",
                                                f"blob {sha} now hashes to {blob[0]}")
                    elif blob[1] != size:
                        problem = Inconsistency(seq, "altered-blob",
                                                f"blob {sha} has {blob[1]} bytes, the entry "
                                                f"says {size}")
                    else:
                        checked.add(sha)
                if problem is None and known is not None:
                    copy = known.get(seq)
                    if copy is None:
                        self.unrecorded.add(seq)
                    elif copy != entry_hash:
                        problem = _rewritten(seq)
                if problem is not None:
                    return _earliest(problem, awaiting)
                if kind == "tombstone":
                    awaiting.pop(sha, None)
                entries += 1
                expected, prev_hash = seq + 1, entry_hash
                if progress:
                    progress(entries)
            return None
        finally:
            self.expected_seq, self.prev_hash, self.entries = expected, prev_hash, entries

    def add_to_tree(self, lines: list[_Line], pieces: _Pieces | None) -> None:
        """A chunk the walk got through whole: its subtrees into the checkpoint tree (or, had
        its task no pieces for it, its entries' leaves one by one)."""
        tree = self.tree
        if tree is None:
            return
        if pieces is None:
            tree.extend_hashes([merkle.leaf_hash(bytes.fromhex(line[5])) for line in lines])
            return
        for height, node in pieces[0]:
            tree.append_subtree(node, height)
        tree.add_captured(pieces[1])
