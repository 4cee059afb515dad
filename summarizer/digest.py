"""Digests: the stories of a window that match a subscriber's filter, ordered by importance, language-neutral.

1. ``parse_filter`` reads a filter written as a person would type it::

       europol "dark web" -football entity:isis lang:fr,en tag:agency min:2.5

   bare words and quoted phrases are keywords (all must appear, accents and case ignored), ``-word`` excludes,
   ``entity:`` a canonical entity id (any of them), ``lang:`` story languages (any), ``tag:`` source tags (any),
   ``min:`` the minimum importance.
2. ``matches`` tests one ``StoryView`` against a ``StoryFilter`` (pure).
3. ``build_digest`` keeps the matching stories, orders them by importance (then recency, then id, so the order
   is stable), and returns a ``Digest`` value: no rendering, no language choice beyond what the caller asked; the
   bot renders it.
4. ``localize`` picks the headline and summary stored for the reader's language, when the story has one.
5. ``trending`` compares entity mention counts of a window with the previous window of the same length.
"""

from __future__ import annotations

import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from monitor.config import ISO_639_1
from monitor.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StoryFilter:
    keywords: tuple[str, ...] = ()  # normalized; all must appear
    excluded: tuple[str, ...] = ()  # normalized; none may appear
    entities: frozenset[str] = frozenset()  # canonical ids; any
    languages: frozenset[str] = frozenset()  # any
    tags: frozenset[str] = frozenset()  # source tags; any
    min_importance: float = 0.0


@dataclass(frozen=True, slots=True)
class DigestSentence:
    text: str
    article_id: str
    position: int
    lang: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class StoryVariant:
    """The headline and summary a reader of ``lang`` gets for a story told in several languages."""

    lang: str
    headline: str
    headline_lang: str | None
    sentences: tuple[DigestSentence, ...]
    full_sentences: tuple[DigestSentence, ...] = ()


@dataclass(frozen=True, slots=True)
class StoryView:
    """A story as a digest sees it (loaded from the store by the caller)."""

    story_id: str
    headline: str
    sentences: tuple[DigestSentence, ...]
    entities: tuple[str, ...]  # key canonical entity ids, most mentioned first
    languages: tuple[str, ...]
    tags: frozenset[str]  # tags of the story's sources
    sources: int
    articles: int
    first_seen: datetime
    last_update: datetime
    importance: float
    text: str = ""  # titles and summaries of the story's articles, for keyword matching
    urls: tuple[str, ...] = ()
    headline_lang: str | None = None  # the language of the headline's article
    variants: tuple[StoryVariant, ...] = ()  # per reader language, when the story has several
    sources_list: tuple[
        tuple[str, str], ...
    ] = ()  # (source id, url) of the story's articles, first seen first
    full_sentences: tuple[DigestSentence, ...] = ()  # the full summary (about 150 words), when stored


@dataclass(frozen=True, slots=True)
class TrendingEntity:
    key: str
    count: int
    previous: int

    @property
    def growth(self) -> float:
        """Relative growth against the previous window (a new entity counts as growing from 1)."""
        return (self.count - self.previous) / max(self.previous, 1)


@dataclass(frozen=True, slots=True)
class Digest:
    since: datetime
    until: datetime
    filter: StoryFilter
    stories: tuple[StoryView, ...]
    trending: tuple[TrendingEntity, ...] = field(default=())


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for keyword matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def parse_filter(text: str) -> StoryFilter:
    """A ``StoryFilter`` from a query string; a malformed query is a ``ConfigError`` with a fix."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"filter {text!r}: {exc}", hint='close the quotes, e.g. "dark web"') from exc
    keywords: list[str] = []
    excluded: list[str] = []
    options: dict[str, frozenset[str]] = {"entity": frozenset(), "lang": frozenset(), "tag": frozenset()}
    minimum = 0.0
    for word in words:
        name, sep, value = word.partition(":")
        if sep and name in options:
            options[name] = options[name] | _split(value.lower() if name != "entity" else value)
            if name == "lang" and (unknown := sorted(options["lang"] - ISO_639_1)):
                raise ConfigError(
                    f"filter: lang:{','.join(unknown)} is not a language code",
                    hint="an ISO 639-1 code, e.g. lang:en,fr,de,es,ar",
                )
        elif sep and name == "min":
            try:
                minimum = float(value)
            except ValueError as exc:
                raise ConfigError(f"filter: min:{value} is not a number", hint="write e.g. min:2.5") from exc
            if not 0.0 <= minimum <= 1000.0:  # nan and inf included
                raise ConfigError(
                    f"filter: min:{value} is out of range", hint="a number from 0 to 1000, e.g. min:2.5"
                )
        elif word.startswith("-") and len(word) > 1:
            excluded.append(fold(word[1:]))
        elif word:
            keywords.append(fold(word))
    return StoryFilter(
        tuple(keywords), tuple(excluded), options["entity"], options["lang"], options["tag"], minimum
    )


def matches(story: StoryView, flt: StoryFilter) -> bool:
    if story.importance < flt.min_importance:
        return False
    if flt.entities and not flt.entities.intersection(story.entities):
        return False
    if flt.languages and not flt.languages.intersection(story.languages):
        return False
    if flt.tags and not flt.tags.intersection(story.tags):
        return False
    if flt.keywords or flt.excluded:
        haystack = fold(" ".join((story.headline, story.text, *(s.text for s in story.sentences))))
        if any(k not in haystack for k in flt.keywords) or any(x in haystack for x in flt.excluded):
            return False
    return True


def build_digest(
    stories: Iterable[StoryView],
    flt: StoryFilter,
    *,
    since: datetime,
    until: datetime,
    limit: int | None = None,
    trending_entities: Sequence[TrendingEntity] = (),
) -> Digest:
    """The matching stories updated in [since, until), most important first."""
    kept = [s for s in stories if since <= s.last_update < until and matches(s, flt)]
    kept.sort(key=lambda s: (-s.importance, -s.last_update.timestamp(), s.story_id))
    return Digest(since, until, flt, tuple(kept[:limit] if limit else kept), tuple(trending_entities))


def localize(story: StoryView, lang: str | None) -> StoryView:
    """The story as a reader of ``lang`` sees it: its headline and summary in that language when the story has
    it (a stored variant), else unchanged (the caller marks the original language with ``headline_lang``)."""
    for variant in story.variants:
        if lang and variant.lang == lang.lower():
            return replace(
                story,
                headline=variant.headline,
                headline_lang=variant.headline_lang,
                sentences=variant.sentences,
                full_sentences=variant.full_sentences,
            )
    return story


def headline_links(story: StoryView) -> list[str]:
    """The story's URLs, those of articles in its headline's language first: a link under a headline goes to an
    article the reader can read in that language (then the sources' links, then any)."""
    in_lang = [
        x.url for x in (*story.sentences, *story.full_sentences) if x.url and x.lang == story.headline_lang
    ]
    others = (
        [u for _name, u in story.sources_list] + [x.url for x in story.sentences if x.url] + list(story.urls)
    )
    return list(dict.fromkeys([*in_lang, *others]))


def trending(
    current: Mapping[str, int], previous: Mapping[str, int], *, top: int = 10, min_count: int = 2
) -> list[TrendingEntity]:
    """Entities mentioned at least ``min_count`` times now, ranked by growth then count (then key)."""
    rows = [TrendingEntity(k, n, previous.get(k, 0)) for k, n in current.items() if n >= min_count]
    rows.sort(key=lambda t: (-t.growth, -t.count, t.key))
    return rows[:top]
