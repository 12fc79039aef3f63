"""The staff and compliance web application (issue 14; docs/web.md).

Server-rendered pages on FastAPI with Jinja2 templates that, like the command line, reach the
domain only through :mod:`gateway.services` (import-linter contract ``web-through-services``):
every action is the service's case event with the signed-in person as actor, every view of
message content is in the service's access log. Works without JavaScript; every asset is served
by the application itself.
"""
