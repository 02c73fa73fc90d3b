"""A user's message as any front end hands it to the service, and the exchange the log keeps of it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.attachments import Attachment
from bot.core.memory import Recalled
from bot.core.responder import Reply
from bot.store import Exchange, utc_now_text
from bot.store.request_record import RequestRecord


@dataclass(frozen=True)
class Incoming:
    """A user's message, as any front end sees it."""

    user_id: str
    user_name: str
    channel_id: str
    text: str
    message_id: str
    guild_id: str | None = None
    display_name: str | None = None
    reply_to: str | None = None  # the message this one replies to, when it is a reply
    thread_id: str | None = None  # the thread it was posted in (a thread's id is its starter message's)
    thread_parent_id: str | None = None  # that thread's channel: a reply chain may come from there too
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Redelivery:
    """What `BotService.chat` gives for a message it has already handled (Discord's resume): send nothing."""

    message_id: str


def logged_exchange(
    incoming: Incoming, reply: Reply, context: Recalled, attachments: str | None, request: RequestRecord
) -> Exchange:
    assert reply.model is not None, "only the empty-message hint has no model, and it returns before the log"
    return Exchange(
        user_id=incoming.user_id,
        user_name=incoming.user_name,
        channel_id=incoming.channel_id,
        user_message=incoming.text,
        bot_response=reply.text,
        model_used=reply.model,
        message_id=incoming.message_id,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cache_creation_input_tokens=reply.cache_creation_input_tokens,
        cache_read_input_tokens=reply.cache_read_input_tokens,
        latency_ms=reply.latency_ms,
        stop_reason=reply.stop_reason,
        guild_id=incoming.guild_id,
        display_name=incoming.display_name,
        conversation_id=context.conversation_id,
        timestamp=utc_now_text(),
        reply_to_message_id=context.continues,
        attachments=attachments,
        request=request,
    )
