"""A fake Telegram Bot API over real HTTP on loopback, for tests that run python-telegram-bot (PTB) or the bot.

    with FakeBotAPI() as api:                                   # or the ``fake_bot_api`` fixture
        bot = telegram.Bot(api.token, base_url=api.base_url)   # PTB posts to {base_url}{token}/{method}
        api.user_message(42, "/start")                          # an update for getUpdates (long polling)
        api.wait_for(lambda call: call.method == "sendMessage")
        api.messages(42)[0].plain

A call goes through these stages (in a server thread, one per connection):
1. read ``POST /bot<token>/<method>``: form fields (PTB JSON-encodes every non-string value), multipart or JSON;
2. a ``Call`` is built and handed to the ``on_call`` hook, which may drop it (see ``CallAction``);
3. token check (401), queued faults (``fail``), then the method; an unknown method answers 404;
4. the answer is ``{"ok": true, "result": ...}`` or Telegram's error shape; the call is recorded with its status.

All state sits behind one Condition: chats, the bot's messages per chat, pending updates (a long poll wakes
as soon as a test queues one), commands per scope and language, faults, the call log. It follows the real Bot
API where clients depend on it: error descriptions, 409 when two long polls overlap, an edit without
reply_markup removes the keyboard, "message is not modified", 4096 UTF-16 units after parsing, flood limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from tests.telegram_html import Entity, ParsedHTML, TelegramHTMLError, parse_html, utf16_len

JsonDict = dict[str, Any]
DEFAULT_TOKEN = "123456:TEST-token-of-the-FakeBotAPI"
DEFAULT_USER_ID = 10_001  # the sender in groups when a test gives no user_id
MAX_TEXT_UTF16 = 4096
CHAT_KINDS = ("private", "group", "supergroup", "channel")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_PATH = re.compile(r"/bot([^/]+)/([A-Za-z0-9_]+)")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_TRIM = " \t\r\n\v\f"
_STRING_PARAMS = frozenset(  # string-typed parameters: "12" stays "12" (other values are JSON-decoded)
    {"text", "caption", "parse_mode", "callback_query_id", "language_code", "action", "url", "title", "name"}
    | {"description", "short_description", "inline_message_id", "business_connection_id", "message_effect_id"}
)
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BUTTON_KINDS = frozenset(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "copy_text",
        "pay",
        "switch_inline_query_chosen_chat",
        "callback_game",
    ]
)
_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_ADMIN_RIGHTS = {"can_be_edited": False, "is_anonymous": False, "can_promote_members": False} | dict.fromkeys(
    [
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    ],
    True,
)
_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)
_FAULT_TEXT = {400: "Bad Request: injected fault", 403: "Forbidden: bot was blocked by the user"}
_FAULT_TEXT |= {401: "Unauthorized", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}

Answer = tuple[int, bytes, str]  # status, body, content type


class CallAction(enum.Enum):
    """What the ``on_call`` hook wants done with a call (returning None means ANSWER)."""

    ANSWER = "answer"
    DROP_REQUEST = "drop_request"  # lost on the way in: not executed, the connection closes without an answer
    DROP_ANSWER = "drop_answer"  # executed (a message is delivered), but the answer is lost


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: Mapping[str, Any]  # JSON-decoded values
    time: float  # time.monotonic() when the request arrived
    status: int = 0  # HTTP status answered; 0 in the hook (not handled yet) and for a dropped request
    dropped: bool = False  # no answer reached the client


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: int
    chat_id: int
    thread_id: int | None
    text: str  # as sent: raw HTML when parse_mode is HTML
    plain: str  # as Telegram shows it: tags removed, references decoded, trimmed
    parse_mode: str | None
    entities: tuple[Entity, ...]
    reply_to: int | None
    reply_markup: Mapping[str, Any] | None
    link_preview_disabled: bool
    date: int
    versions: tuple[str, ...]  # every text it had, the original first
    edit_date: int | None = None

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1

    @property
    def buttons(self) -> tuple[tuple[str, str | None], ...]:
        """(text, callback_data) of each inline keyboard button, row after row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return tuple((b["text"], b.get("callback_data")) for row in rows for b in row)


@dataclass(frozen=True, slots=True)
class LimitViolation:
    chat_id: int | None  # None for the overall 30 messages/s rule
    rule: str
    time: float
    retry_after: int


class ApiError(Exception):
    """An error answer of the Bot API, raised inside a method and turned into Telegram's JSON."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def answer(self) -> Answer:
        if self.status == 502:
            return 502, _GATEWAY_PAGE, "text/html"
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.status, json.dumps(body).encode(), "application/json"


@dataclass(slots=True)
class _Fault:
    method: str
    error: ApiError
    remaining: int
    chat_id: int | str | None


@dataclass(slots=True)
class _Chat:
    id: int
    kind: str
    title: str | None
    username: str | None
    is_forum: bool
    creator: int | None
    admins: set[int]
    topics: set[int]
    bot_status: str
    members: set[int] = field(default_factory=set)
    blocked: bool = False
    last_message_id: int = 0

    def json(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "type": self.kind}
        if self.kind == "private":
            data["first_name"] = f"User {self.id}"
        else:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


def user_json(user_id: int, lang: str | None = "en") -> JsonDict:
    data: JsonDict = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
    return data | {"username": f"u{user_id}"} | ({"language_code": lang} if lang else {})


def read_params(content_type: str, body: bytes, query: str) -> JsonDict:
    """The call's parameters from the query string and the body, string parameters kept as strings."""
    kind = content_type.split(";", 1)[0].strip().lower()
    pairs = parse_qsl(query, keep_blank_values=True)
    if kind == "application/json" and body:
        data: JsonDict = json.loads(body)
        return _decode(pairs) | data
    if kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name, filename = part.get_param("name", header="content-disposition"), part.get_filename()
            value = f"<file {filename}>" if filename else str(part.get_content())
            pairs.append((str(name), value))
        return _decode(pairs)
    return _decode(pairs + parse_qsl(body.decode(), keep_blank_values=True))


def _decode(pairs: Iterable[tuple[str, str]]) -> JsonDict:
    params: JsonDict = {}
    for name, value in pairs:
        params[name] = value
        if name not in _STRING_PARAMS:
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def trimmed(parsed: ParsedHTML) -> tuple[str, tuple[Entity, ...]]:
    """Leading and trailing whitespace removed as Telegram does, entities shifted and clipped to match."""
    plain = parsed.text.strip(_TRIM)
    shift = utf16_len(parsed.text[: len(parsed.text) - len(parsed.text.lstrip(_TRIM))])
    size, entities = utf16_len(plain), []
    for entity in parsed.entities:
        start, end = max(entity.offset - shift, 0), min(entity.offset + entity.length - shift, size)
        if end > start:
            entities.append(replace(entity, offset=start, length=end - start))
    return plain, tuple(entities)


def check_markup(markup: object, *, inline_only: bool = False) -> Mapping[str, Any] | None:
    """The reply_markup if Telegram would accept it (inline buttons: a kind, callback_data of 1-64 bytes)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None and inline_only:
        raise ApiError(400, "Bad Request: inline keyboard expected")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise ApiError(
                400, 'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        if not _BUTTON_KINDS & set(button):
            raise ApiError(
                400,
                "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
                "inline keyboard",
            )
        data = button.get("callback_data")
        if data is not None and not (isinstance(data, str) and 1 <= len(data.encode()) <= 64):
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        url = button.get("url")
        if url is not None and (not isinstance(url, str) or not url or any(c.isspace() for c in url)):
            raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
    return markup


class FakeBotAPI:
    """The fake Bot API: a server on 127.0.0.1 (random port) and the state tests drive and inspect."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, enforce_limits: bool = False) -> None:
        self.token = token
        self.enforce_limits = enforce_limits  # answer 429 when a flood limit is passed (recorded either way)
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 1
        self.bot_user: JsonDict = {"id": self.bot_id, "is_bot": True, "first_name": "Veille test bot"}
        self.bot_user["username"] = "veille_test_bot"
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[int, list[SentMessage]] = {}
        self._user_messages: dict[tuple[int, int], JsonDict] = {}
        self._updates: list[JsonDict] = []
        self._history: dict[int, JsonDict] = {}  # every update pushed, for a test that delivers one again
        self._last_update_id = 0
        self._allowed: frozenset[str] = frozenset()
        self._poll_generation = 0
        self._open_queries: set[str] = set()
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._faults: list[_Fault] = []
        self._hook: Callable[[Call], CallAction | None] | None = None
        self._violations: list[LimitViolation] = []
        self._sent_times: dict[int | None, deque[float]] = {}
        self._stopping = False
        self._connections: set[socket.socket] = set()
        self._methods = {
            name[3:].lower(): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }
        self._httpd = _Server(self)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to give PTB as base_url (it appends the token, then /method)."""
        return f"{self.url}/bot"

    def start(self) -> FakeBotAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: held long polls answer at once, open connections are closed."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        with self._cond:
            connections = list(self._connections)
        for (
            conn
        ) in connections:  # reading side only: an idle keep-alive ends, an answer being written does not
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)
        self._httpd.server_close()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls --------------------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        kind: str = "private",
        *,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        admins: Iterable[int] = (),
        creator: int | None = None,
        topics: Iterable[int] = (),
        bot_status: str | None = None,
    ) -> None:
        """A chat the bot can write to; the bot is administrator of a channel and member elsewhere by default."""
        if kind not in CHAT_KINDS:
            raise ValueError(f"kind must be one of {CHAT_KINDS}, not {kind!r}")
        status = bot_status or ("administrator" if kind == "channel" else "member")
        name = None if kind == "private" else title or f"{kind.capitalize()} {chat_id}"
        with self._cond:
            if chat_id in self._chats:
                raise ValueError(f"chat {chat_id} already exists")
            chat = _Chat(chat_id, kind, name, username, is_forum, creator, set(admins), set(topics), status)
            chat.members |= chat.admins | ({creator} if creator else set())
            self._chats[chat_id] = chat

    def block(self, chat_id: int) -> None:
        """Every later send to the chat answers 403 (the user blocked the bot / the bot was kicked)."""
        with self._cond:
            self._known_chat(chat_id).blocked = True

    def fail(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        chat_id: int | str | None = None,
        description: str | None = None,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id` if given) answer `status` instead of running.

        429 carries parameters.retry_after (default 1 s); 502 is nginx's HTML page, as Telegram's front sends.
        """
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            text = description or f"Too Many Requests: retry after {retry_after}"
        else:
            text = description or _FAULT_TEXT.get(status) or HTTPStatus(status).phrase
        with self._cond:
            self._faults.append(_Fault(method.lower(), ApiError(status, text, retry_after), times, chat_id))

    def on_call(self, callback: Callable[[Call], CallAction | None] | None) -> None:
        """Call `callback` (in the server thread, before handling) with each call; None removes the hook."""
        self._hook = callback

    # -- simulated users ------------------------------------------------------------------------------------

    def user_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        thread_id: int | None = None,
        lang: str = "en",
    ) -> int:
        """A user writes `text` (a private chat is created on first contact); returns the update_id."""
        with self._cond:
            if chat_id not in self._chats and chat_id > 0:
                self.add_chat(chat_id)
            chat = self._known_chat(chat_id)
            if chat.kind == "channel":
                raise ValueError("users do not write in channels: use channel_post")
            sender = chat_id if chat.kind == "private" else user_id or DEFAULT_USER_ID
            chat.members.add(sender)
            chat.blocked = chat.blocked and chat.kind != "private"  # writing to a bot unblocks it
            return self._push(
                "message", self._incoming(chat, text, thread_id, {"from": user_json(sender, lang)})
            )

    def channel_post(self, chat_id: int, text: str) -> int:
        """A post in a channel the bot is in; returns the update_id."""
        with self._cond:
            chat = self._known_chat(chat_id)
            if chat.kind != "channel":
                raise ValueError(f"chat {chat_id} is a {chat.kind}, not a channel")
            return self._push("channel_post", self._incoming(chat, text, None, {"sender_chat": chat.json()}))

    def press_button(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None, unchecked: bool = False
    ) -> int:
        """A user presses the inline button carrying `data` under one of the bot's messages; returns the update_id.
        `unchecked`: the message had such a button once (a button of an older version of the bot)."""
        with self._cond:
            chat, message = self._known_chat(chat_id), self._sent_message(chat_id, message_id)
            if message is None:
                raise ValueError(f"the bot sent no message {message_id} in chat {chat_id}")
            if not unchecked and data not in [button_data for _, button_data in message.buttons]:
                raise ValueError(f"message {message_id} has no button with data {data!r}: {message.buttons}")
            user = chat_id if chat.kind == "private" else user_id or DEFAULT_USER_ID
            query_id = str(self._last_update_id + 1_000_001)
            self._open_queries.add(query_id)
            query = {"id": query_id, "from": user_json(user), "message": self._message_json(chat, message)}
            return self._push("callback_query", query | {"chat_instance": str(chat_id), "data": data})

    def my_chat_member(
        self,
        chat_id: int,
        status: str,
        *,
        user_id: int | None = None,
        kind: str = "channel",
        title: str | None = None,
    ) -> int:
        """The bot's status in a chat changes (added as administrator or member, kicked, left; in a private
        chat "kicked" means the user blocked the bot); the chat is created with `kind` if unknown."""
        if status not in ("administrator", "member", "kicked", "left"):
            raise ValueError(f"unsupported status {status!r}")
        with self._cond:
            if chat_id not in self._chats:
                self.add_chat(chat_id, kind, title=title, bot_status="left")
            chat = self._chats[chat_id]
            actor = user_id or (chat_id if chat.kind == "private" else chat.creator or DEFAULT_USER_ID)
            old, chat.bot_status = self._member_json(chat, self.bot_id), status
            chat.blocked = chat.kind == "private" and status == "kicked"
            change = {"chat": chat.json(), "from": user_json(actor), "date": int(time.time())}
            change |= {"old_chat_member": old, "new_chat_member": self._member_json(chat, self.bot_id)}
            return self._push("my_chat_member", change)

    # -- observations ---------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self._calls if call.method.lower() == method.lower()]

    def update_json(self, update_id: int) -> JsonDict:
        """An update as it was delivered: a test hands it to the bot again, as Telegram does when a crash kept
        the bot from confirming it."""
        with self._cond:
            return json.loads(json.dumps(self._history[update_id]))  # type: ignore[no-any-return]

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """A user deletes one of the bot's messages in their chat."""
        with self._cond:
            self._messages[chat_id] = [
                m for m in self._messages.get(chat_id, []) if m.message_id != message_id
            ]

    def messages(self, chat_id: int, thread_id: int | None = None) -> list[SentMessage]:
        """The bot's messages in a chat (in a topic when thread_id is given), oldest first, as last edited."""
        with self._cond:
            sent = self._messages.get(chat_id, [])
            return [m for m in sent if thread_id is None or m.thread_id == thread_id]

    def commands(self, scope: Mapping[str, Any] | None = None, lang: str = "") -> list[tuple[str, str]]:
        """The (command, description) pairs set for a scope (default scope when None) and language."""
        with self._cond:
            return [
                (c["command"], c["description"]) for c in self._commands.get(self._scope_key(scope, lang), [])
            ]

    @property
    def limit_violations(self) -> list[LimitViolation]:
        with self._cond:
            return list(self._violations)

    @property
    def pending_updates(self) -> list[int]:
        """update_ids queued and not yet confirmed by a getUpdates offset."""
        with self._cond:
            return [update["update_id"] for update in self._updates]

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 10.0, *, start: int = 0) -> Call:
        """The first recorded call (from index `start`) satisfying `predicate`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := self._first(predicate, start)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._no_match(timeout))
                self._cond.wait(remaining)
            return found

    async def wait_for_async(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - the same signature as wait_for
        *,
        start: int = 0,
    ) -> Call:
        """wait_for for a test whose bot runs in the same event loop (polls instead of blocking the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._first(predicate, start)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(self._no_match(timeout))
            await asyncio.sleep(0.01)

    def _first(self, predicate: Callable[[Call], bool], start: int) -> Call | None:
        return next((call for call in self._calls[start:] if predicate(call)), None)

    def _no_match(self, timeout: float) -> str:
        seen = ", ".join(f"{call.method}:{call.status}" for call in self._calls[-20:])
        return f"no call matched within {timeout} s; last calls: {seen or 'none'}"

    # -- serving --------------------------------------------------------------------------------------------

    def _serve(self, path: str, content_type: str, body: bytes, query: str) -> Answer | None:
        """One HTTP request -> its answer, or None to close the connection without one."""
        route = _PATH.fullmatch(path)
        method = route.group(2) if route else path.rsplit("/", 1)[-1]
        try:
            params = read_params(content_type, body, query)
        except ValueError:
            params = {}
        call, hook = Call(method, params, time.monotonic()), self._hook
        action = hook(call) if hook else None
        if action is CallAction.DROP_REQUEST:
            self._record(replace(call, dropped=True))
            return None
        answer = self._answer(route.group(1) if route else None, method, params)
        self._record(replace(call, status=answer[0], dropped=action is CallAction.DROP_ANSWER))
        return None if action is CallAction.DROP_ANSWER else answer

    def _answer(self, token: str | None, method: str, params: JsonDict) -> Answer:
        if token != self.token:
            return (
                ApiError(404, "Not Found").answer()
                if token is None
                else ApiError(401, "Unauthorized").answer()
            )
        with self._cond:
            try:
                self._raise_fault(method, params)
                handler = self._methods.get(method.lower())
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = handler(params)
            except ApiError as error:
                return error.answer()
            except (KeyError, TypeError, ValueError) as error:
                return ApiError(400, f"Bad Request: invalid parameters ({error!r})").answer()
        return 200, json.dumps({"ok": True, "result": result}).encode(), "application/json"

    def _raise_fault(self, method: str, params: JsonDict) -> None:
        for fault in self._faults:
            if fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id")):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise fault.error

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    # -- Bot API methods: _m_<method>, matched case-insensitively as Telegram does ----------------------------

    def _m_getMe(self, params: JsonDict) -> JsonDict:
        flags = ("can_read_all_group_messages", "supports_inline_queries", "can_connect_to_business")
        return (
            self.bot_user | {"can_join_groups": True, "has_main_web_app": False} | dict.fromkeys(flags, False)
        )

    def _m_deleteWebhook(self, params: JsonDict) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getUpdates(self, params: JsonDict) -> list[JsonDict]:
        """Answer at once when updates are pending, else hold up to `timeout` s; a newer poll ends this one (409)."""
        offset, limit = int(params.get("offset") or 0), min(max(int(params.get("limit") or 100), 1), 100)
        if "allowed_updates" in params:  # remembered until changed, as Telegram does
            self._allowed = frozenset(params["allowed_updates"] or ())
        if offset:
            self._updates = (
                [u for u in self._updates if u["update_id"] >= offset]
                if offset > 0
                else self._updates[offset:]
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        while not (batch := self._deliverable(limit)) and not self._stopping:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot "
                    "instance is running",
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return batch

    def _m_sendMessage(self, params: JsonDict) -> JsonDict:
        chat = self._writable_chat(params)
        thread_id = self._thread_id(chat, params)
        plain, entities = self._render(params.get("text"), params.get("parse_mode"))
        markup = check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        self._check_limits(chat)
        chat.last_message_id += 1
        text = str(params["text"])
        message = SentMessage(
            message_id=chat.last_message_id,
            chat_id=chat.id,
            thread_id=thread_id,
            text=text,
            plain=plain,
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_to=reply_to,
            reply_markup=markup,
            link_preview_disabled=_preview_disabled(params),
            date=int(time.time()),
            versions=(text,),
        )
        self._messages.setdefault(chat.id, []).append(message)
        return self._message_json(chat, message)

    def _m_editMessageText(self, params: JsonDict) -> JsonDict:
        if params.get("inline_message_id") is not None:
            raise ApiError(400, "Bad Request: inline messages are not implemented by FakeBotAPI")
        chat = self._writable_chat(params)
        if params.get("message_id") is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        old = self._sent_message(chat.id, int(params["message_id"]))
        if old is None:
            theirs = (chat.id, int(params["message_id"])) in self._user_messages
            raise ApiError(
                400,
                "Bad Request: message can't be edited"
                if theirs
                else "Bad Request: message to edit not found",
            )
        plain, entities = self._render(params.get("text"), params.get("parse_mode"))
        markup = check_markup(params.get("reply_markup"), inline_only=True)  # none given: the keyboard goes
        if (plain, entities, markup) == (old.plain, old.entities, old.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        text = str(params["text"])
        new = replace(
            old,
            text=text,
            plain=plain,
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            link_preview_disabled=_preview_disabled(params),
            versions=(*old.versions, text),
            edit_date=int(time.time()),
        )
        sent = self._messages[chat.id]
        sent[sent.index(old)] = new
        return self._message_json(chat, new)

    def _m_answerCallbackQuery(self, params: JsonDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_queries.discard(query_id)
        return True

    def _m_setMyCommands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not _BOT_COMMAND.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params.get("scope"), params.get("language_code") or "")
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _m_getMyCommands(self, params: JsonDict) -> list[JsonDict]:
        return list(
            self._commands.get(self._scope_key(params.get("scope"), params.get("language_code") or ""), [])
        )

    def _m_deleteMyCommands(self, params: JsonDict) -> bool:
        self._commands.pop(self._scope_key(params.get("scope"), params.get("language_code") or ""), None)
        return True

    def _m_getChat(self, params: JsonDict) -> JsonDict:
        chat = self._chat_of(params.get("chat_id"))
        gifts = (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        )
        extra = {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, True),
        }
        return chat.json() | extra

    def _m_getChatMember(self, params: JsonDict) -> JsonDict:
        chat = self._chat_of(params.get("chat_id"))
        user_id = int(params.get("user_id") or 0)
        if chat.kind == "channel" and chat.bot_status != "administrator" and user_id != self.bot_id:
            raise ApiError(400, "Bad Request: member list is inaccessible")
        return self._member_json(chat, user_id)

    def _m_getChatAdministrators(self, params: JsonDict) -> list[JsonDict]:
        chat = self._chat_of(params.get("chat_id"))
        if chat.kind == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        if chat.kind == "channel" and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: member list is inaccessible")
        ids = ([chat.creator] if chat.creator else []) + sorted(chat.admins - {chat.creator})
        ids += [self.bot_id] if chat.bot_status == "administrator" else []
        return [self._member_json(chat, user_id) for user_id in ids]

    def _m_sendChatAction(self, params: JsonDict) -> bool:
        chat = self._writable_chat(params)
        self._thread_id(chat, params)
        if params.get("action") not in _ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    # -- helpers (called with the lock held) ---------------------------------------------------------------

    def _known_chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}: add_chat() it first")
        return chat

    def _chat_of(self, value: object) -> _Chat:
        """The chat a call names by id or @username; 400 "chat not found" as Telegram answers."""
        if value is None or value == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            chat = next((c for c in self._chats.values() if c.username and f"@{c.username}" == value), None)
        else:
            chat = self._chats.get(int(str(value))) if re.fullmatch(r"-?\d+", str(value)) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable_chat(self, params: JsonDict) -> _Chat:
        """The chat, if the bot may post there now (blocked, kicked, not a member, not a channel admin: no)."""
        chat = self._chat_of(params.get("chat_id"))
        kicked = chat.blocked or chat.bot_status == "kicked"
        if kicked and chat.kind == "private":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if kicked:
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.kind} chat")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.kind} chat")
        if chat.kind == "channel" and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return chat

    def _thread_id(self, chat: _Chat, params: JsonDict) -> int | None:
        if params.get("message_thread_id") is None:
            return None
        thread_id = int(params["message_thread_id"])
        if chat.is_forum and thread_id not in chat.topics:
            raise ApiError(400, "Bad Request: message thread not found")
        return thread_id

    @staticmethod
    def _render(text: object, parse_mode: object) -> tuple[str, tuple[Entity, ...]]:
        """Plain text and entities of a message text as Telegram parses, trims and limits it."""
        if not isinstance(text, str):
            raise ApiError(400, "Bad Request: message text is empty")
        mode = str(parse_mode or "").lower()
        if mode in ("markdown", "markdownv2"):
            raise ApiError(
                400, f"Bad Request: parse_mode {parse_mode} is not implemented by FakeBotAPI (HTML is)"
            )
        if mode not in ("", "html"):
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        try:
            parsed = parse_html(text) if mode else ParsedHTML(text, ())
        except TelegramHTMLError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        plain, entities = trimmed(parsed)
        if not plain:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT_UTF16:
            raise ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _reply_to(self, chat: _Chat, params: JsonDict) -> int | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            target, lenient = reply.get("message_id"), reply.get("allow_sending_without_reply")
        else:
            target, lenient = params.get("reply_to_message_id"), params.get("allow_sending_without_reply")
        if target is None:
            return None
        if (chat.id, int(target)) in self._user_messages or self._sent_message(chat.id, int(target)):
            return int(target)
        if lenient:
            return None
        raise ApiError(400, "Bad Request: message to be replied not found")

    def _check_limits(self, chat: _Chat) -> None:
        """Telegram's flood limits: 1 message/s per private chat, 20/min per group or channel, 30/s overall."""
        now, private = time.monotonic(), chat.kind == "private"
        rules: list[tuple[int | None, str, float, int]] = [(None, "30 messages/s overall", 1.0, 30)]
        if private:
            rules.append((chat.id, "1 message/s in a private chat", 1.0, 1))
        else:
            rules.append((chat.id, f"20 messages/min in a {chat.kind}", 60.0, 20))
        for key, rule, window, limit in rules:
            times = self._sent_times.setdefault(key, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                retry_after = max(1, math.ceil(times[0] + window - now))
                self._violations.append(LimitViolation(key, rule, now, retry_after))
                if self.enforce_limits:
                    raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        for key, *_ in rules:
            self._sent_times[key].append(now)

    def _scope_key(self, scope: object, lang: str) -> tuple[str, str]:
        data = dict(scope) if isinstance(scope, Mapping) else {"type": "default"}
        chat_scopes = ("chat", "chat_administrators", "chat_member")
        if data.get("type") not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            *chat_scopes,
        ):
            raise ApiError(400, "Bad Request: wrong bot command scope type specified")
        if data["type"] in chat_scopes:
            data["chat_id"] = self._chat_of(data.get("chat_id")).id
        return json.dumps(data, sort_keys=True), lang

    def _sent_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        return next((m for m in self._messages.get(chat_id, []) if m.message_id == message_id), None)

    def _message_json(self, chat: _Chat, message: SentMessage) -> JsonDict:
        """The Message object Telegram returns for one of the bot's messages."""
        data: JsonDict = {"message_id": message.message_id, "date": message.date, "chat": chat.json()}
        if chat.kind == "channel":
            data["sender_chat"] = chat.json()
        else:
            data["from"] = self.bot_user
        data["text"] = message.plain
        if message.entities:
            data["entities"] = [entity.to_json() for entity in message.entities]
        if message.thread_id is not None:
            data |= {"message_thread_id": message.thread_id} | (
                {"is_topic_message": True} if chat.is_forum else {}
            )
        if message.reply_to is not None:
            target = self._sent_message(chat.id, message.reply_to)
            data["reply_to_message"] = self._user_messages.get((chat.id, message.reply_to)) or (
                self._message_json(chat, replace(target, reply_to=None)) if target else None
            )
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data | ({"edit_date": message.edit_date} if message.edit_date else {})

    def _member_json(self, chat: _Chat, user_id: int) -> JsonDict:
        """A ChatMember object: creator, administrator (with rights), member, left or kicked."""
        if user_id == self.bot_id:
            user, status = self.bot_user, chat.bot_status
        elif chat.kind == "private":
            if user_id != chat.id:
                raise ApiError(400, "Bad Request: user not found")
            user, status = user_json(user_id, None), "member"
        else:
            user, status = user_json(user_id, None), _status_in_group(chat, user_id)
        data: JsonDict = {"user": user, "status": status}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data |= _ADMIN_RIGHTS | (
                {"can_post_messages": True, "can_edit_messages": True} if chat.kind == "channel" else {}
            )
        elif status == "kicked":
            data["until_date"] = 0
        return data

    def _incoming(self, chat: _Chat, text: str, thread_id: int | None, sender: JsonDict) -> JsonDict:
        """A message from a user or a channel: a new id in the chat, a bot_command entity for '/command'."""
        chat.last_message_id += 1
        message: JsonDict = {
            "message_id": chat.last_message_id,
            "date": int(time.time()),
            "chat": chat.json(),
        }
        message |= sender | {"text": text}
        if command := _COMMAND.match(text):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.is_forum:
                message["is_topic_message"] = True
                chat.topics.add(thread_id)
        self._user_messages[(chat.id, chat.last_message_id)] = message
        return message

    def _push(self, kind: str, payload: JsonDict) -> int:
        self._last_update_id += 1
        self._updates.append({"update_id": self._last_update_id, kind: payload})
        self._history[self._last_update_id] = self._updates[-1]
        self._cond.notify_all()
        return self._last_update_id

    def _deliverable(self, limit: int) -> list[JsonDict]:
        """The first `limit` pending updates of the allowed kinds; the others are dropped, as Telegram does."""

        def allowed(update: JsonDict) -> bool:
            kind = next(key for key in update if key != "update_id")
            return kind in self._allowed if self._allowed else kind not in _OPT_IN_UPDATES

        self._updates = [update for update in self._updates if allowed(update)]
        return self._updates[:limit]


def _status_in_group(chat: _Chat, user_id: int) -> str:
    if user_id == chat.creator:
        return "creator"
    if user_id in chat.admins:
        return "administrator"
    return "member" if user_id in chat.members else "left"


def _preview_disabled(params: JsonDict) -> bool:
    options = params.get("link_preview_options")
    return bool(
        (options.get("is_disabled") if isinstance(options, dict) else False)
        or params.get("disable_web_page_preview")
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms per answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.api._cond:
            self.server.api._connections.add(self.connection)

    def handle(self) -> None:
        # the client may hang up (killed, cancelled, stopped): nothing to report
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, TimeoutError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.api._cond:
            self.server.api._connections.discard(self.connection)

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.api._serve(path, self.headers.get("Content-Type", ""), body, query)
        if answer is None:
            self.close_connection = True
            return
        status, payload, content_type = answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST
