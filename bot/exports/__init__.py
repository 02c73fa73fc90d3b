"""Export files and fine-tuning formats, built from the store's rows. Imports only bot.store."""
