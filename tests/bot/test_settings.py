"""Bot settings from the environment: defaults, secrets hidden, clear errors with their fix."""

from __future__ import annotations

import pytest

from bot.settings import BotSettings, bot_settings_from_env
from monitor.errors import ConfigError


def test_defaults_and_secrets() -> None:
    s = bot_settings_from_env(
        {"TELEGRAM_BOT_TOKEN": "123:SECRET", "VEILLE_ADMIN_IDS": "5, 7", "VEILLE_SMTP_PASSWORD": "hunter2"}
    )
    assert s.telegram_api_url == "https://api.telegram.org" and s.admins == frozenset({5, 7})
    assert s.telegram_token is not None and s.telegram_token.get_secret_value() == "123:SECRET"
    assert "SECRET" not in repr(s) and "hunter2" not in repr(s) and "SECRET" not in str(s.model_dump())
    assert s.email_config() is None  # no recipient: no email
    assert (s.limits.global_per_s, s.limits.chat_interval_s, s.limits.group_per_min) == (30.0, 1.0, 20)


def test_email_config_from_settings() -> None:
    s = bot_settings_from_env(
        {
            "VEILLE_EMAIL_TO": "a@example.org, b@example.org",
            "VEILLE_SMTP_PASSWORD": "pw",
            "VEILLE_SMTP_USERNAME": "u",
        }
    )
    cfg = s.email_config()
    assert cfg is not None and cfg.recipients == ("a@example.org", "b@example.org") and cfg.password == "pw"
    assert "pw" not in repr(cfg)


@pytest.mark.parametrize(
    ("env", "message", "hint"),
    [
        pytest.param(
            {"VEILLE_TELEGRAM_API_URL": "ftp://x"}, "not an http(s) URL", "127.0.0.1:8081", id="api-url"
        ),
        pytest.param({"VEILLE_ADMIN_IDS": "alice"}, "not a Telegram user id", "numeric ids", id="admins"),
        pytest.param({"VEILLE_EMAIL_TIMEZONE": "Mars/Base"}, "unknown time zone", "Europe/Paris", id="tz"),
        pytest.param(
            {"VEILLE_SEND_GLOBAL_PER_S": "0"}, "greater than or equal", "between 0.1 and 1000", id="bounds"
        ),
        pytest.param(
            {"VEILLE_DEFAULT_LANGUAGE": "pt"}, "'es' or 'ar'", "VEILLE_DEFAULT_LANGUAGE", id="language"
        ),
    ],
)
def test_bad_settings_say_what_and_how_to_fix(env: dict[str, str], message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        bot_settings_from_env(env)
    assert message in str(caught.value) and hint in str(caught.value)


def test_every_setting_has_a_help_line() -> None:
    assert all(info.description for info in BotSettings.model_fields.values())
