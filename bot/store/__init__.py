"""The permanent conversation log, with no Discord or asyncio in it.

- migrations.py and triggers.py: the table, the migrations, and the summary triggers;
- schema.py: connecting, write transactions, WAL, and applying the migrations;
- writer.py and spool.py: the write path, from submit to group commit to the spool;
- reads.py and export_sql.py: the queries and the streamed exports;
- log.py: ConversationLog, the reads plus thin domain writes;
- awaiting.py: awaiting the writer's futures from asyncio.
"""

from bot.store.exchange import FALLBACK_MODEL, Exchange, utc_now_text
from bot.store.export_sql import Order, Selection
from bot.store.log import ConversationLog
from bot.store.migrations import ADDED_COLUMNS, TABLE, migrations
from bot.store.reads import HISTORY_LIMIT, Reads
from bot.store.schema import BUSY_TIMEOUT_S, StoreError, connect, enable_wal, migrate
from bot.store.spool import Backlog, Outcome, Spool
from bot.store.triggers import FACET_COLUMNS
from bot.store.writer import WAL_LIMIT_BYTES, Writer

__all__ = [
    "ADDED_COLUMNS",
    "BUSY_TIMEOUT_S",
    "FACET_COLUMNS",
    "FALLBACK_MODEL",
    "HISTORY_LIMIT",
    "TABLE",
    "WAL_LIMIT_BYTES",
    "Backlog",
    "ConversationLog",
    "Exchange",
    "Order",
    "Outcome",
    "Reads",
    "Selection",
    "Spool",
    "StoreError",
    "Writer",
    "connect",
    "enable_wal",
    "migrate",
    "migrations",
    "utc_now_text",
]
