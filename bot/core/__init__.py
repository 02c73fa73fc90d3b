"""The service with no Discord: chat, memory, records, Claude. Imports bot.store, bot.exports, bot.config."""
