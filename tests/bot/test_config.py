"""The configuration file, the environment over it, secret files, ``veille config check``, and the settings docs.

``load_config`` is tested on real files in ``tmp_path`` (TOML and YAML) with an explicit environment mapping;
the command line in-process with click's runner (a clean environment, the working directory in ``tmp_path``)
and once as the real program in a subprocess. The README's table and ``veille.example.toml`` are compared with
the functions that generate them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from bot.botcli import load_bot_settings
from bot.cli import cli
from bot.config import SECTIONS, config_table, example_toml, load_config, settings_markdown
from bot.configcli import install_config
from monitor.cli import load_settings
from monitor.errors import ConfigError
from monitor.validation import ConfigErrors
from summarizer.cli import embedder_option, entities_option
from tests.conftest import ROOT

SECRET = "123456:SECRET-token-value"
PASSWORD = "hunter2-smtp-password"


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems(caught: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    exc = caught.value
    return [str(e) for e in exc.errors] if isinstance(exc, ConfigErrors) else [str(exc)]


TOML = """\
# a comment
[monitor]
database_url = "sqlite:///other.db"
global_concurrency = 8

[bot]
digest_limit = 5
admin_ids = "11, 22"

[service]
log_format = "json"
"""

YAML = """\
monitor:
  database_url: sqlite:///other.db
  global_concurrency: 8
bot:
  digest_limit: 5
  admin_ids: "11, 22"
service:
  log_format: json
"""


@pytest.mark.parametrize(
    ("name", "text", "lines"),
    [("veille.toml", TOML, (3, 4, 7, 8, 11)), ("veille.yaml", YAML, (2, 3, 5, 6, 8))],
    ids=["toml", "yaml"],
)
def test_file_values_and_their_lines(tmp_path: Path, name: str, text: str, lines: tuple[int, ...]) -> None:
    path = write(tmp_path / name, text)
    config = load_config(path, {})
    assert config.path == path and config.monitor.database_url == "sqlite:///other.db"
    assert (config.monitor.global_concurrency, config.bot.digest_limit) == (8, 5)
    assert config.bot.admins == frozenset({11, 22}) and config.service.log_format == "json"
    assert config.summarizer.embedder == "use" and config.monitor.per_host_concurrency == 2  # defaults
    keys = ("monitor.database_url", "monitor.global_concurrency", "bot.digest_limit", "bot.admin_ids")
    assert config.origins == {
        key: f"{path}:{n}" for key, n in zip((*keys, "service.log_format"), lines, strict=True)
    }
    assert config.origin("bot", "email_hour") == "default"


def test_no_default_file_is_fine_but_a_missing_explicit_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {"VEILLE_DIGEST_LIMIT": "7"})
    assert config.path is None and config.bot.digest_limit == 7
    assert config.origins == {"bot.digest_limit": "env VEILLE_DIGEST_LIMIT"}
    write(tmp_path / "veille.toml", "[bot]\ndigest_limit = 9\n")
    assert load_config(None, {}).bot.digest_limit == 9  # ./veille.toml is the default file
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml", {})
    assert problems(caught) == [
        f"{tmp_path / 'absent.toml'}: file not found "
        "(fix: create it (veille.example.toml lists every setting), or fix --config)"
    ]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "veille.toml",
            "[monitor]\nglobal_concurrency = 4\n\n[bot]\ndigest_limt = 5\n",
            ":5: [bot] unknown key 'digest_limt' (fix: did you mean 'digest_limit'?",
            id="toml-key",
        ),
        pytest.param(
            "veille.yaml",
            "bot:\n  digest_limit: 5\n  admin_id: '1'\n",
            ":3: [bot] unknown key 'admin_id' (fix: did you mean 'admin_ids'?",
            id="yaml-key",
        ),
        pytest.param(
            "veille.toml",
            "[sumarizer]\nembedder = 'use'\n",
            ":1: unknown section [sumarizer] (fix: did you mean [summarizer]?",
            id="toml-section",
        ),
        pytest.param(
            "veille.toml",
            "[bot]\ndatabase_url = 'sqlite:///x.db'\n",
            ":2: [bot] unknown key 'database_url' (fix: it belongs in [monitor]",
            id="wrong-section",
        ),
        pytest.param(
            "veille.toml",
            "max_redirects = 3\n",
            ":1: setting 'max_redirects' outside a section (fix: put it under [monitor])",
            id="no-section",
        ),
        pytest.param(
            "veille.toml",
            "[monitor]\nmax_redirects = 3\nmax_redirects = 4\n",
            ":3: TOML syntax error",
            id="toml-syntax",
        ),
        pytest.param(
            "veille.yaml",
            "monitor:\n  max_redirects: 3\n  max_redirects: 4\n",
            ":3: duplicate key 'max_redirects' (first at line 2)",
            id="yaml-duplicate",
        ),
        pytest.param("veille.ini", "[monitor]\n", "veille.ini: unknown kind of file", id="extension"),
    ],
)
def test_shape_errors_name_the_line_and_a_fix(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert len(problems(caught)) == 1 and expected in problems(caught)[0], problems(caught)


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "veille.toml",
        "[monitor]\n"
        "per_host_concurrency = 99\n"
        'allow_private = "maybe"\n'
        "unknown_thing = 1\n"
        "[bot]\n"
        'email_timezone = "Mars/Base"\n'
        'default_language = "pt"\n'
        "[service]\n"
        "metrics_port = -1\n",
    )
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, {"VEILLE_DIGEST_LIMIT": "lots"})
    assert problems(caught) == [
        f"{path}:2: [monitor] per_host_concurrency = 99: Input should be less than or equal to 16 "
        "(fix: set per_host_concurrency to a whole number between 1 and 16 (requests in flight per host))",
        f"{path}:3: [monitor] allow_private = 'maybe': Input should be a valid boolean, unable to interpret input "
        "(fix: set allow_private to true or false (allow private, loopback and link-local addresses))",
        f"{path}:4: [monitor] unknown key 'unknown_thing' (fix: veille.example.toml lists every key)",
        f"{path}:6: [bot] email_timezone = 'Mars/Base': unknown time zone 'Mars/Base' "
        "(fix: an IANA name such as Europe/Paris or UTC (email_timezone: time zone of the email hour and day))",
        f"{path}:7: [bot] default_language = 'pt': Input should be 'en', 'fr', 'de', 'es' or 'ar' "
        "(fix: set default_language to one of en, fr, de, es, ar (language of new chats until they choose))",
        f"{path}:9: [service] metrics_port = -1: Input should be greater than or equal to 0 "
        "(fix: set metrics_port to a whole number between 0 and 65535 "
        "(port of the /healthz and /metrics endpoint (0: off)))",
        "VEILLE_DIGEST_LIMIT='lots': Input should be a valid integer, unable to parse string as an integer "
        "(fix: set VEILLE_DIGEST_LIMIT to a whole number between 1 and 500 (most stories in one digest))",
    ]
    assert str(caught.value).startswith(f"{path}: 7 problems\n")


def test_two_settings_that_disagree(tmp_path: Path) -> None:
    path = write(tmp_path / "veille.toml", "[monitor]\nmin_interval_s = 7200\nmax_interval_s = 3600\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert problems(caught) == [
        "[monitor] min_interval_s is above max_interval_s (fix: change one of the two settings)"
    ]


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "veille.toml", TOML)
    env = {
        "DATABASE_URL": "sqlite:///env.db",
        "VEILLE_DIGEST_LIMIT": "12",
        "VEILLE_EMBEDDER": " ",
        "OTHER": "x",
    }
    config = load_config(path, env)
    assert (config.monitor.database_url, config.bot.digest_limit) == ("sqlite:///env.db", 12)
    assert config.monitor.global_concurrency == 8 and config.summarizer.embedder == "use"  # blank: unset
    assert config.origin("monitor", "database_url") == "env DATABASE_URL"
    assert config.origin("bot", "digest_limit") == "env VEILLE_DIGEST_LIMIT"
    assert config.origin("monitor", "global_concurrency") == f"{path}:4"
    assert config.origin("summarizer", "embedder") == "default"
    # a wrong value in the file that the environment replaces is not an error
    broken = write(tmp_path / "broken.toml", "[bot]\ndigest_limit = 0\n")
    assert load_config(broken, {"VEILLE_DIGEST_LIMIT": "3"}).bot.digest_limit == 3


@pytest.mark.parametrize("key", ["telegram_token", "smtp_password"])
def test_a_secret_in_the_file_is_refused(tmp_path: Path, key: str) -> None:
    path = write(tmp_path / "veille.toml", f'[bot]\ndigest_limit = 5\n{key} = "{SECRET}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (message,) = problems(caught)
    assert message.startswith(f"{path}:3: [bot] {key}: a secret is never read from the configuration file")
    assert f'{key}_file = "/path"' in message and "chmod 600" in message and SECRET not in message


@pytest.fixture
def secret_files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    token = write(tmp_path / "token", f"  {SECRET}\n", 0o600)
    password = write(tmp_path / "password", PASSWORD, 0o400)
    yield token, password


def test_secrets_from_owner_only_files(tmp_path: Path, secret_files: tuple[Path, Path]) -> None:
    token, password = secret_files
    path = write(tmp_path / "veille.toml", f'[bot]\ntelegram_token_file = "{token}"\n')
    config = load_config(path, {"VEILLE_SMTP_PASSWORD_FILE": str(password)})
    assert config.bot.telegram_token is not None and config.bot.telegram_token.get_secret_value() == SECRET
    assert config.bot.smtp_password is not None and config.bot.smtp_password.get_secret_value() == PASSWORD
    assert config.origin("bot", "telegram_token") == f"{path}:2"
    assert config.origin("bot", "smtp_password") == "env VEILLE_SMTP_PASSWORD_FILE"
    assert SECRET not in repr(config) and PASSWORD not in repr(config)
    # the environment overrides the file for secrets too
    overridden = load_config(path, {"TELEGRAM_BOT_TOKEN": "999:ENV"})
    assert overridden.bot.telegram_token is not None
    assert overridden.bot.telegram_token.get_secret_value() == "999:ENV"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o700], ids=oct)
def test_a_secret_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    token = write(tmp_path / "token", SECRET, mode)
    path = write(tmp_path / "veille.toml", f"[bot]\ntelegram_token_file = '{token}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert problems(caught) == [
        f"{path}:2: [bot] telegram_token_file: {token} is not readable by its owner only "
        f"(mode {mode:04o}, owned by you) (fix: chmod 600 {token}, as the user who runs veille)"
    ]
    with pytest.raises(ConfigError) as from_env:
        load_config(None, {"VEILLE_TELEGRAM_TOKEN_FILE": str(token)})
    assert problems(from_env)[0].startswith(f"VEILLE_TELEGRAM_TOKEN_FILE={token}: {token} is not readable")
    assert f"chmod 600 {token}" in problems(from_env)[0] and SECRET not in problems(from_env)[0]


def test_secret_file_problems(tmp_path: Path, secret_files: tuple[Path, Path]) -> None:
    token, _ = secret_files
    empty = write(tmp_path / "empty", "\n", 0o600)
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "VEILLE_TELEGRAM_TOKEN_FILE": str(token)}
    with pytest.raises(ConfigError) as caught:
        load_config(None, {**env, "VEILLE_SMTP_PASSWORD_FILE": str(empty)})
    assert problems(caught) == [
        "TELEGRAM_BOT_TOKEN and VEILLE_TELEGRAM_TOKEN_FILE are both set "
        "(fix: unset one of TELEGRAM_BOT_TOKEN and VEILLE_TELEGRAM_TOKEN_FILE)",
        f"VEILLE_SMTP_PASSWORD_FILE={empty}: secret file {empty} is empty (fix: write the secret in it)",
    ]


# --- the command line ---------------------------------------------------------------------------------------


def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, **env: str) -> Result:
    """``veille ARGS`` in-process, in ``tmp_path``, with only ``env`` among veille's variables."""
    monkeypatch.chdir(tmp_path)
    ours = ("VEILLE_", "DATABASE_URL", "TELEGRAM_BOT_TOKEN")
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith(ours)}
    return CliRunner().invoke(cli, list(args), env={**cleared, "COLUMNS": "200", **env})


def test_config_check_shows_origins_and_hides_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret_files: tuple[Path, Path]
) -> None:
    token, _ = secret_files
    write(
        tmp_path / "veille.toml",
        f'[monitor]\nglobal_concurrency = 8\n[bot]\ntelegram_token_file = "{token}"\n',
    )
    env = {
        "VEILLE_DIGEST_LIMIT": "12",
        "VEILLE_SMTP_PASSWORD": PASSWORD,
        "DATABASE_URL": "postgresql://u:pw@h/db",
    }
    shown = invoke(tmp_path, monkeypatch, "config", "check", **env)
    assert shown.exit_code == 0, shown.output
    cells = [re.split(r"\s{2,}", line.strip()) for line in shown.stdout.splitlines() if line.strip()]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["global_concurrency"] == ["8", "veille.toml:2"]
    assert rows["digest_limit"] == ["12", "env VEILLE_DIGEST_LIMIT"]
    assert rows["telegram_token"] == ["********", "veille.toml:4"]
    assert rows["smtp_password"] == ["********", "env VEILLE_SMTP_PASSWORD"]
    assert rows["telegram_token_file"] == [str(token), "veille.toml:4"]  # every setting, the *_file ones too
    assert rows["smtp_password_file"] == ["(not set)", "default"]
    assert rows["database_url"] == ["postgresql://u:***@h/db", "env DATABASE_URL"]
    assert rows["smtp_username"] == ["(not set)", "default"] and rows["email_hour"] == ["7", "default"]
    assert "veille.toml: valid" in shown.stdout and "[service]" in shown.stdout
    assert SECRET not in shown.output and PASSWORD not in shown.output and ":pw@" not in shown.output

    as_json = invoke(tmp_path, monkeypatch, "config", "check", "--json", **env)
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert (data["valid"], data["file"], list(data["settings"])) == (True, "veille.toml", list(SECTIONS))
    bot = data["settings"]["bot"]
    assert bot["telegram_token"] == {"value": "********", "origin": "veille.toml:4"}
    assert bot["digest_limit"] == {"value": 12, "origin": "env VEILLE_DIGEST_LIMIT"}
    assert bot["smtp_username"] == {"value": None, "origin": "default"}
    assert data["settings"]["monitor"]["allow_private"] == {"value": False, "origin": "default"}
    assert SECRET not in as_json.output and PASSWORD not in as_json.output


def test_a_broken_configuration_stops_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "veille.toml", "[bot]\ndigest_limt = 5\n")
    for args in (["config", "check"], ["sources", "check"], ["bot", "outbox"], ["config", "check", "--json"]):
        result = invoke(tmp_path, monkeypatch, *args)
        assert result.exit_code == 2, (args, result.output)
        assert (
            "veille.toml:2: [bot] unknown key 'digest_limt' (fix: did you mean 'digest_limit'?"
            in result.stderr
        )
        assert result.stdout == "" and "Traceback" not in result.output
    missing = invoke(tmp_path, monkeypatch, "--config", "nope.yaml", "config", "check")
    assert missing.exit_code == 2 and "nope.yaml: file not found" in missing.stderr
    version = invoke(tmp_path, monkeypatch, "--version")  # eager: answers before the configuration is read
    assert version.exit_code == 0 and version.stdout.startswith("veille ")


def test_commands_take_their_settings_from_the_configuration(tmp_path: Path) -> None:
    """load_settings, load_bot_settings and the summarizer's option defaults read the installed configuration."""
    entities = write(tmp_path / "mine.yaml", "entities: []\n")
    path = write(
        tmp_path / "veille.yaml",
        "monitor:\n  database_url: sqlite:///from-file.db\n"
        f"summarizer:\n  embedder: st:some-model\n  entities: {entities}\n"
        "bot:\n  digest_limit: 3\n",
    )

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        install_config(ctx, path)

    @root.command()
    @embedder_option
    @entities_option
    def show(embedder: str, entities_path: Path | None) -> None:
        click.echo(
            f"{load_settings().database_url} {load_bot_settings().digest_limit} {embedder} {entities_path}"
        )

    result = CliRunner().invoke(root, ["show"], env={"VEILLE_DIGEST_LIMIT": "4"})
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["sqlite:///from-file.db", "4", "st:some-model", str(entities)]
    flag = CliRunner().invoke(root, ["show", "--embedder", "use"], env={"VEILLE_DIGEST_LIMIT": "4"})
    assert flag.stdout.split()[2] == "use"  # a flag still wins


@pytest.mark.slow
def test_config_check_as_a_program(tmp_path: Path, secret_files: tuple[Path, Path]) -> None:
    token, _ = secret_files
    config = write(tmp_path / "etc.toml", f"[bot]\ntelegram_token_file = '{token}'\ndigest_limit = 9\n")
    ours = ("VEILLE_", "DATABASE_URL", "TELEGRAM_BOT_TOKEN", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(PYTHONPATH=str(ROOT), VEILLE_CONFIG=str(config), VEILLE_SMTP_PASSWORD=PASSWORD)

    def veille(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tests.guarded_run", *args]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    shown = veille("config", "check")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{config}: valid\n"), shown.stdout  # the whole path once, then its name
    assert re.search(r"telegram_token +\*{8} +etc\.toml:2\b", shown.stdout), shown.stdout
    assert re.search(r"digest_limit +9 +etc\.toml:3\b", shown.stdout), shown.stdout
    assert re.search(r"smtp_password +\*{8} +env VEILLE_SMTP_PASSWORD\b", shown.stdout), shown.stdout
    assert SECRET not in shown.stdout + shown.stderr and PASSWORD not in shown.stdout + shown.stderr
    token.chmod(0o644)
    refused = veille("config", "check", "--json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert f"chmod 600 {token}" in refused.stderr and SECRET not in refused.stderr, refused.stderr


# --- the documentation --------------------------------------------------------------------------------------


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, re.DOTALL)
    assert found, "the README has no settings table between its markers"
    assert found.group(1) == settings_markdown(), (
        "paste the output of bot.config.settings_markdown() between the markers"
    )


def test_the_example_file_is_the_generated_one(tmp_path: Path) -> None:
    example = (ROOT / "veille.example.toml").read_text(encoding="utf-8")
    assert example == example_toml(), "write the output of bot.config.example_toml() to veille.example.toml"
    as_is = load_config(ROOT / "veille.example.toml", {})
    assert as_is.origins == {} and as_is.bot == load_config(None, {}).bot  # empty sections: all defaults
    # uncommented, every value it shows is the default
    shown = [d for d in config_table() if d.default and not d.secret]
    text = example_toml()
    for doc in shown:
        text = text.replace(f"# {doc.key} = {doc.default}\n", f"{doc.key} = {doc.default}\n")
    config = load_config(write(tmp_path / "veille.toml", text), {})
    assert len(config.origins) == len(shown) and len(tomllib.loads(text)) == len(SECTIONS)
    for doc in shown:
        section = config.section(SECTIONS[doc.section])
        assert getattr(section, doc.key) == SECTIONS[doc.section].model_fields[doc.key].default, doc.key


def test_every_setting_is_documented_once() -> None:
    table = config_table()
    fields = {(s, key) for s, model in SECTIONS.items() for key in model.model_fields}
    assert fields <= {(d.section, d.key) for d in table} and all(d.help for d in table)
    envs = [d.env for d in table]
    assert len(envs) == len(set(envs)), "two settings share an environment variable"
    secrets = {d.key for d in table if d.secret}
    assert secrets == {"telegram_token", "smtp_password"}
    assert {d.key for d in table} - {k for _, k in fields} == {f"{k}_file" for k in secrets}


def test_bot_outbox_lists_the_latest_problems_with_their_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.repository import BotRepository, NewMessage
    from monitor.store import Store

    url = f"sqlite:///{tmp_path / 'veille.db'}"
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    store = Store.open(url)
    repo = BotRepository(store)
    for chat in (1, 2, 3, 4):
        repo.ensure_subscriber(chat, "private", None, now)
    refused, retrying, dropped, sent = repo.enqueue(
        [NewMessage(chat, f"note:{chat}", "broadcast", ("hi",)) for chat in (1, 2, 3, 4)], now
    )
    repo.fail(refused, "Bad Request: can't parse entities: unsupported start tag <blink>")
    repo.retry_later(retrying, now + timedelta(minutes=5), "Timed out")
    repo.deactivate(3, "Forbidden: bot was blocked by the user", now)
    repo.mark_part_sent(repo.due(now)[-1], 0, 77, now)
    store.close()
    shown = invoke(tmp_path, monkeypatch, "bot", "outbox", DATABASE_URL=url)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "outbox: dropped 1, failed 1, pending 1, sent 1"
    assert lines[2].split()[:3] == ["dropped", f"#{dropped}", "chat"] and "blocked by the user" in lines[2]
    assert lines[3].split()[:2] == ["retrying", f"#{retrying}"] and "1 attempt): Timed out" in lines[3]
    assert lines[4].split()[:2] == ["refused", f"#{refused}"] and "unsupported start tag <blink>" in lines[4]
    as_json = json.loads(invoke(tmp_path, monkeypatch, "bot", "outbox", "--json", DATABASE_URL=url).stdout)
    assert [p["status"] for p in as_json["problems"]] == ["dropped", "retrying", "refused"] and sent
