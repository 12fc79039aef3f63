"""py3langid's model for the supported languages in less memory, with the same decisions.

Two tables make up the model: the byte transitions of its automaton (38,346 distinct rows of
256 next states, 39 MB as 32-bit ints) and the log-probability of each automaton output per
language (float16 in the model file). Both are kept smaller here without changing a single
number the identifier computes:

* Bytes that move every state to the same next state are one column: 197 distinct columns
  of the 256. The text's bytes are mapped to their column by ``bytes.translate`` (in C)
  before the walk, which then visits exactly the states it visited before; 30 MB instead
  of 39 MB.
* The probability columns of the supported languages stay float16, as the model file has
  them; the rows a text reaches are gathered and converted to float32 before the same
  float32 matrix product as before (float16 -> float32 is exact): 2 MB instead of 4 MB.

Read from the cache file (:func:`load_identifier`), the transition table is not copied into
the process: it is a read-only memory map of the file (:func:`_mapped`), so its pages are the
file's, clean and shared by every process that maps it, and only the pages a text's walk
reaches are ever read in (330 messages in 11 languages reach about 2,600 of its 7,400).
Copied, the whole 30 MB were in the fork server's memory and so in every worker's.

Kept apart from ``language.py`` because it imports py3langid and numpy at module level and
subclasses py3langid's identifier; ``language.py`` imports it only when the first message
needs a language.
"""

from __future__ import annotations

import hashlib
import logging
import lzma
import shutil
import struct
import tempfile
import zipfile
from array import array
from collections import Counter
from collections.abc import Collection, Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from classifiers.lemma_cache import CACHE_ENV, cache_dir, replace_file

log = logging.getLogger(__name__)
_ROW = 256  # the model's transition rows: one next state per byte value
_FORMAT = 1  # bump when what build_tables makes changes
# Each cached table's dimensions and numpy dtype kind (f: float, U: str, u/i: integers).
_SHAPES = {"ptc": (2, "f"), "pc": (1, "f"), "classes": (1, "U"), "nextmove": (2, "u"),
           "out_feat": (1, "i"), "rows": (1, "u"), "byte_class": (1, "u")}


class CompactIdentifier(LanguageIdentifier):  # type: ignore[misc]  # py3langid has no types
    """A ``LanguageIdentifier`` whose walk reads one column per class of equivalent bytes
    and whose probability table is float16 (see the module docstring)."""

    __slots__ = ("_byte_classes",)

    def _raw_score(self, text: bytes) -> np.ndarray:
        scores: np.ndarray = super()._raw_score(text.translate(self._byte_classes))
        return scores

    def _sparse_score(self, visits: Counter[int], table: np.ndarray) -> np.ndarray:
        # py3langid's own computation, with the float16 rows converted first, so the product
        # is the float32 one over the same values.
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        scores: np.ndarray = np.log1p(counts) @ table[idx].astype(np.float32) + self.nb_pc
        return scores


def load_identifier(languages: Collection[str]) -> LanguageIdentifier:
    """py3langid's model restricted to ``languages`` (ISO 639-1 codes), in compact tables,
    read from the compact table cache when it holds them (see :func:`cache_file`), else built
    from the model file (:func:`build_tables`) and written to the cache."""
    path = cache_file(languages)
    tables = _read_cache(path) if path is not None else None
    if tables is None:
        tables = build_tables(languages)
        if path is not None and _write_cache(path, tables):
            # read back, so the transition table is the file's mapped pages, not a copy
            tables = _read_cache(path) or tables
    return assemble(tables)


def build_tables(languages: Collection[str]) -> dict[str, np.ndarray]:
    """The compact tables of ``languages`` built from py3langid's model file.

    Keeping only our columns of the probability table (instead of ``set_languages``, which
    keeps the full table too) saves about 25 MB more. The model is read as py3langid's
    ``modelio.load_model`` reads it (an LZMA-compressed ``.npz``, streamed to a temporary
    file), but its two large arrays a block of rows at a time: loaded whole, as py3langid
    does, they and their copies took 100 MB for a moment, the daemon's peak. About 0.6 s of
    CPU, 0.4 of it decompressing 68 MB."""
    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(MODEL_DIR / MODEL_FILE) as src:
            shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.seek(0)
        with zipfile.ZipFile(tmp) as npz:
            classes = _array(npz, "classes").tolist()
            keep = [i for i, code in enumerate(classes) if code in languages]
            ptc = np.concatenate([block[:, keep] for block in _blocks(npz, "ptc")])
            byte_class, firsts = _byte_classes(npz)
            width = len(firsts)
            rows = _array(npz, "nextmove_row")
            table = np.zeros((int(rows.max() + 1), width), dtype=np.uint32)
            first_of = [firsts[c] for c in byte_class]  # each byte -> its class's first byte
            done = 0
            for block in _blocks(npz, "nextmove", _ROW):
                if not np.array_equal(block, block[:, first_of]):
                    raise ValueError(f"{MODEL_FILE}: byte classes do not hold")  # a checksum clash
                table[done : done + len(block)] = block[:, firsts]
                done += len(block)
            return {
                "ptc": ptc,  # float16, as in the model file
                "pc": _array(npz, "pc")[keep].copy(),
                "classes": np.array([classes[i] for i in keep], dtype=np.str_),
                "nextmove": table,
                "out_feat": _array(npz, "out_feat").astype(np.int32),
                "rows": rows.astype(np.uint16),
                "byte_class": np.array(byte_class, dtype=np.uint8),
            }


def assemble(tables: dict[str, np.ndarray]) -> CompactIdentifier:
    """The identifier over ``tables`` (:func:`build_tables`'s, or the cache's)."""
    nextmove = tables["nextmove"]
    width = nextmove.shape[1]
    rows = tables["rows"]
    table: array[int] | memoryview
    if isinstance(nextmove, np.memmap):
        # The walk indexes it like the array below (an int per item, 'I' as the model has
        # it), reading the file's mapped pages; the memoryview keeps the map open.
        table = nextmove.data.cast("B").cast("I")
    else:
        table = array("I")  # the model's own item type, filled from the buffer
        table.frombytes(np.ascontiguousarray(nextmove, dtype=np.uint32).data.cast("B"))
    identifier = CompactIdentifier(
        tables["ptc"],
        tables["pc"],
        tables["classes"].tolist(),
        table,
        array("i", tables["out_feat"].astype(np.int32, copy=False).tobytes()),
        tk_row=array("H", rows.tobytes()),
    )
    identifier._byte_classes = tables["byte_class"].tobytes()
    # The walk reads a row offset and an output per byte. As lists these are pointers to
    # int objects spread over megabytes; between two messages spaCy pushes them out of the
    # CPU cache, and the walk took 5 times its isolated time. Packed arrays hold the same
    # numbers in a quarter of the memory: a quarter less time inside the classifier
    # (bench/classify_speed.py), the same results.
    identifier._rowbase = array("q", (rows.astype(np.int64) * width).tobytes())
    return identifier


def cache_file(languages: Collection[str]) -> Path | None:
    """Where the compact tables of ``languages`` are kept between processes (one
    uncompressed ``.npz`` of about 32 MB, in the folder of :mod:`classifiers.lemma_cache`),
    or None when caching is off. The name carries the model file's path, size and
    modification time, py3langid's and numpy's versions, the languages and
    :data:`_FORMAT`: a new model or a change to how the tables are made gets a file of its
    own, never a stale one."""
    folder = cache_dir()
    if folder is None:
        return None
    model = MODEL_DIR / MODEL_FILE
    try:
        stat = model.stat()
    except OSError:
        return None
    identity = "|".join((
        str(_FORMAT), str(model.resolve()), str(stat.st_size), str(stat.st_mtime_ns),
        _version("py3langid"), np.__version__, ",".join(sorted(languages)),
    ))
    return folder / "langid" / f"{hashlib.sha256(identity.encode()).hexdigest()[:16]}.npz"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The tables in ``path``, or None if it is missing, unreadable, truncated (the zip's
    checksums are verified as each array is read) or not what :func:`build_tables` makes.
    The transition table is a read-only memory map of the file (:func:`_mapped`)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            tables = {name: npz[name] for name in _SHAPES if name != "nextmove"}
        tables["nextmove"] = _mapped(path, "nextmove")
    except FileNotFoundError:
        return None
    except Exception as exc:  # a broken cache costs a rebuild, never a result
        log.warning("language model cache %s unreadable (%s): rebuilt", path, exc)
        return None
    for name, (ndim, kind) in _SHAPES.items():
        if tables[name].ndim != ndim or tables[name].dtype.kind != kind:
            log.warning("language model cache %s: %s is not as built: rebuilt", path, name)
            return None
    nextmove, rows = tables["nextmove"], tables["rows"]
    if (tables["byte_class"].size != _ROW or len(rows) == 0
            or int(rows.max()) >= len(nextmove)
            or int(tables["byte_class"].max()) >= nextmove.shape[1]
            or tables["ptc"].shape[1] != len(tables["pc"]) != len(tables["classes"])):
        log.warning("language model cache %s: tables do not fit together: rebuilt", path)
        return None
    return tables


def _mapped(path: Path, name: str) -> np.memmap:
    """The array ``name`` of the uncompressed ``.npz`` at ``path`` as a read-only memory map
    of the file (``np.load``'s ``mmap_mode`` does not map an ``.npz``'s members).

    The member is read through once first, so the zip's checksum of it is verified as
    ``np.load`` verifies the others (a damaged file is rebuilt, never walked); that reads the
    file into the page cache, not into this process. The cache file is only ever replaced
    by a rename (:func:`_write_cache`), so a map stays the file it was opened on."""
    with zipfile.ZipFile(path) as npz:
        info = npz.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{name} is compressed")
        with npz.open(info) as member:
            while member.read(1 << 20):  # raises BadZipFile on a checksum mismatch
                pass
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)  # the zip's local file header, then its name and extra field
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"{name}: no local header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        fh.seek(start)
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
    size = int(np.prod(shape)) * dtype.itemsize
    if fortran or dtype != np.dtype(np.uint32) or offset + size != start + info.file_size:
        raise ValueError(f"{name}: not a C-ordered uint32 array filling its member")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _write_cache(path: Path, tables: dict[str, np.ndarray]) -> bool:
    """Write ``tables`` to ``path`` in one rename (a reader sees no file or a whole one); a
    folder that cannot be written costs the next process a rebuild, nothing else. True if
    written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # (numpy types savez(**arrays) as if a value could be its allow_pickle flag)
        replace_file(path, lambda fh: np.savez(fh, **tables))  # type: ignore[arg-type]
    except OSError as exc:
        log.warning("language model cache %s not writable (%s); set %s to a writable folder",
                    path, exc.strerror or exc, CACHE_ENV)
        return False
    return True


def _array(npz: zipfile.ZipFile, name: str) -> np.ndarray:
    with npz.open(f"{name}.npy") as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _blocks(npz: zipfile.ZipFile, name: str, width: int = 0) -> Iterator[np.ndarray]:
    """The rows of a 2-D array of the model (or of a 1-D one cut into rows of ``width``),
    about 4 MB at a time."""
    with npz.open(f"{name}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fh)
        if fortran or len(shape) != (1 if width else 2):
            raise ValueError(f"{MODEL_FILE}: unexpected layout of {name}")
        width = width or shape[1]
        row_bytes = width * dtype.itemsize
        rows = max(1, (4 << 20) // row_bytes)
        while data := fh.read(rows * row_bytes):
            yield np.frombuffer(data, dtype=dtype).reshape(-1, width)


def _byte_classes(npz: zipfile.ZipFile) -> tuple[list[int], list[int]]:
    """For each byte value, the number of its class of equal transition columns (classes
    numbered in the order of their first byte value), and the first byte of each class.

    Columns are grouped by a checksum over all rows, taken a block at a time; the caller
    checks every block against the classes (:func:`load_identifier`)."""
    sums = np.zeros(_ROW, dtype=np.uint64)
    rng = np.random.default_rng(0)
    for block in _blocks(npz, "nextmove", _ROW):
        weights = rng.integers(1, 1 << 63, size=(len(block), 1), dtype=np.uint64)
        sums += (block * weights).sum(axis=0, dtype=np.uint64)  # wraps around: a checksum
    first: dict[int, int] = {}  # checksum -> class
    byte_class = [first.setdefault(c, len(first)) for c in sums.tolist()]
    firsts = [byte_class.index(n) for n in range(len(first))]
    return byte_class, firsts
