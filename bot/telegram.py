"""The one seam to python-telegram-bot for delivery: a ``Sender`` on a PTB ``Bot``, with its errors classified.

PTB's exceptions stay inside this module; the deliverer sees ``bot.delivery``'s classes:

    RetryAfter                                        -> RateLimited(retry_after)
    Forbidden; BadRequest "chat not found", "bot was kicked", "not enough rights", "user is deactivated";
    ChatMigrated (a group that became a supergroup: its old id is gone)  -> Blocked
    other BadRequest (bad HTML, too long, unknown topic...)              -> Rejected
    TimedOut, NetworkError (connection errors, 5xx), InvalidToken         -> Transient

``Reachability`` watches every request the bot makes (``TrackedRequest``, the HTTP layer of the PTB ``Bot``):
one warning when Telegram stops answering, one when it is back, nothing per retry in between; ``/healthz``
reports the bot as degraded meanwhile.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest, RequestData

from bot.delivery import Blocked, RateLimited, Rejected, SendError, Transient

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_GONE = ("chat not found", "bot was kicked", "not enough rights", "user is deactivated", "have no rights")


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds, whichever form (int or timedelta) this PTB version gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PTB 22 deprecates the int form
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError) -> SendError:
    """The delivery error class of a PTB error (module docstring)."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, RetryAfter):
        return RateLimited(retry_after_seconds(exc), text)
    if isinstance(exc, Forbidden | ChatMigrated):
        return Blocked(text)
    if isinstance(exc, BadRequest):  # a NetworkError subclass in PTB: test it first
        if any(marker in lowered for marker in _GONE):
            return Blocked(text)
        return Rejected(text)
    if isinstance(exc, NetworkError | InvalidToken):  # TimedOut included; a refused token is ours to fix:
        return Transient(text)  # the message waits for it rather than being dropped
    return Rejected(text)


class TelegramSender:
    """``bot.delivery.Sender`` on a PTB ``Bot``: Telegram HTML, link previews off."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, text: str, *, thread_id: int | None, reply_to: int | None) -> int:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            message = await self.bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                message_thread_id=thread_id,
                reply_parameters=reply,
            )
        except TelegramError as exc:
            raise classify(exc) from exc
        return message.message_id


class Reachability:
    """Whether Telegram answers the bot: one warning when it stops (a network error, a timeout or a 5xx), one
    when it answers again, however many requests fail in between."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.down_since: float | None = None
        self.failures = 0
        self.last_error = ""

    @property
    def ok(self) -> bool:
        return self.down_since is None

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error[:300]
        if self.down_since is None:
            self.down_since = self.clock()
            log.warning("Telegram unreachable: %s; retrying quietly until it answers", self.last_error)

    def answered(self) -> None:
        if self.down_since is not None:
            seconds = self.clock() - self.down_since
            log.warning("Telegram reachable again after %.0f s (%d failed requests)", seconds, self.failures)
            self.down_since, self.failures = None, 0


class TrackedRequest(HTTPXRequest):
    """PTB's HTTP layer, telling ``reachability`` whether each request reached Telegram."""

    def __init__(self, reachability: Reachability, **kwargs: float | int | None) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # timeouts and pool size only
        self.reachability = reachability

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = HTTPXRequest.DEFAULT_NONE,
        write_timeout: object = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: object = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: object = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(
                url,
                method,
                request_data,
                read_timeout,  # type: ignore[arg-type]
                write_timeout,  # type: ignore[arg-type]
                connect_timeout,  # type: ignore[arg-type]
                pool_timeout,  # type: ignore[arg-type]
            )
        except NetworkError as exc:  # connection refused, DNS, timeouts (TimedOut is a NetworkError)
            self.reachability.failed(str(exc) or type(exc).__name__)
            raise
        if code >= 500:
            self.reachability.failed(f"HTTP {code} from the Bot API")
        else:
            self.reachability.answered()
        return code, payload
