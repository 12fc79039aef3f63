"""Configuration problems are one actionable line naming the key; secrets stay out of the file."""

from __future__ import annotations

import pytest

from gateway.config import DEFAULT_FOREIGN_TAGS, Settings, load_settings, parse_config
from gateway.core.errors import ConfigError


@pytest.mark.parametrize(("toml", "expected"), [
    ("colour = 'blue'", "unknown key 'colour' in the top level (expected one of: case_prefix"),
    ("[database]\nuri = 'x'", "unknown key 'uri' in database (expected one of: url,"),
    ("case_prefix = 7", "case_prefix: input should be a valid string (got number 7)"),
    ("case_prefix = 'np'", "case_prefix: string should match pattern"),
    ("[worker]\nbatch_size = '50'", "worker.batch_size: input should be a valid integer"),
    ("[[aliases]]\nqueue = 'x'", "aliases[0].address: required key is missing"),
    ("[[aliases]]\naddress = 'sales'", "aliases[0].address: expected an e-mail address"),
    ("[[aliases]]\naddress='a@b.example'\n[[aliases]]\naddress='A@b.example'",
     "aliases: an address is listed twice"),
    ("[[dropfolders]]\npath = '/x'\nalias = 'other@b.example'",
     "dropfolders[0].alias: 'other@b.example' is not one of the configured aliases"),
    ("[[classifier.identifier_patterns]]\nkind = 'po'\npattern = '(['",
     "classifier.identifier_patterns[0].pattern: not a valid regular expression"),
    ("case_prefix = ", "not valid TOML"),
    ("[threading]\nforeign_tags = ['[KPS-(']",
     "threading.foreign_tags: not a regular expression: '[KPS-('"),
    ("[threading]\nforeign_tags = ['\\d*']",
     "threading.foreign_tags: '\\\\d*' matches an empty subject"),
    ("[web]\npassword_hashing = 'fast'",
     "web.password_hashing: unknown password hashing profile 'fast' (expected one of: "
     "rfc9106-low-memory, rfc9106-high-memory, pre-21.2, cheapest)"),
    ("[feedback]\nreview_every_days = 0",
     "feedback.review_every_days: input should be greater than or equal to 1"),
    ("[feedback]\nreview_every_days = 400",
     "feedback.review_every_days: input should be less than or equal to 366"),
])
def test_invalid_configuration_gives_one_line_naming_the_key(toml, expected):
    with pytest.raises(ConfigError) as raised:
        parse_config(toml, "commgate.toml")
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_missing_config_file_says_how_to_create_it(tmp_path):
    with pytest.raises(ConfigError, match="not found: create the home with 'commgate --home"):
        load_settings(tmp_path)


def test_the_example_configuration_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config" / "commgate.example.toml"
    config = parse_config(example.read_text(), str(example))
    assert config.aliases[0].address == "sales@example.com"


def test_the_example_documents_the_default_foreign_tag_shapes():
    """The commented-out foreign_tags of the example are the defaults, word for word."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config" / "commgate.example.toml"
    lines = example.read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("# foreign_tags = "))
    block = [lines[start][2:]]
    for line in lines[start + 1:]:
        if not line.startswith("#     "):
            break
        block.append(line[2:])
    documented = parse_config("[threading]\n" + "\n".join(block)).threading.foreign_tags
    assert documented == list(DEFAULT_FOREIGN_TAGS) == parse_config("").threading.foreign_tags


def test_default_database_is_sqlite_in_the_home(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMGATE_DATABASE_URL", raising=False)
    url = Settings(tmp_path, parse_config("")).database_url()
    assert url.drivername == "sqlite+pysqlite" and url.database == str(tmp_path / "commgate.db")


def test_database_password_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("CG_DB_PW", "s3cret")
    config = parse_config("[database]\nurl = 'postgresql://cg@db.example/cg'\n"
                          "password_env = 'CG_DB_PW'")
    url = Settings(tmp_path, config).database_url()
    assert url.password == "s3cret" and url.drivername == "postgresql+psycopg"
    assert "s3cret" not in url.render_as_string(hide_password=True)


def test_database_password_comes_from_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMGATE_DATABASE_URL", raising=False)
    (tmp_path / "pw").write_text("from-file\n")
    config = parse_config("[database]\nurl = 'postgresql://cg@db.example/cg'\n"
                          "password_file = 'pw'")
    assert Settings(tmp_path, config).database_url().password == "from-file"


def test_unset_password_variable_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("CG_NOT_SET", raising=False)
    config = parse_config("[database]\nurl = 'postgresql://cg@db/cg'\npassword_env = 'CG_NOT_SET'")
    with pytest.raises(ConfigError, match="environment variable CG_NOT_SET is not set"):
        Settings(tmp_path, config).database_url()
