"""Settings: the only reader of the environment. Imports nothing else of bot/."""
