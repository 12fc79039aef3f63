"""A message's HTML part made harmless to show: nh3 (the ammonia sanitiser) keeps formatting
tags and drops scripts, styles, event handlers, forms, SVG, ``javascript:`` URLs and every
remote or embedded image, so showing a mail neither runs anything nor tells its sender it was
read. The page that shows it adds a sandboxed frame and a CSP that loads nothing (defence in
depth: either alone would stop a script)."""

from __future__ import annotations

import nh3

URL_SCHEMES = frozenset({"http", "https", "mailto"})  # links a reader may copy; never loaded


def _attribute(tag: str, attribute: str, value: str) -> str | None:
    # Images: remote ones are web bugs, data: ones may carry anything; a mail's own cid:
    # images are not served either. The alt text stays.
    if tag == "img" and attribute in ("src", "srcset"):
        return None
    return value


def clean_html(html: str) -> str:
    """HTML fit to show in the sandboxed message frame."""
    return nh3.clean(html, url_schemes=set(URL_SCHEMES), attribute_filter=_attribute,
                     link_rel="noopener noreferrer nofollow")
