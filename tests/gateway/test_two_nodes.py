"""Two ``commgate run`` nodes on one PostgreSQL database and one archive folder (issue 18,
item 7; docs/two-nodes.md): every message filed once, one poller per IMAP mailbox, SMTP on
both, one checkpoint signer, and the survivor taking over polling and signing when the other
node is killed.

Real parts throughout: two daemon subprocesses, a private Dovecot, PostgreSQL, smtplib. Every
wait is for a state (``wait_for``), never for a duration.
"""

from __future__ import annotations

import io
import json
import shutil
import smtplib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive import load_checkpoints, sha256_hex
from gateway.bootstrap import App
from gateway.cli.main import main as cli_main
from gateway.config import DATABASE_URL_ENV
from gateway.db.models import LedgerReceipt, Message
from gateway.installation import init_home
from tests.support.daemon import daemon_process, smtp_ready
from tests.support.databases import BACKENDS, PgDatabases
from tests.support.dovecot import Dovecot, free_port
from tests.support.imap import USERS, append
from tests.support.mail import ALIASES, make_message
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS,
                                reason="two nodes share a PostgreSQL database")

SALES = "sales@northpoint.example"
PASSWORD_ENV = "TEST_TWO_NODES_IMAP_PASSWORD"


@pytest.fixture
def shared_db(pg_databases: PgDatabases, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One fresh PostgreSQL database for both nodes (their environment names it)."""
    url = pg_databases.take()
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    yield url
    pg_databases.give_back(url)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot(users=dict(USERS)) as server:
        yield server


def node_config(base: str, name: str, smtp_port: int, archive: Path, key: Path,
                imap_port: int) -> str:
    """``base`` (what ``init`` wrote) for one node: what differs between the nodes is the name
    and the SMTP port; the archive, the key, the mailbox and the database are shared."""
    assert '[archive]\npath = "archive"\n' in base
    return base.replace('case_prefix = "NPC"\n', f'case_prefix = "NPC"\nnode_name = "{name}"\n'
                        ).replace('[archive]\npath = "archive"\n', f"""[archive]
path = "{archive}"
checkpoint_key = "{key}"
checkpoint_minutes = 0.01
verify_hours = 0
""") + f"""
[smtp]
enabled = true
listen = "127.0.0.1"
port = {smtp_port}

[[imap]]
name = "sales"
host = "127.0.0.1"
port = {imap_port}
security = "none"
user = "sales"
password_env = "{PASSWORD_ENV}"
alias = "{SALES}"
poll_seconds = 0.5

[worker]
processes = 0
"""


def make_nodes(tmp_path: Path, dovecot: Dovecot) -> tuple[Path, Path, dict[str, int]]:
    """Two homes sharing one archive folder and one checkpoint key (outside the archive)."""
    home_a, home_b = tmp_path / "node-a", tmp_path / "node-b"
    init_home(str(home_a), "NPC", ALIASES)
    archive = tmp_path / "shared-archive"
    shutil.move(home_a / "archive", archive)
    key = tmp_path / "keys" / "checkpoint.key"
    key.parent.mkdir()
    base = (home_a / "commgate.toml").read_text()
    ports = {"node-a": free_port(), "node-b": free_port()}
    home_b.mkdir()
    for home, name in ((home_a, "node-a"), (home_b, "node-b")):
        (home / "commgate.toml").write_text(
            node_config(base, name, ports[name], archive, key, dovecot.port))
    code, output = commgate(home_a, "archive", "keygen", str(key))
    assert code == 0, output
    return home_a, home_b, ports


def commgate(home: Path, *args: str) -> tuple[int, str]:
    """``commgate --home HOME ARGS`` in-process: exit code and what it printed."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        code = cli_main(["--home", str(home), *args])
    return code, out.getvalue()


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("anna@customer.example", [SALES], raw) == {}


def receipts_by_sha(app: App) -> dict[str, list[LedgerReceipt]]:
    with app.db.session() as session:
        rows = list(session.scalars(select(LedgerReceipt).where(LedgerReceipt.kind == "receipt")
                                    .order_by(LedgerReceipt.seq)))
    found: dict[str, list[LedgerReceipt]] = {}
    for row in rows:
        found.setdefault(row.sha256, []).append(row)
    return found


def filed_counts(app: App) -> Counter[str]:
    """How many messages rows each sha256 has (filed exactly once: 1)."""
    with app.db.session() as session:
        return Counter(dict(session.execute(
            select(Message.sha256, func.count()).group_by(Message.sha256)).all()))


def settled(app: App, expected: set[str]) -> bool:
    """Every expected message filed and nothing left in the queue."""
    with app.db.session() as session:
        pending = session.scalar(select(func.count()).select_from(LedgerReceipt).where(
            LedgerReceipt.status == "pending"))
    return pending == 0 and expected <= set(filed_counts(app))


def log_has(path: Path, text: str) -> bool:
    return text in path.read_text()


def test_two_nodes_share_database_and_archive(shared_db, dovecot, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, USERS["sales"])
    home_a, home_b, ports = make_nodes(tmp_path, dovecot)
    log_a, log_b = tmp_path / "node-a.log", tmp_path / "node-b.log"
    polled_first = [make_message(subject=f"Polled before B {n}") for n in range(3)]
    append(dovecot, polled_first)
    expected_node: dict[str, str] = {sha256_hex(raw): "node-a" for raw in polled_first}

    with ExitStack() as stack:
        app = App.open(home_a)
        stack.enter_context(closing(app))
        node_a = stack.enter_context(daemon_process(home_a, log_a))
        # A started first takes the mailbox and the signature; B, started as soon as A has
        # them (both load their classifiers side by side meanwhile), stands by for both.
        wait_for(lambda: log_has(log_a, "imap:sales: connected"),
                 what="node A to take the mailbox")
        wait_for(lambda: log_has(log_a, "checkpoints: this node signs them"),
                 what="node A to become the checkpoint signer")
        stack.enter_context(daemon_process(home_b, log_b))
        wait_for(lambda: smtp_ready(ports["node-a"]), what="node A's SMTP intake")
        wait_for(lambda: smtp_ready(ports["node-b"]), what="node B's SMTP intake")
        wait_for(lambda: log_has(log_b, "imap:sales: standing by: another node polls"),
                 what="node B to stand by as poller")
        wait_for(lambda: log_has(log_b, "checkpoints: another node signs them; standing by"),
                 what="node B to stand by as signer")

        # SMTP to both at once (distinct mail to each), the same bytes retried at both nodes
        # (a sending server whose first attempt lost its 250), and more mail in the mailbox.
        to_a = [make_message(subject=f"Sent to A {n}") for n in range(6)]
        to_b = [make_message(subject=f"Sent to B {n}") for n in range(6)]
        twice = [make_message(subject=f"Retried at both {n}") for n in range(4)]
        polled_later = [make_message(subject=f"Polled with both up {n}") for n in range(3)]
        jobs = ([(ports["node-a"], raw) for raw in to_a + twice]
                + [(ports["node-b"], raw) for raw in to_b + twice])
        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = [pool.submit(send, port, raw) for port, raw in jobs]
            append(dovecot, polled_later)
            for done in sent:
                done.result()
        expected_node |= {sha256_hex(raw): "node-a" for raw in to_a + polled_later}
        expected_node |= {sha256_hex(raw): "node-b" for raw in to_b}
        retried = {sha256_hex(raw) for raw in twice}
        everything = set(expected_node) | retried
        wait_for(lambda: settled(app, everything), what="both nodes' mail to be filed")

        receipts = receipts_by_sha(app)
        for sha, node in expected_node.items():
            assert [r.envelope["node"] for r in receipts[sha]] == [node], sha
        for sha in retried:
            assert sorted(r.envelope["node"] for r in receipts[sha]) == ["node-a", "node-b"]
            assert sorted(r.status for r in receipts[sha]) == ["duplicate", "filed"]
        imap_nodes = {r.envelope["node"] for rows in receipts.values() for r in rows
                      if r.transport == "imap"}
        assert imap_nodes == {"node-a"}
        assert all(count == 1 for count in filed_counts(app).values())
        head = app.archive.head()
        assert head is not None
        wait_for(lambda: (cps := load_checkpoints(app.archive)) and cps[-1].tree_size >= head.seq,
                 what="a checkpoint over everything")
        wait_for(lambda: log_has(log_a, "checkpoint: "), what="node A to log its checkpoint")
        assert "checkpoint: " not in log_b.read_text()

        # Node A dies without a word: B takes over the mailbox and the signature.
        node_a.kill()
        node_a.wait(timeout=10)
        after_kill = [make_message(subject=f"Polled after A died {n}") for n in range(2)]
        append(dovecot, after_kill)
        taken_over = {sha256_hex(raw) for raw in after_kill}
        wait_for(lambda: settled(app, taken_over), what="node B to poll the mailbox")
        receipts = receipts_by_sha(app)
        assert {r.envelope["node"] for sha in taken_over for r in receipts[sha]} == {"node-b"}
        head = app.archive.head()
        assert head is not None
        wait_for(lambda: load_checkpoints(app.archive)[-1].tree_size >= head.seq,
                 what="node B to sign a checkpoint over the new mail")
        assert "checkpoints: this node signs them" in log_b.read_text()
        wait_for(lambda: log_has(log_b, "checkpoint: "), what="node B to log its checkpoint")
        assert all(count == 1 for count in filed_counts(app).values())

    for log in (log_a, log_b):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    # One ledger, one chain of checkpoints, each extending the one before; both nodes agree.
    with closing(App.open(home_b)) as app_b:
        sizes = [cp.tree_size for cp in load_checkpoints(app_b.archive)]
    assert sizes == sorted(sizes) and len(sizes) == len(set(sizes))
    for home in (home_a, home_b):
        code, output = commgate(home, "archive", "verify", "--json")
        assert code == 0, output
        report = json.loads(output)
        assert report["ok"], report
