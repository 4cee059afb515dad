"""The bot's tables, on the monitor's shared ``MetaData`` (one engine, one migration history).

    subscribers      one row per Telegram chat (private, group, supergroup, channel): language, time zone,
                     active flag (a chat that blocked the bot is deactivated, with the reason), mute
    subscriptions    what a chat asked for: a filter (as typed), digest times and/or immediate alerts, and an
                     optional forum topic (``thread_id``) as the target; ``number`` is what the chat sees (#1,
                     #2...), never reused within the chat (``subscribers.subscriptions_made`` counts them)
    outbox           every digest, alert or broadcast, recorded before it is sent, once per (chat, item key);
                     its message parts, how many were sent, their message ids, status, attempts, next attempt
    story_alerts     (chat, story) -> the outbox row of the chat's first alert of the story, what the chat was
                     shown of it (sources, summary sentences) and when it was last notified, so a grown story
                     notifies once, as a reply carrying only what is new, at most once per interval
    processed_updates  the Telegram updates already handled, recorded in the transaction of their change
    email_exports    one row per day: the export's files, send status, attempts and the next retry time
    bot_state        small named JSON values (e.g. the alert watermark)

Created by the hand-written migration ``monitor/migrations/versions/0003_bot.py``; a test checks that it matches
this module exactly.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from monitor.tables import UTCDateTime, metadata
from summarizer.tables import STORY_ID_LENGTH

ITEM_KEY_LENGTH = 200

subscribers = Table(
    "subscribers",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),  # private, group, supergroup, channel
    Column("title", Text, nullable=True),
    Column("language", String(8), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deactivated_reason", Text, nullable=True),
    Column("muted_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("subscriptions_made", Integer, nullable=False, server_default="0"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, ForeignKey("subscribers.chat_id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),  # #1, #2... within the chat, never reused
    Column("thread_id", BigInteger, nullable=True),  # a forum topic of the chat, or None
    Column("query", Text, nullable=False),  # the filter as typed (summarizer.digest.parse_filter)
    Column("digest_times", String(200), nullable=False),  # "08:00,18:00" in the chat's time zone; "" = none
    Column("alerts", Boolean, nullable=False),
    Column("last_digest_at", UTCDateTime, nullable=True),  # end of the last digest window planned
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "chat_id"),
    UniqueConstraint("chat_id", "number"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("thread_id", BigInteger, nullable=True),
    Column("subscription_id", Integer, nullable=True),
    Column(
        "item_key", String(ITEM_KEY_LENGTH), nullable=False
    ),  # digest:<sub>:<slot>, alert:<sub>:<story>...
    Column("kind", String(16), nullable=False),  # digest, alert, update, broadcast
    Column("parts", JSON, nullable=False),  # Telegram HTML messages, each within 4096 UTF-16 units
    Column("sent_parts", Integer, nullable=False),
    Column("message_ids", JSON, nullable=False),  # one per sent part
    Column("reply_to_item", Integer, nullable=True),  # outbox id whose first message this item replies to
    Column(
        "status", String(16), nullable=False
    ),  # pending, sent, failed (permanent), dropped (chat inactive)
    Column("attempts", Integer, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("chat_id", "item_key"),
    Index(None, "status", "not_before"),
)

story_alerts = Table(
    "story_alerts",
    metadata,
    Column("chat_id", BigInteger, nullable=False, autoincrement=False),
    Column("story_id", String(STORY_ID_LENGTH), nullable=False),
    Column("outbox_id", Integer, nullable=False),  # the chat's first alert of this story
    Column(
        "shown", JSON, nullable=True
    ),  # {"sources": [...], "sentences": [...]}; None: not known (migrated)
    Column("notified_at", UTCDateTime, nullable=False),  # the alert or the last notifying update
    PrimaryKeyConstraint("chat_id", "story_id"),
)

processed_updates = Table(
    "processed_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chat_id", BigInteger, nullable=True),
    Column("handled_at", UTCDateTime, nullable=False, index=True),
)

email_exports = Table(
    "email_exports",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, in the email time zone
    Column("status", String(16), nullable=False),  # pending, sent, failed (permanent: needs the operator)
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("stories", Integer, nullable=False),
    Column("eml_path", Text, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
)

bot_state = Table(
    "bot_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
