"""SMTP intake memory benchmark: peak RSS while several large messages arrive at once.

What is measured: a server runs in its own fresh (spawned) process; ``--clients`` smtplib clients
each send one ``--mb`` MB message at the same time. The server's resident memory before the first
byte (``VmRSS``) and its peak afterwards (``VmHWM``, Linux) give the growth; divided by the bytes
in flight (clients x size) it says how many copies of each message the server held at worst.
Issue 11 saw 6 x 36 MB drive the daemon to 1.19 GB (about 3.8x, worker included).

Two servers, in the same run:

(a) bare: an aiosmtpd server on the process's loop with aiosmtpd's own DATA reader (a bytearray
    per line, then a join) whose ``handle_DATA`` writes ``envelope.content`` to its own new file
    and fsyncs it (in a worker thread), then answers 250;
(b) commgate: ``gateway.intake.smtp.SmtpIntake`` (``read_data``: pieces of up to 64 KiB into one
buffer)
    with a ``GroupCommitter`` on a fresh SQLite home.

``--rounds`` rounds run both, in alternating order, each in a fresh process after ``os.sync()``.
Every message of every run is distinct: random base64 lines (seeded by round, server and client).
The summary gives the median and range over rounds of each server's growth / bytes in flight and
of the ratio commgate growth / bare growth from the same round.

On the 2-core development machine with the defaults (6 x 36 MB, 78-byte lines, 216 MiB in
flight, 3 rounds): bare grew by 2.37x the bytes in flight (1.93-2.44x) in 7.9 s, commgate by
1.14x (1.01-1.17x) in 2.8 s; commgate growth / bare growth 0.49x (0.47-0.52x).

Run: ``python bench/smtp_memory.py [--clients 6] [--mb 36] [--lines 78] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import random
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ALIAS = "sales@acme-fluidics.example"
SENDER = "buyer@customer.example"
KINDS = ("bare", "commgate")


def message(megabytes: float, line_bytes: int, seed: str) -> bytes:
    """A message of about ``megabytes`` MB whose body is random base64 in lines ``line_bytes``
    long (CRLF incl.), like an attachment (76 characters and CRLF is what MIME encoders write);
    each ``seed`` gives different content."""
    head = (f"From: Anna Buyer <{SENDER}>\r\nTo: {ALIAS}\r\nSubject: drawings {seed}\r\n"
            "Date: Mon, 23 Nov 2026 09:15:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    width = line_bytes - 2
    count = int(megabytes * 1024 * 1024 // line_bytes)
    text = base64.b64encode(random.Random(seed).randbytes(count * width * 3 // 4 + 3))
    return head + b"".join(text[i:i + width] + b"\r\n" for i in range(0, count * width, width))


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/{pid}/status has no {field} (this benchmark needs Linux)")


class _FsyncSink:
    """The baseline's handler: each message to its own new file, fsynced, then 250."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        await asyncio.to_thread(self._write, self.folder / str(self.count), envelope.content)
        return "250 2.0.0 OK"

    @staticmethod
    def _write(path: Path, raw: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)


async def _serve_bare(folder: Path, conn: Connection, max_bytes: int) -> None:
    """A bare aiosmtpd server (its own DATA reader) on the process's loop."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    folder.mkdir()
    handler = _FsyncSink(folder)
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=max_bytes, enable_SMTPUTF8=True,
                     hostname="bare.test", loop=loop), "127.0.0.1", 0)
    conn.send(server.sockets[0].getsockname()[1])
    await loop.run_in_executor(None, conn.recv)
    server.close()
    conn.send(sum(1 for _ in folder.iterdir()))


async def _serve_commgate(folder: Path, conn: Connection, max_bytes: int) -> None:
    from gateway.bootstrap import App
    from gateway.config import SmtpConfig
    from gateway.installation import init_home
    from gateway.intake.handoff import GroupCommitter
    from gateway.intake.smtp import SmtpIntake

    home = init_home(str(folder), "NPC", [ALIAS])
    app = App.open(home)
    fields = SmtpConfig.model_fields
    options: dict[str, Any] = {"max_message_bytes": max_bytes}
    if "max_bytes_in_flight" in fields:  # the limit this benchmark is about must not refuse
        options["max_bytes_in_flight"] = max_bytes * 64
    intake = SmtpIntake(app, SmtpConfig(enabled=True, listen="127.0.0.1", port=0,
                                        hostname="commgate.test", **options),
                        GroupCommitter(app))
    await intake.start()
    conn.send(intake.port)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await intake.stop()
    head = app.archive.head()
    conn.send(head.seq if head else 0)
    app.close()


def _server_main(kind: str, folder: str, conn: Connection, max_bytes: int) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.pop("COMMGATE_DATABASE_URL", None)  # the bench home uses its own SQLite file
    serve = _serve_bare if kind == "bare" else _serve_commgate
    asyncio.run(serve(Path(folder), conn, max_bytes))


def send_all(port: int, messages: list[bytes]) -> list[BaseException]:
    clients = [smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=600)
               for _ in messages]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(messages))

    def send(client: smtplib.SMTP, raw: bytes) -> None:
        try:
            client.ehlo()
            barrier.wait()
            client.sendmail(SENDER, [ALIAS], raw)
            client.quit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=pair)
               for pair in zip(clients, messages, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@dataclass
class Run:
    kind: str
    in_flight: int
    before_kib: int
    peak_kib: int
    seconds: float
    stored: int
    errors: list[BaseException]

    @property
    def growth(self) -> int:
        return (self.peak_kib - self.before_kib) * 1024

    @property
    def multiple(self) -> float:
        """How many copies of the bytes in flight the server held at its peak."""
        return self.growth / self.in_flight


def run(kind: str, folder: Path, messages: list[bytes]) -> Run:
    """One server of ``kind`` in a fresh process receives ``messages`` at once."""
    context = mp.get_context("spawn")
    ours, theirs = context.Pipe()
    max_bytes = max(map(len, messages)) + 1024 * 1024
    process = context.Process(target=_server_main, args=(kind, str(folder), theirs, max_bytes))
    process.start()
    if not ours.poll(60):
        raise SystemExit(f"the {kind} server did not start")
    port = int(ours.recv())
    assert process.pid is not None
    os.sync()
    before = memory_kib(process.pid, "VmRSS")
    began = time.perf_counter()
    errors = send_all(port, messages)
    seconds = time.perf_counter() - began
    peak = memory_kib(process.pid, "VmHWM")
    ours.send("stop")
    stored = int(ours.recv())
    process.join(30)
    return Run(kind, sum(map(len, messages)), before, peak, seconds, stored, errors)


def spread(values: list[float], unit: str = "x") -> str:
    return (f"median {statistics.median(values):.2f}{unit} "
            f"(range {min(values):.2f}-{max(values):.2f}{unit})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--mb", type=float, default=36.0)
    parser.add_argument("--lines", type=int, default=78, help="body line length, CRLF included")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[Run]] = {kind: [] for kind in KINDS}
    for round_ in range(args.rounds):
        for kind in KINDS if round_ % 2 == 0 else KINDS[::-1]:
            messages = [message(args.mb, args.lines, f"r{round_}-{kind}-{n}")
                        for n in range(args.clients)]
            with tempfile.TemporaryDirectory(prefix="smtp-memory-") as tmp:
                result = run(kind, Path(tmp) / "home", messages)
            del messages
            runs[kind].append(result)
            print(f"round {round_ + 1} {kind:8}: RSS before {result.before_kib / 1024:.0f} MiB, "
                  f"peak {result.peak_kib / 1024:.0f} MiB, growth "
                  f"{result.growth / 2**20:.0f} MiB = {result.multiple:.2f}x in flight;"
                  f" {result.stored} stored in {result.seconds:.1f} s; "
                  f"{len(result.errors)} client error(s)"
                  + (f": {result.errors[0]!r}" if result.errors else ""), flush=True)
    print(f"{args.clients} concurrent messages of {args.mb:g} MB ({args.lines}-byte lines): "
          f"{runs['bare'][0].in_flight / 2**20:.0f} MiB in flight, {args.rounds} rounds")
    for kind in KINDS:
        print(f"{kind:8} growth / bytes in flight: "
              f"{spread([r.multiple for r in runs[kind]])}; "
              f"time {spread([r.seconds for r in runs[kind]], ' s')}")
    ratios = [c.growth / b.growth for b, c in zip(runs["bare"], runs["commgate"], strict=True)]
    print(f"commgate growth / bare growth: {spread(ratios)}")


if __name__ == "__main__":
    main()
