"""The one interface the CLI and the web application share.

A service function has the shape ``fn(ctx, *, actor, ...) -> View``: it opens its own
transaction, writes the access log and the case events itself, and returns a frozen view whose
``to_json()`` is what ``--json`` prints. Whatever a compliance promise requires (an access
record before data is handed out, an event for every staff action) happens here, so no caller
(a CLI command, a web page) can skip it.
"""
