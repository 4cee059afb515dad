"""The story clusterer: same-language events by a learned score, linked across languages by another.

Two levels, as in the research on streaming multilingual news clustering (Miranda et al., EMNLP 2018;
Staykovski et al., 2019; Linger and Hajaiej, 2020):

(a) **events** (one language): an article is scored against the active events of its language that its
    dense vector ranks in the :data:`CANDIDATES` closest; the features (:data:`JOIN_FEATURES`) are TF-IDF
    cosines over words, title words, stems and entities (against the event's centre, and the mean cosine to
    its members), shared canonical entities, the dense cosine (centre and members), the time gaps to the
    event's centre and to its last source, and its size. A logistic regression turns them into the
    probability that the article belongs to the event; the best event at or above the model's threshold is
    joined, else the article starts an event.
(b) **stories** (across languages): the event that just changed is scored against the closest active
    events of other languages (:data:`LINK_FEATURES`: dense cosine, entity and number TF-IDF cosines, shared
    canonical entities, time gap, sizes) by a second logistic regression; at or above its threshold the two
    events' stories become one, as long as they share no language: a story holds at most one event per
    language, so two same-language events never chain into one story through a third language.

No chaining inside an event either: the mean cosine to the members falls as an event drifts into a
catch-all (the centre of unrelated articles stays close to everything, its members do not), and the model
weighs both. A story shown to a reader is the multilingual one; its id is ``"s" + its first article id``.

Duplicates (``duplicate_of`` an article already seen) join their original's event as copies, counting for
nothing. The stream clock (the latest publication time seen) closes the stories without a new source for
``window``; their events leave the index, so the cost per article depends on the active window only.
Document frequencies are learned from the stream as it goes (:mod:`summarizer.textfeatures`).

Deterministic for one input order; :meth:`HybridClusterer.snapshot` is the whole state as JSON-ready plain
data (:func:`hybrid_state_from_dict` reads it back) and a clusterer restored from it goes on exactly as the
original would. The two models come from :mod:`summarizer.clustering_model` (the shipped default, or a file
trained with ``veille train clustering``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from summarizer.clustering import ClusterInput, StoryState, follow_aliases
from summarizer.clustering_model import ClusteringModel, default_model
from summarizer.textfeatures import DocumentFrequencies, SparseVector, dot, terms

Matrix = npt.NDArray[np.float64]

STATE_VERSION = 2
CANDIDATES = 24  # events scored per article (the closest by dense cosine), per level
SPARSE_CAP = {"tok": 600, "title": 120, "stem": 500, "ent": 150, "num": 60}  # terms kept in a centre
HOUR = 3600.0
JOIN_FEATURES = (
    "tok_centre", "tok_members", "title_centre", "no_title", "stem_centre", "ent_centre", "shared_entities",
    "dense_centre", "dense_members", "gap_centre", "gap_last", "size",
)  # fmt: skip
LINK_FEATURES = (
    "dense_centre", "ent_centre", "num_centre", "shared_entities", "gap_centre", "size_min", "size_max",
)  # fmt: skip


@dataclass(slots=True)
class _Sum:
    """A sum of sparse unit vectors with its squared norm, bounded to its heaviest terms."""

    weights: dict[str, float] = field(default_factory=dict)
    norm2: float = 0.0

    def add(self, vector: Mapping[str, float], cap: int, scale: float = 1.0) -> None:
        if not vector:
            return
        self.norm2 += 2 * scale * dot(self.weights, vector) + scale * scale * sum(
            w * w for w in vector.values()
        )
        for term, w in vector.items():
            self.weights[term] = self.weights.get(term, 0.0) + scale * w
        if len(self.weights) > 2 * cap:
            kept = sorted(self.weights.items(), key=lambda kv: (-kv[1], kv[0]))[:cap]
            self.weights = dict(kept)
            self.norm2 = sum(w * w for w in self.weights.values())

    def cosine(self, vector: Mapping[str, float]) -> float:
        return dot(vector, self.weights) / math.sqrt(self.norm2) if self.norm2 > 0 and vector else 0.0

    def cosine_sum(self, other: _Sum) -> float:
        if self.norm2 <= 0 or other.norm2 <= 0:
            return 0.0
        return dot(self.weights, other.weights) / math.sqrt(self.norm2 * other.norm2)


@dataclass(slots=True)
class _Event:
    """One language's articles of one event (sources and copies)."""

    event_id: str
    lang: str
    story_id: str
    dense: Matrix
    first_seen: datetime
    last_seen: datetime
    articles: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    sources: int = 0
    titled: int = 0
    time_sum: float = 0.0
    sums: dict[str, _Sum] = field(default_factory=dict)
    entities: Counter[str] = field(default_factory=Counter)  # canonical id -> sources naming it

    def centre(self) -> float:
        return self.time_sum / self.sources if self.sources else self.last_seen.timestamp()

    def sum(self, kind: str) -> _Sum:
        return self.sums.setdefault(kind, _Sum())


@dataclass(slots=True)
class _Story:
    story_id: str
    seq: int
    events: list[str]
    articles: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    active: bool = True


@dataclass(frozen=True, slots=True)
class _Article:
    """What the clusterer makes of one input: unit vectors and canonical ids."""

    item: ClusterInput
    lang: str
    dense: Matrix
    vectors: Mapping[str, SparseVector]
    canonical: frozenset[str]
    titled: bool


class _Index:
    """The active events: unit dense centres in a numpy matrix, with their language codes."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rows = np.zeros((16, dim))
        self.last = np.zeros(16)  # POSIX time of each event's last source
        self.events: list[_Event] = []
        self.langs: list[str] = []
        self.position: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.events)

    def append(self, event: _Event) -> None:
        if len(self.events) == len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.last = np.concatenate([self.last, np.zeros_like(self.last)])
        self.position[event.event_id] = len(self.events)
        self.events.append(event)
        self.langs.append(event.lang)
        self.update(event)

    def update(self, event: _Event) -> None:
        row = self.position[event.event_id]
        self.rows[row] = _unit(event.dense)
        self.last[row] = event.last_seen.timestamp()

    def remove(self, gone: set[str]) -> None:
        kept = [i for i, e in enumerate(self.events) if e.event_id not in gone]
        self.rows[: len(kept)] = self.rows[kept]
        self.last[: len(kept)] = self.last[kept]
        self.events = [self.events[i] for i in kept]
        self.langs = [self.langs[i] for i in kept]
        self.position = {e.event_id: i for i, e in enumerate(self.events)}

    def closest(self, unit: Matrix, keep: npt.NDArray[np.bool_], k: int) -> list[_Event]:
        """The ``k`` events with the highest cosine among those kept, best first (ties: the older)."""
        n = len(self.events)
        if not n:
            return []
        scores = np.where(keep, self.rows[:n] @ unit, -np.inf)
        rows = np.arange(n) if n <= k else np.argpartition(-scores, k - 1)[:k]
        top = rows[np.lexsort((rows, -scores[rows]))]  # best first, then the older
        return [self.events[i] for i in top if np.isfinite(scores[i])]

    def stale(self, limit: float) -> list[_Event]:
        """The events whose last source is older than ``limit`` (POSIX seconds)."""
        return [self.events[i] for i in np.flatnonzero(self.last[: len(self.events)] < limit)]


def _unit(vector: Matrix) -> Matrix:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0.0 else np.zeros_like(vector)


class HybridClusterer:
    """Online two-level story clustering (see the module docstring); one per stream, not thread-safe."""

    def __init__(self, model: ClusteringModel | None = None, window: timedelta = timedelta(days=3)) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self._model = model
        self.window = window
        self._reset()

    @property
    def model(self) -> ClusteringModel:
        """The decisions in use (the shipped default unless one was given); loaded at first use."""
        if self._model is None:
            self._model = default_model()
        return self._model

    def _reset(self) -> None:
        self.df = DocumentFrequencies()
        self._events: dict[str, _Event] = {}
        self._stories: dict[str, _Story] = {}
        self._article_event: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._index: _Index | None = None
        self._clock: datetime | None = None
        self._next_seq = 0

    # --- the public interface (that of summarizer.clustering.StoryClusterer) --------------------------------

    def add(self, item: ClusterInput) -> str:
        """The id of the story the article joins (an existing one, or a new one it starts)."""
        article = self.prepare(item)
        if article is None:
            return self.story_of(item.article_id) or ""
        candidates = self.join_candidates(article)
        best, best_p = None, self.model.join.threshold
        for event, features in candidates:
            p = self.model.join.probability(features)
            if p >= best_p and (best is None or p > best_p):
                best, best_p = event, p
        event = self.place(article, best)
        self._link(event)
        return self._events[event.event_id].story_id

    def stories(self) -> dict[str, list[str]]:
        """Story id -> article ids (sources and duplicates, in arrival order), in story creation order."""
        return {sid: list(s.articles) for sid, s in sorted(self._stories.items(), key=lambda kv: kv[1].seq)}

    def story(self, story_id: str) -> StoryState:
        """A story as plain data (a merged-away id gives the story it went into); KeyError if unknown."""
        return self._story_state(self._stories[self.resolve(story_id)])

    def story_of(self, article_id: str) -> str | None:
        event_id = self._article_event.get(article_id)
        return None if event_id is None else self._events[event_id].story_id

    def resolve(self, story_id: str) -> str:
        return follow_aliases(self._aliases, story_id)

    def active_count(self) -> int:
        return sum(1 for s in self._stories.values() if s.active)

    def drop_closed(self) -> list[StoryState]:
        """Forgets the closed stories (returned, for the caller to keep) so memory and snapshots stay small."""
        closed = [s for s in self._stories.values() if not s.active]
        states = [self._story_state(s) for s in closed]
        for story in closed:
            del self._stories[story.story_id]
            for event_id in story.events:
                event = self._events.pop(event_id)
                for article_id in event.articles:
                    self._article_event.pop(article_id, None)
        self._aliases = {old: new for old, new in self._aliases.items() if self.resolve(new) in self._stories}
        return states

    # --- the two levels (also used by the trainer, which places articles by their gold labels) ----------------

    def join_candidates(self, article: _Article) -> list[tuple[_Event, list[float]]]:
        """The active events of the article's language closest to it, with the join features of each."""
        index = self._index
        if index is None or not len(index):
            return []
        keep = np.fromiter((lang == article.lang for lang in index.langs), dtype=bool, count=len(index))
        when = article.item.published.timestamp()
        out = []
        for event in index.closest(article.dense, keep, CANDIDATES):
            out.append((event, join_features(article, event, when)))
        return out

    def link_candidates(self, event: _Event) -> list[tuple[_Event, list[float]]]:
        """The active events of other languages, in stories sharing no language with the event's story,
        closest to it, with the link features of each."""
        index = self._index
        if index is None or not len(index):
            return []
        langs = self._story_langs(self._stories[event.story_id])
        keep = np.fromiter(
            (lang not in langs for lang in index.langs), dtype=bool, count=len(index)
        )  # a story holds at most one event per language
        out = []
        for other in index.closest(_unit(event.dense), keep, CANDIDATES):
            if self._story_langs(self._stories[other.story_id]) & langs:
                continue
            out.append((other, link_features(event, other)))
        return out

    def link(self, a: _Event, b: _Event) -> None:
        """Joins the stories of two events (the older story survives)."""
        self._merge(self._stories[a.story_id], self._stories[b.story_id])

    def active_event(self, event_id: str | None) -> _Event | None:
        """The event of that id while its story is open, else None."""
        event = self._events.get(event_id) if event_id else None
        return event if event is not None and self._stories[event.story_id].active else None

    def event_of(self, article_id: str) -> _Event | None:
        event_id = self._article_event.get(article_id)
        return None if event_id is None else self._events[event_id]

    # --- internals ------------------------------------------------------------------------------------------

    def prepare(self, item: ClusterInput) -> _Article | None:
        """Checks an input, advances the clock and makes the article's vectors (counting its terms in the
        document frequencies); None for a duplicate, which joins its original's event, or a replay."""
        if item.published.utcoffset() is None:
            raise ValueError(f"article {item.article_id}: published must be timezone-aware")
        if item.article_id in self._article_event:
            return None
        if item.duplicate_of is not None and (original := self.event_of(item.duplicate_of)) is not None:
            original.articles.append(item.article_id)
            original.duplicates.append(item.article_id)
            story = self._stories[original.story_id]
            story.articles.append(item.article_id)
            story.duplicates.append(item.article_id)
            self._article_event[item.article_id] = original.event_id
            return None
        vector = np.asarray(item.vector, dtype=np.float64)
        index = self._indexed(len(vector))
        if vector.shape != (index.dim,):
            raise ValueError(f"article {item.article_id}: {vector.shape} vector, expected ({index.dim},)")
        dense = _unit(vector) if np.all(np.isfinite(vector)) else np.zeros(index.dim)
        self._advance_clock(item.published)
        found = terms(item.title, item.text, item.lang, item.entities | item.mentions)
        vectors = self.df.vectors(found)
        self.df.add(found)
        return _Article(item, found.lang, dense, vectors, item.entities, bool(vectors["title"]))

    def place(self, article: _Article, event: _Event | None) -> _Event:
        """Adds the article to an event; None: to a new event in a new story."""
        item = article.item
        if event is None:
            story = _Story(f"s{item.article_id}", self._next_seq, [])
            self._stories[story.story_id] = story
            self._next_seq += 1
            event = self._new_event(article, story)
        event.articles.append(item.article_id)
        event.sources += 1
        event.titled += article.titled
        event.dense = event.dense + article.dense
        event.time_sum += item.published.timestamp()
        event.first_seen, event.last_seen = (
            min(event.first_seen, item.published),
            max(event.last_seen, item.published),
        )
        for kind, vector in article.vectors.items():
            event.sum(kind).add(vector, SPARSE_CAP[kind])
        event.entities.update(article.canonical)
        self._stories[event.story_id].articles.append(item.article_id)
        self._article_event[item.article_id] = event.event_id
        self._indexed(len(article.dense)).update(event)
        return event

    def _new_event(self, article: _Article, story: _Story) -> _Event:
        item = article.item
        event = _Event(f"e{item.article_id}", article.lang, story.story_id, np.zeros(len(article.dense)),
                       item.published, item.published)  # fmt: skip
        self._events[event.event_id] = event
        story.events.append(event.event_id)
        self._indexed(len(article.dense)).append(event)
        return event

    def _link(self, event: _Event) -> None:
        """Links the event's story to the best other-language story, while one scores above the threshold."""
        for _ in range(8):  # a story gains at most one event per language
            best, best_p = None, self.model.link.threshold
            for other, features in self.link_candidates(event):
                p = self.model.link.probability(features)
                if p >= best_p and (best is None or p > best_p):
                    best, best_p = other, p
            if best is None:
                return
            self.link(event, best)

    def _merge(self, a: _Story, b: _Story) -> None:
        if a is b:
            return
        keep, gone = (a, b) if a.seq < b.seq else (b, a)
        keep.events.extend(gone.events)
        keep.articles.extend(gone.articles)
        keep.duplicates.extend(gone.duplicates)
        for event_id in gone.events:
            self._events[event_id].story_id = keep.story_id
        self._aliases[gone.story_id] = keep.story_id
        del self._stories[gone.story_id]

    def _story_langs(self, story: _Story) -> set[str]:
        return {self._events[e].lang for e in story.events}

    def _indexed(self, dim: int) -> _Index:
        if self._index is None:
            self._index = _Index(dim)
        return self._index

    def _advance_clock(self, published: datetime) -> None:
        """Moves the stream clock forward and closes the stories without a source for a window."""
        if self._clock is not None and published <= self._clock:
            return
        self._clock = published
        if self._index is None:
            return
        limit = published - self.window
        for story_id in sorted({event.story_id for event in self._index.stale(limit.timestamp())}):
            story = self._stories[story_id]
            if all(self._events[e].last_seen < limit for e in story.events):
                story.active = False
                self._index.remove(set(story.events))

    def _story_state(self, story: _Story) -> StoryState:
        events = [self._events[e] for e in story.events]
        entities: Counter[str] = Counter()
        dense = np.zeros(self._index.dim if self._index else 0)
        for event in events:
            entities.update(event.entities)
            if len(event.dense) == len(dense):
                dense = dense + event.dense
        return StoryState(
            story.story_id, story.seq, tuple(story.articles), tuple(story.duplicates),
            sum(e.sources for e in events), tuple(dense.tolist()) if story.active else (),
            sum(e.time_sum for e in events), tuple(sorted(entities.items())),
            min(e.first_seen for e in events), max(e.last_seen for e in events), story.active,
        )  # fmt: skip

    # --- state ----------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready plain data (floats round-trip exactly through JSON)."""
        return {
            "version": STATE_VERSION,
            "kind": "hybrid",
            "model": self._model.name if self._model else "default",
            "window": self.window.total_seconds(),
            "clock": self._clock.isoformat() if self._clock else None,
            "next_seq": self._next_seq,
            "df": self.df.to_dict(),
            "dim": self._index.dim if self._index else None,
            "stories": [
                {"id": s.story_id, "seq": s.seq, "events": s.events, "articles": s.articles,
                 "duplicates": s.duplicates, "active": s.active}
                for s in self._stories.values()
            ],
            "events": [_event_to_dict(e) for e in self._events.values()],
            "aliases": sorted(self._aliases.items()),
        }  # fmt: skip

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replaces this clusterer's state with a snapshot's (KeyError, TypeError or ValueError if it is not one)."""
        if data.get("version") != STATE_VERSION or data.get("kind") != "hybrid":
            raise ValueError("not a hybrid clusterer state (an older format: rebuild it)")
        self._reset()
        self.window = timedelta(seconds=float(data["window"]))
        self._clock = datetime.fromisoformat(data["clock"]) if data["clock"] else None
        self._next_seq = int(data["next_seq"])
        self.df = DocumentFrequencies.from_dict(data["df"])
        self._aliases = {str(a): str(b) for a, b in data["aliases"]}
        if data["dim"] is not None:
            self._index = _Index(int(data["dim"]))
        for raw in data["events"]:
            event = _event_from_dict(raw)
            self._events[event.event_id] = event
            self._article_event.update(dict.fromkeys(event.articles, event.event_id))
        for raw in data["stories"]:
            story = _Story(str(raw["id"]), int(raw["seq"]), [str(e) for e in raw["events"]],
                           [str(a) for a in raw["articles"]], [str(a) for a in raw["duplicates"]],
                           bool(raw["active"]))  # fmt: skip
            self._stories[story.story_id] = story
            if story.active and self._index is not None:
                for event_id in story.events:
                    self._index.append(self._events[event_id])

    def adopt(self, story_id: str, seq: int, items: Iterable[ClusterInput], *, active: bool = True) -> None:
        """Rebuilds one story from its articles (in order) under its known id: the migration of a state saved by
        an earlier version, which kept no sparse features. Events are made per language; copies join them."""
        story = _Story(story_id, seq, [])
        self._stories[story_id] = story
        self._next_seq = max(self._next_seq, seq + 1)
        for item in items:
            article = self.prepare(item)
            if article is None:
                continue
            event = next(
                (self._events[e] for e in story.events if self._events[e].lang == article.lang), None
            )
            self.place(article, event or self._new_event(article, story))
        if not story.events:
            del self._stories[story_id]
        elif not active:
            story.active = False
            if self._index is not None:
                self._index.remove(set(story.events))


def join_features(article: _Article, event: _Event, when: float) -> list[float]:
    """The features of :data:`JOIN_FEATURES` for an article and a candidate event."""
    v, n = article.vectors, max(event.sources, 1)
    tok = event.sum("tok")
    tok_dot = dot(v["tok"], tok.weights)
    dense_dot = float(event.dense @ article.dense)
    dense_norm = float(np.linalg.norm(event.dense))
    titled = article.titled and event.titled > 0
    return [
        tok_dot / math.sqrt(tok.norm2) if tok.norm2 > 0 else 0.0,
        tok_dot / n,
        event.sum("title").cosine(v["title"]) if titled else 0.0,
        0.0 if titled else 1.0,
        event.sum("stem").cosine(v["stem"]),
        event.sum("ent").cosine(v["ent"]),
        math.log1p(sum(1 for e in article.canonical if e in event.entities)),
        dense_dot / dense_norm if dense_norm > 0 else 0.0,
        dense_dot / n,
        math.log1p(abs(when - event.centre()) / HOUR),
        math.log1p(abs(when - event.last_seen.timestamp()) / HOUR),
        math.log1p(event.sources),
    ]


def link_features(a: _Event, b: _Event) -> list[float]:
    """The features of :data:`LINK_FEATURES` for two events of different languages."""
    na, nb = float(np.linalg.norm(a.dense)), float(np.linalg.norm(b.dense))
    dense = float(a.dense @ b.dense) / (na * nb) if na > 0 and nb > 0 else 0.0
    shared = sum(1 for e in a.entities if e in b.entities)
    return [
        dense,
        a.sum("ent").cosine_sum(b.sum("ent")),
        a.sum("num").cosine_sum(b.sum("num")),
        math.log1p(shared),
        math.log1p(abs(a.centre() - b.centre()) / HOUR),
        math.log1p(min(a.sources, b.sources)),
        math.log1p(max(a.sources, b.sources)),
    ]


def _event_to_dict(event: _Event) -> dict[str, Any]:
    return {
        "id": event.event_id, "lang": event.lang, "story": event.story_id, "dense": event.dense.tolist(),
        "first_seen": event.first_seen.isoformat(), "last_seen": event.last_seen.isoformat(),
        "articles": event.articles, "duplicates": event.duplicates, "sources": event.sources,
        "titled": event.titled, "time_sum": event.time_sum,
        "sums": {kind: [s.weights, s.norm2] for kind, s in event.sums.items()},
        "entities": dict(event.entities),
    }  # fmt: skip


def _event_from_dict(raw: Mapping[str, Any]) -> _Event:
    return _Event(
        str(raw["id"]), str(raw["lang"]), str(raw["story"]), np.array(raw["dense"], dtype=np.float64),
        datetime.fromisoformat(raw["first_seen"]), datetime.fromisoformat(raw["last_seen"]),
        [str(a) for a in raw["articles"]], [str(a) for a in raw["duplicates"]], int(raw["sources"]),
        int(raw["titled"]), float(raw["time_sum"]),
        {str(k): _Sum({str(t): float(w) for t, w in v[0].items()}, float(v[1])) for k, v in raw["sums"].items()},
        Counter({str(k): int(v) for k, v in raw["entities"].items()}),
    )  # fmt: skip
