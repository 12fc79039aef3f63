"""CPU and instructions per accepted message of the daemon's SMTP accept path (issue 17).

``smtp_accept.py`` times the whole daemon beside its workers, which on a shared machine
mostly measures the machine. This counts what the accept path itself costs: a server child
per side (this checkout and ``--baseline``, in alternating order) runs the daemon's
``SmtpIntake`` with its ``GroupCommitter`` on a fresh SQLite home, on the main thread's loop
as in ``commgate run`` (no workers), and 4 smtplib clients in this process send it
``--messages`` distinct generated messages (``bench/speed_corpus.py``), each from its own
From address. The server's CPU (``getrusage``, every thread: the loop, the fsync threads,
the recorder's insert) is taken from the first message's MAIL FROM to the moment the last
entry was queued in the database, after ``--warmup`` messages. With ``--callgrind`` each
child runs under ``valgrind --tool=callgrind``, collection on only over the same span:
instructions per message, repeatable on a loaded machine. Median (range) over the rounds
and this / baseline per round::

    COMMGATE_CORPORA=/work/shared/corpora PYTHONPATH=$PWD python bench/smtp_accept_cpu.py \
        --messages 500 --rounds 6 --baseline /work/wt/base
    ... bench/smtp_accept_cpu.py --messages 300 --rounds 1 --callgrind --baseline /work/wt/base
"""

from __future__ import annotations

import argparse
import email.utils
import os
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired
from bench.classify_speed import write_messages
from bench.speed_corpus import Generator, load_sources

ALIAS = "sales@maker.example"
CLIENTS = 4
_TOTAL = re.compile(r"^totals:\s+(\d+)", re.M)

# Run with ``python -c`` in each checkout, so that a baseline without this script works too.
CHILD = """
import asyncio, os, resource, subprocess, sys
from pathlib import Path
os.environ.pop("COMMGATE_DATABASE_URL", None)
from gateway.bootstrap import App
from gateway.config import SmtpConfig
from gateway.installation import init_home
from gateway.intake.handoff import GroupCommitter
from gateway.intake.smtp import SmtpIntake

folder, alias, callgrind, profile_to = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
pid = str(os.getpid())
if profile_to:
    import cProfile, time
    profile = cProfile.Profile(time.thread_time)

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime, usage.ru_stime, usage.ru_nvcsw, usage.ru_nivcsw)

def collect(on):
    if profile_to:
        profile.enable() if on else profile.disable()
    if callgrind:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", pid], check=True,
                       capture_output=True)

async def quiet(committer):
    while committer.unarchived or committer.unrecorded:
        await asyncio.sleep(0.01)
    await committer.drain()

async def main():
    loop = asyncio.get_running_loop()
    app = App.open(init_home(folder, "NPC", [alias]))
    committer = GroupCommitter(app)
    intake = SmtpIntake(app, SmtpConfig(enabled=True, listen="127.0.0.1", port=0,
                                        hostname="commgate.test"), committer)
    await intake.start()
    print(intake.port, flush=True)
    for expected in ("warm", "go"):  # the parent says when each part was sent
        line = await loop.run_in_executor(None, sys.stdin.readline)
        assert line.strip() == expected, line
        await quiet(committer)
        if expected == "warm":
            collect(True)
            began = cpu()
            print("measuring", flush=True)
    used = " ".join(str(b - a) for a, b in zip(began, cpu()))
    collect(False)
    if profile_to:
        profile.dump_stats(profile_to)
    head = app.archive.head()
    print(f"{used} {head.seq if head else 0}", flush=True)
    await intake.stop()
    app.close()

asyncio.run(main())
"""


# Issue 17's sink, as bench/smtp_accept.py runs it (aiosmtpd, each message to a new file
# fsynced in a thread, then 250), with the same start and stop as CHILD.
SINK_CHILD = """
import asyncio, os, resource, subprocess, sys, uuid
from pathlib import Path
from aiosmtpd.smtp import SMTP
from bench.paired import write_fsynced

folder, callgrind, profile_to = sys.argv[1], sys.argv[3] == "1", sys.argv[4]
pid = str(os.getpid())
os.makedirs(folder)

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime, usage.ru_stime, usage.ru_nvcsw, usage.ru_nivcsw)

def collect(on):
    if callgrind:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", pid], check=True,
                       capture_output=True)

def write(raw):
    write_fsynced(Path(folder) / uuid.uuid4().hex, raw)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        await asyncio.to_thread(write, envelope.original_content)
        return "250 2.0.0 OK"

class LongLines(SMTP):
    line_length_limit = 2**16

async def main():
    loop = asyncio.get_running_loop()
    handler = Sink()
    server = await loop.create_server(
        lambda: LongLines(handler, hostname="sink.test", enable_SMTPUTF8=True), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    for expected in ("warm", "go"):
        line = await loop.run_in_executor(None, sys.stdin.readline)
        assert line.strip() == expected, line
        if expected == "warm":
            collect(True)
            began = cpu()
            print("measuring", flush=True)
    used = " ".join(str(b - a) for a, b in zip(began, cpu()))
    collect(False)
    print(f"{used} {len(os.listdir(folder))}", flush=True)
    server.close()

asyncio.run(main())
"""


def _sender(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("ascii", "replace")
    found = re.search(r"^From:(.*)$", head, re.M | re.I)
    return email.utils.parseaddr(found[1])[1] if found else "someone@customer.example"


def send(port: int, raws: Sequence[bytes]) -> None:
    """Every message from 4 clients on persistent connections, as fast as the replies come."""
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            conn = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=300)
            conn.ehlo()
            for raw in raws[number::CLIENTS]:
                conn.sendmail(_sender(raw), [ALIAS], raw)
            conn.quit()
        except BaseException as exc:  # a refused message spoils the round
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"a client failed: {errors[0]!r}")


def measure(checkout: Path, folder: Path, warm: Sequence[bytes], raws: Sequence[bytes],
            callgrind: Path | None, profile: Path | None = None,
            sink: bool = False) -> tuple[list[float], int | None]:
    """User and system CPU seconds, voluntary and involuntary context switches (and
    instructions under callgrind) of the server over ``raws``."""
    command = [sys.executable, "-c", SINK_CHILD if sink else CHILD, str(folder), ALIAS,
               "1" if callgrind else "0", str(profile or "")]
    if callgrind is not None:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={callgrind}", *command]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    with subprocess.Popen(command, cwd=checkout, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        port = int(child.stdout.readline())
        send(port, warm)
        child.stdin.write("warm\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "measuring"
        send(port, raws)
        child.stdin.write("go\n")
        child.stdin.flush()
        *used, seq = child.stdout.readline().split()
        child.wait(120)
    if int(seq) != len(warm) + len(raws):
        raise SystemExit(f"{checkout}: {seq} ledger entries for {len(warm) + len(raws)} sent")
    instructions = None
    if callgrind is not None:
        found = _TOTAL.search(callgrind.read_text(errors="replace"))
        instructions = int(found[1]) if found else None
    return [float(value) for value in used], instructions


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1700)
    ap.add_argument("--baseline", type=Path, help="another checkout, a side of every round")
    ap.add_argument("--callgrind", action="store_true", help="count instructions instead")
    ap.add_argument("--sink", action="store_true",
                    help="issue 17's aiosmtpd write + fsync sink as another side of each round")
    ap.add_argument("--out", type=Path, help="keep the callgrind files and cProfile dumps here")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile (CPU clock) of the loop's thread over the messages, to --out")
    args = ap.parse_args(argv)
    sides = [("this", Path(__file__).resolve().parents[1])]
    if args.baseline:
        sides.append(("baseline", args.baseline.resolve()))
    if args.sink:
        sides.append(("sink", sides[0][1]))
    sources = load_sources(Path(os.environ.get("COMMGATE_CORPORA", "../shared/corpora")))
    per: dict[str, list[float]] = {side: [] for side, _ in sides}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="smtp-accept-cpu-", dir=Path.home()) as tmp:
        for number in range(args.rounds):
            made = [raw for _, raw in Generator(sources, args.seed + number).messages(
                args.warmup + args.messages)]
            warm, raws = made[: args.warmup], made[args.warmup:]
            write_messages(Path(tmp, "last-round"), raws)  # to replay one by hand
            order = paired.round_order(number, sides)
            got: dict[str, float] = {}
            for side, checkout in order:
                keep = args.out or Path(tmp)
                keep.mkdir(parents=True, exist_ok=True)
                out = keep / f"callgrind.{side}.{number}" if args.callgrind else None
                prof = keep / f"profile.{side}.{number}" if args.profile else None
                used, instructions = measure(checkout, Path(tmp, f"home-{side}-{number}"), warm,
                                             raws, out, prof, sink=side == "sink")
                got[side] = (instructions if instructions is not None
                             else (used[0] + used[1]) * 1e6)
                per[side].append(got[side] / len(raws))
                unit = "instructions" if args.callgrind else "us CPU"
                user, system, voluntary, involuntary = (value / len(raws) for value in used)
                print(f"round {number + 1} {side:8s} {got[side] / len(raws):14,.1f} {unit} "
                      f"(user {user * 1e6:,.0f} us, system {system * 1e6:,.0f} us, context "
                      f"switches {voluntary:.1f} + {involuntary:.1f} involuntary) "
                      f"per message (load {os.getloadavg()[0]:.1f})", flush=True)
            if "baseline" in got:
                ratios.append(got["this"] / got["baseline"])
    for side, values in per.items():
        print(f"{side:8s} median {statistics.median(values):14,.1f} "
              f"(range {min(values):,.1f}-{max(values):,.1f}) per message")
    if ratios:
        print(f"this / baseline per round: {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f})")
    if "sink" in per:
        for side in (s for s in per if s != "sink"):
            over = sorted(a / b for a, b in zip(per[side], per["sink"], strict=True))
            print(f"{side} / sink per round: {statistics.median(over):.3f} "
                  f"({over[0]:.3f}-{over[-1]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
