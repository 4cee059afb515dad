"""Telegram rendering (bot/render.py): every message is checked with the Bot API's HTML rules
(tests/telegram_html.py) and its 4096 UTF-16 unit limit; nothing a reader should see may be lost or repeated."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import (
    LIMIT,
    escape,
    format_time,
    hashtag,
    link,
    pack,
    plural_category,
    render_alert,
    render_digest,
    render_story,
    render_story_full,
    render_update,
    split_html,
    utf16_len,
)
from summarizer.digest import (
    Digest,
    DigestSentence,
    StoryFilter,
    StoryVariant,
    StoryView,
    TrendingEntity,
    localize,
)
from tests.telegram_html import check_html
from tests.telegram_html import utf16_len as reference_utf16_len

UNTIL = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)
ARABIC = "أعلنت الشرطة الأوروبية يوروبول عن تفكيك شبكة إجرامية تنشط في عدة دول أوروبية وتستخدم منصات مشفرة"
EMOJI = "🚨🇪🇺 𝔘𝔫𝔦𝔬𝔫 👍🏽"


def story(
    story_id: str,
    headline: str,
    sentences: tuple[str, ...] = (),
    *,
    lang: str = "en",
    entities: tuple[str, ...] = (),
    sources: tuple[tuple[str, str], ...] = (("src", "https://example.org/1"),),
    variants: tuple[StoryVariant, ...] = (),
    languages: tuple[str, ...] | None = None,
) -> StoryView:
    return StoryView(
        story_id=story_id,
        headline=headline,
        sentences=tuple(DigestSentence(text, f"{story_id}-a", i, lang) for i, text in enumerate(sentences)),
        entities=entities,
        languages=languages or (lang,),
        tags=frozenset(),
        sources=len({s for s, _u in sources}),
        articles=len(sources),
        first_seen=SINCE,
        last_update=UNTIL - timedelta(hours=1),
        importance=1.0,
        headline_lang=lang,
        variants=variants,
        sources_list=sources,
    )


def sentence(n: int) -> str:
    return f"The operation number {n} involved 14 countries & <partners>."


def ws_free(text: str) -> str:
    return re.sub(r"\s+", "", text)


def checked(message: str, limit: int = LIMIT) -> str:
    """The plain text of a message that Telegram would accept."""
    assert utf16_len(message) <= limit
    plain = check_html(message)
    assert plain.strip(), f"empty message: {message!r}"
    return plain


# --- safe pieces --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", "abc"),
        ("a & b", "a &amp; b"),
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("&amp;", "&amp;amp;"),
        ('say "hi"', 'say "hi"'),
        ("a\ud800b", "a\ufffdb"),
        ("😀 ش", "😀 ش"),
    ],
    ids=[
        "plain",
        "ampersand",
        "tags",
        "escaped-entity-literally",
        "quotes-kept-in-text",
        "lone-surrogate",
        "astral",
    ],
)
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected
    assert check_html(expected) == text.replace("\ud800", "\ufffd")


def test_escape_quotes_in_attributes() -> None:
    assert escape('a"b&<', quote=True) == "a&quot;b&amp;&lt;"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1&c=2", '<a href="https://example.org/a?b=1&amp;c=2">t&amp;t</a>'),
        ('https://example.org/?q="x"', '<a href="https://example.org/?q=&quot;x&quot;">t&amp;t</a>'),
        ("HTTP://EXAMPLE.ORG/", '<a href="HTTP://EXAMPLE.ORG/">t&amp;t</a>'),
        ("  https://example.org/  ", '<a href="https://example.org/">t&amp;t</a>'),
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(document.cookie)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("/news/1", ""),
        ("http://", ""),
        ("https://example.org/a b", ""),
        ("https://example.org/\njavascript:alert(1)", ""),
        ("http://[::1", ""),
        ("https://example.org/" + "a" * 3000, ""),
        (None, ""),
    ],
    ids=[
        "https-with-ampersand",
        "quotes",
        "upper-case-scheme",
        "surrounding-spaces",
        "javascript",
        "javascript-mixed-case",
        "data",
        "relative",
        "no-host",
        "space",
        "newline",
        "broken-ipv6",
        "too-long",
        "none",
    ],
)
def test_link(url: str | None, expected: str) -> None:
    assert link(url, "t&t") == expected
    if expected:
        assert check_html(expected) == "t&t"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("europol", "#europol"),
        ("eu-iru", "#eu_iru"),
        ("unk:person:jean dupont", "#jean_dupont"),
        ("unk:org:Al-Qaïda (AQMI)", "#al_qaïda_aqmi"),
        ("unk:org:الدولة الإسلاميّة", "#الدولة_الإسلامية"),
        ("<script>&amp;", "#script_amp"),
        ("---", None),
        ("2024", None),
        ("x" * 60, "#" + "x" * 40),
    ],
    ids=[
        "id",
        "hyphen",
        "unknown-person",
        "accents-kept",
        "arabic-marks-dropped",
        "markup",
        "nothing",
        "digits",
        "long",
    ],
)
def test_hashtag(key: str, expected: str | None) -> None:
    assert hashtag(key) == expected


@pytest.mark.parametrize(
    ("moment", "lang", "expected"),
    [
        (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "en", "30 Nov 2026 08:00 UTC"),
        (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "fr", "30 nov. 2026 08:00 UTC"),
        (datetime(2026, 2, 1, 9, 5, tzinfo=ZoneInfo("Europe/Paris")), "fr-FR", "1 févr. 2026 08:05 UTC"),
        (datetime(2026, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris")), "pt", "31 Dec 2025 23:30 UTC"),
        (datetime(2026, 8, 3, 17, 45), "en", "3 Aug 2026 17:45 UTC"),
    ],
    ids=["en", "fr", "fr-region-and-zone", "other-language-previous-year", "naive-is-utc"],
)
def test_format_time(moment: datetime, lang: str, expected: str) -> None:
    assert format_time(moment, lang) == expected


def test_utf16_len_counts_astral_characters_twice() -> None:
    for text in ("", "abc", "é", EMOJI, ARABIC):
        assert utf16_len(text) == reference_utf16_len(text)
    assert utf16_len("😀") == 2


# --- one story ----------------------------------------------------------------------------------------------


def test_render_story_layout() -> None:
    view = story(
        "s1",
        'Europol & FBI <dismantle> "Qakbot" &amp; co',
        ("Police took down 700 000 computers.", "Servers were seized."),
        entities=("europol", "unk:person:jean dupont", "europol", "---"),
        sources=(
            ("europol-news", "https://www.europol.europa.eu/news?a=1&b=2"),
            ("europol-news", "https://www.europol.europa.eu/other"),
            ("evil", "javascript:alert(1)"),
            ("fbi-press", 'https://fbi.gov/"q"'),
        ),
        languages=("en", "fr"),
    )
    assert render_story(view, "en", number=3) == (
        '<b>3. Europol &amp; FBI &lt;dismantle&gt; "Qakbot" &amp;amp; co</b>\n'
        "Police took down 700 000 computers.\n"
        "Servers were seized.\n"
        'Sources: <a href="https://www.europol.europa.eu/news?a=1&amp;b=2">europol-news</a>, '
        '<a href="https://fbi.gov/&quot;q&quot;">fbi-press</a> | Languages: en · fr | #europol #jean_dupont'
    )
    assert "javascript" not in render_story(view, "en")


def test_render_story_caps_links_and_counts_the_rest() -> None:
    sources = tuple((f"source-{n}", f"https://example.org/{n}?x=1&y=2") for n in range(40))
    text = render_story(story("s", "Many sources", sources=sources), "en")
    assert text.count("<a href=") == 5
    assert "+35 more" in check_html(text)
    assert "+35 autres" in check_html(render_story(story("s", "Many sources", sources=sources), "fr"))


def test_render_story_without_sources_or_entities() -> None:
    view = story("s", "Bare", ("One.",), sources=(), languages=("en",))
    assert render_story(view, "en") == "<b>Bare</b>\nOne.\nLanguages: en"


FR_VIEW = story(
    "s-fr",
    "Europol démantèle un réseau",
    ("Le réseau opérait depuis 2019.",),
    lang="fr",
    variants=(
        StoryVariant(
            "en",
            "Europol dismantles a network",
            "en",
            (DigestSentence("The network had run since 2019.", "b", 0, "en"),),
        ),
    ),
)


@pytest.mark.parametrize(
    ("lang", "first_line", "labels"),
    [
        ("en", "<b>Europol dismantles a network</b>", "Languages: fr"),
        ("pt", "<b>[fr] Europol démantèle un réseau</b>", "Languages: fr"),
        ("fr", "<b>Europol démantèle un réseau</b>", "Langues : fr"),
        ("fr-CA", "<b>Europol démantèle un réseau</b>", "Langues : fr"),
        ("EN", "<b>Europol dismantles a network</b>", "Languages: fr"),
    ],
    ids=["variant-for-en", "original-marked-for-de", "original-for-fr", "regional-fr", "upper-case-code"],
)
def test_language_choice(lang: str, first_line: str, labels: str) -> None:
    text = render_story(FR_VIEW, lang)
    assert text.split("\n")[0] == first_line
    assert labels in text
    sentence_line = text.split("\n")[1]
    assert sentence_line == (
        "The network had run since 2019." if "dismantles" in first_line else FR_VIEW.sentences[0].text
    )


def test_english_original_is_marked_for_a_french_reader() -> None:
    view = story("s-en", "Police arrest 12", ("Twelve arrested.",), lang="en")
    assert render_story(view, "fr", number=1).startswith("<b>1. [en] Police arrest 12</b>\n")
    assert render_story(view, "en", number=1).startswith("<b>1. Police arrest 12</b>\n")


# --- digests ------------------------------------------------------------------------------------------------


def digest_stories() -> list[StoryView]:
    """60 stories built to hurt: Arabic, astral emoji, markup in titles, hostile URLs, a sentence without any
    space longer than a message, a story with 40 sources, stories much longer than a message."""
    stories = []
    for n in range(60):
        kind = n % 6
        if kind == 0:
            view = story(
                f"s{n}", f"{ARABIC[:60]} {n}", tuple(f"{ARABIC} {n}.{k}." for k in range(6)), lang="ar"
            )
        elif kind == 1:
            view = story(
                f"s{n}", f"{EMOJI} story {n}", (f"{EMOJI} one {n}.", f"Two 😀😀 {n}!"), entities=("europol",)
            )
        elif kind == 2:
            view = story(f"s{n}", f'A <b> & "quoted" > claim &amp; {n}', (f"x < y && z > w; &lt; {n}",))
        elif kind == 3:
            sources = (
                ("quotes", f"https://example.org/?a={n}&b=\"2\"&c='3'"),
                ("evil", "javascript:alert(1)"),
            )
            view = story(f"s{n}", f"Hostile links {n}", (sentence(n),), sources=sources, entities=("eu-iru",))
        elif kind == 4:
            view = story(
                f"s{n}",
                f"Plain story {n}",
                tuple(sentence(k) for k in range(3)),
                entities=("unk:person:jean dupont",),
            )
        else:
            variant = replace(FR_VIEW.variants[0], headline=f"Network {n}")
            view = replace(FR_VIEW, story_id=f"s{n}", headline=f"Réseau {n}", variants=(variant,))
        stories.append(view)
    stories[7] = story("s7", "No spaces at all", ("x" * 5000 + "😀" * 2000 + "&" * 900,))
    stories[11] = story(
        "s11",
        "Forty sources",
        (sentence(11),),
        sources=tuple((f"src-{k}", f"https://e.org/{k}") for k in range(40)),
    )
    stories[13] = story("s13", "Long story", tuple(f"{sentence(k)} {'word ' * 60}" for k in range(40)))
    stories[17] = story("s17", "One long line", (" ".join(["mot"] * 3000) + ".",))
    stories[19] = story("s19", "H" * 5000, ("short.",))
    return stories


def test_big_digest_fits_telegram_and_loses_nothing() -> None:
    stories = digest_stories()
    trending = (TrendingEntity("europol", 12, 3), TrendingEntity("unk:person:jean dupont", 5, 0))
    digest = Digest(SINCE, UNTIL, StoryFilter(), tuple(stories), trending)
    messages = render_digest(digest, "en")
    plains = [checked(message) for message in messages]
    joined = ws_free("".join(plains))
    position = 0
    for view in stories:  # every headline and sentence, in order
        shown = localize(view, "en")
        for text in (shown.headline, *(s.text for s in shown.sentences)):
            position = joined.index(ws_free(text), position) + len(ws_free(text))
    blocks = "".join(
        ws_free(check_html(render_story(view, "en", number=n))) for n, view in enumerate(stories, 1)
    )
    header, _, trend = joined.partition(blocks)  # nothing repeated: header + stories + trending, nothing else
    assert header == ws_free(
        "Digest · 30 Nov 2026 60 stories · 29 Nov 2026 08:00 UTC → 30 Nov 2026 08:00 UTC"
    )
    assert trend == "📈Trending:#europol×12,#jean_dupont×5"


def test_digest_cuts_between_stories_first() -> None:
    stories = digest_stories()
    messages = render_digest(Digest(SINCE, UNTIL, StoryFilter(), tuple(stories)), "fr")
    for n, view in enumerate(stories, 1):
        block = render_story(view, "fr", number=n)
        holders = [m for m in messages if block in m]
        assert len(holders) == (1 if utf16_len(block) <= LIMIT else 0), n
    assert (
        len(messages) < sum(utf16_len(m) for m in messages) / 3000
    )  # messages are filled, not one per story


def test_digest_header_and_title() -> None:
    digest = Digest(SINCE, UNTIL, StoryFilter(), (story("a", "One"),))
    [message] = render_digest(digest, "fr", title="Veille <cyber> & co", now=UNTIL + timedelta(days=3))
    assert message.startswith(
        "<b>Veille &lt;cyber&gt; &amp; co</b>\n1 sujet · 29 nov. 2026 08:00 UTC → 30 nov. 2026"
    )
    [default] = render_digest(digest, "en", now=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    assert default.startswith("<b>Digest · 3 Dec 2026</b>\n1 story · ")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Nothing new in this period."),
        ("fr", "Rien de nouveau sur cette période."),
        ("de", "Nichts Neues"),
        ("pt", "Nothing new"),
    ],
    ids=["en", "fr", "de", "fallback-en"],
)
def test_empty_digest_is_one_message(lang: str, expected: str) -> None:
    messages = render_digest(Digest(SINCE, UNTIL, StoryFilter(), ()), lang)
    assert len(messages) == 1
    assert expected in checked(messages[0])
    counted = {
        "en": "0 stories",
        "fr": "0 sujet ",
        "de": "0 Themen",
        "pt": "0 stories",
    }  # French: 0 is singular
    assert counted[lang] in messages[0]


def test_pack_keeps_order_and_never_emits_empty_messages() -> None:
    blocks = ["<b>a</b>", "", "b" * 10, "c " * 30]
    pieces = pack(blocks, 25)
    assert [checked(p, 25) for p in pieces]
    assert ws_free("".join(map(check_html, pieces))) == "a" + "b" * 10 + "c" * 30


# --- alerts -------------------------------------------------------------------------------------------------


def huge_story() -> StoryView:
    sources = tuple((f"source-{k}", f"https://example.org/{'p' * 1900}/{k}") for k in range(40))
    sentences = tuple(f"Sentence {k} says that {ARABIC} & <more> 😀." for k in range(200))
    return story(
        "huge", "Huge " + "headline & " * 1000, sentences, sources=sources, entities=("europol",) * 20
    )


@pytest.mark.parametrize(("lang", "top"), [("en", "🚨 Alert"), ("fr", "🚨 Alerte")], ids=["en", "fr"])
def test_alert_of_a_huge_story_fits(lang: str, top: str) -> None:
    text = render_alert(huge_story(), lang)
    plain = checked(text)
    marker = "[en] " if lang == "fr" else ""
    assert text.startswith(f"<b>{top}</b>\n<b>{marker}Huge headline &amp; ")
    lines = plain.split("\n")
    assert lines[1].endswith(" …")  # the headline, cut
    kept = lines[2:-2]
    assert kept == [s.text for s in huge_story().sentences[: len(kept)]]  # whole sentences, in order
    assert lines[-2] == "…" or lines[-2].endswith(" …")
    assert lines[-1].startswith("Sources")
    assert utf16_len(text) > LIMIT - 600  # the room was used


def test_alert_cuts_one_long_sentence_at_a_word() -> None:
    view = story("s", "Long", (" ".join(f"w{k}" for k in range(3000)),))
    text = render_alert(view, "en")
    body = checked(text).split("\n")[2]
    assert body.endswith(" …")
    assert re.fullmatch(r"(w\d+ )+…", body), body[-40:]


def test_small_alert_is_the_whole_story() -> None:
    view = story("s", "Small & fine", ("One.", "Two."))
    assert render_alert(view, "en") == "<b>🚨 Alert</b>\n" + render_story(view, "en")


def test_an_update_carries_only_what_is_new() -> None:
    sources = (("europol", "https://europol.example/1"), ("lemonde", "https://lemonde.example/2"))
    view = story("s", "Small & fine", ("Old fact.", "New fact."), sources=sources)
    text = render_update(view, "fr", ["lemonde"], ["New fact."])
    assert checked(text).split("\n") == [
        "🆕 Du nouveau sur ce sujet",
        "[en] Small & fine",
        "New fact.",
        "Nouvelles sources : lemonde",
    ]
    assert '<a href="https://lemonde.example/2">lemonde</a>' in text and "Old fact" not in text
    huge = huge_story()
    big = render_update(huge, "en", [s for s, _ in huge.sources_list], [s.text for s in huge.sentences])
    assert utf16_len(big) <= LIMIT and "+35 more" in checked(big)


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [
        ("fr", 1, "+1 autre"),
        ("fr", 2, "+2 autres"),
        ("en", 1, "+1 more"),
        ("de", 3, "+3 weitere"),
        ("ar", 2, None),
        ("ar", 11, None),
    ],
)
def test_counted_words_take_the_plural_of_the_language(lang: str, n: int, expected: str | None) -> None:
    sources = tuple((f"source-{k}", f"https://example.org/{k}") for k in range(5 + n))
    text = checked(render_story(story("s", "Many", sources=sources), lang))
    if expected is not None:
        assert expected in text.split(" | ")[0]
    assert f"+{n}" in text  # Arabic: the count is in its own form (two, few, many...)


def test_plural_categories() -> None:
    assert [plural_category("ar", n) for n in (0, 1, 2, 3, 10, 11, 99, 100, 102, 111)] == [
        "zero", "one", "two", "few", "few", "many", "many", "other", "other", "many"
    ]  # fmt: skip
    assert [plural_category("fr", n) for n in (0, 1, 2)] == ["one", "one", "other"]
    assert [plural_category("en", n) for n in (0, 1, 2)] == ["other", "one", "other"]


def test_story_in_full_splits_and_keeps_every_sentence_and_source() -> None:
    huge = huge_story()
    parts = render_story_full(huge, "en", ["Europol", "Jean Dupont"])
    assert len(parts) > 1 and all(utf16_len(p) <= LIMIT for p in parts)
    plain = "\n".join(checked(p) for p in parts)
    assert all(s.text in plain for s in huge.sentences)
    assert all(f"• source-{k}" in plain for k in range(40)) and "Sources (40)" in plain
    assert "Entities: Europol, Jean Dupont" in plain and "First seen " in plain and "last update" in plain


# --- the splitter -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short.", 100, ["Short."]),
        ("😀" * 10, 5, ["😀😀"] * 5),
        ("&amp;" * 6, 12, ["&amp;&amp;"] * 3),
        ("<b>aaa bbb</b>", 10, ["<b>aaa</b>", "<b>bbb</b>"]),
        ("One. Two\nThree four\n\nFive six", 20, ["One. Two\nThree four", "Five six"]),
        ("One two. Three four five", 18, ["One two.", "Three four five"]),
        ("One two three. Four", 12, ["One two", "three. Four"]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
        (
            '<a href="https://e.org/?a&amp;b">link text</a>',
            45,
            ['<a href="https://e.org/?a&amp;b">link</a>', '<a href="https://e.org/?a&amp;b">text</a>'],
        ),
        ("<b>ab</b>cd", 9, ["<b>ab</b>", "cd"]),
        ("ab<b>cd</b>", 9, ["ab", "<b>cd</b>"]),
        ("   \n\n  ", 3, []),
        ("<b> </b>", 100, []),
    ],
    ids=[
        "fits",
        "surrogate-pairs-kept",
        "entities-kept",
        "tags-closed-and-reopened",
        "paragraph-first",
        "sentence-before-word",
        "word-when-no-sentence-fits",
        "characters-last",
        "link-reopened",
        "after-closing-tags",
        "before-opening-tags",
        "whitespace-only",
        "no-visible-text",
    ],
)
def test_split_html(text: str, limit: int, expected: list[str]) -> None:
    pieces = split_html(text, limit)
    assert pieces == expected
    for piece in pieces:
        checked(piece, limit)


def test_split_html_refuses_a_limit_below_the_open_tags() -> None:
    with pytest.raises(ValueError, match="limit too small"):
        split_html('<a href="https://example.org/long/path">text and more</a>', 20)


@dataclass(frozen=True)
class Node:
    html: str
    depth_cost: int  # UTF-16 units of the opening and closing tags on the costliest path down to a text


TAGS = [
    ("<b>", "</b>"),
    ("<i>", "</i>"),
    ("<u>", "</u>"),
    ("<s>", "</s>"),
    ("<code>", "</code>"),
    ("<tg-spoiler>", "</tg-spoiler>"),
    ('<span class="tg-spoiler">', "</span>"),
    ("<blockquote expandable>", "</blockquote>"),
    ('<a href="https://example.org/?q=1&amp;r=&quot;2&quot;">', "</a>"),
]
CHARS = st.sampled_from([*"ab cd\n\t.!?&<>\"'é", "😀", "𝔘", "ش", "\u00a0", "👍🏽", "\n\n"]) | st.characters(
    codec="utf-8"
)
LEAF_SIZE = 12
leaves = (
    st.lists(CHARS, min_size=1, max_size=LEAF_SIZE)
    .map("".join)
    .filter(lambda t: not t.isspace())
    .map(lambda t: Node(html.escape(t, quote=False), 0))
)


def _element(tag: tuple[str, str], children: list[Node]) -> Node:
    opening, closing = tag
    cost = utf16_len(opening + closing) + max(c.depth_cost for c in children)
    return Node(opening + "".join(c.html for c in children) + closing, cost)


trees = st.recursive(
    leaves,
    lambda kids: st.builds(_element, st.sampled_from(TAGS), st.lists(kids, min_size=1, max_size=4)),
    max_leaves=30,
)


@given(st.lists(trees, min_size=2, max_size=6), st.integers(min_value=0, max_value=60))
@settings(max_examples=250, deadline=None)
def test_split_html_pieces_are_valid_and_keep_the_text(roots: list[Node], extra: int) -> None:
    text = "".join(root.html for root in roots)
    # room for the tags of two paths, the whitespace of two texts and one character (at most 5 units: &amp;)
    limit = 2 * max(r.depth_cost for r in roots) + 2 * 2 * LEAF_SIZE + 5 + extra
    pieces = split_html(text, limit)
    plains = [checked(piece, limit) for piece in pieces]
    # whitespace may go at each cut, and at the end (a trailing piece of only whitespace is not sent)
    assert re.fullmatch(r"\s*".join(["", *map(re.escape, plains), ""]), check_html(text))
    if utf16_len(text) <= limit:
        assert pieces == [text]


# --- nothing internal reaches a reader -----------------------------------------------------------------------

_INTERNAL = re.compile(r"unk:|frozenset\(|datetime\.|StoryView\(|DigestSentence\(|\bNone\b|\{'|\['")


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "ar"])
def test_no_internal_key_or_python_repr_in_any_output(lang: str) -> None:
    """Every renderer a reader sees (Telegram digest, alert, update, /story, /latest, /trending, the email's
    text and HTML), on a story with unknown entities: names, never ``unk:`` keys, ids or Python reprs."""
    from datetime import date

    from bot.commands import latest_text, trending_text
    from bot.email import render_html, render_text
    from summarizer.digest import TrendingEntity
    from summarizer.gazetteer import default_gazetteer

    view = story(
        "s1",
        "Europol and France act against Daesh",
        ("Europol said the operation ran in France.",),
        entities=("europol", "isis", "unk:place:france", "unk:person:jean dupont"),
        sources=(("Europol", "https://europol.example/1"), ("Le Monde", "https://lemonde.example/2")),
    )
    trend = (TrendingEntity("unk:place:france", 4, 1), TrendingEntity("isis", 3, 0))
    digest = Digest(SINCE, UNTIL, StoryFilter(), (view,), trend)
    outputs = [
        *render_digest(digest, lang),
        render_alert(view, lang),
        render_update(view, lang, ["Le Monde"], ["Europol said the operation ran in France."]),
        *render_story_full(view, lang, ["Europol", "State", "France"]),
        latest_text([view], lang),
        trending_text(list(trend), default_gazetteer(), lang),
        render_text(digest, lang=lang if lang in ("en", "fr") else "en", day=date(2026, 12, 7)),
        render_html(digest, lang=lang if lang in ("en", "fr") else "en", day=date(2026, 12, 7)),
    ]
    leaks = [(n, m.group()) for n, text in enumerate(outputs) for m in [_INTERNAL.search(text)] if m]
    assert leaks == [], leaks
    text_email = outputs[-2]
    assert "France" in text_email and "Jean Dupont" in text_email and "unk" not in text_email
