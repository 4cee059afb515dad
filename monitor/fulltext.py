"""Full text of an article page (optional stage): HTML bytes -> plain text, or None when nothing useful.

1. Cap the page at :data:`MAX_PAGE_BYTES` before anything parses it (:func:`capped_page`): parsing and
   extraction cost about 20 times the page in memory (six 9.8 MB pages once took 1.2 GB together), and an
   article is never that big. A longer page first loses the content of its ``<script>`` and ``<style>``
   elements (inline JSON and code are what make real pages big), then whatever is left past the cap.
2. Decode the bytes as :func:`monitor.page.decode_html` does (BOM, HTTP charset, ``<meta>``, UTF-8).
3. trafilatura extracts the main text, favouring precision (menus, related links, cookie banners and
   comment threads left out). It only reads the string it is given: no download, no network.
4. Less than :data:`MIN_CHARS` characters is not an article body (a paywall stub, a cookie wall, a
   listing): None, and the caller keeps the feed's own text. More than :data:`MAX_TEXT_CHARS` is cut to it,
   as every article text is (:mod:`monitor.normalize`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from monitor.normalize import MAX_TEXT_CHARS
from monitor.page import decode_html

MIN_CHARS = 200  # shorter extractions are stubs, not articles
MAX_PAGE_BYTES = 2 * 1024 * 1024  # longer pages are cut before parsing (the largest real page seen: 1.6 MB)

log = logging.getLogger(__name__)

_RAW_TEXT_OPEN = re.compile(rb"<(script|style)\b", re.IGNORECASE)
_RAW_TEXT_CLOSE = {
    name: re.compile(rb"</" + name + rb"\s*>", re.IGNORECASE) for name in (b"script", b"style")
}


def capped_page(html: bytes, limit: int = MAX_PAGE_BYTES) -> bytes:
    """``html`` when it is at most ``limit`` bytes; else without the content of its scripts and styles, cut
    to ``limit`` bytes. Linear in the page size, whatever the markup (an unclosed ``<script>`` ends it)."""
    if len(html) <= limit:
        return html
    kept: list[bytes] = []
    size = pos = 0
    while size <= limit and (opening := _RAW_TEXT_OPEN.search(html, pos)) is not None:
        start = html.find(b">", opening.end())
        if start < 0:
            break
        kept.append(html[pos : start + 1])
        size += start + 1 - pos
        closing = _RAW_TEXT_CLOSE[opening.group(1).lower()].search(html, start + 1)
        if closing is None:
            pos = len(html)
            break
        pos = closing.start()
    kept.append(html[pos : pos + max(0, limit - size)])
    return b"".join(kept)[:limit]


def extract_fulltext(html: bytes, url: str, headers: Mapping[str, str] | None = None) -> str | None:
    """The main text of the article page at ``url``; None when the page has no article-sized text."""
    import trafilatura  # here, not at the top: the commands that never extract start 0.1 s faster

    if not html.strip():
        return None
    if len(html) > MAX_PAGE_BYTES:
        log.info("article page cut before parsing url=%s bytes=%d cap=%d", url, len(html), MAX_PAGE_BYTES)
        html = capped_page(html)
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
    return extracted[:MAX_TEXT_CHARS]
