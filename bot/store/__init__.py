"""The permanent conversation log, with no Discord or asyncio in it.

- migrations.py, summaries.py and triggers.py: the table, the migrations, and the summary tables;
- schema.py: connecting, write transactions, WAL, and applying the migrations;
- writer.py, write_queue.py, backlog.py and spool.py: the write path, from submit to group commit to the spool;
- reads.py and export_sql.py: the queries and the streamed exports;
- log.py: ConversationLog, the reads plus thin domain writes; deletes.py: forget, retention, the index clean-up;
- awaiting.py: awaiting the writer's futures from asyncio.

Exported here: only the names something outside the store uses; the rest is imported from its module.
"""

from bot.store.exchange import Exchange, utc_now_text
from bot.store.export_sql import Selection
from bot.store.log import ConversationLog
from bot.store.migrations import migrations
from bot.store.schema import StoreError, connect, migrate
from bot.store.spool import Outcome
from bot.store.triggers import FACET_COLUMNS
from bot.store.writer import WAL_LIMIT_BYTES

__all__ = [
    "FACET_COLUMNS",
    "WAL_LIMIT_BYTES",
    "ConversationLog",
    "Exchange",
    "Outcome",
    "Selection",
    "StoreError",
    "connect",
    "migrate",
    "migrations",
    "utc_now_text",
]
