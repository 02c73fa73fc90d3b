"""`python -m bot demo`: a sample log of made-up conversations, so the web, the canned queries, the
dashboard and the commands can be tried without a Discord server (sample.py makes the rows, build.py
writes them, words.py and text.py give their words)."""
