"""The daily email: a digest rendered as a multipart message, exported to files, sent over SMTP.

1. ``render_text`` and ``render_html`` turn a ``Digest`` into the two parts, in the email language (each story
   through ``summarizer.digest.localize``). The HTML is what mail clients render: nested tables, inline CSS
   only, no script, no external image, every text escaped, only http(s) links. Neither part carries the bidi
   embeddings, overrides and isolates a source's text may hold (``strip_bidi``; ``bot.render`` too).
2. ``build_message`` wraps them in a multipart/alternative ``EmailMessage`` with a stable Message-ID per day
   and sender domain (a resend is recognisable) and ``List-Unsubscribe`` (RFC 2369, one-click RFC 8058).
3. ``write_export`` writes ``veille-YYYY-MM-DD.eml``, ``.html`` and ``.json`` (``stories_json``) atomically.
4. ``send`` delivers a message with ``smtplib`` (blocking: call it in a worker thread). TLS is always
   verified; failures are mapped once to ``MailError(kind, message, transient)``.

The SMTP password lives only in ``EmailConfig.password`` (kept out of its repr) and is never logged.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError, VeilleError
from monitor.validation import ConfigErrors, show
from summarizer.digest import Digest, StoryView, headline_links, localize
from summarizer.gazetteer import default_gazetteer, display_name

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
LANGUAGES = ("en", "fr")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """What the operator configures for the daily email (mapped from the settings by the caller)."""

    sender: str = "veille@localhost"
    recipients: tuple[str, ...] = ()
    host: str = "localhost"
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # from the environment; never logged
    timeout_s: float = 30.0
    cafile: Path | None = None  # extra CA bundle (a self-signed test server); verification stays on
    language: str = "en"
    unsubscribe_mailto: str | None = None  # "mailto:list@example.org?subject=unsubscribe"
    unsubscribe_url: str | None = None  # https URL accepting a one-click POST (RFC 8058)
    export_dir: Path = Path("exports")
    hour: int = 7  # local time of the daily email: hour...
    minute: int = 0  # ...and minute
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "tls", "none"):
            raise ConfigError(f"email security {self.security!r}", hint="starttls, tls or none")
        if self.language not in LANGUAGES:
            raise ConfigError(f"email language {self.language!r}", hint="en or fr")
        if not 0 <= self.hour <= 23:
            raise ConfigError(f"email hour {self.hour}", hint="an hour from 0 to 23")
        if not 0 <= self.minute <= 59:
            raise ConfigError(f"email minute {self.minute}", hint="a minute from 0 to 59")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"email time zone {self.timezone!r}", hint="an IANA name: Europe/Paris"
            ) from exc
        problems = email_problems(
            security=self.security,
            username=self.username,
            unsubscribe_mailto=self.unsubscribe_mailto,
            unsubscribe_url=self.unsubscribe_url,
        )
        if problems:
            raise ConfigErrors([ConfigError(p.message, hint=p.hint) for p in problems])


@dataclass(frozen=True, slots=True)
class EmailProblem:
    """A setting of the daily email that cannot work: ``setting`` (its name in ``[bot]``), what and the fix."""

    setting: str
    message: str
    hint: str


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")  # never in a header value: a CRLF would add a header


def email_problems(
    *, security: str, username: str | None, unsubscribe_mailto: str | None, unsubscribe_url: str | None
) -> list[EmailProblem]:
    """The rule of the email settings, one for both ``veille config check`` (``bot.config``) and the email
    commands (``EmailConfig``): an SMTP login only over TLS; ``List-Unsubscribe`` targets on one line, an
    absolute http(s) URL and a ``mailto:`` address."""
    problems: list[EmailProblem] = []
    if username and security == "none":
        problems.append(
            EmailProblem(
                "smtp_username",
                "smtp_username is set with smtp_security none: the SMTP login would send the password in clear",
                "set smtp_security to starttls or tls, or remove smtp_username",
            )
        )
    if unsubscribe_url and (_CONTROL_OR_SPACE.search(unsubscribe_url) or _safe_url(unsubscribe_url) is None):
        problems.append(
            EmailProblem(
                "email_unsubscribe_url",
                f"email_unsubscribe_url {show(unsubscribe_url)} is not an absolute http(s) URL on one line",
                "an https:// URL without spaces, e.g. https://example.org/unsubscribe",
            )
        )
    address = (unsubscribe_mailto or "").removeprefix("mailto:")
    if unsubscribe_mailto and (
        not unsubscribe_mailto.startswith("mailto:")
        or "@" not in address
        or _CONTROL_OR_SPACE.search(address)
    ):
        problems.append(
            EmailProblem(
                "email_unsubscribe_mailto",
                f"email_unsubscribe_mailto {show(unsubscribe_mailto)} is not a mailto: address on one line",
                "mailto:list@example.org (or mailto:list@example.org?subject=unsubscribe)",
            )
        )
    return problems


@dataclass(frozen=True, slots=True)
class ExportPaths:
    eml: Path
    html: Path
    json: Path


class MailError(VeilleError):
    """Sending failed. ``kind``: connect, timeout, dns, tls, auth, sender, recipient, data, protocol,
    unsupported. ``transient`` failures are retried later; the others need the operator."""

    def __init__(self, kind: str, message: str, *, transient: bool) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.transient = transient


LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Veille: daily digest",
        "story": "story",
        "stories": "stories",
        "empty": "No new story in this period.",
        "sources": "Sources",
        "languages": "Languages",
        "entities": "Entities",
        "articles": "articles",
        "unsubscribe": "Unsubscribe",
        "footer": "You receive this email because you are on the Veille daily digest list.",
    },
    "fr": {
        "title": "Veille : synthèse du jour",
        "story": "sujet",
        "stories": "sujets",
        "empty": "Aucun nouveau sujet sur cette période.",
        "sources": "Sources",
        "languages": "Langues",
        "entities": "Entités",
        "articles": "articles",
        "unsubscribe": "Se désabonner",
        "footer": "Vous recevez ce courriel car vous êtes inscrit à la synthèse quotidienne de Veille.",
    },
}
_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {  # one line per language reads better than twelve
    "en": "January February March April May June July August September October November December".split(),  # noqa: SIM905
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),  # noqa: SIM905
}

# Inline styles (mail clients drop <style> blocks and external CSS).
_FONT = "font-family:Arial,Helvetica,sans-serif;"
_S_BODY = "margin:0;padding:0;background-color:#f2f3f5;"
_S_CARD = "max-width:640px;width:100%;background-color:#ffffff;border:1px solid #dcdfe4;"
_S_HEAD = f"{_FONT}padding:20px 24px;background-color:#1f3a5f;color:#ffffff;"
_S_H1 = f"{_FONT}margin:0;font-size:22px;line-height:28px;color:#ffffff;"
_S_SUB = f"{_FONT}margin:4px 0 0 0;font-size:14px;line-height:20px;color:#d6e0ee;"
_S_STORY = f"{_FONT}padding:18px 24px;border-top:1px solid #e6e8eb;"
_S_H2 = f"{_FONT}margin:0 0 8px 0;font-size:18px;line-height:24px;color:#1f3a5f;"
_S_LINK = "color:#1a5fb4;text-decoration:underline;"
_S_P = f"{_FONT}margin:0 0 8px 0;font-size:15px;line-height:22px;color:#222222;"
_S_META = f"{_FONT}margin:8px 0 0 0;font-size:13px;line-height:19px;color:#555555;"
_S_TAG = "display:inline-block;margin:2px 4px 2px 0;padding:1px 6px;background-color:#eef2f7;color:#1f3a5f;"
_S_FOOT = (
    f"{_FONT}padding:16px 24px;font-size:12px;line-height:18px;color:#666666;border-top:1px solid #e6e8eb;"
)


# U+202A-U+202E (LRE RLE PDF LRO RLO) and U+2066-U+2069 (LRI RLI FSI PDI): in a title they can reverse or
# reorder what a reader sees around it (an RLO shows "exe.pdf" for "fdp.exe"). The marks LRM, RLM and ALM stay:
# they only set the direction of neutral characters next to them, and Arabic text may need them.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def strip_bidi(text: str) -> str:
    """``text`` without bidi embeddings, overrides and isolates (the marks LRM/RLM/ALM and every letter kept)."""
    return _BIDI_CONTROLS.sub("", text)


def _label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["en"])[key]


def format_day(day: date, lang: str) -> str:
    """'Monday 6 May 2024' / 'lundi 6 mai 2024'."""
    code = lang if lang in _DAYS else "en"
    return f"{_DAYS[code][day.weekday()]} {day.day} {_MONTHS[code][day.month - 1]} {day.year}"


def _count(n: int, lang: str) -> str:
    return f"{n} {_label(lang, 'story' if n == 1 else 'stories')}"


def subject(digest: Digest, *, lang: str, day: date) -> str:
    return f"{_label(lang, 'title')} · {format_day(day, lang)} · {_count(len(digest.stories), lang)}"


def _safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) link, else None (no javascript:, data:, relative links)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _entity_names(keys: Sequence[str], lang: str) -> list[str]:
    """What a reader sees for entity keys: gazetteer names in ``lang``, never ids or ``unk:`` keys."""
    names = default_gazetteer()
    return [display_name(key, names, lang) for key in keys]


def entity_label(key: str) -> str:
    """A readable form of an entity key: ``unk:person:john doe`` -> ``john doe``; canonical ids as they are."""
    return key.split(":", 2)[2] if key.startswith("unk:") and key.count(":") >= 2 else key


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _links(story: StoryView) -> list[tuple[str, str]]:
    """(label, url) of the story's sources: its (source id, url) pairs, else its URLs by host name."""
    pairs = [(source, url) for source, url in story.sources_list if _safe_url(url)]
    return pairs or [(_host(url), url) for url in story.urls if _safe_url(url)]


def _first_url(story: StoryView) -> str | None:
    return next((u for u in map(_safe_url, headline_links(story)) if u), None)


def _unsubscribe_target(cfg: EmailConfig) -> str | None:
    return cfg.unsubscribe_url or cfg.unsubscribe_mailto


def render_text(digest: Digest, *, lang: str, day: date, unsubscribe: str | None = None) -> str:
    """The plain-text part: numbered stories, their sentences, then their source URLs (no bidi controls)."""
    lines = [f"{_label(lang, 'title')} - {format_day(day, lang)} - {_count(len(digest.stories), lang)}", ""]
    if not digest.stories:
        lines += [_label(lang, "empty"), ""]
    for number, original in enumerate(digest.stories, 1):
        story = localize(original, lang)
        lines.append(f"{number}. {story.headline}")
        lines += [f"   {sentence.text}" for sentence in story.full_sentences or story.sentences]
        meta = f"{_label(lang, 'languages')}: {', '.join(story.languages)}"
        if story.entities:
            meta += f" | {_label(lang, 'entities')}: {', '.join(_entity_names(story.entities, lang))}"
        lines.append(f"   {meta}")
        lines.append(f"   {_label(lang, 'sources')} ({story.sources}):")
        lines += [f"   - {label}: {url}" for label, url in _links(story)]
        lines.append("")
    lines += ["-- ", _label(lang, "footer")]
    if unsubscribe:
        lines.append(f"{_label(lang, 'unsubscribe')}: {unsubscribe}")
    return strip_bidi("\n".join(lines) + "\n")


def _e(text: str) -> str:
    return html.escape(strip_bidi(text), quote=True)


def _a(url: str, text: str) -> str:
    return f'<a href="{_e(url)}" style="{_S_LINK}">{_e(text)}</a>'


def _story_html(original: StoryView, lang: str) -> str:
    story = localize(original, lang)
    url = _first_url(story)
    title = _a(url, story.headline) if url else _e(story.headline)
    head_lang = f' lang="{_e(story.headline_lang)}"' if story.headline_lang else ""
    parts = [f'<h2 dir="auto"{head_lang} style="{_S_H2}">{title}</h2>']
    for sentence in story.full_sentences or story.sentences:  # the email has room for the full summary
        sent_lang = f' lang="{_e(sentence.lang)}"' if sentence.lang else ""
        parts.append(f'<p dir="auto"{sent_lang} style="{_S_P}">{_e(sentence.text)}</p>')
    links = " · ".join(_a(u, label) for label, u in _links(story))
    count = f"{story.sources} / {story.articles} {_label(lang, 'articles')}"
    parts.append(f'<p style="{_S_META}"><b>{_label(lang, "sources")}</b> ({_e(count)}): {links}</p>')
    parts.append(
        f'<p style="{_S_META}"><b>{_label(lang, "languages")}</b>: {_e(", ".join(story.languages))}</p>'
    )
    if story.entities:
        tags = "".join(
            f'<span dir="auto" style="{_S_TAG}">{_e(name)}</span>'
            for name in _entity_names(story.entities, lang)
        )
        parts.append(f'<p style="{_S_META}"><b>{_label(lang, "entities")}</b>: {tags}</p>')
    return f'<tr><td style="{_S_STORY}">{"".join(parts)}</td></tr>'


def render_html(
    digest: Digest, *, lang: str, day: date, title: str | None = None, unsubscribe: str | None = None
) -> str:
    """The HTML part: a 640px table card with a header, one row per story and a footer."""
    heading = title or _label(lang, "title")
    rows = [_story_html(story, lang) for story in digest.stories] or [
        f'<tr><td style="{_S_STORY}"><p style="{_S_P}">{_e(_label(lang, "empty"))}</p></td></tr>'
    ]
    foot = _e(_label(lang, "footer"))
    if unsubscribe:
        foot += f"<br>{_a(unsubscribe, _label(lang, 'unsubscribe'))}"
    sub = f"{format_day(day, lang)} · {_count(len(digest.stories), lang)}"
    return (
        f'<!DOCTYPE html>\n<html lang="{_e(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title></head>"
        f'<body style="{_S_BODY}">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="{_S_BODY}">'
        '<tr><td align="center" style="padding:16px 8px;">'
        f'<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="{_S_CARD}">'
        f'<tr><td style="{_S_HEAD}"><h1 style="{_S_H1}">{_e(heading)}</h1>'
        f'<p style="{_S_SUB}">{_e(sub)}</p></td></tr>'
        f"{''.join(rows)}"
        f'<tr><td style="{_S_FOOT}">{foot}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )


def _story_dict(story: StoryView) -> dict[str, object]:
    return {
        "id": story.story_id,
        "headline": story.headline,
        "headline_lang": story.headline_lang,
        "sentences": [
            {"text": s.text, "article_id": s.article_id, "position": s.position, "url": s.url, "lang": s.lang}
            for s in story.full_sentences or story.sentences
        ],
        "entities": list(story.entities),
        "languages": list(story.languages),
        "sources": story.sources,
        "articles": story.articles,
        "first_seen": story.first_seen.isoformat(),
        "last_update": story.last_update.isoformat(),
        "importance": story.importance,
        "urls": list(story.urls),
        "source_links": [{"source": source, "url": url} for source, url in story.sources_list],
    }


def stories_json(digest: Digest) -> str:
    """The digest's window and stories as JSON (UTF-8 text, not ASCII-escaped)."""
    data = {
        "since": digest.since.isoformat(),
        "until": digest.until.isoformat(),
        "stories": [_story_dict(story) for story in digest.stories],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def message_id(day: date, sender: str) -> str:
    """``<veille-YYYY-MM-DD@sender-domain>``: the same for every build of one day's email."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<veille-{day.isoformat()}@{domain}>"


def build_message(
    digest: Digest, cfg: EmailConfig, *, day: date, now: datetime | None = None
) -> EmailMessage:
    """The day's email: text then HTML alternatives, list headers, UTF-8."""
    lang = cfg.language
    unsubscribe = _unsubscribe_target(cfg)
    message = EmailMessage()
    message["Subject"] = subject(digest, lang=lang, day=day)
    message["From"] = cfg.sender
    message["To"] = ", ".join(cfg.recipients)
    message["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    message["Message-ID"] = message_id(day, cfg.sender)
    targets = [t for t in (cfg.unsubscribe_mailto, cfg.unsubscribe_url) if t]
    if targets:
        message["List-Unsubscribe"] = ", ".join(f"<{t}>" for t in targets)
    if cfg.unsubscribe_url:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # quoted-printable keeps the message 7-bit clean for relays without 8BITMIME
    text = render_text(digest, lang=lang, day=day, unsubscribe=unsubscribe)
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    page = render_html(digest, lang=lang, day=day, unsubscribe=unsubscribe)
    message.add_alternative(page, subtype="html", charset="utf-8", cte="quoted-printable")
    message["Content-Language"] = lang  # after set_content, which clears the Content-* headers
    return message


def export_paths(folder: Path, day: date) -> ExportPaths:
    stem = folder / f"veille-{day.isoformat()}"
    return ExportPaths(stem.with_suffix(".eml"), stem.with_suffix(".html"), stem.with_suffix(".json"))


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_export(
    message: EmailMessage, html_text: str, json_text: str, folder: Path, day: date
) -> ExportPaths:
    """Write the day's .eml (CRLF, as sent), .html and .json, each atomically; the folder is created."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = export_paths(folder, day)
    _write_atomic(paths.eml, message.as_bytes(policy=SMTP))
    _write_atomic(paths.html, html_text.encode("utf-8"))
    _write_atomic(paths.json, json_text.encode("utf-8"))
    return paths


def _transient_code(code: int) -> bool:
    return 400 <= code < 500


def _text(response: bytes | str) -> str:
    return response.decode("utf-8", "replace") if isinstance(response, bytes) else str(response)


def classify(exc: BaseException) -> MailError:
    """The ``MailError`` for a failure of ``smtplib``, ``ssl`` or the socket (the most specific first)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
        return MailError("recipient", detail, transient=all(map(_transient_code, codes)))
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = {
            smtplib.SMTPAuthenticationError: "auth",
            smtplib.SMTPSenderRefused: "sender",
            smtplib.SMTPDataError: "data",
            smtplib.SMTPConnectError: "connect",
        }.get(type(exc), "protocol")
        return MailError(
            kind, f"{exc.smtp_code} {_text(exc.smtp_error)}", transient=_transient_code(exc.smtp_code)
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailError("unsupported", str(exc), transient=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError("tls", exc.verify_message or str(exc), transient=False)
    if isinstance(exc, ssl.SSLError):
        return MailError("tls", str(exc), transient=True)
    if isinstance(exc, socket.gaierror):
        return MailError("dns", str(exc), transient=True)
    if isinstance(exc, TimeoutError):
        return MailError("timeout", str(exc) or "timed out", transient=True)
    return MailError("connect", str(exc) or type(exc).__name__, transient=True)


def _connect(cfg: EmailConfig, context: ssl.SSLContext) -> smtplib.SMTP:
    if cfg.security == "tls":
        return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=context)
    return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)


def _deliver(message: EmailMessage, cfg: EmailConfig) -> dict[str, tuple[int, bytes]]:
    context = ssl.create_default_context(cafile=cfg.cafile)
    with _connect(cfg, context) as smtp:
        if cfg.security == "starttls":
            smtp.starttls(context=context)
        if cfg.username:
            smtp.login(cfg.username, cfg.password or "")
        return smtp.send_message(message)


def send(message: EmailMessage, cfg: EmailConfig) -> None:
    """Deliver ``message`` to the addresses in its headers. Blocking. Raises ``MailError``.

    A server that refuses some recipients but accepts others counts as delivered (a retry would send the
    others a second copy): the refused ones are logged.
    """
    try:
        refused = _deliver(message, cfg)
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and socket errors are OSErrors
        raise classify(exc) from exc
    for rcpt, (code, reply) in refused.items():
        log.warning("email recipient refused recipient=%s code=%d reply=%s", rcpt, code, _text(reply)[:200])
