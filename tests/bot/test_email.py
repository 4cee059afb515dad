"""The daily email, end to end against a real SMTP server (aiosmtpd) on loopback.

Rendering is checked on the bytes the server received (parsed back with the stdlib), TLS with a certificate
made here by ``openssl``, and the job with a fake clock on a real SQLite file (and PostgreSQL when reachable).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from bot.email import (
    EmailConfig,
    MailError,
    build_message,
    render_html,
    render_text,
    send,
    stories_json,
)
from bot.email_job import DailyEmail, backoff, due_day, scheduled_at, window
from bot.tables import email_exports
from monitor.errors import ConfigError
from monitor.store import Store
from summarizer.digest import Digest, DigestSentence, StoryFilter, StoryVariant, StoryView, build_digest

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2024, 5, 6)  # a Monday; the email is due at 07:00 Paris = 05:00 UTC
DUE = datetime(2024, 5, 6, 5, 0, tzinfo=UTC)
PASSWORD = "s3cret-Pa55"  # the test server's password

# --- the digest -----------------------------------------------------------------------------------------

HEADLINE_1 = 'Europol & FBI <dismantle> the "Qakbot" botnet 🚨'
HEADLINE_2 = "داعش يعلن مسؤوليته عن هجوم"
URL_1 = "https://www.europol.europa.eu/news/qakbot?a=1&b=2"
URL_2 = "https://www.fbi.gov/news/qakbot"
URL_3 = "https://www.aljazeera.net/news/2024/5/5/attack"


def _stories() -> tuple[StoryView, ...]:
    seen = datetime(2024, 5, 5, 18, 0, tzinfo=UTC)
    first = StoryView(
        story_id="s-qakbot",
        headline=HEADLINE_1,
        sentences=(
            DigestSentence("Police took down 700 000 infected computers <script>.", "a1", 0, "en", URL_1),
            DigestSentence("Les serveurs ont été saisis à Paris & Amsterdam.", "a2", 1, "fr", URL_2),
        ),
        entities=("europol", "fbi", "unk:person:jean dupont"),
        languages=("en", "fr"),
        tags=frozenset({"agency"}),
        sources=2,
        articles=3,
        first_seen=seen,
        last_update=seen + timedelta(hours=2),
        importance=4.5,
        urls=(URL_1, URL_2),
        headline_lang="en",
        sources_list=(("europol-news", URL_1), ("fbi-press", URL_2)),
        variants=(
            StoryVariant(
                "fr",
                "Europol & le FBI démantèlent <Qakbot> 🚨",
                "fr",
                (DigestSentence("Le réseau Qakbot a été démantelé.", "a2", 0, "fr", URL_2),),
            ),
        ),
    )
    second = StoryView(
        story_id="s-attack",
        headline=HEADLINE_2,
        sentences=(DigestSentence("أعلن التنظيم مسؤوليته عن الهجوم.", "a9", 0, "ar", URL_3),),
        entities=("isis",),
        languages=("ar",),
        tags=frozenset(),
        sources=1,
        articles=1,
        first_seen=seen,
        last_update=seen,
        importance=2.0,
        urls=(URL_3, "javascript:alert(1)"),
        headline_lang="ar",
    )
    return first, second


def _load_digest(calls: list[tuple[datetime, datetime]]) -> Callable[[datetime, datetime], Digest]:
    def load(since: datetime, until: datetime) -> Digest:
        calls.append((since, until))
        return build_digest(_stories(), StoryFilter(), since=since, until=until)

    return load


def _digest() -> Digest:
    since, until = window(DAY, 7, PARIS)
    return build_digest(_stories(), StoryFilter(), since=since, until=until)


# --- the SMTP server --------------------------------------------------------------------------------------


@dataclass
class Sink:
    """An aiosmtpd handler that keeps what it receives; ``rcpt_reply`` refuses every recipient."""

    rcpt_reply: str | None = None
    on_data: Callable[[], None] | None = None  # runs (blocking the server) when a message arrives
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_data is not None:
            self.on_data()
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(handler: Sink, port: int | None = None, **kwargs: Any) -> Iterator[int]:
    controller = Controller(
        handler, hostname="127.0.0.1", port=port or free_port(), server_hostname="localhost", **kwargs
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"veille", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: no certificate for the TLS tests")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def config(port: int, tmp_path: Path, **changes: Any) -> EmailConfig:
    base = EmailConfig(
        sender="Veille <veille@example.org>",
        recipients=("alice@example.org", "bob@example.net"),
        host="127.0.0.1",
        port=port,
        security="none",
        timeout_s=5,
        language="en",
        unsubscribe_mailto="mailto:veille-unsubscribe@example.org",
        unsubscribe_url="https://veille.example.org/unsubscribe?list=daily",
        export_dir=tmp_path / "exports",
        hour=7,
        timezone="Europe/Paris",
    )
    return replace(base, **changes)


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body((subtype,))
    assert body is not None and body.get_content_type() == f"text/{subtype}"
    return str(body.get_content())


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html_text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html_text)
    return parser.tags


# --- pure scheduling --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 5, 6, 4, 59, tzinfo=UTC), None),
        (datetime(2024, 5, 6, 5, 0, tzinfo=UTC), date(2024, 5, 6)),
        (datetime(2024, 5, 6, 22, 30, tzinfo=UTC), None),  # 00:30 on the 7th in Paris: before 07:00
        (datetime(2024, 5, 6, 21, 59, tzinfo=UTC), date(2024, 5, 6)),
        (datetime(2024, 1, 15, 6, 0, tzinfo=UTC), date(2024, 1, 15)),  # winter: 07:00 Paris = 06:00 UTC
        (datetime(2024, 1, 15, 5, 30, tzinfo=UTC), None),
    ],
    ids=["before", "at-hour", "after-local-midnight", "late-evening", "winter-at-hour", "winter-before"],
)
def test_due_day(now: datetime, expected: date | None) -> None:
    assert due_day(now, 7, PARIS) == expected


def test_window_spans_the_day_before_the_send_time_across_dst() -> None:
    assert window(DAY, 7, PARIS) == (datetime(2024, 5, 5, 5, tzinfo=UTC), DUE)
    since, until = window(date(2024, 3, 31), 7, PARIS)  # clocks go forward at 02:00 that night
    assert (since, until) == (datetime(2024, 3, 30, 6, tzinfo=UTC), datetime(2024, 3, 31, 5, tzinfo=UTC))
    assert scheduled_at(date(2024, 3, 31), 2, PARIS) == datetime(2024, 3, 31, 1, tzinfo=UTC)  # 02:00 skipped


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 60), (1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (500, 3600)]
)
def test_backoff_doubles_from_a_minute_up_to_an_hour(attempts: int, seconds: int) -> None:
    assert backoff(attempts) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "changes",
    [
        {"security": "ssl"},
        {"language": "de"},
        {"hour": 24},
        {"timezone": "Mars/Olympus"},
        {"username": "veille", "security": "none"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"unsubscribe_mailto": "veille@example.org"},
    ],
    ids=[
        "security",
        "language",
        "hour",
        "timezone",
        "login-in-clear",
        "unsubscribe-url",
        "unsubscribe-mailto",
    ],
)
def test_config_refuses_bad_values(changes: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        config(25, tmp_path, **changes)


def test_config_repr_hides_the_password(tmp_path: Path) -> None:
    cfg = config(25, tmp_path, security="starttls", username="veille", password=PASSWORD)
    assert PASSWORD not in repr(cfg)


# --- rendering --------------------------------------------------------------------------------------------


def test_html_is_escaped_inline_styled_and_links_only_http() -> None:
    page = render_html(_digest(), lang="en", day=DAY, unsubscribe="https://veille.example.org/u")
    tags = tags_of(page)
    names = {tag for tag, _attrs in tags}
    assert not names & {"script", "style", "link", "img", "iframe", "form"}
    assert all("class" not in attrs for _tag, attrs in tags)
    assert "table" in names and "max-width:640px" in page
    hrefs = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert hrefs[0] == URL_1  # the headline links to the first source
    assert set(hrefs) == {URL_1, URL_2, URL_3, "https://veille.example.org/u"}
    assert "javascript:" not in page
    assert "&lt;dismantle&gt;" in page and "<dismantle>" not in page
    assert "Europol &amp; FBI" in page and "&lt;script&gt;" in page
    assert HEADLINE_2 in page and "🚨" in page
    assert "Monday 6 May 2024" in page and "2 stories" in page
    assert "Jean Dupont" in page and "unk:" not in page  # a name, as a reader writes it


def test_french_email_uses_the_story_variant_and_french_labels() -> None:
    page = render_html(_digest(), lang="fr", day=DAY)
    text = render_text(_digest(), lang="fr", day=DAY)
    assert "Europol &amp; le FBI démantèlent &lt;Qakbot&gt;" in page and "lundi 6 mai 2024" in page
    assert "1. Europol & le FBI démantèlent <Qakbot> 🚨" in text and "2 sujets" in text
    assert "Le réseau Qakbot a été démantelé." in text and "700 000" not in text


def test_text_part_numbers_stories_and_lists_urls() -> None:
    text = render_text(_digest(), lang="en", day=DAY, unsubscribe="mailto:u@example.org")
    assert f"1. {HEADLINE_1}" in text and f"2. {HEADLINE_2}" in text
    assert f"- europol-news: {URL_1}" in text and f"- www.aljazeera.net: {URL_3}" in text
    assert "javascript:" not in text and "Unsubscribe: mailto:u@example.org" in text


def test_empty_digest_says_so() -> None:
    empty = Digest(DUE - timedelta(days=1), DUE, StoryFilter(), ())
    assert "No new story" in render_text(empty, lang="en", day=DAY)
    assert "Aucun nouveau sujet" in render_html(empty, lang="fr", day=DAY)


def test_stories_json_round_trips() -> None:
    data = json.loads(stories_json(_digest()))
    assert [s["id"] for s in data["stories"]] == ["s-qakbot", "s-attack"]
    first = data["stories"][0]
    assert first["headline"] == HEADLINE_1 and first["urls"] == [URL_1, URL_2]
    assert first["sentences"][1] == {
        "text": "Les serveurs ont été saisis à Paris & Amsterdam.",
        "article_id": "a2",
        "position": 1,
        "url": URL_2,
        "lang": "fr",
    }
    assert datetime.fromisoformat(first["last_update"]) == datetime(2024, 5, 5, 20, tzinfo=UTC)
    assert data["stories"][1]["headline"] == HEADLINE_2


# --- sending ----------------------------------------------------------------------------------------------


def test_message_received_with_both_parts_and_list_headers(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        cfg = config(port, tmp_path)
        send(build_message(_digest(), cfg, day=DAY, now=DUE), cfg)
    [(mail_from, rcpts, data)] = sink.received
    assert mail_from == "veille@example.org" and rcpts == ["alice@example.org", "bob@example.net"]
    message = parse(data)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "Veille: daily digest · Monday 6 May 2024 · 2 stories"
    assert message["From"].addresses[0].addr_spec == "veille@example.org"
    assert [a.addr_spec for a in message["To"].addresses] == list(cfg.recipients)
    assert message["Message-ID"] == "<veille-2024-05-06@example.org>"
    assert message["List-Unsubscribe"] == (
        "<mailto:veille-unsubscribe@example.org>, <https://veille.example.org/unsubscribe?list=daily>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"].datetime == DUE and message["Content-Language"] == "en"
    assert all(byte < 128 for byte in data)  # quoted-printable: no 8BITMIME needed on the way
    text, page = part(message, "plain"), part(message, "html")
    assert HEADLINE_1 in text and HEADLINE_2 in text
    assert "&lt;dismantle&gt;" in page and HEADLINE_2 in page
    assert {attrs["href"] for tag, attrs in tags_of(page) if tag == "a"} >= {URL_1, URL_2, URL_3}
    assert "<script" not in page.lower() and "<style" not in page.lower()


def test_no_list_unsubscribe_post_without_a_url(tmp_path: Path) -> None:
    cfg = config(25, tmp_path, unsubscribe_url=None)
    message = build_message(_digest(), cfg, day=DAY, now=DUE)
    assert message["List-Unsubscribe"] == "<mailto:veille-unsubscribe@example.org>"
    assert "List-Unsubscribe-Post" not in message


def test_starttls_with_login(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    sink = Sink()
    tls = server_context(certificate)
    with smtp_server(sink, tls_context=tls, require_starttls=True, authenticator=authenticator) as port:
        cfg = config(port, tmp_path, security="starttls", username="veille", cafile=certificate[0])
        send(build_message(_digest(), cfg, day=DAY), replace(cfg, password=PASSWORD))
        with pytest.raises(MailError) as info:
            send(build_message(_digest(), cfg, day=DAY), replace(cfg, password="wrong"))
    assert len(sink.received) == 1
    assert info.value.kind == "auth" and not info.value.transient and "535" in info.value.message


def test_implicit_tls_verifies_the_certificate(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    sink = Sink()
    # aiosmtpd only counts STARTTLS as TLS for AUTH: on an implicit-TLS socket its check must be turned off
    server_tls: dict[str, Any] = {"ssl_context": server_context(certificate), "auth_require_tls": False}
    with smtp_server(sink, authenticator=authenticator, **server_tls) as port:
        cfg = config(port, tmp_path, security="tls", username="veille", password=PASSWORD)
        send(build_message(_digest(), cfg, day=DAY), replace(cfg, cafile=certificate[0]))
        with pytest.raises(MailError) as info:  # the system CAs do not know the self-signed certificate
            send(build_message(_digest(), cfg, day=DAY), cfg)
    assert len(sink.received) == 1
    assert info.value.kind == "tls" and not info.value.transient


def test_starttls_missing_is_not_a_reason_to_send_in_clear(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port, pytest.raises(MailError) as info:
        send(
            build_message(_digest(), config(port, tmp_path), day=DAY),
            config(port, tmp_path, security="starttls"),
        )
    assert info.value.kind == "unsupported" and not info.value.transient and sink.received == []


@pytest.mark.parametrize(
    ("reply", "transient"),
    [("550 5.1.1 No such user", False), ("450 4.2.1 Mailbox busy, try later", True)],
    ids=["550-permanent", "450-transient"],
)
def test_refused_recipients(reply: str, transient: bool, tmp_path: Path) -> None:
    with smtp_server(Sink(rcpt_reply=reply)) as port, pytest.raises(MailError) as info:
        cfg = config(port, tmp_path)
        send(build_message(_digest(), cfg, day=DAY), cfg)
    assert info.value.kind == "recipient" and info.value.transient is transient
    assert reply.split()[0] in info.value.message


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    cfg = config(free_port(), tmp_path)
    with pytest.raises(MailError) as info:
        send(build_message(_digest(), cfg, day=DAY), cfg)
    assert info.value.kind == "connect" and info.value.transient


# --- the job ----------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.open(database_url)
    yield s
    s.close()


def rows(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(email_exports).order_by(email_exports.c.day)).mappings()]


async def test_outage_is_retried_with_backoff_then_sent_once(store: Store, tmp_path: Path) -> None:
    port = free_port()
    cfg = config(port, tmp_path)
    clock = Clock(DUE - timedelta(minutes=1))
    job = DailyEmail(store, cfg, _load_digest([]), clock)
    assert await job.tick() == [] and rows(store) == []  # 06:59 in Paris: not yet

    clock.advance(60)
    [first] = await job.tick()
    assert (first.status, first.attempts, first.next_attempt_at) == ("retry", 1, DUE + timedelta(seconds=60))
    clock.advance(30)
    assert await job.tick() == []  # still backing off, and the day is not prepared twice
    clock.advance(30)
    [second] = await job.tick()
    assert (second.status, second.attempts, second.next_attempt_at) == ("retry", 2, clock.now + backoff(2))
    [row] = rows(store)
    assert row["status"] == "pending" and row["attempts"] == 2 and "connect" in row["last_error"]

    sink = Sink()
    with smtp_server(sink, port=port):
        clock.advance(60)
        assert await job.tick() == []  # the server is back, but the retry is not due yet
        clock.advance(60)
        [third] = await job.tick()
        clock.advance(3600)
        assert await job.tick() == []
    assert third.status == "sent" and third.attempts == 3 and len(sink.received) == 1
    [row] = rows(store)
    assert (row["status"], row["attempts"], row["sent_at"], row["stories"]) == (
        "sent",
        3,
        clock.now - timedelta(seconds=3600),
        2,
    )


async def test_restart_resumes_a_pending_export(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    cfg = config(port, tmp_path)
    with Store.open(sqlite_url) as first_store:
        [outcome] = await DailyEmail(first_store, cfg, _load_digest([]), Clock(DUE)).tick()
        assert outcome.status == "retry"
    eml = (tmp_path / "exports" / "veille-2024-05-06.eml").read_bytes()

    calls: list[tuple[datetime, datetime]] = []
    sink = Sink()
    with Store.open(sqlite_url) as store, smtp_server(sink, port=port):
        job = DailyEmail(store, cfg, _load_digest(calls), Clock(DUE + timedelta(minutes=5)))
        [outcome] = await job.tick()
        assert outcome.status == "sent" and rows(store)[0]["attempts"] == 2
    assert calls == []  # sent from the export, not rebuilt
    [(_from, _rcpts, data)] = sink.received
    assert parse(data)["Message-ID"] == parse(eml)["Message-ID"]
    assert part(parse(data), "html") == part(parse(eml), "html")


def test_prepare_writes_the_export_once(store: Store, tmp_path: Path) -> None:
    calls: list[tuple[datetime, datetime]] = []
    cfg = config(25, tmp_path)
    job = DailyEmail(store, cfg, _load_digest(calls), Clock(DUE))
    assert job.due(DUE - timedelta(seconds=1)) is None and job.due(DUE) == DAY
    paths = job.prepare(DAY, DUE)
    assert paths is not None and job.prepare(DAY, DUE + timedelta(hours=1)) is None
    assert job.due(DUE + timedelta(hours=1)) is None
    assert calls == [window(DAY, 7, PARIS)]
    assert sorted(p.name for p in paths.eml.parent.iterdir()) == [
        "veille-2024-05-06.eml",
        "veille-2024-05-06.html",
        "veille-2024-05-06.json",
    ]
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert [s["headline"] for s in data["stories"]] == [HEADLINE_1, HEADLINE_2]
    html_part = part(parse(paths.eml.read_bytes()), "html").replace("\r\n", "\n")  # the .eml has CRLFs
    assert paths.html.read_text(encoding="utf-8") == html_part
    [row] = rows(store)
    assert (row["day"], row["status"], row["attempts"], row["stories"]) == ("2024-05-06", "pending", 0, 2)
    assert row["next_attempt_at"] == DUE and row["eml_path"] == str(paths.eml)


def test_missing_eml_is_rebuilt_and_sent(store: Store, tmp_path: Path) -> None:
    calls: list[tuple[datetime, datetime]] = []
    sink = Sink()
    with smtp_server(sink) as port:
        job = DailyEmail(store, config(port, tmp_path), _load_digest(calls), Clock(DUE))
        paths = job.prepare(DAY, DUE)
        assert paths is not None
        paths.eml.unlink()
        [outcome] = job.send_due(DUE)
    assert outcome.status == "sent" and len(calls) == 2 and paths.eml.is_file()
    assert parse(sink.received[0][2])["Message-ID"] == "<veille-2024-05-06@example.org>"


def test_permanent_failure_keeps_the_export_and_stops(
    store: Store, tmp_path: Path, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"not-{PASSWORD}"
    sink = Sink()
    caplog.set_level(logging.DEBUG)
    tls = server_context(certificate)
    with smtp_server(sink, tls_context=tls, require_starttls=True, authenticator=authenticator) as port:
        cfg = config(
            port, tmp_path, security="starttls", username="veille", password=wrong, cafile=certificate[0]
        )
        job = DailyEmail(store, cfg, _load_digest([]), Clock(DUE))
        [outcome] = job.run_once(DUE)
        assert job.run_once(DUE + timedelta(hours=3)) == []
    assert outcome.status == "failed" and outcome.error is not None and "auth: 535" in outcome.error
    [row] = rows(store)
    assert row["status"] == "failed" and row["attempts"] == 1 and "535" in row["last_error"]
    assert Path(row["eml_path"]).is_file() and sink.received == []
    assert "email failed permanently day=2024-05-06" in caplog.text and wrong not in caplog.text


def test_a_row_being_sent_is_skipped_by_another_process(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    other_outcomes: list[list[Any]] = []
    with Store.open(database_url) as other_store:
        sink = Sink()
        with smtp_server(sink) as port:
            cfg = config(port, tmp_path)
            other = DailyEmail(other_store, cfg, _load_digest([]), Clock(DUE))
            sink.on_data = lambda: other_outcomes.append(other.send_due(DUE + timedelta(minutes=1)))
            [outcome] = DailyEmail(store, cfg, _load_digest([]), Clock(DUE)).run_once(DUE)
    assert outcome.status == "sent" and other_outcomes == [[]] and len(sink.received) == 1


def test_a_send_by_hand_covers_the_last_24_hours(store: Store, tmp_path: Path) -> None:
    """``veille email send`` at 16:00, hours after the scheduled 07:00: the articles of the morning are in it
    (the scheduled window ended at 07:00), and it is today's email: the scheduler does not send another."""
    calls: list[tuple[datetime, datetime]] = []
    cfg = config(free_port(), tmp_path)
    job = DailyEmail(store, cfg, _load_digest(calls), Clock(DUE))
    afternoon = DUE + timedelta(hours=9)
    assert job.prepare(DAY, afternoon, until=afternoon) is not None
    assert calls == [(afternoon - timedelta(days=1), afternoon)]
    assert job.due(afternoon) is None and job.prepare(DAY, afternoon) is None  # recorded as today's
