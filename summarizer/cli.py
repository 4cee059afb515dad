"""The summarizer's commands: ``veille summarize``, ``veille stories list|show``, ``veille digest``, ``veille eval``.

Same conventions as the monitor's commands: the settings from the configuration (``--embedder``, ``--entities`` and
``--batch`` default to ``[summarizer]``'s, or ``VEILLE_EMBEDDER``, ...); the store from ``DATABASE_URL``;
``--json`` prints JSON (Lines on lists); exit code 0 on success, 1 on a runtime failure, 2 on bad usage or
configuration. Models load once per command, offline (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.cli import (
    configured,
    handles_errors,
    json_option,
    load_settings,
    open_store,
    reads_only,
    setup_logging,
)
from monitor.config import ISO_639_1, parse_duration
from summarizer.digest import Digest, build_digest, localize, parse_filter, trending
from summarizer.gazetteer import default_gazetteer, display_name
from summarizer.repository import NlpRepository, StoryRow
from summarizer.settings import SummarizerSettings
from summarizer.summaries import sentence_record

if TYPE_CHECKING:
    from summarizer.clustering_eval import Extractor
    from summarizer.entities import EntityExtractor

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

embedder_option = click.option(
    "--embedder",
    default=lambda: configured(SummarizerSettings).embedder,
    show_default="embedder of the configuration, else use",
    help="Embedding model: use (multilingual USE) or st:<sentence-transformers name or path>.",
)


entities_option = click.option(
    "--entities",
    "entities_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=lambda: configured(SummarizerSettings).entities,
    help="Your own entities file (same format as summarizer/data/entities.yaml), merged over the packaged one; "
    "default: entities of the configuration ([summarizer] in veille.toml, or $VEILLE_ENTITIES).",
)


model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=lambda: configured(SummarizerSettings).cluster_model,
    help="Clustering model file made by `veille train clustering`; default: cluster_model of the configuration, "
    "else the model shipped with veille.",
)


def make_extractor(entities_path: Path | None) -> EntityExtractor:
    """The entity extractor on the packaged gazetteer, plus the user's file when given."""
    from summarizer.entities import EntityExtractor
    from summarizer.gazetteer import load_gazetteer

    return EntityExtractor(load_gazetteer(entities_path)) if entities_path else EntityExtractor()


def _window(since: str) -> datetime:
    try:
        return datetime.now(UTC) - parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc


def _language_code(value: str | None) -> str | None:
    """``--lang``: an ISO 639-1 code (refused with the usual ones named otherwise)."""
    if value is None:
        return None
    code = value.strip().lower()
    if code not in ISO_639_1:
        raise click.BadParameter(f"{value!r} is not a language code (ISO 639-1, e.g. en, fr, de, es, ar)")
    return code


def _json_value(value: object) -> object:
    """JSON for what ``json`` cannot write: times as ISO 8601, sets as sorted lists (never a Python repr)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=_json_value))


@click.command("summarize")
@click.option(
    "--batch",
    default=lambda: configured(SummarizerSettings).summarize_batch,
    show_default="summarize_batch of the configuration, else 64",
    type=click.IntRange(1, 10000),
    help="Articles per batch (one transaction each).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Put the articles that failed alone (``veille stories failed``) back in the queue first.",
)
@embedder_option
@entities_option
@model_option
@handles_errors
def summarize_cmd(
    batch: int, retry_failed: bool, embedder: str, entities_path: Path | None, model_path: Path | None
) -> None:
    """Process the stored articles not processed yet: entities, embeddings, stories, summaries.

    An article a stage fails on is recorded with its error and skipped, and the rest goes on."""
    setup_logging()
    from summarizer.clustering_model import load_model
    from summarizer.embeddings import load_embedder
    from summarizer.pipeline import Summarizer

    model = load_model(model_path) if model_path else None
    with open_store(load_settings()) as store:
        if retry_failed:
            err.print(f"{NlpRepository(store).retry_failed()} failed articles back in the queue")
        with err.status("loading models"):
            engine = Summarizer(store, make_extractor(entities_path), load_embedder(embedder), model=model)
        total = failed = 0
        while (done := engine.process_pending(batch)).articles:
            total += done.articles
            failed += done.failed
            err.print(f"processed {total} articles ({done.errors} errors in the last batch)")
    out.print(f"{total} articles processed")
    if failed:
        err.print(f"{failed} failed and were skipped: veille stories failed shows why")


@click.group("stories")
def stories_group() -> None:
    """Look at the stories built from the articles."""


def _row_json(s: StoryRow) -> dict[str, Any]:
    return {**asdict(s), "languages": list(s.languages)}


lang_option = click.option(
    "--lang",
    default=None,
    callback=lambda _ctx, _param, value: _language_code(value),
    help="The reader's language (e.g. fr): headlines and summaries in it where the story has it.",
)


@reads_only
@stories_group.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@json_option
@handles_errors
def stories_failed(limit: int, as_json: bool) -> None:
    """Articles the summarizer failed on alone and skipped, with the error (``summarize --retry-failed`` retries)."""
    setup_logging()
    with open_store(load_settings()) as store:
        rows = NlpRepository(store).failed(limit)
    if as_json:
        for article, when, why in rows:
            _echo_json({"article": article.id, "source": article.source_id, "url": article.url,
                        "title": article.title, "failed_at": when.isoformat(), "error": why})  # fmt: skip
        return
    if not rows:
        out.print("no failed articles")
        return
    table = Table(title=f"{len(rows)} articles skipped by the summarizer", header_style="bold")
    for col in ("failed", "article", "source", "title", "error"):
        table.add_column(col, overflow="fold")
    for article, when, why in rows:
        table.add_row(
            when.strftime("%Y-%m-%d %H:%M"), article.id, article.source_id, Text(article.title), Text(why)
        )
    out.print(table)


@reads_only
@stories_group.command("list")
@click.option("--since", default="24h", show_default=True, help="Stories updated in the last 90m, 24h, 7d...")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@lang_option
@json_option
@handles_errors
def stories_list(since: str, limit: int, lang: str | None, as_json: bool) -> None:
    """Stories updated recently, most important first (full ids: ``stories show`` takes any unique prefix)."""
    setup_logging()
    with open_store(load_settings()) as store:
        repo = NlpRepository(store)
        rows = sorted(repo.stories_since(_window(since)), key=lambda s: (-s.importance, s.id))[:limit]
        if lang:
            told = {v.story_id: localize(v, lang).headline for v in repo.story_views(rows)}
            rows = [replace(s, headline=told.get(s.id, s.headline)) for s in rows]
    if as_json:
        for s in rows:
            _echo_json(_row_json(s))
        return
    table = Table(title=f"{len(rows)} stories updated in the last {since}", header_style="bold")
    for col in ("story", "updated", "sources", "languages", "importance", "headline"):
        table.add_column(
            col,
            overflow="fold",
            no_wrap=col == "story",
            min_width=len(max((s.id for s in rows), key=len, default="")) if col == "story" else None,
        )
    for s in rows:
        table.add_row(
            s.id,
            s.last_update.strftime("%Y-%m-%d %H:%M"),
            str(s.sources),
            ",".join(s.languages),
            f"{s.importance:.2f}",
            Text(s.headline or ""),
        )
    out.print(table)


@reads_only
@stories_group.command("show")
@click.argument("story_id")
@lang_option
@json_option
@handles_errors
def stories_show(story_id: str, lang: str | None, as_json: bool) -> None:
    """One story (its id or a unique prefix of it): headline, full summary with the source of each sentence,
    entities, articles."""
    setup_logging()
    with open_store(load_settings()) as store:
        repo = NlpRepository(store)
        story = repo.story(story_id)
        if story is None:
            found = repo.story_ids_starting(story_id[:200])
            if len(found) != 1:
                several = f": {', '.join(found)}" if found else "; see veille stories list"
                what = "several stories start with" if found else "no story"
                raise click.BadParameter(f"{what} {story_id!r}{several}", param_hint="STORY_ID")
            story = repo.story(found[0])
            assert story is not None
        if lang:
            [view] = repo.story_views([story])
            told = localize(view, lang)
            sentences = told.full_sentences or told.sentences
            localized: dict[str, Any] = {
                **(story.summary or {}),
                "full": [sentence_record(x) for x in sentences],
            }
            story = replace(story, headline=told.headline, summary=localized)
        members = repo.story_members(story.id)
    if as_json:
        _echo_json(
            {
                **_row_json(story),
                "members": [
                    {
                        "id": a.id,
                        "source_id": a.source_id,
                        "title": a.title,
                        "url": a.url,
                        "language": a.language,
                        "duplicate": dup,
                    }
                    for a, dup in members
                ],
            }
        )
        return
    out.print(Text(story.headline or story.id, style="bold"))
    summary = story.summary or {}
    for sentence in summary.get("full") or summary.get("sentences", []):  # the full summary when stored
        out.print(Text(f"  • {sentence['text']}  [{sentence['article_id']}#{sentence['position']}]"))
    names = default_gazetteer()
    out.print(
        Text(f"entities: {', '.join(display_name(k, names, lang) for k in summary.get('entities', []))}")
    )
    out.print(
        f"{story.sources} sources, {len(story.languages)} languages ({', '.join(story.languages)}), "
        f"importance {story.importance:.2f}, first seen {story.first_seen:%Y-%m-%d %H:%M}, "
        f"updated {story.last_update:%Y-%m-%d %H:%M}"
    )
    for article, dup in members:
        out.print(
            Text(
                f"  - [{article.language or '?'}] {article.title} ({article.source_id})"
                f"{' (copy)' if dup else ''}  {article.url}"
            )
        )


def print_digest(digest: Digest, lang: str | None = None) -> None:
    out.rule(
        f"veille digest: {len(digest.stories)} stories, {digest.since:%Y-%m-%d %H:%M} to "
        f"{digest.until:%Y-%m-%d %H:%M} UTC"
    )
    names = default_gazetteer()
    for n, story in enumerate(digest.stories, 1):
        out.print(Text(f"{n}. {story.headline}", style="bold"))
        for sentence in story.sentences:
            out.print(Text(f"   {sentence.text}"))
        out.print(
            Text(
                f"   {story.sources} sources · {', '.join(story.languages)} · "
                f"{', '.join(display_name(k, names, lang) for k in story.entities[:5])} · "
                f"importance {story.importance:.1f}",
                style="dim",
            )
        )
    if digest.trending:
        out.print(
            Text(
                "trending: "
                + ", ".join(
                    f"{display_name(t.key, names, lang)} {t.count} ({t.previous})" for t in digest.trending
                )
            )
        )


@reads_only
@click.command("digest")
@click.option("--since", default="24h", show_default=True, help="The window: 90m, 24h, 7d...")
@click.option(
    "--lang",
    default=None,
    callback=lambda _ctx, _param, value: _language_code(value),
    help="The reader's language (e.g. fr): headlines and sentences in it where a "
    "story has it. To keep only stories told in a language, use --filter lang:fr.",
)
@click.option(
    "--filter", "query", default="", help='e.g. europol "dark web" -football entity:isis tag:agency min:2'
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@json_option
@handles_errors
def digest_cmd(since: str, lang: str | None, query: str, limit: int, as_json: bool) -> None:
    """Print a digest of the stories of the window that match the filter, most important first."""
    setup_logging()
    start, until = _window(since), datetime.now(UTC)
    flt = parse_filter(query)
    with open_store(load_settings()) as store:
        repo = NlpRepository(store)
        views = repo.story_views(repo.stories_since(start))
        now_counts = repo.entity_counts(start, until)
        before = repo.entity_counts(start - (until - start), start)
        digest = build_digest(
            views, flt, since=start, until=until, limit=limit, trending_entities=trending(now_counts, before)
        )
        if lang:
            digest = replace(digest, stories=tuple(localize(s, lang) for s in digest.stories))
    if as_json:
        _echo_json(asdict(digest))
    else:
        print_digest(digest, lang)


@click.group("eval")
def eval_group() -> None:
    """Score clustering, entities and summaries on labelled files."""


_JSONL = "a UTF-8 JSON Lines file, one object per line, in the format the command's help describes"


def _labelled_file(path: Path, load: Callable[[Path], T], expected: str = _JSONL) -> T:
    """``load(path)``, with what makes the file unusable (not UTF-8 text, not the ``expected`` format, a bad
    line) as a usage error naming the file: exit code 2, never a traceback."""
    try:
        return load(path)
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{path}: not UTF-8 text ({exc.reason}); give {expected}",
            param_hint="PATH",
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = str(exc) if str(exc).startswith(str(path)) else f"{path}: {type(exc).__name__}: {exc}"
        raise click.BadParameter(
            f"{' '.join(what.split())[:300]}; give {expected}", param_hint="PATH"
        ) from None


def _entity_keys(entities_path: Path | None) -> Extractor:
    """Each item's entity keys (canonical ids and unknown names), as ``veille eval`` and ``train`` feed them."""
    extractor = make_extractor(entities_path)

    def keys(item: Any) -> frozenset[str]:
        return frozenset(extractor.extract(f"{item.title}\n\n{item.text}", item.lang).counts)

    return keys


def _score_line(name: str, s: Any) -> str:
    return (
        f"{name:>24}: pairwise P {s.pairwise.precision:.3f} R {s.pairwise.recall:.3f} F1 {s.pairwise.f1:.3f} | "
        f"BCubed P {s.bcubed.precision:.3f} R {s.bcubed.recall:.3f} F1 {s.bcubed.f1:.3f} | "
        f"{s.predicted_stories} stories for {s.gold_stories} gold"
    )


@eval_group.command("clustering")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@embedder_option
@entities_option
@model_option
@click.option(
    "--pred-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write each article's gold and predicted story (JSON Lines) to this file.",
)
@click.option("--explain", is_flag=True, help="List the worst merges and the worst splits.")
@json_option
@handles_errors
def eval_clustering(
    path: Path,
    embedder: str,
    entities_path: Path | None,
    model_path: Path | None,
    pred_out: Path | None,
    explain: bool,
    as_json: bool,
) -> None:
    """Pairwise and BCubed precision/recall/F1 of the story clustering on a JSON Lines file, next to the plain
    dense-centroid and TF-IDF-centroid baselines; pairs split into same-language and cross-language."""
    from summarizer.clustering_eval import evaluate_clustering, load_clustering_file
    from summarizer.clustering_model import default_model, load_model
    from summarizer.clustering_report import (
        format_explain,
        pairwise_by_language,
        size_distribution,
        size_line,
        worst_merges,
        worst_splits,
        write_predictions,
    )
    from summarizer.embeddings import load_embedder

    setup_logging()
    items = _labelled_file(path, load_clustering_file)
    model = load_model(model_path) if model_path else default_model()
    result = evaluate_clustering(items, load_embedder(embedder), _entity_keys(entities_path), model)
    gold = {item.id: item.story for item in items}
    langs = {item.id: item.lang for item in items}
    same, cross = pairwise_by_language(gold, result.predicted, langs)
    if pred_out:
        write_predictions(pred_out, gold, result.predicted, langs)
    merges, splits = worst_merges(gold, result.predicted), worst_splits(gold, result.predicted)
    if as_json:
        _echo_json({
            "file": str(path), "model": model.name, "veille": asdict(result.veille),
            "same_language": asdict(same), "cross_language": asdict(cross),
            "sizes": size_distribution(result.predicted),
            "dense_baseline": asdict(result.dense_baseline), "tfidf_baseline": asdict(result.tfidf_baseline),
            **({"worst_merges": [asdict(m) for m in merges], "worst_splits": [asdict(s) for s in splits]}
               if explain else {}),
        })  # fmt: skip
        return
    out.print(
        f"{path}: {len(items)} articles, {len(set(gold.values()))} gold stories, model {model.name}",
        soft_wrap=True,
    )
    out.print(_score_line("veille", result.veille), soft_wrap=True)
    for name, prf_ in (("same-language pairs", same), ("cross-language pairs", cross)):
        out.print(f"{name:>24}: P {prf_.precision:.3f} R {prf_.recall:.3f} F1 {prf_.f1:.3f}")
    out.print(f"{'':>24}  {size_line(result.predicted)}", soft_wrap=True)
    out.print(_score_line("dense centroid baseline", result.dense_baseline), soft_wrap=True)
    out.print(_score_line("TF-IDF centroid baseline", result.tfidf_baseline), soft_wrap=True)
    if explain:
        titles = {item.id: item.title or item.text[:80] for item in items}
        for line in format_explain(merges, splits, titles):
            out.print(Text(line), soft_wrap=True)
    if pred_out:
        out.print(f"predictions written to {pred_out}")


@click.group("train")
def train_group() -> None:
    """Train models on labelled files."""


@train_group.command("clustering")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the model (JSON); select it with --model or the setting cluster_model.",
)
@click.option("--name", default="", help="A name for the model (default: the file name of --out).")
@embedder_option
@entities_option
@handles_errors
def train_clustering(
    paths: tuple[Path, ...], out_path: Path, name: str, embedder: str, entities_path: Path | None
) -> None:
    """Learn the clusterer's join and link decisions from labelled streams (JSON Lines of the eval format, one
    file per stream: each is replayed on its own, in publication order)."""
    from summarizer.clustering_eval import cluster_inputs, embed_items, load_clustering_file
    from summarizer.clustering_model import save_model
    from summarizer.clustering_train import LabelledSet, train
    from summarizer.embeddings import load_embedder

    setup_logging()
    model, keys = load_embedder(embedder), _entity_keys(entities_path)
    sets = []
    for path in paths:
        items = _labelled_file(path, load_clustering_file)
        if not items:
            raise click.BadParameter(f"{path}: no article", param_hint="PATHS")
        out.print(
            f"{path}: {len(items)} articles, {len({i.story for i in items})} stories: embedding, entities"
        )
        inputs = cluster_inputs(items, embed_items(items, model), [keys(item) for item in items])
        sets.append(LabelledSet(str(path), items, inputs))
    try:
        trained = train(sets, name=name or out_path.stem, progress=lambda line: out.print(Text(line)))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    save_model(trained, out_path)
    out.print(f"model written to {out_path} (join threshold {trained.join.threshold}, "
              f"link threshold {trained.link.threshold}); use it with --model {out_path}")  # fmt: skip


@eval_group.command("entities")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", required=True, help="Language of the file (en, fr, ...).")
@click.option("--limit", type=int, default=None, help="Only the first N sentences.")
@entities_option
@json_option
@handles_errors
def eval_entities(
    path: Path, lang: str, limit: int | None, entities_path: Path | None, as_json: bool
) -> None:
    """Per-type precision/recall/F1 of entity extraction on a CoNLL-style file (token, IOB2 tag)."""
    from summarizer.conll import evaluate_entities, format_entity_scores, read_conll

    setup_logging()
    _labelled_file(
        path, lambda p: read_conll(p, limit), "a UTF-8 CoNLL-style file: a token and an IOB2 tag a line"
    )
    scores = evaluate_entities(path, make_extractor(entities_path), lang, limit=limit)
    if as_json:
        _echo_json(asdict(scores))
    else:
        out.print(format_entity_scores(scores))


@eval_group.command("summaries")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", default="en", show_default=True, help="The wanted summary language.")
@embedder_option
@json_option
@handles_errors
def eval_summaries(path: Path, lang: str, embedder: str, as_json: bool) -> None:
    """ROUGE-1/2/L (rouge-score) of the full and digest summaries, next to the length-matched lead and lead-3."""
    from summarizer.embeddings import load_embedder
    from summarizer.rouge import evaluate_cases, format_scores, load_summary_cases

    setup_logging()
    cases = _labelled_file(path, load_summary_cases)
    scores = evaluate_cases(cases, load_embedder(embedder).embed, lang)
    if as_json:
        _echo_json(asdict(scores))
    else:
        out.print(format_scores(scores))
