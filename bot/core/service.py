"""The path of a message, independent of any front end; the commands' side is `CommandData` (command_data.py).

The Discord cogs and the terminal console are thin front ends over `BotService`.
Blocking SQLite work runs on threads so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from bot.config.settings import Settings
from bot.core.attachments import images_for_claude, log_json, refusal_note, sent_files, user_content
from bot.core.command_data import CommandData
from bot.core.deliveries import InFlight, SeenMessages
from bot.core.incoming import Incoming, Redelivery, logged_exchange
from bot.core.memory import Memory, Recalled
from bot.core.recall import Recall
from bot.core.redact import redact
from bot.core.responder import Reply, Responder, TextSink
from bot.store import ConversationLog, Outcome
from bot.store.attachment_column import as_text
from bot.store.awaiting import WriterResults
from bot.store.exchange import FALLBACK_MODEL
from bot.store.prices import migrate_and_price
from bot.store.request_record import NOT_SENT, RECORDED, RequestRecord
from bot.store.sqlite import sqlite3

__all__ = ["BotService", "Incoming", "Redelivery", "open_service"]  # the front ends import these from here

log = logging.getLogger(__name__)

EMPTY_MESSAGE_HINT = "I only got an empty message. Write some text after mentioning me and I'll answer."
DRAIN_SLACK_S = 5.0  # beyond Claude's time budget (BOT_API_TIMEOUT), for the log's last commits at shutdown


class BotService:
    def __init__(
        self,
        store: ConversationLog,
        memory: Memory,
        responder: Responder,
        *,
        redact: Callable[[str], str] | None = None,
        retention_days: float = 0.0,
        system_prompt_id: int,
    ) -> None:
        self.store = store
        self.system_prompt_id = system_prompt_id  # the log's version of the responder's system prompt
        self.memory = memory
        self.responder = responder
        self.redact = redact or (lambda text: text)
        self._seen = SeenMessages()  # Discord may deliver a message again after a resume
        self._writes = WriterResults()  # awaits the log's writer thread without stalling the loop
        self.command_data = CommandData(store, memory, self._writes, retention_days=retention_days)
        self._in_flight = InFlight()
        self._recall = Recall(store, memory, self.command_data)

    async def chat(self, incoming: Incoming, on_text: TextSink | None = None) -> Reply | Redelivery:
        """Answer with Claude (or the fallback), log the exchange durably, then remember it.

        `on_text` sees the reply's text as it streams in; the returned Reply is complete and already
        logged, so a front end shows the final text after the row is committed.
        A message already handled gives a `Redelivery`: send nothing.
        """
        if not self._seen.first_time(incoming.message_id):
            return Redelivery(incoming.message_id)
        with self._in_flight:
            return await self._chat(incoming, on_text)

    async def drain(self, within_s: float) -> None:
        """Wait for the exchanges under way, so shutdown logs them before closing the stores."""
        await self._in_flight.drain(within_s)

    async def _chat(self, incoming: Incoming, on_text: TextSink | None) -> Reply:
        screened, images = await images_for_claude(incoming.attachments)
        note = refusal_note([s for s in screened if s.refusal is not None])
        if not incoming.text.strip() and not images:
            return Reply(note.strip() or EMPTY_MESSAGE_HINT, model=None)
        content = user_content(incoming.text, images)
        if note and on_text is not None:
            on_text = _below(note, on_text)
        if self.command_data.is_opted_out(incoming.user_id):
            # Answered, but nothing of theirs is kept: no context, no log, no memory.
            reply = await self.responder.reply([{"role": "user", "content": content}], on_text)
            return replace(reply, text=note + reply.text)
        context = await self._recall.for_message(incoming)
        reply = await self.responder.reply([*context.messages, {"role": "user", "content": content}], on_text)
        reply = replace(reply, text=note + reply.text)
        stored = replace(incoming, text=self.redact(incoming.text))
        kept_reply = replace(reply, text=self.redact(reply.text))
        attachments = log_json(screened)
        request = self._request(reply, context, masked=stored.text != incoming.text)
        exchange = logged_exchange(stored, kept_reply, context, attachments, request)
        outcome = await self._writes.wait(self.store.submit(exchange))
        log.debug("exchange %s %s", incoming.message_id, outcome)
        self.store.blobs.keep(sent_files(screened))  # off the loop, never awaited: the answer waits for no file
        if reply.model != FALLBACK_MODEL:
            await self._remember(
                replace(stored, text=as_text(stored.text, attachments)), context.conversation_id, kept_reply.text
            )
        # Held only in memory (no disk took it) is not logged: the writer spools it when it can, and
        # names it in an ERROR line at stop if it never could.
        return replace(reply, logged=outcome != Outcome.HELD)

    def _request(self, reply: Reply, context: Recalled, *, masked: bool) -> RequestRecord:
        """What the log keeps of the request `reply` answered (its body: Responder.request)."""
        if not reply.sent:
            return RequestRecord(NOT_SENT)
        return RequestRecord(
            RECORDED,
            self.system_prompt_id,
            self.responder.model,
            self.responder.max_tokens,
            reply.message_id,
            reply.request_id,
            context.message_ids,
            masked,
        )

    async def _remember(self, incoming: Incoming, conversation_id: str, bot_text: str) -> None:
        try:
            await asyncio.to_thread(
                lambda: self.memory.remember(
                    incoming.channel_id,
                    incoming.user_id,
                    conversation_id,
                    incoming.text,
                    bot_text,
                    message_id=incoming.message_id,
                )
            )
        except sqlite3.Error as err:
            log.warning("could not save to memory (%s); the log has the exchange", err)

    async def record_reply(self, message_id: str, reply_message_id: str) -> None:
        """Remember which bot message answered, so ratings on it find the exchange."""
        try:
            await self._writes.wait(self.store.set_reply_id(message_id, reply_message_id))
        except sqlite3.Error as err:
            log.warning("could not record reply %s of %s: %s", reply_message_id, message_id, err)

    async def rate(self, reply_message_id: str, rater_id: str, value: int, *, removed: bool = False) -> None:
        """A 👍 (+1) or 👎 (-1) on a reply; the latest per rater counts, and taking it back removes it."""
        if self.command_data.is_opted_out(rater_id):
            return
        job = self.store.unrate if removed else self.store.rate
        try:
            await self._writes.wait(job(reply_message_id, rater_id, value))
        except sqlite3.Error as err:
            log.warning("rating of %s by %s not saved: %s", reply_message_id, rater_id, err)


def _below(note: str, on_text: TextSink) -> TextSink:
    """The refusal note shows above the answer as it streams."""
    return lambda text: on_text(note + text)


@asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[BotService]:
    """Open the log, the memory and the responder, and keep retention (swept once at start, then
    hourly, for every front end); on exit flush and close them all."""
    # With a replica, Litestream owns the checkpoints (bot/replica/litestream.py says why).
    migrate_and_price(settings.log_db, settings.model_prices)  # a bad price file stops here, nothing opened
    store = ConversationLog(
        settings.log_db, own_checkpoints=settings.replica is None, keep_attachments=settings.keep_attachments
    ).open()
    memory = Memory(
        settings.memory_db,
        turns=settings.memory_turns,
        max_turns=settings.memory_max_turns,
        ttl_minutes=settings.memory_ttl_minutes,
        retention_days=settings.retention_days,
        replicated=settings.replica is not None,
    )
    responder = Responder.from_settings(settings)
    # A rejected key is one ERROR line at start; beside the start-up, so an unreachable API never delays it.
    key_check = asyncio.create_task(responder.check_key())
    retention: asyncio.Task[None] | None = None
    try:
        memory.open()
        # Forgets made by another process while this one was down (docs/deploying.md, "Sharding").
        memory.drop_forgotten(store.privacy.forgets_since(memory.clock() - memory.keep_seconds))
        service = BotService(
            store,
            memory,
            responder,
            redact=redact if settings.redact else None,
            retention_days=settings.retention_days,
            system_prompt_id=await asyncio.wrap_future(store.system_prompt_id(settings.system_prompt)),
        )
        if settings.retention_days:
            await service.command_data.sweep_retention()  # before the first message is answered
            retention = asyncio.create_task(service.command_data.keep_retention())
        yield service
        await service.drain(settings.api_timeout + DRAIN_SLACK_S)  # no exchange waits on Claude longer
    finally:
        key_check.cancel()
        if retention is not None:
            retention.cancel()
        await responder.close()
        memory.close()
        store.close()
