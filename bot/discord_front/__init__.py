"""The Discord front end: the Bot, its cogs and views. Thin: the work is in bot.core."""
