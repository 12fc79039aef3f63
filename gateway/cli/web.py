"""``commgate web --listen HOST:PORT``: serve the staff web application until SIGTERM.

Without ``--listen`` the configuration's ``[web] listen`` is used. 'commgate run' serves the
same application when ``[web] listen`` is set; this command is for running it apart (another
machine, another user) or without the daemon."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from gateway.cli._common import EXIT_OK, EXIT_USAGE, opened_app


def register(sub: Any) -> None:
    p = sub.add_parser("web", help="serve the staff web application until SIGTERM")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="address to serve on, e.g. 127.0.0.1:8080 (default: [web] listen)")
    p.set_defaults(handler=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    from gateway.web.serve import serve

    with opened_app(args) as app:
        listen = args.listen or app.settings.config.web.listen
        if not listen:
            print("commgate: error: give --listen HOST:PORT or set [web] listen in "
                  f"{app.settings.config_path}", file=sys.stderr)
            return EXIT_USAGE
        logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
        serve(app, listen, "--listen" if args.listen else "web.listen")
    return EXIT_OK
