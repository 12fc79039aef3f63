"""A private Dovecot IMAP server on loopback for tests and benchmarks.

Each instance has its own configuration, passwd-file users, Maildirs and runtime folder, listens
on free 127.0.0.1 ports and is stopped by its own pid, so it never touches (or depends on) a
system Dovecot. ``stop()`` and ``start()`` may be called mid-test to cut the server away from a
client that is working; the mail stays on disk in between.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = shutil.which("dovecot", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key",
                                                        "server.csr", "server.pem"))
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=commgate test CA", "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key),
        "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Dovecot:
    """One private server; ``users`` maps user name to password.

    Everything it touches lives in one short, world-traversable folder under /tmp: Dovecot's
    auth and mail processes run unprivileged (it refuses uid 0 for mail) and unix socket paths
    are limited to 108 bytes, so pytest's private ``tmp_path`` would not do.
    """

    users: dict[str, str] = field(default_factory=lambda: {"sales": "sales-secret"})
    tls: bool = False
    port: int = 0
    tls_port: int = 0
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if DOVECOT is None:
            raise RuntimeError("dovecot is not installed: apt-get install -y dovecot-imapd")
        self.port = self.port or free_port()
        self.tls_port = self.tls_port or (free_port() if self.tls else 0)
        self.root = Path(tempfile.mkdtemp(prefix="dcv-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.run_dir = self.root / "run"
        self.config_path = self.root / "dovecot.conf"
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self._write_config()

    def maildir(self, user: str) -> Path:
        return self.root / "home" / user / "Maildir"

    def chown_mail(self, path: Path) -> None:
        """Give files put into a Maildir from outside to the user the mail processes run as."""
        if os.getuid() != 0:
            return
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.chown(os.path.join(folder, name), self.mail_uid, self.mail_gid)
        os.chown(path, self.mail_uid, self.mail_gid)

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "master.pid"

    def _write_config(self) -> None:
        uid, gid = self.mail_uid, self.mail_gid
        me = pwd.getpwuid(os.getuid()).pw_name
        passwd = self.root / "passwd"
        passwd.write_text("".join(f"{user}:{{PLAIN}}{password}::::::\n"
                                  for user, password in self.users.items()))
        for user in self.users:
            for sub in ("cur", "new", "tmp"):
                (self.maildir(user) / sub).mkdir(parents=True, exist_ok=True)
        self.chown_mail(self.root / "home")
        unprivileged = "" if os.getuid() == 0 else (
            f"default_internal_user = {me}\ndefault_login_user = {me}\n")
        tls = "ssl = no\n"
        tls_listener = "inet_listener imaps {\n    port = 0\n  }"
        if self.tls:
            self.ca_file, cert, key = make_certificate(self.root / "tls")
            tls = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
            tls_listener = (f"inet_listener imaps {{\n    address = 127.0.0.1\n"
                            f"    port = {self.tls_port}\n    ssl = yes\n  }}")
        self.config_path.write_text(f"""\
base_dir = {self.run_dir}
state_dir = {self.root / "state"}
instance_name = commgate-test-{self.port}
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
{unprivileged}first_valid_uid = {min(uid, 500)}
first_valid_gid = {min(gid, 500)}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
{tls}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root / "home"}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  {tls_listener}
}}
""")
        (self.root / "state").mkdir(exist_ok=True)

    @property
    def running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """Start the master daemonized (it writes its pid file) and wait for the port."""
        # The daemonized master keeps the descriptors it was given: a pipe here would never
        # reach EOF, so its early errors go to a file instead.
        errors = self.root / "dovecot.stderr"
        with open(errors, "wb") as err:
            done = subprocess.run([str(DOVECOT), "-c", str(self.config_path)],
                                  stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        if done.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {errors.read_text().strip()}\n"
                               f"{self._log()}")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.02)
                continue
            if self.pid() is not None:  # written after the listeners; stop() needs it
                return
            time.sleep(0.02)
        raise RuntimeError(f"dovecot is not listening on {self.port}\n{self._log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop by pid and wait until the process and its port are gone."""
        pid = self.pid()
        if pid is None:
            return
        # The daemonized master leads its own process group; signalling the group reaches the
        # imap processes too, so connected clients see the connection drop at once (a master
        # stopping alone leaves them up to 10 s).
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.02)
            except OSError:
                return

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove everything (keep it with COMMGATE_KEEP_DOVECOT=1 to inspect)."""
        self.stop()
        if not os.environ.get("COMMGATE_KEEP_DOVECOT"):
            shutil.rmtree(self.root, ignore_errors=True)

    def _log(self) -> str:
        try:
            return self.log_path.read_text()[-2000:]
        except OSError:
            return ""

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
