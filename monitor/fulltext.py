"""Full text of an article page (optional stage): HTML bytes -> plain text, or None when nothing useful.

1. Decode the bytes as :func:`monitor.page.decode_html` does (BOM, HTTP charset, ``<meta>``, UTF-8).
2. trafilatura extracts the main text, favouring precision (menus, related links, cookie banners and
   comment threads left out). It only reads the string it is given: no download, no network.
3. Less than :data:`MIN_CHARS` characters is not an article body (a paywall stub, a cookie wall, a
   listing): None, and the caller keeps the feed's own text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import trafilatura

from monitor.page import decode_html

MIN_CHARS = 200  # shorter extractions are stubs, not articles

log = logging.getLogger(__name__)


def extract_fulltext(html: bytes, url: str, headers: Mapping[str, str] | None = None) -> str | None:
    """The main text of the article page at ``url``; None when the page has no article-sized text."""
    if not html.strip():
        return None
    text = decode_html(html, headers or {})
    extracted = trafilatura.extract(
        text,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        output_format="txt",
        with_metadata=False,
        deduplicate=False,
    )
    if not isinstance(extracted, str):
        log.info("no article text found url=%s", url)
        return None
    extracted = extracted.strip()
    if len(extracted) < MIN_CHARS:
        log.info("article text too short url=%s chars=%d", url, len(extracted))
        return None
    return extracted
