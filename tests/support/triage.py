"""The triage flow through the CLI: aliases with queue priors, a message no rule decides,
ingesting mails and reading the triage queue (the ``cli`` fixture runs the commands)."""

from __future__ import annotations

from pathlib import Path

from gateway.config import CONFIG_NAME
from tests.support.mail import make_message, write_messages

UNDECIDED = dict(subject="Hello", message_id="<hello@customer.example>",
                 body="Hi Tom,\nsee you at the fair next week.\n\nBest,\nAnna")


def configure(home: Path, *, triage_below: float | None = None) -> None:
    """sales@ gets enquiries, returns@ customers' units; support@ has no prior."""
    config = home / CONFIG_NAME
    text = config.read_text()
    for alias, prior in (("sales", "enquiry"), ("returns", "property")):
        line = f'address = "{alias}@northpoint.example"'
        text = text.replace(line, f'{line}\nprior = "{prior}"')
    if triage_below is not None:
        text += f"\n[classifier]\ntriage_below = {triage_below}\n"
    config.write_text(text)


def ingest(cli, tmp_path: Path, *messages: dict, folder: str = "in") -> None:
    paths = write_messages(tmp_path / folder, [make_message(**m) for m in messages])
    result = cli("ingest", *map(str, paths))
    assert result.code == 0, result.err


def triage(cli) -> list[dict]:
    result = cli("cases", "list", "--triage", "--json")
    assert result.code == 0, result.err
    return result.json()
