"""Recognise anti-bot walls: a challenge or block page served instead of the feed or page asked for.

A source behind such a wall gets ``ErrorKind.BLOCKED`` rather than ``unparseable``: the body is not broken,
a bot manager refused us. Detection is pure and cheap, and looks at the first 64 KB only:

1. Decisive headers: ``cf-mitigated: challenge`` (Cloudflare), ``x-sucuri-block`` (Sucuri).
2. A thin page (the whole body fits in the window and shows under 1,200 characters of text, scripts and
   styles removed) carrying a wall's marker: ``Just a moment...`` and ``/cdn-cgi/challenge-platform/h/``
   (Cloudflare), ``Incapsula incident ID`` (Imperva), ``Access Denied`` + ``Reference #`` (Akamai),
   ``px-captcha`` (PerimeterX/HUMAN), ``captcha-delivery.com`` (DataDome), ``Please Wait...`` + a
   ``<noscript>`` notice (generic JavaScript walls), ...
3. A thin error page (403/429/503) from a server that names a wall vendor (``server: cloudflare``).

The thin-page condition is what keeps a real article safe: a story about Cloudflare, or a normal page of a
Cloudflare customer (which may carry the ``challenge-platform/scripts/jsd`` script), has far more text than
a wall.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

WINDOW = 64 * 1024  # bytes of the body looked at
THIN_TEXT_CHARS = 1200  # a wall shows less visible text than this

_INVISIBLE_OPEN = re.compile(r"<!--|<(script|style|noscript|template)\b", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")
_ENTITY = re.compile(r"&#?\w+;")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class _Wall:
    name: str
    markers: tuple[
        tuple[str, ...], ...
    ]  # lower-case substrings; the wall matches if one group is all present
    headers: tuple[tuple[str, str], ...] = ()  # (name, substring of the value): decisive on its own
    server: str | None = None  # substring of the Server header that, on a thin 403/429/503, names the wall


_WALLS: tuple[_Wall, ...] = (
    _Wall(
        "Cloudflare",
        markers=(
            ("<title>just a moment...</title>",),
            ("cf-browser-verification",),
            ("/cdn-cgi/challenge-platform/h/",),  # not .../scripts/jsd/, injected into normal pages
            ("window._cf_chl_opt",),
            ("attention required! | cloudflare",),
            ("cf-error-details", "cloudflare"),
            ("enable javascript and cookies to continue",),
        ),
        headers=(("cf-mitigated", "challenge"),),
        server="cloudflare",
    ),
    _Wall(
        "DDoS-Guard",
        markers=(("<title>ddos-guard</title>",), ("check.ddos-guard.net",), ("/.well-known/ddos-guard/",)),
        server="ddos-guard",
    ),
    _Wall(
        "Sucuri",
        markers=(("sucuri website firewall",), ("sucuri_cloudproxy_js",)),
        headers=(("x-sucuri-block", ""),),
    ),
    _Wall(
        "Imperva Incapsula",
        markers=(("incapsula incident id",), ("/_incapsula_resource",)),
    ),
    _Wall(
        "Akamai",
        markers=(
            ("<title>access denied</title>", "reference #"),
            ("<title>access denied</title>", "reference&#32;&#35;"),
            ("errors.edgesuite.net",),
            ("errors&#46;edgesuite&#46;net",),
        ),
        server="akamaighost",
    ),
    _Wall(
        "PerimeterX",
        markers=(("px-captcha",), ("perimeterx", "captcha")),
    ),
    _Wall(
        "DataDome",
        markers=(("captcha-delivery.com",), ("datadome", "captcha")),
    ),
    _Wall(
        "JavaScript wall",
        markers=(
            ("please wait...", "<noscript"),
            ("checking your browser before accessing",),
            ("please enable javascript", "<noscript"),
        ),
    ),
)


def detect_challenge(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """The name of the anti-bot wall that produced this response, or None for an ordinary one.

    ``headers`` may use any case for its names. Only the first 64 KB of ``body`` are read.
    """
    lowered = {name.lower(): value.lower() for name, value in headers.items()}
    for wall in _WALLS:
        for name, needle in wall.headers:
            if name in lowered and needle in lowered[name]:
                return wall.name
    if len(body) > WINDOW:
        return None  # walls are small pages; a long document is content
    text = _SPACE.sub(" ", body.decode("utf-8", errors="replace").lower())
    if not _is_thin(text):
        return None
    for wall in _WALLS:
        if any(all(marker in text for marker in group) for group in wall.markers):
            return wall.name
    server = lowered.get("server", "")
    if status in (403, 429, 503):
        for wall in _WALLS:
            if wall.server and wall.server in server:
                return wall.name
    return None


def visible_text(html: str) -> str:
    """The text a reader would see: scripts, styles, comments and tags removed, whitespace collapsed.

    One forward pass with literal searches (no backtracking regex), so hostile input stays linear.
    """
    kept: list[str] = []
    pos = 0
    while (match := _INVISIBLE_OPEN.search(html, pos)) is not None:
        kept.append(html[pos : match.start()])
        closer = "-->" if match.group(1) is None else rf"</{match.group(1)}\s*>"
        end = re.compile(closer, re.IGNORECASE).search(html, match.end())
        if end is None:
            pos = len(html)
            break
        pos = end.end()
    kept.append(html[pos:])
    text = _TAG.sub(" ", " ".join(kept))
    text = _ENTITY.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def _is_thin(html: str) -> bool:
    return len(visible_text(html)) < THIN_TEXT_CHARS
