"""``commgate config example`` and ``config unit`` (issue 18, item 5): the shipped files, and the
pointer to the example in the commgate.toml that ``init`` writes. Run from the checkout here;
tests/test_packaging.py runs them from a built wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gateway.cli.main import main as cli_main
from gateway.config import DATABASE_URL_ENV
from tests.support.mail import make_message, write_messages

ROOT = Path(__file__).resolve().parents[2]


def test_config_example_prints_a_configuration_commgate_accepts(tmp_path, capsys,
                                                                monkeypatch):
    assert cli_main(["config", "example"]) == 0
    example = capsys.readouterr().out
    assert example == (ROOT / "config" / "commgate.example.toml").read_text()
    assert tomllib.loads(example)["aliases"][0]["address"] == "sales@example.com"
    home = tmp_path / "home"
    home.mkdir()
    (home / "commgate.toml").write_text(example)
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    (message,) = write_messages(tmp_path / "mail", [make_message(subject="Price for 40 pieces?")])
    # classify with --home loads and checks the whole configuration (and its rules).
    assert cli_main(["--home", str(home), "classify", str(message)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{message}: ") and err == ""


def test_config_unit_prints_the_systemd_unit(capsys):
    assert cli_main(["config", "unit"]) == 0
    unit = capsys.readouterr().out
    assert unit == (ROOT / "systemd" / "commgate.service").read_text()
    assert "\n[Service]\n" in unit


def test_the_generated_configuration_points_to_the_example(cli, home):
    lines = (home / "commgate.toml").read_text().splitlines()
    assert "'commgate config example' prints" in lines[1]
    prefix = "# this installation has it at "
    assert lines[2].startswith(prefix)
    assert Path(lines[2][len(prefix):]).read_text() == cli("config", "example").out
