"""Settings of the bot: Telegram, delivery limits, digests and the daily email, in one validated ``BotSettings``.

Like the monitor's settings (``monitor.settings``): every setting has a default, bounds and a help line; the
environment variable is ``VEILLE_<FIELD>``, except the bot token, ``TELEGRAM_BOT_TOKEN``. Secrets (the token, the
SMTP password) are ``SecretStr``: they print as ``**********`` and never reach a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, SecretStr, model_validator

from bot.email import EmailConfig
from bot.ratelimit import Limits
from monitor.settings import model_from_env
from monitor.validation import invalid, one_line, opt

TELEGRAM_API = "https://api.telegram.org"


def _ids(value: str) -> str:
    for part in value.replace(" ", "").split(","):
        if part and not part.lstrip("-").isdigit():
            raise invalid(f"{part!r} is not a Telegram user id", "list numeric ids: 12345,67890")
    return value


def _url(value: str) -> str:
    value = one_line(value).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise invalid(f"{value!r} is not an http(s) URL", f"e.g. {TELEGRAM_API} or http://127.0.0.1:8081")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError) as exc:
        raise invalid(f"unknown time zone {value!r}", "an IANA name such as Europe/Paris or UTC") from exc
    return value


class BotSettings(BaseModel, frozen=True, extra="forbid"):
    """Settings of the bot and the email export: each has a default, bounds and a help line."""

    telegram_token: SecretStr | None = opt(
        None, "the bot's token from @BotFather (secret: environment, or telegram_token_file)"
    )
    telegram_api_url: Annotated[str, AfterValidator(_url)] = opt(
        TELEGRAM_API, "Bot API server: Telegram's, a self-hosted one, or a local test double"
    )
    admin_ids: Annotated[str, AfterValidator(_ids)] = opt(
        "", "Telegram user ids of the operators, comma-separated"
    )
    default_language: Literal["en", "fr", "de", "es", "ar"] = opt(
        "en", "language of new chats until they choose"
    )
    digest_limit: int = opt(60, "most stories in one digest", ge=1, le=500)
    plan_interval_s: float = opt(30.0, "seconds between checks for due digests and new alerts", ge=1, le=3600)
    alert_update_min_interval_s: float = opt(
        1800.0, "seconds between two update notices of one story in one chat", ge=0, le=7 * 86400
    )
    send_global_per_s: float = opt(30.0, "messages per second to Telegram, all chats", ge=0.1, le=1000)
    send_chat_interval_s: float = opt(1.0, "seconds between two messages to one chat", ge=0, le=60)
    send_group_per_min: int = opt(20, "messages per minute to one group or channel", ge=1, le=10000)
    retry_base_s: float = opt(5.0, "first delay after a failed send, then doubled", ge=0.1, le=3600)
    retry_cap_s: float = opt(900.0, "longest delay between send retries", ge=1, le=86400)
    email_to: Annotated[str, AfterValidator(one_line)] = opt(
        "", "recipients of the daily email (empty: no email)"
    )
    email_from: Annotated[str, AfterValidator(one_line)] = opt("veille@localhost", "sender address")
    email_hour: int = opt(7, "hour of the daily email", ge=0, le=23)
    email_minute: int = opt(0, "minute of the daily email", ge=0, le=59)
    email_timezone: Annotated[str, AfterValidator(_zone)] = opt("UTC", "time zone of the email hour and day")
    email_language: Literal["en", "fr"] = opt("en", "language of the daily email (en or fr)")
    email_unsubscribe_mailto: str | None = opt(None, "List-Unsubscribe mailto: address")
    email_unsubscribe_url: str | None = opt(None, "List-Unsubscribe https URL (one-click)")
    export_dir: Path = opt(Path("exports"), "folder of the daily .eml, .html and .json exports")
    smtp_host: Annotated[str, AfterValidator(one_line)] = opt("localhost", "SMTP server")
    smtp_port: int = opt(587, "SMTP port (587 STARTTLS, 465 TLS, 25 none)", ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = opt("starttls", "starttls, tls or none")
    smtp_username: str | None = opt(None, "SMTP login (none: no authentication)")
    smtp_password: SecretStr | None = opt(None, "SMTP password (secret: environment, or smtp_password_file)")
    smtp_timeout_s: float = opt(30.0, "seconds for each SMTP operation", ge=1, le=600)
    smtp_cafile: Path | None = opt(None, "CA bundle to verify the SMTP server (default: the system's)")

    @model_validator(mode="after")
    def _consistent(self) -> BotSettings:
        if self.retry_base_s > self.retry_cap_s:
            raise ValueError("retry_base_s is above retry_cap_s")
        return self

    @property
    def admins(self) -> frozenset[int]:
        return frozenset(int(p) for p in self.admin_ids.replace(" ", "").split(",") if p)

    @property
    def limits(self) -> Limits:
        return Limits(self.send_global_per_s, self.send_chat_interval_s, self.send_group_per_min)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.email_to.split(",") if a.strip())

    def email_config(self) -> EmailConfig | None:
        """The daily email's configuration, or None when no recipient is set (no email)."""
        if not self.recipients:
            return None
        return EmailConfig(
            sender=self.email_from,
            recipients=self.recipients,
            host=self.smtp_host,
            port=self.smtp_port,
            security=self.smtp_security,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            timeout_s=self.smtp_timeout_s,
            cafile=self.smtp_cafile,
            language=self.email_language,
            unsubscribe_mailto=self.email_unsubscribe_mailto,
            unsubscribe_url=self.email_unsubscribe_url,
            export_dir=self.export_dir,
            hour=self.email_hour,
            minute=self.email_minute,
            timezone=self.email_timezone,
        )


class ServiceSettings(BaseModel, frozen=True, extra="forbid"):
    """Settings of ``veille run``, the one process that runs everything."""

    metrics_host: Annotated[str, AfterValidator(one_line)] = opt(
        "127.0.0.1", "address of the /healthz and /metrics endpoint (keep it local)"
    )
    metrics_port: int = opt(9464, "port of the /healthz and /metrics endpoint (0: off)", ge=0, le=65535)
    summarize_interval_s: float = opt(
        15.0, "seconds between looks for new articles to summarize", ge=1, le=3600
    )
    log_format: Literal["text", "json"] = opt("text", "log lines as text or as JSON objects")
    log_level: Literal["debug", "info", "warning", "error"] = opt("info", "the least severe level logged")
    shutdown_timeout_s: float = opt(20.0, "seconds to finish in-flight work on SIGTERM", ge=1, le=600)


def service_settings_from_env(environ: Mapping[str, str], **overrides: Any) -> ServiceSettings:
    return model_from_env(ServiceSettings, environ, **overrides)


def bot_settings_from_env(environ: Mapping[str, str], **overrides: Any) -> BotSettings:
    return model_from_env(BotSettings, environ, **overrides)
