"""``veille demo``: the whole pipeline, offline, on a packaged corpus served from loopback.

1. load the corpus (``bot.demo_feeds``) and date it so that its two days end now;
2. serve it on 127.0.0.1 (a random port, a daemon thread): each source as its feed or press-release page,
   plus one page per article;
3. recreate the demo store, ``DIR/veille-demo.db`` (SQLite), exports in ``DIR/exports``;
4. poll every source once with the real monitor (``Fetcher`` + ``Poller``, private addresses allowed);
5. summarize everything with the real models (multilingual USE embeddings, spaCy + gazetteer entities);
6. print the digest of the two days, most important first (``--json``: one JSON object instead);
7. write the email export (``.eml``, ``.html``, ``.json``);
8. with ``TELEGRAM_BOT_TOKEN`` and ``--telegram-chat``, send the rendered digest through the outbox.

No token, no network beyond loopback, unless step 8 is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from bot.demo_feeds import SPAN, DemoCorpus, DemoServer, build_site, corpus_id, load_corpus, source_configs
from bot.email import LANGUAGES as EMAIL_LANGUAGES
from bot.email import EmailConfig, ExportPaths, build_message, stories_json, write_export
from bot.planner import make_digest, views_between
from bot.settings import BotSettings
from monitor.cli import configured, fetch_settings, handles_errors, setup_logging
from monitor.cli_output import err, out, progress_bar
from monitor.config import SourceConfig
from monitor.errors import ConfigError
from monitor.fetch import Fetcher
from monitor.poller import Poller, PollOutcome
from monitor.settings import MonitorSettings
from monitor.store import Store
from summarizer.digest import Digest, StoryView, localize
from summarizer.gazetteer import default_gazetteer, display_name
from summarizer.repository import NlpRepository

DEFAULT_CORPUS = Path(__file__).resolve().with_name("demo_data") / "corpus.yaml"
READER_LANGUAGES = ("en", "fr", "de", "es", "ar")
# The clusterer takes a batch in publication order, but batches come in storage order (first seen, then id, and
# an id hashes the URL, whose port changes at each run): the demo's one poll is summarized as one batch, so
# every run clusters the corpus in publication order, as its test scores it, and tells the same stories.
BATCH = 500


# --- 3-5. store, poll, summarize -----------------------------------------------------------------------------


def fresh_store(workdir: Path) -> tuple[Path, str]:
    """Delete the demo database (and its journal files); its path and SQLAlchemy URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "veille-demo.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path, f"sqlite:///{path}"


async def poll_all(
    store: Store, settings: MonitorSettings, sources: Sequence[SourceConfig], *, show: bool
) -> list[PollOutcome]:
    """Poll each source once, one after the other: every run stores the same originals and copies."""
    outcomes: list[PollOutcome] = []
    async with Fetcher(fetch_settings(settings)) as fetcher:
        poller = Poller(store, fetcher, settings)
        with progress_bar("polling", len(sources), show=show) as advance:
            for source in sources:
                outcomes.append(await poller.poll(source, force=True))
                advance()
    return outcomes


def summarize_all(store: Store, languages: Sequence[str], *, show: bool) -> int:
    """Load the models (warmed up on each corpus language), then process every stored article."""
    from summarizer.embeddings import load_embedder
    from summarizer.entities import EntityExtractor
    from summarizer.pipeline import Summarizer

    spinner = err.status("loading models") if show else contextlib.nullcontext()
    with spinner:
        embedder = load_embedder("use")
        extractor = EntityExtractor()
        embedder.embed(["veille"])
        for lang in languages:
            extractor.pipeline(lang)
        engine = Summarizer(store, extractor, embedder)
    pending = len(engine.repo.pending(1_000_000, embedder.model_id))
    total = 0
    with progress_bar("summarizing", pending, show=show) as advance:
        while (done := engine.process_pending(BATCH)).articles:
            total += done.articles
            for _ in range(done.articles):
                advance()
    return total


# --- 6-8. digest, export, Telegram ---------------------------------------------------------------------------


def export_email(digest: Digest, folder: Path, lang: str, now: datetime) -> ExportPaths:
    """The day's email export, in the reader's language when the email has it (else English)."""
    cfg = EmailConfig(
        recipients=("reader@localhost",),
        export_dir=folder,
        language=lang if lang in EMAIL_LANGUAGES else "en",
    )
    message = build_message(digest, cfg, day=now.date(), now=now)
    body = message.get_body(("html",))
    html_text = "" if body is None else str(body.get_content())
    return write_export(message, html_text, stories_json(digest), folder, now.date())


@dataclass(frozen=True, slots=True)
class TelegramReport:
    parts: int  # messages the digest was rendered into
    sent: int  # messages Telegram accepted
    error: str | None = None


def telegram_chat(option: str | None) -> int | None:
    """The chat id of ``--telegram-chat`` (or $VEILLE_DEMO_CHAT_ID); None when not given."""
    raw = (option or "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit():
        raise click.BadParameter(f"{raw!r} is not a numeric chat id", param_hint="--telegram-chat")
    return int(raw)


async def send_telegram(
    store: Store, digest: Digest, lang: str, chat_id: int, settings: BotSettings, now: datetime
) -> TelegramReport:
    """Record the rendered digest in the outbox, then deliver it as the bot does."""
    from telegram import Bot
    from telegram.error import TelegramError

    from bot.render import render_digest
    from bot.repository import BotRepository, NewMessage
    from bot.service import deliverer_for

    assert settings.telegram_token is not None
    repo = BotRepository(store)
    parts = render_digest(digest, lang, title="veille demo", now=now)
    key = f"demo:{now:%Y-%m-%dT%H:%M:%S}"
    item_ids = repo.enqueue([NewMessage(chat_id, key, "digest", tuple(parts))], now)
    try:
        async with Bot(
            settings.telegram_token.get_secret_value(), base_url=f"{settings.telegram_api_url}/bot"
        ) as bot:
            deliverer = deliverer_for(settings, repo, bot)
            counts = await deliverer.drain()
    except TelegramError as exc:
        return TelegramReport(len(parts), 0, f"{type(exc).__name__}: {exc}")
    item = repo.item(item_ids[0]) if item_ids else None
    error = item.last_error if item is not None and item.status != "sent" else None
    return TelegramReport(len(parts), counts.messages, error)


# --- output --------------------------------------------------------------------------------------------------


def story_json(story: StoryView, lang: str, corpus: DemoCorpus) -> dict[str, Any]:
    """A story with its corpus article ids (read back from the demo site's URLs) and their sources."""
    source_of = {a.id: a.source for a in corpus.articles}
    ids = sorted({cid for url in story.urls if (cid := corpus_id(url)) in source_of})
    return {
        "story_id": story.story_id,
        "headline": localize(story, lang).headline,
        "languages": list(story.languages),
        "articles": ids,
        "sources": sorted({source_of[cid] for cid in ids}),
        "importance": round(story.importance, 3),
    }


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def print_story(n: int, original: StoryView, lang: str, names: Mapping[str, str]) -> None:
    """Numbered headline (its language marked when not the reader's), languages and sources, summary, tags."""
    story = localize(original, lang)
    marker = f" [{story.headline_lang}]" if story.headline_lang and story.headline_lang != lang else ""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", width=3)
    grid.add_column()
    grid.add_row(Text(f"{n}.", style="bold"), Text.assemble((story.headline, "bold cyan"), (marker, "dim")))
    sources = ", ".join(dict.fromkeys(names.get(source, source) for source, _url in story.sources_list))
    counts = f"{plural(story.articles, 'article')}, {plural(story.sources, 'source')}"
    grid.add_row("", Text(f"{', '.join(story.languages)} · {counts}: {sources}", style="dim"))
    for sentence in story.sentences:
        grid.add_row("•", Text(sentence.text))
    if story.entities:
        tags = Text()
        for key in story.entities[:8]:
            tags.append(
                f" {display_name(key, default_gazetteer(), lang)} ", style="black on bright_cyan"
            ).append(" ")
        grid.add_row("", tags)
    out.print(grid)
    out.print()


def print_digest(digest: Digest, lang: str, names: Mapping[str, str], total: int) -> None:
    window = f"{digest.since:%d %b %H:%M} → {digest.until:%d %b %H:%M} UTC"
    out.rule(Text(f"{len(digest.stories)} of {total} stories · {window}", style="bold"))
    for n, story in enumerate(digest.stories, 1):
        print_story(n, story, lang, names)


def step(label: str, text: str) -> None:
    """One line of the demo's progress on stdout; feed and path text is never read as rich markup."""
    out.print(Text.assemble((label, "bold green"), " ", text), highlight=False, soft_wrap=True)


def quiet(_label: str, _text: str) -> None:
    """``step`` with ``--json``: stdout holds only the JSON object."""


Say = Callable[[str, str], None]


# --- the run -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    workdir: Path
    lang: str
    limit: int
    chat_id: int | None
    bot: BotSettings
    as_json: bool


@dataclass(frozen=True, slots=True)
class PollSummary:
    sources: int
    items: int
    new: int
    duplicates: int
    failed: tuple[str, ...]  # "source-id: kind: message"


@dataclass(frozen=True, slots=True)
class DemoResult:
    digest: Digest
    stories: int  # stories of the two days (the digest shows the first --limit)
    polled: PollSummary
    processed: int
    export: ExportPaths
    telegram: TelegramReport | None


def poll_step(
    store: Store, settings: MonitorSettings, sources: Sequence[SourceConfig], show: bool
) -> PollSummary:
    outcomes = asyncio.run(poll_all(store, settings, sources, show=show))
    failed = tuple(
        f"{o.source_id}: {o.error_kind}: {o.error_message}" for o in outcomes if o.status == "failed"
    )
    return PollSummary(
        len(outcomes),
        sum(o.items for o in outcomes),
        sum(o.new for o in outcomes),
        sum(o.duplicates for o in outcomes),
        failed,
    )


def run_demo(corpus: DemoCorpus, options: DemoOptions, say: Say) -> DemoResult:
    """Steps 2 to 8 on a loaded corpus (see the module docstring)."""
    now = datetime.now(UTC).replace(microsecond=0)
    db_path, url = fresh_store(options.workdir)
    with DemoServer() as server, contextlib.closing(Store.open(url)) as store:
        server.pages.update(build_site(corpus, server.base_url, now))
        say("2. serving", f"{server.base_url}: " + ", ".join(f"{s.id} ({s.kind})" for s in corpus.sources))
        say("3. store", f"{db_path} (recreated for this run)")
        settings = MonitorSettings(database_url=url, allow_private=True)
        polled = poll_step(store, settings, source_configs(corpus, server.base_url), not options.as_json)
        say(
            "4. polled",
            f"{polled.sources} sources: {polled.items} articles, {polled.new} new, "
            f"{polled.duplicates} stored as duplicates, {len(polled.failed)} failed",
        )
        for failure in polled.failed:
            say("   failed:", failure)
        processed = summarize_all(store, sorted({a.lang for a in corpus.articles}), show=not options.as_json)
        until = datetime.now(UTC) + timedelta(seconds=1)
        views = views_between(NlpRepository(store), now - SPAN, until)
        say("5. summarized", f"{processed} articles into {len(views)} stories")
        digest = make_digest(views, "", now - SPAN, until, options.limit)
        if not options.as_json:
            print_digest(digest, options.lang, {s.id: s.name for s in corpus.sources}, len(views))
        paths, report = publish(store, digest, options, now, say)
    return DemoResult(digest, len(views), polled, processed, paths, report)


def publish(
    store: Store, digest: Digest, options: DemoOptions, now: datetime, say: Say
) -> tuple[ExportPaths, TelegramReport | None]:
    """Steps 7 and 8: the email export, then Telegram when a chat was given."""
    paths = export_email(digest, options.workdir / "exports", options.lang, now)
    say("7. email export", f"in {paths.eml.parent} (open the .html in a browser):")
    for path in (paths.html, paths.eml, paths.json):
        say("  ", str(path))
    if options.chat_id is None:
        return paths, None
    report = asyncio.run(send_telegram(store, digest, options.lang, options.chat_id, options.bot, now))
    note = f" (not delivered yet: {report.error})" if report.error else ""
    say("8. telegram", f"chat {options.chat_id}: {report.sent} of {report.parts} messages sent{note}")
    return paths, report


def result_json(result: DemoResult, corpus: DemoCorpus, lang: str) -> dict[str, Any]:
    polled, paths = result.polled, result.export
    counts = {
        "sources": polled.sources,
        "failed_sources": len(polled.failed),
        "served": polled.items,
        "new": polled.new,
        "duplicates": polled.duplicates,
        "processed": result.processed,
        "stories": result.stories,
        "shown": len(result.digest.stories),
        "telegram_messages": None if result.telegram is None else result.telegram.sent,
    }
    return {
        "stories": [story_json(s, lang, corpus) for s in result.digest.stories],
        "export": {"eml": str(paths.eml), "html": str(paths.html), "json": str(paths.json)},
        "counts": counts,
    }


# --- the command ---------------------------------------------------------------------------------------------


@click.command("demo")
@click.option(
    "--corpus",
    "corpus_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_CORPUS,
    show_default="the packaged bot/demo_data/corpus.yaml",
    help="The demo corpus.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("veille-demo"),
    show_default=True,
    help="Folder of the demo store (recreated at each run) and of the email export.",
)
@click.option(
    "--lang", type=click.Choice(READER_LANGUAGES), default="en", show_default=True, help="Reader language."
)
@click.option("--limit", default=15, show_default=True, type=click.IntRange(1, 1000), help="Stories shown.")
@click.option(
    "--telegram-chat",
    "chat_option",
    metavar="ID",
    envvar="VEILLE_DEMO_CHAT_ID",
    show_envvar=True,
    help="Also send the digest to this chat (needs TELEGRAM_BOT_TOKEN).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the digest.")
@handles_errors
def demo_cmd(
    corpus_path: Path, workdir: Path, lang: str, limit: int, chat_option: str | None, as_json: bool
) -> None:
    """Run the whole pipeline offline on a demo corpus: serve, poll, summarize, print the digest, export."""
    setup_logging(logging.ERROR)
    say: Say = quiet if as_json else step
    options = DemoOptions(
        workdir,
        lang,
        limit,
        telegram_chat(chat_option),
        configured(BotSettings),
        as_json,
    )
    if options.chat_id is not None and options.bot.telegram_token is None:
        raise ConfigError(
            "--telegram-chat needs a bot token", hint="set TELEGRAM_BOT_TOKEN (from @BotFather)"
        )
    corpus = load_corpus(corpus_path)
    say(
        "1. corpus",
        f"{corpus_path}: {len(corpus.articles)} articles from {len(corpus.sources)} sources, "
        f"{len({a.story for a in corpus.articles})} events, dated so that its two days end now",
    )
    try:
        result = run_demo(corpus, options, say)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's error, without the statement
        raise click.ClickException(f"demo store {workdir / 'veille-demo.db'}: {cause}") from exc
    if as_json:
        click.echo(json.dumps(result_json(result, corpus, lang), ensure_ascii=False))
    elif options.bot.telegram_token is not None and options.chat_id is None:
        say("tip:", "add --telegram-chat ID (or set VEILLE_DEMO_CHAT_ID) to also send the digest to Telegram")
