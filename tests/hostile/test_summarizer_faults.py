"""Issue 12, point 1: one feed item must not stop the summarizer. The item is served by a loopback feed, polled by
the real poller into a real store (SQLite and PostgreSQL), summarized by the real models."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from monitor.cli import fetch_settings
from monitor.config import SourceConfig
from monitor.fetch import Fetcher
from monitor.poller import Poller
from monitor.settings import MonitorSettings
from monitor.store import Store
from monitor.tables import article_sightings, articles
from summarizer.embeddings import Embedder
from summarizer.entities import ArticleEntities, EntityExtractor
from summarizer.pipeline import Summarizer
from summarizer.repository import NlpRepository
from summarizer.tables import (
    ENTITY_KEY_LENGTH,
    article_entities,
    article_nlp,
    bounded_key,
    stories,
    story_articles,
)
from tests.guarded_run import veille
from tests.httpserver import LoopbackServer

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LONG = "K" + "owalczyk" * 27 + "a"  # a 218-letter name (the had 221)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Store]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with Store.open(url) as s:
        yield s


def rss(items: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example.org/{i}</link><guid>g{i}</guid>"
        f"<pubDate>Mon, 07 Dec 2026 0{i % 10}:00:00 GMT</pubDate><description>{text}</description></item>"
        for i, (title, text) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'


@pytest.fixture
async def poller(store: Store) -> AsyncIterator[Poller]:
    settings = MonitorSettings(database_url="sqlite://", allow_private=True)
    async with Fetcher(fetch_settings(settings)) as fetcher:
        yield Poller(store, fetcher, settings, clock=lambda: NOW, rng=random.Random(1))


async def poll(poller: Poller, http_server: LoopbackServer, feed: str) -> None:
    http_server.route("/feed", body=feed.encode(), headers={"Content-Type": "application/rss+xml"})
    source = SourceConfig(
        id="hostile", name="Hostile", kind="feed", url=http_server.url("/feed"), language="en"
    )
    outcome = await poller.poll(source)
    assert outcome.status == "new" and outcome.new == outcome.items, outcome


def statuses(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(article_nlp.c.article_id, article_nlp.c.status)).all())


async def test_p1_two_long_names_sharing_200_characters_do_not_stop_the_summarizer(
    store: Store, poller: Poller, http_server: LoopbackServer, embedder: Embedder, extractor: EntityExtractor
) -> None:
    """Point 1: "Police said that {L}ski and {L}ova were arrested" (L a 221-letter name): two unknown entities whose
    keys share their first 200 characters collided on ``entity_key[:200]`` and the batch failed at every retry.
    Both names are kept apart now, and the articles after it are summarized."""
    await poll(
        poller,
        http_server,
        rss(
            [
                ("Arrests in Lyon", f"Police said that Mr {LONG}ski and Mrs {LONG}ova were arrested."),
                ("Europol operation", "Europol said on Monday that a network using Telegram was taken down."),
            ]
        ),
    )
    counts = Summarizer(store, extractor, embedder).process_all()
    assert (counts.articles, counts.failed) == (2, 0)
    assert set(statuses(store).values()) == {"ok"}
    with store.engine.connect() as conn:
        keys = list(conn.execute(select(article_entities.c.entity_key)).scalars())
    long_keys = [k for k in keys if k.startswith("unk:person:" + LONG[:50].lower())]
    assert len(long_keys) == 2 and len(set(long_keys)) == 2  # both people, apart
    assert all(len(k) <= ENTITY_KEY_LENGTH for k in keys)


def test_p1_bounded_keys_stay_apart_and_short_keys_are_unchanged() -> None:
    """The key rule alone: a cut keeps a digest of the whole key, so keys differing after 200 characters differ."""
    assert bounded_key("unk:person:jean dupont") == "unk:person:jean dupont"
    a, b = bounded_key("unk:person:" + "x" * 300 + "ski"), bounded_key("unk:person:" + "x" * 300 + "ova")
    assert a != b and len(a) == len(b) == ENTITY_KEY_LENGTH
    assert bounded_key(a) == a  # idempotent: the store applies it again


class PoisonExtractor:
    """The real extractor, except that one marked article makes it raise (any bug a hostile text could reach)."""

    def __init__(self, inner: EntityExtractor) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def extract_many(self, texts: Sequence[tuple[str, str | None]]) -> list[ArticleEntities]:
        if any("POISON" in text for text, _lang in texts):
            raise RuntimeError("a bug reached by this text")
        return self.inner.extract_many(texts)


async def test_p1_a_poison_article_is_recorded_and_skipped_the_rest_goes_on(
    store: Store, poller: Poller, http_server: LoopbackServer, embedder: Embedder, extractor: EntityExtractor
) -> None:
    """A batch that fails is redone article by article; the article that fails alone is recorded as ``failed``
    with its error and never retried by itself; every other article is summarized into its story."""
    items = [
        (f"Europol report {i}", f"Europol published report number {i} about Telegram channels.")
        for i in range(5)
    ]
    items.insert(2, ("POISON", "POISON text that breaks a stage of the summarizer."))
    await poll(poller, http_server, rss(items))
    summarizer = Summarizer(store, PoisonExtractor(extractor), embedder)  # type: ignore[arg-type]
    counts = summarizer.process_all(batch_size=4)
    assert (counts.articles, counts.failed) == (6, 1)
    repo = NlpRepository(store)
    [(article, _when, error)] = repo.failed()
    assert article.title == "POISON" and "RuntimeError: a bug reached by this text" in error
    assert sorted(statuses(store).values()) == ["failed"] + ["ok"] * 5
    with store.engine.connect() as conn:
        members = set(conn.execute(select(story_articles.c.article_id)).scalars())
    assert article.id not in members and len(members) == 5
    assert summarizer.process_pending().articles == 0  # skipped for good: not pending any more
    assert repo.count_failed() == 1
    env = dict(os.environ, DATABASE_URL=store.engine.url.render_as_string(hide_password=False))
    shown = await asyncio.to_thread(veille, ["stories", "failed", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    [listed] = [json.loads(line) for line in shown.stdout.splitlines()]
    assert listed["article"] == article.id and "a bug reached by this text" in listed["error"]
    assert repo.retry_failed() == 1  # after a fix, the operator puts it back
    assert [a.id for a in repo.pending(10, embedder.model_id)] == [article.id]


async def test_p1_a_stage_that_fails_for_every_article_marks_none(
    store: Store, poller: Poller, http_server: LoopbackServer, embedder: Embedder, extractor: EntityExtractor
) -> None:
    """When every article of a batch fails alone, the fault is the stage's, not an article's: nothing is marked
    failed, the error goes up (the part is restarted with backoff) and the articles stay pending."""
    items = [(f"POISON {i}", "POISON everywhere.") for i in range(3)]
    await poll(poller, http_server, rss(items))
    summarizer = Summarizer(store, PoisonExtractor(extractor), embedder)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="a bug reached"):
        summarizer.process_pending()
    assert statuses(store) == {} and len(NlpRepository(store).pending(10, embedder.model_id)) == 3


async def test_p5_an_official_source_reclaims_its_url_from_an_earlier_low_trust_copy(
    store: Store, poller: Poller, http_server: LoopbackServer, embedder: Embedder, extractor: EntityExtractor
) -> None:
    """Point 5: a low-trust source that published the URL of an official release first made the official
    source's own title and text be discarded ("unchanged"); the digest showed the planted text under the
    official URL. The official version replaces it now, and the summarizer redoes the article."""
    release = "https://www.europol.example/media-press/newsroom/news/operation-42"
    planted = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Mirror</title><item><title>Europol: '
        f"everything was a hoax</title><link>{release}</link><guid>m1</guid><pubDate>Mon, 07 Dec 2026 08:00:00 GMT"
        "</pubDate><description>Planted text: Europol admits the operation never happened.</description></item>"
        "</channel></rss>"
    )
    official = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Europol</title><item><title>Europol takes down a '
        f"fraud network</title><link>{release}</link><guid>e1</guid><pubDate>Mon, 07 Dec 2026 09:00:00 GMT"
        "</pubDate><description>Europol and national police took down a fraud network operating on Telegram."
        "</description></item></channel></rss>"
    )
    http_server.route("/mirror", body=planted.encode(), headers={"Content-Type": "application/rss+xml"})
    http_server.route("/europol", body=official.encode(), headers={"Content-Type": "application/rss+xml"})
    mirror = SourceConfig(
        id="mirror", name="Mirror", kind="feed", url=http_server.url("/mirror"), language="en"
    )
    agency = SourceConfig(
        id="europol",
        name="Europol",
        kind="feed",
        url=http_server.url("/europol"),
        language="en",
        official=True,
    )
    assert (await poller.poll(mirror)).new == 1
    Summarizer(store, extractor, embedder).process_all()
    assert (await poller.poll(agency)).status in {"new", "unchanged"}
    with store.engine.connect() as conn:
        [row] = conn.execute(
            select(articles.c.id, articles.c.source_id, articles.c.title, articles.c.text)
        ).all()
        seen_by = set(conn.execute(select(article_sightings.c.source_id)).scalars())
    assert (row.source_id, row.title) == ("europol", "Europol takes down a fraud network")
    assert "Planted" not in row.text and seen_by == {"mirror", "europol"}
    assert [a.id for a in NlpRepository(store).pending(10, embedder.model_id)] == [row.id]  # redone
    Summarizer(store, extractor, embedder).process_all()
    with store.engine.connect() as conn:
        [headline] = conn.execute(select(stories.c.headline).where(stories.c.articles > 0)).scalars().all()
    assert headline == "Europol takes down a fraud network"
    assert (await poller.poll(mirror)).new == 0  # the mirror serving its version again changes nothing
    with store.engine.connect() as conn:
        assert conn.execute(select(articles.c.source_id)).scalar_one() == "europol"
