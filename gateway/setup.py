"""``commgate init``: a ready home folder (config, archive, migrated database)."""

from __future__ import annotations

from pathlib import Path

from archive import Archive
from gateway.config import CONFIG_NAME, find_home, load_settings, parse_config, render_config
from gateway.db import Database
from gateway.errors import ConfigError


def init_home(home_arg: str | None, case_prefix: str, aliases: list[str]) -> Path:
    home = find_home(home_arg)
    config_path = home / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists; this home is initialised")
    text = render_config(case_prefix, [a.lower() for a in aliases])
    parse_config(text, "--case-prefix/--alias")  # the same checks as at start-up
    try:
        home.mkdir(parents=True, exist_ok=True)
        config_path.write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot create {home}: {exc.strerror}") from exc
    settings = load_settings(home)
    Archive.open(settings.archive_path).ensure()
    Database.open(settings.database_url()).close()
    return home
