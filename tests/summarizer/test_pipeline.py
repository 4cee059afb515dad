"""The summarizer pipeline on a real store with the real models: stories from the project's multilingual set,
resumable after a restart, bad articles recorded without stopping the batch."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from monitor.ingest import ingest
from monitor.models import RawItem
from monitor.normalize import normalize_items
from monitor.store import Store
from summarizer.clustering_eval import bcubed_scores, pairwise_scores
from summarizer.clustering_model import ClusteringModel, Decision
from summarizer.embeddings import Embedder, load_embedder
from summarizer.entities import EntityExtractor
from summarizer.hybrid import JOIN_FEATURES, LINK_FEATURES
from summarizer.pipeline import Summarizer
from summarizer.repository import NlpRepository
from summarizer.tables import article_nlp, story_articles

SET = Path(__file__).parent.parent / "fixtures" / "stories" / "multilingual.jsonl"
NOW = datetime(2024, 3, 20, tzinfo=UTC)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("use")


@pytest.fixture(scope="session")
def extractor() -> EntityExtractor:
    return EntityExtractor()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    s.close()


def load_set(store: Store, rows: list[dict[str, str]]) -> dict[str, str]:
    """Store the set's articles through the monitor's normalize and ingest; gold story by stored article id."""
    gold: dict[str, str] = {}
    for row in rows:
        url = f"https://{row['lang']}.news.example/{row['id']}"
        published = datetime.fromisoformat(row["published"]).astimezone(UTC)
        item = RawItem(
            guid=row["id"],
            link=url,
            title=row["title"],
            content=row["text"],
            published=published,
            language=row["lang"],
        )
        # first seen when published, as when the monitor polls the sources as they publish
        [article] = normalize_items(
            [item], source_id=f"src-{row['id']}", declared_language=row["lang"], now=published
        )
        with store.transaction() as tx:
            ingest(tx, [article], article.source_id, published)
        gold[article.id] = row["story"]
    return gold


def test_pipeline_builds_the_gold_stories_and_resumes(
    store: Store, embedder: Embedder, extractor: EntityExtractor
) -> None:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    gold = load_set(store, rows[:-5])
    first = Summarizer(store, extractor, embedder)
    counts = first.process_all(batch_size=16)
    assert (counts.articles, counts.errors) == (len(gold), 0)

    # a restart: the state is reloaded, nothing is redone, and the last articles join their stories
    gold.update(load_set(store, rows[-5:]))
    second = Summarizer(store, extractor, embedder)
    assert second.process_all(batch_size=16).articles == 5
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(article_nlp)).scalar_one() == len(gold)
        pred = dict(conn.execute(select(story_articles.c.article_id, story_articles.c.story_id)).all())
    resolved = {aid: second.clusterer.resolve(sid) for aid, sid in pred.items()}
    pairwise = pairwise_scores(gold, resolved)
    bcubed = bcubed_scores(gold, resolved)
    print(f"\npipeline on the multilingual set: pairwise F1 {pairwise.f1:.3f}, BCubed F1 {bcubed.f1:.3f}")
    assert pairwise.f1 >= 0.9 and bcubed.f1 >= 0.9

    stories = NlpRepository(store).stories_since(datetime(2024, 1, 1, tzinfo=UTC))
    assert stories and all(s.headline and s.summary and s.summary["sentences"] for s in stories)
    for story in stories:  # the full summary: at least the digest's, about 150 words at most a third more
        assert story.summary is not None
        full, short = story.summary["full"], story.summary["sentences"]
        assert len(full) >= len(short) and len({x["lang"] for x in full}) == 1  # one language
        assert len(full) == 1 or sum(len(x["text"].split()) for x in full) <= 200
    assert max(s.importance for s in stories) > min(s.importance for s in stories)

    # a story told in several languages carries, for each, the headline and sentences its readers get
    views = NlpRepository(store).story_views(stories)
    multilingual = [v for v in views if len(v.languages) > 1]
    assert multilingual and all({x.lang for x in v.variants} == set(v.languages) for v in multilingual)
    by_lang = {(v.story_id, x.lang): x for v in multilingual for x in v.variants}
    in_own_language = [x for x in by_lang.values() if x.headline_lang == x.lang]
    assert len(in_own_language) == len(by_lang)  # each reader gets a headline in their own language
    assert all(v.sources_list and v.headline_lang for v in views)


def test_bad_articles_are_recorded_and_the_batch_goes_on(
    store: Store, embedder: Embedder, extractor: EntityExtractor
) -> None:
    items = [
        RawItem(guid="empty", link="https://x.example/empty", title="Empty", content=""),
        RawItem(guid="huge", link="https://x.example/huge", title="Huge", content="Europol. " * 600_000),
        RawItem(
            guid="mixed",
            link="https://x.example/mixed",
            title="Europol و داعش sur Telegram",
            content="Europol a dit que داعش utilise Telegram. Die Polizei ermittelt.",
        ),
        RawItem(guid="unknown", link="https://x.example/xx", title="Zxqv wbnm", content="Zxqv wbnm plk trr."),
    ]
    articles = normalize_items(items, source_id="bad", declared_language="auto", now=NOW)
    with store.transaction() as tx:
        ingest(tx, articles, "bad", NOW)
    counts = Summarizer(store, extractor, embedder).process_all()
    assert counts.articles == len(articles)
    with store.engine.connect() as conn:
        statuses = dict(conn.execute(select(article_nlp.c.article_id, article_nlp.c.status)).all())
    assert set(statuses) == {a.id for a in articles}


class RenamedModel:
    """The same vectors under another model id: stands for swapping the embedding model."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = "test:renamed-model"
        self.dim = inner.dim

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        return self.inner.embed(texts)


def test_a_model_change_recomputes(store: Store, embedder: Embedder, extractor: EntityExtractor) -> None:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()][:20]
    load_set(store, rows)
    assert Summarizer(store, extractor, embedder).process_all().articles == 20
    assert Summarizer(store, extractor, embedder).process_all().articles == 0
    other = RenamedModel(embedder)
    assert Summarizer(store, extractor, other).process_all().articles == 20  # every article, again
    assert Summarizer(store, extractor, other).process_all().articles == 0
    repo = NlpRepository(store)
    ids = [
        a.id
        for a, _ in (m for s in repo.stories_since(NOW.replace(year=2000)) for m in repo.story_members(s.id))
    ]
    assert len(repo.embeddings(ids, other.model_id)) == len(repo.embeddings(ids, embedder.model_id)) == 20


# never joins an event, links every pair of events of different languages
LINK_EVERYTHING = ClusteringModel(
    "test", Decision.fixed(JOIN_FEATURES, -50.0), Decision.fixed(LINK_FEATURES, 50.0)
)


class ScriptedEmbedder:
    """2-d vectors chosen by the first word of the text: a story made in a batch, then merged in that batch."""

    model_id = "scripted-2d"
    dim = 2
    VECTORS: ClassVar[dict[str, tuple[float, ...]]] = {
        "Alpha": (1.0, 0.0),
        "Beta": (0.0, 1.0),
        "Gamma": (0.7071, 0.7071),
    }

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        return [self.VECTORS.get(t.split()[0] if t.split() else "", (0.6, 0.8)) for t in texts]


def test_a_story_merged_within_its_own_batch_keeps_its_articles(
    store: Store, extractor: EntityExtractor
) -> None:
    """Three articles in three languages start three stories that a link-everything model joins, all in one
    batch: each article must be saved in the surviving story (they were saved under a story never written)."""
    rows = [
        {
            "id": f"m{n}",
            "story": "one",
            "lang": lang,
            "title": f"{word} report {n}",
            "text": f"{word} text number {n}.",
            "published": f"2026-11-30T0{n}:00:00+00:00",
        }
        for n, (word, lang) in enumerate((("Alpha", "en"), ("Beta", "fr"), ("Gamma", "de")))
    ]
    load_set(store, rows)
    counts = Summarizer(store, extractor, ScriptedEmbedder(), model=LINK_EVERYTHING).process_pending(16)
    assert (counts.articles, counts.errors) == (3, 0)
    with store.engine.connect() as conn:
        assert len(set(conn.execute(select(story_articles.c.story_id)).scalars())) == 1


def test_a_state_saved_by_the_earlier_clusterer_is_migrated(
    store: Store, embedder: Embedder, extractor: EntityExtractor
) -> None:
    """A store whose clusterer state is the earlier format (dense centroids only): the summarizer rebuilds
    each of its stories under its id from the stored articles, and new articles go on joining them."""
    from summarizer.clustering import DEFAULT_PARAMS, ClusterState, state_to_dict
    from summarizer.pipeline import state_name
    from summarizer.tables import cluster_state

    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    gold = load_set(store, rows[:-10])
    first = Summarizer(store, extractor, embedder)
    first.process_all(batch_size=32)
    stories = [first.clusterer.story(sid) for sid in first.clusterer.stories()]
    old = ClusterState(DEFAULT_PARAMS, None, len(stories) + 3, tuple(stories), ())
    with store.engine.begin() as conn:
        conn.execute(
            cluster_state.update()
            .where(cluster_state.c.name == state_name(embedder.model_id))
            .values(state=state_to_dict(old))
        )
    before = {a: s.story_id for s in stories for a in s.articles}
    gold.update(load_set(store, rows[-10:]))
    second = Summarizer(store, extractor, embedder)
    assert {a: second.clusterer.story_of(a) for a in before} == before  # every story rebuilt under its id
    assert second.process_all(batch_size=32).articles == 10
    with store.engine.connect() as conn:
        pred = dict(conn.execute(select(story_articles.c.article_id, story_articles.c.story_id)).all())
    resolved = {aid: second.clusterer.resolve(sid) for aid, sid in pred.items()}
    joined = [a for a in gold if a not in before and gold[a] in {gold[b] for b in before}]
    assert joined and sum(resolved[a] in before.values() for a in joined) >= len(joined) * 0.7
    saved = second.clusterer.snapshot()
    assert saved["kind"] == "hybrid"
