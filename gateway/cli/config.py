"""``commgate config``: the files shipped with commgate, printed from wherever it is installed.

``config example`` prints the example configuration (every option with its default and why),
which the ``commgate.toml`` written by ``commgate init`` points to; ``config unit`` prints the
systemd unit. Neither needs a home folder.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli._common import EXIT_OK
from gateway.core.shipped import EXAMPLE_CONFIG, SYSTEMD_UNIT, shipped_text


def register(sub: Any) -> None:
    group = sub.add_parser("config", help="print the files shipped with commgate"
                           ).add_subparsers(dest="config_command", required=True,
                                            metavar="ACTION")
    p = group.add_parser("example", help="the example commgate.toml, every option documented")
    p.set_defaults(handler=cmd_config_example)
    p = group.add_parser("unit", help="the systemd unit (systemd/commgate.service)")
    p.set_defaults(handler=cmd_config_unit)


def cmd_config_example(args: argparse.Namespace) -> int:
    sys.stdout.write(shipped_text(EXAMPLE_CONFIG))
    return EXIT_OK


def cmd_config_unit(args: argparse.Namespace) -> int:
    sys.stdout.write(shipped_text(SYSTEMD_UNIT))
    return EXIT_OK
