"""Telegram rendering: stories, digests and alerts as ``parse_mode=HTML`` messages of at most ``LIMIT`` units.

1. ``escape``, ``safe_url`` and ``hashtag`` make text, links and entity tags safe: ``& < >`` escaped (``"`` too
   inside attributes), bidi embeddings, overrides and isolates dropped (``bot.email.strip_bidi``: a source's
   title cannot reorder the message around it), only absolute http(s) URLs become links, tags are letters,
   digits and underscores.
2. ``render_story`` renders one story for a reader: headline and summary in the reader's language when the
   story has them (``summarizer.digest.localize``), else the original with its language marked (``[fr]``);
   then one line of sources (links), languages and entity hashtags.
3. ``render_digest`` packs a header, the stories and the trending line into messages, whole stories first;
   only a story longer than a message is cut, by ``split_html``.
4. ``split_html`` cuts any well-formed Telegram HTML into pieces of at most ``limit`` UTF-16 units at the best
   boundary that fits (paragraph > line > sentence > word > character), never inside a tag, a character
   reference or a surrogate pair; tags open at a cut are closed there and reopened in the next piece.
5. ``render_alert`` is always one message: a header and the story, its summary cut cleanly with "…" (then
   fewer links, then a shorter headline) when the whole does not fit; ``render_update`` is the notice of what
   is new in a story already alerted (only the new sentences and sources), sent as a reply to the alert.
6. ``render_story_full`` is ``/story``: every summary sentence, every source with its name and link, the
   languages, entities, first and last seen; split into several messages when needed.

Labels exist in en, fr, de, es and ar; counted words take the language's plural form (``plural_category``).

Telegram counts its 4096 limit on the parsed text; the raw HTML is counted here, which is never less.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.email import entity_label, strip_bidi
from bot.i18n_more import MONTHS, RENDER_LABELS
from summarizer.digest import Digest, StoryView, TrendingEntity, localize
from summarizer.gazetteer import base_lang

LIMIT = 4096
MAX_LINKS = 5  # source links shown per story; the others are counted ("+3 more")
MAX_TAGS = 8  # entity hashtags per story, most mentioned first
MAX_URL = 2048  # a longer URL is not made a link
MAX_TAG = 40  # characters of one hashtag

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "digest": "Digest",
        "story#one": "{n} story",
        "story#other": "{n} stories",
        "alert": "🚨 Alert",
        "update": "🆕 New in this story",
        "sources": "Sources",
        "new_sources": "New sources",
        "languages": "Languages",
        "entities": "Entities",
        "seen": "First seen {first} · last update {last}",
        "trending": "Trending",
        "empty": "Nothing new in this period.",
        "more#one": "+{n} more",
        "more#other": "+{n} more",
        "colon": ": ",
    },
    "fr": {
        "digest": "Synthèse",
        "story#one": "{n} sujet",
        "story#other": "{n} sujets",
        "alert": "🚨 Alerte",
        "update": "🆕 Du nouveau sur ce sujet",
        "sources": "Sources",
        "new_sources": "Nouvelles sources",
        "languages": "Langues",
        "entities": "Entités",
        "seen": "Vu pour la première fois le {first} · dernière mise à jour le {last}",
        "trending": "Tendances",
        "empty": "Rien de nouveau sur cette période.",
        "more#one": "+{n} autre",
        "more#other": "+{n} autres",
        "colon": " : ",
    },
}
LABELS.update(RENDER_LABELS)
_MONTHS = {  # one line per language reads better than twelve
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),  # noqa: SIM905
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split(),  # noqa: SIM905
    **MONTHS,
}
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NOT_WORD = re.compile(r"\W+")
_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f]")


# --- 1. safe pieces -----------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits (a character outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str, *, quote: bool = False) -> str:
    """``text`` for Telegram HTML: ``& < >`` escaped, ``"`` too when ``quote`` (attribute values); a lone
    surrogate (undecodable input) becomes U+FFFD, which Telegram would otherwise refuse; the bidi embeddings,
    overrides and isolates are dropped (``strip_bidi``: the marks LRM/RLM stay)."""
    text = _SURROGATE.sub("\ufffd", strip_bidi(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) link without spaces or control characters, else None."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link(url: str | None, text: str) -> str:
    """``<a href>`` around the escaped text when the URL is safe; nothing at all when it is not."""
    safe = safe_url(url)
    return f'<a href="{escape(safe, quote=True)}">{escape(text)}</a>' if safe else ""


def hashtag(key: str) -> str | None:
    """``#europol`` from an entity key (``unk:person:john doe`` -> ``#john_doe``); None when nothing is left."""
    text = "".join(c for c in unicodedata.normalize("NFC", entity_label(key)) if not unicodedata.combining(c))
    word = _NOT_WORD.sub("_", text.lower()).strip("_")[:MAX_TAG].strip("_")
    return f"#{word}" if word and not word.isdigit() else None


def _code(lang: str | None) -> str:
    code = base_lang(lang) or "en"
    return code if code in LABELS else "en"


def _label(code: str, key: str, **values: object) -> str:
    return LABELS[code][key].format(**values)


def plural_category(lang: str, n: int) -> str:
    """The CLDR plural category of ``n`` in ``lang``: "one"/"other" (fr: 0 and 1 are "one"); Arabic also has
    "zero", "two", "few" (3-10) and "many" (11-99, by the last two digits)."""
    if lang == "ar":
        rest = n % 100
        if n in (0, 1, 2):
            return ("zero", "one", "two")[n]
        return "few" if 3 <= rest <= 10 else "many" if 11 <= rest <= 99 else "other"
    if lang == "fr":
        return "one" if n in (0, 1) else "other"
    return "one" if n == 1 else "other"


def _counted(code: str, key: str, n: int) -> str:
    """``key#<category>`` of ``n`` (falling back to ``key#other``), formatted with ``n``."""
    forms = LABELS[code]
    return forms.get(f"{key}#{plural_category(code, n)}", forms[f"{key}#other"]).format(n=n)


def format_time(moment: datetime, lang: str) -> str:
    """``30 Nov 2026 08:00 UTC`` / ``30 nov. 2026 08:00 UTC`` (a naive time is taken as UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{utc.day} {_MONTHS[_code(lang)][utc.month - 1]} {utc.year} {utc:%H:%M} UTC"


def _count(n: int, code: str) -> str:
    return _counted(code, "story", n)


# --- 2. one story -------------------------------------------------------------------------------------------


def _headline(story: StoryView, code: str, number: int | None) -> str:
    other = base_lang(story.headline_lang)
    marker = f"[{other}] " if other and other != code else ""
    prefix = f"{number}. " if number is not None else ""
    return f"<b>{escape(prefix + marker + story.headline)}</b>"


def source_labels(story: StoryView) -> list[str]:
    """The names of a story's sources, first seen first (what its alert shows)."""
    return [label for label, _url in _source_links(story)]


def _source_links(story: StoryView) -> list[tuple[str, str]]:
    """(label, safe url) per distinct source, first seen first; URLs by host when the story has no pairs."""
    pairs = list(story.sources_list) or [(urlsplit(u).hostname or u, u) for u in story.urls if safe_url(u)]
    seen: dict[str, str] = {}
    for label, url in pairs:
        safe = safe_url(url)
        if safe and label not in seen:
            seen[label] = safe
    return list(seen.items())


def _meta(story: StoryView, code: str, max_links: int) -> str:
    """One line: source links (+N more), languages, entity hashtags."""
    colon = _label(code, "colon")
    fields = []
    links = _source_links(story)
    if links:
        shown = ", ".join(link(url, label) for label, url in links[:max_links])
        rest = len(links) - max_links
        more = _counted(code, "more", rest) if rest > 0 else ""
        fields.append(f"{escape(_label(code, 'sources'))}{colon}{shown}{' ' if shown and more else ''}{more}")
    if story.languages:
        fields.append(f"{escape(_label(code, 'languages'))}{colon}{escape(' · '.join(story.languages))}")
    tags = list(dict.fromkeys(t for t in map(hashtag, story.entities) if t))[:MAX_TAGS]
    if tags:
        fields.append(escape(" ".join(tags)))
    return " | ".join(fields)


def render_story(view: StoryView, lang: str, *, number: int | None = None) -> str:
    """One story block: bold headline (numbered, ``[xx]`` when not in the reader's language),
    one line per summary sentence, then the sources / languages / entities line."""
    code = _code(lang)
    story = localize(view, base_lang(lang))
    lines = [_headline(story, code, number), *(escape(s.text) for s in story.sentences)]
    meta = _meta(story, code, MAX_LINKS)
    return "\n".join([*lines, meta] if meta else lines)


# --- 3. digests ---------------------------------------------------------------------------------------------


def _header(digest: Digest, code: str, title: str | None, now: datetime | None) -> str:
    day = format_time(now or digest.until, code).rsplit(" ", 2)[0]  # "30 Nov 2026"
    heading = title or f"{_label(code, 'digest')} · {day}"
    window = f"{format_time(digest.since, code)} → {format_time(digest.until, code)}"
    return f"<b>{escape(heading)}</b>\n{escape(_count(len(digest.stories), code))} · {escape(window)}"


def _trending(items: Sequence[TrendingEntity], code: str) -> str:
    tags = [f"{tag} ×{item.count}" for item in items if (tag := hashtag(item.key))]
    return (
        f"📈 {escape(_label(code, 'trending'))}{_label(code, 'colon')}{escape(', '.join(tags))}"
        if tags
        else ""
    )


def pack(blocks: Sequence[str], limit: int = LIMIT) -> list[str]:
    """Blocks joined by blank lines into as few messages as they fit in, in order; a block longer than a
    message is cut by ``split_html`` and its last piece shares its message with what follows."""
    messages: list[str] = []
    current, size = "", 0
    for block in filter(str.strip, blocks):
        for part in [block] if utf16_len(block) <= limit else split_html(block, limit):
            part_size = utf16_len(part)
            if current and size + 2 + part_size <= limit:
                current, size = f"{current}\n\n{part}", size + 2 + part_size
                continue
            if current:
                messages.append(current)
            current, size = part, part_size
    return [*messages, current] if current else messages


def render_digest(
    digest: Digest, lang: str, *, title: str | None = None, now: datetime | None = None
) -> list[str]:
    """The digest as messages of at most ``LIMIT`` units: a header (title, default "Digest · <day of now>",
    story count, window), the numbered stories, then the trending entities; "nothing new" when empty."""
    code = _code(lang)
    blocks = [_header(digest, code, title, now)]
    blocks += [render_story(story, lang, number=n) for n, story in enumerate(digest.stories, 1)]
    if not digest.stories:
        blocks.append(escape(_label(code, "empty")))
    trend = _trending(digest.trending, code)
    return pack([*blocks, trend] if trend else blocks)


# --- 4. the splitter ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>|&(?:[A-Za-z]+|#[0-9]+|#[xX][0-9A-Fa-f]+);|[\s\S]""")
_SENTENCE_END = frozenset(".!?…؟。！？")
_TRAILERS = frozenset("\"')]}»”’")
_ANY, _CHAR, _WORD, _SENTENCE, _LINE, _PARAGRAPH = range(6)  # cut levels, best last


def _tag_name(raw: str) -> str:
    return re.split(r"[\s>]", raw.lstrip("</"), maxsplit=1)[0].lower()


class _Layout:
    """The tokens of an HTML text (a tag, a character reference or one character) and, per boundary ``i``
    (before token ``i``): UTF-16 offset, open tags, visible characters so far, cut level, resume point."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _TOKEN.findall(text)
        self.chars = [html.unescape(t) if t[0] == "&" else ("" if len(t) > 1 else t) for t in self.tokens]
        self.pos, self.offset, self.visible = [0], [0], [0]
        self.stack: list[tuple[str, ...]] = [()]
        self.closing = [0]
        self._measure()
        self.level, self.resume = self._levels()

    def _measure(self) -> None:
        stack: tuple[str, ...] = ()
        for raw, char in zip(self.tokens, self.chars, strict=True):
            if raw.startswith("</") and len(raw) > 1:
                stack = stack[:-1]
            elif raw[0] == "<" and len(raw) > 1:
                stack = (*stack, raw)
            self.pos.append(self.pos[-1] + len(raw))
            self.offset.append(self.offset[-1] + utf16_len(raw))
            self.visible.append(self.visible[-1] + (bool(char) and not char.isspace()))
            if stack is not self.stack[-1]:
                self.closing.append(sum(len(_tag_name(r)) + 3 for r in stack))
            else:
                self.closing.append(self.closing[-1])
            self.stack.append(stack)

    def _is_open(self, i: int) -> bool:
        return not self.chars[i] and not self.tokens[i].startswith("</")

    def _levels(self) -> tuple[list[int], list[int]]:
        n = len(self.tokens)
        level, resume = [_ANY] * (n + 1), list(range(n + 1))
        i = 1
        while i < n:
            char = self.chars[i]
            if char.isspace():
                end = i
                while end < n and self.chars[end].isspace():
                    end += 1
                newlines = sum(c == "\n" for c in self.chars[i:end])
                level[i] = _PARAGRAPH if newlines > 1 else _LINE if newlines else self._word_level(i)
                resume[i], i = end, end
                continue
            if (char or self._is_open(i)) and not self._is_open(i - 1):
                level[i] = _CHAR  # not just inside an opening tag, not before a closing one
            i += 1
        return level, resume

    def _word_level(self, i: int) -> int:
        k = i - 1
        while k > 0 and (not self.chars[k] or self.chars[k] in _TRAILERS):
            k -= 1
        return _SENTENCE if self.chars[k] in _SENTENCE_END else _WORD

    def reopen(self, i: int) -> str:
        return "".join(self.stack[i])

    def close(self, i: int) -> str:
        return "".join(f"</{_tag_name(raw)}>" for raw in reversed(self.stack[i]))

    def best_cut(self, start: int, budget: int) -> int:
        """The last boundary of the best level after ``start`` whose piece (with closing tags) fits."""
        best, best_level = -1, -1
        for c in range(start + 1, len(self.tokens) + 1):
            if self.offset[c] - self.offset[start] > budget:
                break
            fits = self.offset[c] - self.offset[start] + self.closing[c] <= budget
            if fits and self.visible[c] > self.visible[start] and self.level[c] >= best_level:
                best, best_level = c, self.level[c]
        if best < 0:
            raise ValueError(f"split_html: limit too small for the tags open at offset {self.offset[start]}")
        return best

    def piece(self, start: int, end: int) -> str:
        return self.reopen(start) + self.text[self.pos[start] : self.pos[end]] + self.close(end)


def split_html(html_text: str, limit: int = LIMIT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, each valid on its own and with visible text, whose plain
    texts are the input's in order (the whitespace at each cut dropped). Raises ValueError when ``limit``
    cannot hold the open tags plus one character."""
    layout = _Layout(html_text)
    n = len(layout.tokens)
    pieces: list[str] = []
    start = 0
    while layout.visible[n] > layout.visible[start]:
        room = limit - utf16_len(layout.reopen(start))
        if layout.offset[n] - layout.offset[start] + layout.closing[n] <= room:
            pieces.append(layout.piece(start, n))
            break
        cut = layout.best_cut(start, room)
        pieces.append(layout.piece(start, cut))
        start = layout.resume[cut]
    return pieces


# --- 5. alerts ----------------------------------------------------------------------------------------------


def _clip(html_text: str, budget: int) -> str:
    """``html_text`` when it fits ``budget``, else its first piece cut at the best boundary and " …"."""
    if utf16_len(html_text) <= budget:
        return html_text
    try:
        return split_html(html_text, budget - 2)[0] + " …"
    except (ValueError, IndexError):  # no room for even one character
        return ""


def render_alert(view: StoryView, lang: str) -> str:
    """One message within ``LIMIT``: "🚨 Alert" then the story. When that is too long, the
    summary is cut after its last whole sentence that fits (else at a word) with "…", the sources line keeps
    5, 1 or no links (at most a quarter of the message) and a headline over a quarter of the message is cut."""
    code = _code(lang)
    top = f"<b>{escape(_label(code, 'alert'))}</b>"
    full = f"{top}\n{render_story(view, lang)}"
    if utf16_len(full) <= LIMIT:
        return full
    story = localize(view, base_lang(lang))
    quarter = LIMIT // 4
    metas = [_meta(story, code, links) for links in (MAX_LINKS, 1, 0)]
    meta = next((m for m in metas if utf16_len(m) <= quarter), "")
    head = _clip(_headline(story, code, None), quarter)
    fixed = [part for part in (top, head, meta) if part]
    room = LIMIT - sum(utf16_len(part) + 1 for part in fixed)
    body = _clip("\n".join(escape(s.text) for s in story.sentences), room)
    return "\n".join(part for part in (top, head, body, meta) if part)


def render_update(
    view: StoryView, lang: str, new_sources: Sequence[str], new_sentences: Sequence[str]
) -> str:
    """One message: "🆕 New in this story", the headline, then only the new summary sentences and the new
    sources (linked); cut like an alert when too long."""
    code = _code(lang)
    story = localize(view, base_lang(lang))
    links = dict(_source_links(story))
    top = f"<b>{escape(_label(code, 'update'))}</b>"
    head = _clip(_headline(story, code, None), LIMIT // 4)
    colon = _label(code, "colon")
    sources = ""
    for linked in (MAX_LINKS, 1, 0) if new_sources else ():  # as many links as fit in a quarter
        shown = [
            (link(links.get(name), name) if k < linked else "") or escape(name)
            for k, name in enumerate(new_sources[:MAX_LINKS])
        ]
        rest = len(new_sources) - len(shown)
        more = f" {_counted(code, 'more', rest)}" if rest > 0 else ""
        sources = f"{escape(_label(code, 'new_sources'))}{colon}{', '.join(shown)}{more}"
        if utf16_len(sources) <= LIMIT // 4:
            break
    sources = _clip(sources, LIMIT // 4) if sources else ""
    room = LIMIT - sum(utf16_len(part) + 1 for part in (top, head, sources) if part)
    body = _clip("\n".join(escape(s) for s in new_sentences), room) if new_sentences else ""
    return "\n".join(part for part in (top, head, body, sources) if part)


def render_story_full(
    view: StoryView, lang: str, entity_names: Sequence[str] = (), *, limit: int = LIMIT
) -> list[str]:
    """``/story``: the headline, every summary sentence, every source on its own line (name and link), the
    languages, the entities (``entity_names``, else hashtags), first and last seen; as many messages as needed."""
    code = _code(lang)
    story = localize(view, base_lang(lang))
    colon = _label(code, "colon")
    summary = story.full_sentences or story.sentences  # the full summary when the story has one
    blocks = [_headline(story, code, None) + "\n" + "\n".join(escape(s.text) for s in summary)]
    links = _source_links(story)
    if links:
        lines = [f"• {link(url, label)}" for label, url in links]
        blocks.append(f"<b>{escape(_label(code, 'sources'))}</b> ({len(links)})\n" + "\n".join(lines))
    facts = []
    if story.languages:
        facts.append(f"{escape(_label(code, 'languages'))}{colon}{escape(' · '.join(story.languages))}")
    names = list(entity_names) or [t for t in map(hashtag, story.entities) if t]
    if names:
        facts.append(f"{escape(_label(code, 'entities'))}{colon}{escape(', '.join(names))}")
    first, last = format_time(story.first_seen, code), format_time(story.last_update, code)
    facts.append(escape(_label(code, "seen", first=first, last=last)))
    facts.append(f"<code>{escape(story.story_id)}</code>")
    blocks.append("\n".join(facts))
    return pack(blocks, limit)
