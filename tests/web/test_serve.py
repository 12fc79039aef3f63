"""Serving: 'commgate web --listen' and 'commgate run' with [web] listen answer on a real
socket and stop on SIGTERM; a bad or taken address is one line; the session key file; the
trusted proxy's sign-on header."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys

import pytest

from gateway.core.errors import ConfigError
from gateway.web.app import create_app
from gateway.web.secret import KEY_NAME
from tests.support.daemon import daemon_process
from tests.support.dovecot import free_port
from tests.support.waiting import wait_for
from tests.support.web import account, configure_web, page_status, web_client, with_web


def _commgate(home, *args, **options):
    return subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ}, **options)


def test_commgate_web_serves_until_sigterm(home):
    port = free_port()
    process = _commgate(home, "web", "--listen", f"127.0.0.1:{port}")
    try:
        assert wait_for(lambda: page_status(f"http://127.0.0.1:{port}/login"),
                        what="the login page") == 200
        assert page_status(f"http://127.0.0.1:{port}/static/app.css") == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_commgate_run_serves_the_web_application_when_configured(home, tmp_path):
    port = free_port()
    configure_web(home, listen=f"127.0.0.1:{port}")
    with daemon_process(home, tmp_path / "daemon.log") as daemon:
        assert wait_for(lambda: page_status(f"http://127.0.0.1:{port}/login"),
                        what="the login page") == 200
        assert page_status(f"http://127.0.0.1:{port}/cases") == 200  # redirected to /login
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert page_status(f"http://127.0.0.1:{port}/login") is None


def test_a_bad_listen_value_is_one_line(home):
    configure_web(home, listen="localhost")
    done = _commgate(home, "run")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 2
    assert err.decode().strip().splitlines() == [
        "commgate: error: " + str(home / "commgate.toml") + ": web.listen: expected HOST:PORT "
        "such as 127.0.0.1:8080, got 'localhost'"]


def test_an_address_in_use_is_one_line(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _commgate(home, "web", "--listen", f"127.0.0.1:{port}")
        _, err = done.communicate(timeout=60)
    assert done.returncode == 2
    assert err.decode().strip().startswith(
        f"commgate: error: --listen: cannot listen on 127.0.0.1:{port} (")
    assert len(err.decode().strip().splitlines()) == 1


def test_the_session_key_is_made_once_readable_by_its_owner_only(app):
    create_app(app)
    key = app.settings.home / KEY_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_bytes()
    create_app(app)
    assert key.read_bytes() == first
    assert first.strip().decode() not in (app.settings.home / "commgate.toml").read_text()
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="may be read by others"):
        create_app(app)


def test_a_trusted_proxy_signs_people_in_by_its_header(app):
    account(app, "anna", "compliance")
    proxied = with_web(app, trusted_proxies=["127.0.0.0/30"],
                       trusted_proxy_header="X-Remote-User")
    with web_client(proxied, address="127.0.0.2") as proxy:
        assert proxy.get("/cases", headers={"X-Remote-User": "anna"}).status_code == 200
        assert proxy.get("/cases", headers={"X-Remote-User": "mallory"}).status_code == 403
        assert proxy.get("/cases").status_code == 303
    with web_client(proxied, address="127.0.0.9") as direct:  # not a proxy: header ignored
        assert direct.get("/cases", headers={"X-Remote-User": "anna"}).status_code == 303
