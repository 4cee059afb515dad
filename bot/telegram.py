"""The one seam to python-telegram-bot for delivery: a ``Sender`` on a PTB ``Bot``, with its errors classified.

PTB's exceptions stay inside this module; the deliverer sees ``bot.delivery``'s classes:

    RetryAfter                                        -> RateLimited(retry_after)
    Forbidden; BadRequest "chat not found", "bot was kicked", "not enough rights", "user is deactivated";
    ChatMigrated (a group that became a supergroup: its old id is gone)  -> Blocked
    BadRequest "message to edit not found", "message can't be edited"    -> NotEditable
    BadRequest "message is not modified" (an edit to the same text)      -> success
    other BadRequest (bad HTML, too long, unknown topic...)              -> Rejected
    TimedOut, NetworkError (connection errors, 5xx)                      -> Transient
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery import Blocked, NotEditable, RateLimited, Rejected, SendError, Transient

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_GONE = ("chat not found", "bot was kicked", "not enough rights", "user is deactivated", "have no rights")
_NOT_EDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")


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
        if any(marker in lowered for marker in _NOT_EDITABLE):
            return NotEditable(text)
        return Rejected(text)
    if isinstance(exc, NetworkError):  # TimedOut included
        return Transient(text)
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

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:
            if "message is not modified" in str(exc).lower():
                return
            raise classify(exc) from exc
        except TelegramError as exc:
            raise classify(exc) from exc
