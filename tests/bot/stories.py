"""Stories in a real store without running the models: articles through the monitor's normalize and ingest, then
story rows and memberships through the summarizer's repository, as the pipeline would write them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.ingest import ingest
from monitor.models import RawItem
from monitor.normalize import normalize_items
from monitor.store import Store
from summarizer.repository import NlpRepository, ProcessedArticle, StoryRow


@dataclass(frozen=True)
class Piece:
    """One article of a story: its source, language, title and text."""

    source: str
    lang: str
    title: str
    text: str


def add_story(
    store: Store,
    story_id: str,
    pieces: Sequence[Piece],
    *,
    at: datetime,
    entities: Sequence[str] = (),
    importance: float = 1.0,
    headline: str | None = None,
    by_lang: dict[str, dict[str, object]] | None = None,
    new_from: int = 0,
) -> list[str]:
    """Store the articles and the story (processed at ``at``); the stored article ids. Texts must differ between
    articles of one source (the monitor takes the same text from the same source as the same article).
    ``new_from``: the pieces before it were stored and processed earlier (a story that grows)."""
    ids, results = [], []
    for n, piece in enumerate(pieces):
        item = RawItem(
            guid=f"{story_id}-{n}",
            link=f"https://{piece.source}.example/{story_id}/{n}",
            title=piece.title,
            content=piece.text,
            published=at,
            language=piece.lang,
        )
        [article] = normalize_items([item], source_id=piece.source, declared_language=piece.lang, now=at)
        with store.transaction() as tx:
            ingest(tx, [article], piece.source, at)
        ids.append(article.id)
        if n >= new_from:
            results.append(ProcessedArticle(article, at, story_id=story_id))
    sentences = [
        {"text": p.text, "article_id": aid, "position": 0, "lang": p.lang}
        for p, aid in zip(pieces, ids, strict=True)
    ][:3]
    row = StoryRow(
        id=story_id,
        first_seen=at,
        last_update=at,
        articles=len(pieces),
        sources=len({p.source for p in pieces}),
        languages=tuple(dict.fromkeys(p.lang for p in pieces)),
        headline=headline or pieces[0].title,
        summary={
            "headline_article_id": ids[0],
            "headline_lang": pieces[0].lang,
            "sentences": sentences,
            "entities": list(entities),
            "by_lang": by_lang or {},
        },
        importance=importance,
    )
    NlpRepository(store).save(results, [row], "test-model", 4)
    return ids
