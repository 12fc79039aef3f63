"""SMTP intake memory benchmark: peak RSS while several large messages arrive at once.

What is measured: commgate's ``SmtpIntake`` (with a ``GroupCommitter`` on a fresh SQLite home)
runs in its own process; ``--clients`` smtplib clients each send one ``--mb`` MB message at the
same time. The server's resident memory before the first byte (``VmRSS``) and its peak
afterwards (``VmHWM``, Linux) give the growth; divided by the bytes in flight (clients x size)
it says how many copies of each message the intake held at worst. Issue 11 saw 6 x 36 MB drive
the daemon to 1.19 GB (about 3.8x, worker included).

On the 2-core development machine, 6 x 36 MB with 78-byte lines: with aiosmtpd's own DATA
reader (a bytearray per line, then a join) the intake grew by 2.17x the bytes in flight and took
22 s; with ``gateway.smtp.read_data`` (pieces of up to 64 KiB into one buffer) by 1.08x, in 9 s.

Run: ``python bench/smtp_memory.py [--clients 6] [--mb 36] [--lines 78]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import smtplib
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ALIAS = "sales@acme-fluidics.example"
SENDER = "buyer@customer.example"


def message(megabytes: float, line_bytes: int, tag: int) -> bytes:
    """A message of about ``megabytes`` MB whose body lines are ``line_bytes`` long (CRLF incl.),
    like a base64 attachment (76 characters and CRLF is what MIME encoders write)."""
    head = (f"From: Anna Buyer <{SENDER}>\r\nTo: {ALIAS}\r\nSubject: drawings {tag}\r\n"
            "Date: Mon, 23 Nov 2026 09:15:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    line = (b"%d" % tag + b"Q" * line_bytes)[: line_bytes - 2] + b"\r\n"
    return head + line * int(megabytes * 1024 * 1024 // line_bytes)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/{pid}/status has no {field} (this benchmark needs Linux)")


async def _serve(folder: Path, conn: Connection, max_bytes: int) -> None:
    from gateway.app import App
    from gateway.config import SmtpConfig
    from gateway.intake import GroupCommitter
    from gateway.setup import init_home
    from gateway.smtp import SmtpIntake

    home = init_home(str(folder), "NPC", [ALIAS])
    app = App.open(home)
    fields = SmtpConfig.model_fields
    options = {"max_message_bytes": max_bytes}
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


def _server_main(folder: str, conn: Connection, max_bytes: int) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.pop("COMMGATE_DATABASE_URL", None)  # the bench home uses its own SQLite file
    asyncio.run(_serve(Path(folder), conn, max_bytes))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--mb", type=float, default=36.0)
    parser.add_argument("--lines", type=int, default=78, help="body line length, CRLF included")
    args = parser.parse_args()
    messages = [message(args.mb, args.lines, n) for n in range(args.clients)]
    in_flight = sum(map(len, messages))
    with tempfile.TemporaryDirectory(prefix="smtp-memory-") as tmp:
        context = mp.get_context("spawn")
        ours, theirs = context.Pipe()
        max_bytes = max(map(len, messages)) + 1024 * 1024
        process = context.Process(target=_server_main, args=(str(Path(tmp) / "home"), theirs,
                                                             max_bytes))
        process.start()
        if not ours.poll(60):
            raise SystemExit("the server did not start")
        port = int(ours.recv())
        assert process.pid is not None
        before = memory_kib(process.pid, "VmRSS")
        began = time.perf_counter()
        errors = send_all(port, messages)
        seconds = time.perf_counter() - began
        peak = memory_kib(process.pid, "VmHWM")
        ours.send("stop")
        stored = int(ours.recv())
        process.join(30)
    growth = (peak - before) * 1024
    print(f"{args.clients} concurrent messages of {args.mb:g} MB ({args.lines}-byte lines): "
          f"{in_flight / 2**20:.0f} MiB in flight")
    print(f"server RSS before {before / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB, "
          f"growth {growth / 2**20:.0f} MiB = {growth / in_flight:.2f}x the bytes in flight")
    print(f"{stored} archived in {seconds:.1f} s; {len(errors)} client error(s)"
          + (f": {errors[0]!r}" if errors else ""))


if __name__ == "__main__":
    main()
