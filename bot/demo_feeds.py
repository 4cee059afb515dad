"""The demo's corpus and the web site it becomes: RSS 2.0, Atom 1.0, JSON Feed 1.1 and an HTML press-release page.

1. ``load_corpus`` reads ``corpus.yaml`` (``bot/demo_data/corpus.yaml``: sources, then articles with their gold
   ``story``, an optional ``duplicate_of`` and a ``published`` offset such as ``+3h15m`` from the corpus start)
   into frozen values; a malformed file is a ``ConfigError`` naming the entry and a fix.
2. ``published_at`` dates an article so that the corpus's two days end at ``now``.
3. ``build_site`` renders every source as its kind, plus one HTML page per article, as ``{path: Page}``; only
   articles published up to ``now`` are in it. Text is escaped for its format: XML character data for the
   feeds (titles as plain text, bodies as escaped HTML paragraphs), ``json.dumps`` for JSON Feed, HTML
   escaping for the pages. ``PAGE_SELECTORS`` reads the press-release listing back.
4. ``corpus_id`` maps an article URL of the site back to its corpus id (``/<source>/articles/<article>.html``).
5. ``DemoServer`` serves the site on 127.0.0.1 (a free port) from a daemon thread; ``source_configs`` are the
   monitor's sources pointing at it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import yaml

from monitor.config import PageSelectorsConfig, SourceConfig
from monitor.errors import ConfigError

Kind = Literal["rss", "atom", "json", "page"]
KINDS: tuple[Kind, ...] = ("rss", "atom", "json", "page")
SPAN = timedelta(hours=48)  # the corpus tells two days
FEED_PATHS: dict[Kind, str] = {
    "rss": "rss.xml",
    "atom": "atom.xml",
    "json": "feed.json",
    "page": "press-releases.html",
}
CONTENT_TYPES: dict[Kind, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "page": "text/html; charset=utf-8",
}
PAGE_SELECTORS = PageSelectorsConfig(
    item="li.release", link="h2.release-title a", date="time", summary="p.release-summary"
)
_OFFSET = re.compile(r"\+?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?")
_ARTICLE_PATH = re.compile(r"/([^/]+)/articles/([^/]+)\.html")
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+")
_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "ar": "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
}


@dataclass(frozen=True, slots=True)
class DemoSource:
    id: str
    name: str
    kind: Kind
    language: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoArticle:
    id: str
    source: str  # a DemoSource id
    story: str  # the gold event label
    lang: str
    offset: timedelta  # publication time after the corpus start
    title: str
    text: str  # paragraphs separated by blank lines
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class DemoCorpus:
    start: datetime
    sources: tuple[DemoSource, ...]
    articles: tuple[DemoArticle, ...]


@dataclass(frozen=True, slots=True)
class Page:
    content_type: str
    body: bytes


# --- 1. the corpus -------------------------------------------------------------------------------------------


def parse_offset(value: object) -> timedelta:
    """``+3h15m``, ``+47h59m``, ``+1d2h``, ``+0h`` -> a timedelta; ValueError otherwise."""
    match = _OFFSET.fullmatch(str(value).strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"published {value!r} is not an offset such as +3h15m")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _start(value: object) -> datetime:
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _source(entry: Mapping[str, Any]) -> DemoSource:
    kind = str(entry["kind"])
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    tags = tuple(str(t) for t in entry.get("tags") or ())
    return DemoSource(str(entry["id"]), str(entry["name"]), kind, str(entry["language"]), tags)


def _article(entry: Mapping[str, Any], sources: set[str]) -> DemoArticle:
    if str(entry["source"]) not in sources:
        raise ValueError(f"source {entry['source']!r} is not in the sources list")
    copy = entry.get("duplicate_of")
    return DemoArticle(
        id=str(entry["id"]),
        source=str(entry["source"]),
        story=str(entry["story"]),
        lang=str(entry["lang"]),
        offset=parse_offset(entry["published"]),
        title=" ".join(str(entry["title"]).split()),
        text=str(entry["text"]).strip(),
        duplicate_of=None if copy is None else str(copy),
    )


def load_corpus(path: Path) -> DemoCorpus:
    """The corpus of a YAML file; ConfigError naming the bad entry (``sources[2]``, ``articles[17]``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path), hint="check the indentation") from exc
    where = "top level"
    try:
        start = _start(data["start"])
        sources: list[DemoSource] = []
        for n, entry in enumerate(data["sources"]):
            where = f"sources[{n}]"
            sources.append(_source(entry))
        ids = {s.id for s in sources}
        articles: list[DemoArticle] = []
        for n, entry in enumerate(data["articles"]):
            where = f"articles[{n}]"
            articles.append(_article(entry, ids))
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        hint = "see the schema at the top of bot/demo_data/corpus.yaml"
        raise ConfigError(f"{where}: {detail}", path=str(path), hint=hint) from exc
    return DemoCorpus(start, tuple(sources), tuple(articles))


def published_at(article: DemoArticle, now: datetime) -> datetime:
    """The article's date when the corpus's two days end at ``now`` (whole seconds)."""
    return (now - SPAN + article.offset).replace(microsecond=0)


# --- 2. URLs -------------------------------------------------------------------------------------------------


def feed_url(base_url: str, source: DemoSource) -> str:
    return f"{base_url}/{quote(source.id)}/{FEED_PATHS[source.kind]}"


def article_url(base_url: str, article: DemoArticle) -> str:
    return f"{base_url}/{quote(article.source)}/articles/{quote(article.id, safe='')}.html"


def corpus_id(url: str) -> str | None:
    """The corpus id of an article URL of the demo site; None for any other URL."""
    match = _ARTICLE_PATH.fullmatch(urlsplit(url).path)
    return unquote(match.group(2)) if match else None


# --- 3. rendering ------------------------------------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; line breaks inside one are spaces."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def lead(text: str) -> str:
    """The first sentence: what a feed's summary carries."""
    first = paragraphs(text)[0] if text.strip() else ""
    return _SENTENCE_END.split(first, maxsplit=1)[0]


def _html_paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs(text))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def human_date(moment: datetime, lang: str) -> str:
    """``28 novembre 2026, 09:15`` in the listing's language (English when it has no month names here)."""
    months = _MONTHS.get(lang, _MONTHS["en"]).split()
    return f"{moment.day} {months[moment.month - 1]} {moment.year}, {moment:%H:%M}"


def render_rss(source: DemoSource, items: Sequence[tuple[DemoArticle, datetime]], base_url: str) -> str:
    def item(article: DemoArticle, when: datetime) -> str:
        url = xml_escape(article_url(base_url, article))
        return (
            f"<item><title>{xml_escape(article.title)}</title><link>{url}</link>"
            f'<guid isPermaLink="true">{url}</guid><pubDate>{format_datetime(when, usegmt=True)}</pubDate>'
            f"<description>{xml_escape(_html_paragraphs(article.text))}</description>"
            + "".join(f"<category>{xml_escape(tag)}</category>" for tag in source.tags)
            + "</item>\n"
        )

    newest = max((when for _a, when in items), default=None)
    built = f"<lastBuildDate>{format_datetime(newest, usegmt=True)}</lastBuildDate>" if newest else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>\n'
        f"<title>{xml_escape(source.name)}</title><link>{xml_escape(base_url)}/{quote(source.id)}/</link>"
        f"<description>{xml_escape(source.name)}</description><language>{xml_escape(source.language)}</language>"
        f'{built}<atom:link href={quoteattr(feed_url(base_url, source))} rel="self" type="application/rss+xml"/>\n'
        + "".join(item(a, when) for a, when in items)
        + "</channel></rss>\n"
    )


def render_atom(source: DemoSource, items: Sequence[tuple[DemoArticle, datetime]], base_url: str) -> str:
    def entry(article: DemoArticle, when: datetime) -> str:
        url = article_url(base_url, article)
        return (
            f'<entry><title type="text">{xml_escape(article.title)}</title><id>{xml_escape(url)}</id>'
            f'<link rel="alternate" type="text/html" href={quoteattr(url)}/>'
            f"<published>{_iso(when)}</published><updated>{_iso(when)}</updated>"
            f'<summary type="text">{xml_escape(lead(article.text))}</summary>'
            f'<content type="html">{xml_escape(_html_paragraphs(article.text))}</content>'
            + "".join(f"<category term={quoteattr(tag)}/>" for tag in source.tags)
            + "</entry>\n"
        )

    newest = max((when for _a, when in items), default=datetime(2000, 1, 1, tzinfo=UTC))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang={quoteattr(source.language)}>\n'
        f'<title type="text">{xml_escape(source.name)}</title><id>{xml_escape(feed_url(base_url, source))}</id>'
        f"<updated>{_iso(newest)}</updated><author><name>{xml_escape(source.name)}</name></author>"
        f'<link rel="self" type="application/atom+xml" href={quoteattr(feed_url(base_url, source))}/>\n'
        + "".join(entry(a, when) for a, when in items)
        + "</feed>\n"
    )


def render_json_feed(source: DemoSource, items: Sequence[tuple[DemoArticle, datetime]], base_url: str) -> str:
    def item(article: DemoArticle, when: datetime) -> dict[str, Any]:
        url = article_url(base_url, article)
        return {
            "id": url,
            "url": url,
            "title": article.title,
            "summary": lead(article.text),
            "content_html": _html_paragraphs(article.text),
            "date_published": _iso(when),
            "language": article.lang,
            "tags": list(source.tags),
        }

    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": source.name,
        "home_page_url": f"{base_url}/{quote(source.id)}/",
        "feed_url": feed_url(base_url, source),
        "language": source.language,
        "authors": [{"name": source.name}],
        "items": [item(a, when) for a, when in items],
    }
    return json.dumps(feed, ensure_ascii=False, indent=1) + "\n"


def _html_page(lang: str, title: str, body: str) -> str:
    direction = ' dir="rtl"' if lang == "ar" else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}"{direction}><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>{body}</body></html>\n"
    )


def render_listing(source: DemoSource, items: Sequence[tuple[DemoArticle, datetime]], base_url: str) -> str:
    """The press-release page: one ``li.release`` per article (link, ``<time>``, the text as its summary)."""
    rows = "".join(
        '<li class="release">'
        f'<h2 class="release-title"><a href="{html.escape(article_url(base_url, a))}">{html.escape(a.title)}</a></h2>'
        f'<time datetime="{_iso(when)}">{html.escape(human_date(when, source.language))}</time>'
        f'<p class="release-summary">{html.escape(" ".join(paragraphs(a.text)))}</p></li>\n'
        for a, when in items
    )
    body = f'<header><h1>{html.escape(source.name)}</h1></header>\n<main><ul class="releases">\n{rows}</ul></main>'
    return _html_page(source.language, source.name, body)


def render_article_page(source: DemoSource, article: DemoArticle, when: datetime, base_url: str) -> str:
    listing = f"{base_url}/{quote(source.id)}/{FEED_PATHS[source.kind]}"
    body = (
        f'<nav><a href="{html.escape(listing)}">{html.escape(source.name)}</a></nav>'
        f"<article><h1>{html.escape(article.title)}</h1>"
        f'<p class="meta"><time datetime="{_iso(when)}">{html.escape(human_date(when, article.lang))}</time></p>'
        f"{_html_paragraphs(article.text)}</article>"
    )
    return _html_page(article.lang, article.title, body)


_RENDERERS = {"rss": render_rss, "atom": render_atom, "json": render_json_feed, "page": render_listing}


def build_site(corpus: DemoCorpus, base_url: str, now: datetime) -> dict[str, Page]:
    """Every page of the demo site by path: each source's feed or listing (newest first), each article's page."""
    site: dict[str, Page] = {}
    for source in corpus.sources:
        dated = [(a, published_at(a, now)) for a in corpus.articles if a.source == source.id]
        items = sorted(
            [(a, when) for a, when in dated if when <= now], key=lambda x: (x[1], x[0].id), reverse=True
        )
        text = _RENDERERS[source.kind](source, items, base_url)
        site[urlsplit(feed_url(base_url, source)).path] = Page(
            CONTENT_TYPES[source.kind], text.encode("utf-8")
        )
        for article, when in items:
            page = render_article_page(source, article, when, base_url)
            site[urlsplit(article_url(base_url, article)).path] = Page(
                CONTENT_TYPES["page"], page.encode("utf-8")
            )
    return site


def etag(page: Page) -> str:
    return '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'


# --- 5. the site on loopback ---------------------------------------------------------------------------------


class DemoServer:
    """The demo site on 127.0.0.1 (a free port) in a daemon thread; fill ``pages`` before the first request."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # the demo prints its own summary

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def _answer(self, *, body: bool) -> None:
                page = pages.get(self.path.split("?", 1)[0])
                status = 200 if page else 404
                page = page or Page("text/plain; charset=utf-8", b"not found\n")
                self.send_response(status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                self.send_header("ETag", etag(page))
                self.end_headers()
                if body:
                    self.wfile.write(page.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def source_configs(corpus: DemoCorpus, base_url: str) -> list[SourceConfig]:
    """The monitor's configuration of each corpus source, pointing at the demo site."""
    return [
        SourceConfig(
            id=s.id,
            name=s.name,
            kind="page" if s.kind == "page" else "feed",
            url=feed_url(base_url, s),
            language=s.language,
            tags=s.tags,
            selectors=PAGE_SELECTORS if s.kind == "page" else None,
        )
        for s in corpus.sources
    ]
