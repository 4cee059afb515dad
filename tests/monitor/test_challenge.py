"""detect_challenge: anti-bot walls are named, ordinary pages and feeds are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.challenge import WINDOW, detect_challenge, visible_text
from tests.conftest import shared_data

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"


def _page(title: str, body: str, head: str = "") -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode()
    )


WALLS = [
    pytest.param(
        403, {"cf-mitigated": "challenge", "server": "cloudflare"}, b"", "Cloudflare", id="cf-mitigated"
    ),
    pytest.param(
        503,
        {"CF-Mitigated": "Challenge"},
        b"x" * (WINDOW * 2),
        "Cloudflare",
        id="cf-header-any-case-long-body",
    ),
    pytest.param(
        403,
        {},
        _page("Attention Required! | Cloudflare", "<h1>Sorry, you have been blocked</h1><p>Ray ID: 8e0b</p>"),
        "Cloudflare",
        id="cf-attention-required",
    ),
    pytest.param(
        503,
        {},
        _page("Checking", '<div id="cf-browser-verification">Please stand by</div>'),
        "Cloudflare",
        id="cf-browser-verification",
    ),
    pytest.param(
        403,
        {"server": "cloudflare"},
        _page("403 Forbidden", "<h1>403 Forbidden</h1>"),
        "Cloudflare",
        id="cf-server-thin-403",
    ),
    pytest.param(
        200,
        {},
        _page(
            "DDoS-Guard",
            "<p>Checking your browser</p>",
            '<script src="https://check.ddos-guard.net/check.js">',
        ),
        "DDoS-Guard",
        id="ddos-guard",
    ),
    pytest.param(
        503,
        {"server": "ddos-guard"},
        _page("503", "<p>Service unavailable</p>"),
        "DDoS-Guard",
        id="ddos-guard-server",
    ),
    pytest.param(
        403,
        {},
        _page("Sucuri WebSite Firewall - Access Denied", "<h2>Access Denied - Sucuri Website Firewall</h2>"),
        "Sucuri",
        id="sucuri-page",
    ),
    pytest.param(403, {"x-sucuri-block": "BL001"}, b"denied", "Sucuri", id="sucuri-header"),
    pytest.param(
        200,
        {},
        b'<html><head><META NAME="robots" CONTENT="noindex,nofollow"></head><body><iframe '
        b'src="/_Incapsula_Resource?CWUDNSAI=9&incident_id=1-2">Request unsuccessful. Incapsula incident ID: '
        b"1-2</iframe></body></html>",
        "Imperva Incapsula",
        id="incapsula",
    ),
    pytest.param(
        403,
        {"server": "AkamaiGHost"},
        b"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\nYou don't have "
        b"permission to access this server.<P>\nReference&#32;&#35;18&#46;5c0e1002&#46;1733&#46;2b1f\n"
        b"<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;5c0e1002</P></BODY>\n</HTML>\n",
        "Akamai",
        id="akamai-access-denied",
    ),
    pytest.param(
        403,
        {},
        _page("Access Denied", "<h1>Access Denied</h1><p>Reference #18.5c0e1002.1733.2b1f</p>"),
        "Akamai",
        id="akamai-plain-reference",
    ),
    pytest.param(
        403,
        {},
        _page("Access to this page has been denied", '<div id="px-captcha"></div><p>Press &amp; Hold</p>'),
        "PerimeterX",
        id="perimeterx",
    ),
    pytest.param(
        403,
        {"x-datadome": "protected"},
        _page("example.com", "", '<script src="https://ct.captcha-delivery.com/c.js"></script>'),
        "DataDome",
        id="datadome",
    ),
    pytest.param(
        200,
        {},
        _page("One moment", "<p>Checking your browser before accessing example.org.</p>"),
        "JavaScript wall",
        id="checking-your-browser",
    ),
    pytest.param(
        200, {}, (PAGES / "cloudflare_challenge.html").read_bytes(), "Cloudflare", id="cf-just-a-moment"
    ),
    pytest.param(
        200, {}, (PAGES / "js_wall.html").read_bytes(), "JavaScript wall", id="please-wait-noscript"
    ),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected"), WALLS)
def test_walls_are_named(status: int, headers: dict[str, str], body: bytes, expected: str) -> None:
    assert detect_challenge(status, headers, body) == expected


ORDINARY = [
    pytest.param(200, {}, (PAGES / "article_about_cloudflare.html").read_bytes(), id="article-about-walls"),
    pytest.param(
        200, {"server": "cloudflare", "cf-ray": "8e0b"}, (PAGES / "article.html").read_bytes(), id="cf-site"
    ),
    pytest.param(200, {"server": "cloudflare"}, _page("Hello", "<p>Small page</p>"), id="cf-site-thin-200"),
    pytest.param(404, {"server": "nginx"}, _page("404 Not Found", "<h1>Not Found</h1>"), id="plain-404"),
    pytest.param(
        200,
        {},
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cloudflare blog</title><item><title>'
        b"Cloudflare outage</title></item></channel></rss>",
        id="feed-mentioning-cloudflare",
    ),
    pytest.param(
        200,
        {},
        _page("Just a moment...", "<p>" + "padding " * 20 + "</p>")
        + b"<!-- /cdn-cgi/challenge-platform/h/ -->"
        + b" " * WINDOW,
        id="marker-in-long-body",
    ),
    pytest.param(200, {}, b"", id="empty"),
    pytest.param(200, {}, b"\xff\xfe\x00\x01 garbage \x80", id="binary"),
]


@pytest.mark.parametrize(("status", "headers", "body"), ORDINARY)
def test_ordinary_responses_are_not_walls(status: int, headers: dict[str, str], body: bytes) -> None:
    assert detect_challenge(status, headers, body) is None


def test_seed_article_that_starts_like_a_wall_is_not_one() -> None:
    """The seed article's text begins with "noscript / Please Wait..." but carries a whole article."""
    seed = next(shared_data("seed").glob("000_*.txt"))
    body = seed.read_bytes()
    assert body.lstrip().startswith(b"noscript")
    assert detect_challenge(200, {}, body) is None
    # The same opening, without the article, is a wall.
    wall = b"<html><body><noscript>noscript</noscript><h1>Please Wait...</h1></body></html>"
    assert detect_challenge(200, {}, wall) == "JavaScript wall"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("<p>Hello <b>world</b></p>", "Hello world", id="tags"),
        pytest.param("<script>var a = '<p>hidden</p>';</script><p>shown</p>", "shown", id="script"),
        pytest.param("<STYLE>p{}</STYLE ><p>shown</p>", "shown", id="style-upper-case"),
        pytest.param("<!-- a <p>comment</p> --><p>shown</p>", "shown", id="comment"),
        pytest.param("<p>a&nbsp;b &amp; c</p>", "a b c", id="entities"),
        pytest.param("<p>kept</p><script>never closed", "kept", id="unclosed-script"),
        pytest.param("İstanbul <script>x</script> ok", "İstanbul ok", id="unicode-before-script"),
    ],
)
def test_visible_text(html: str, expected: str) -> None:
    assert visible_text(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("<p>x</p>" + "<script" * 9000, "x", id="many-unclosed-scripts"),
        pytest.param("<" * WINDOW, "<" * WINDOW, id="many-open-brackets"),
        pytest.param("y" + "<!--" * 16000, "y", id="many-unclosed-comments"),
    ],
)
def test_hostile_markup_is_handled(html: str, expected: str) -> None:
    """Inputs that make naive regexes quadratic come back with the right text (timings: see bench/)."""
    assert visible_text(html) == expected
    assert detect_challenge(200, {}, html.encode()) is None
