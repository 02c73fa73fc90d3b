"""A Discord bot that answers with Claude and logs every exchange to SQLite."""
