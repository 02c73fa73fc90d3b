"""Readable messages and replies for the sample log: short templates filled from small lists, so the
transcripts, searches and exports of `python -m bot demo` read like a community's chat."""

from __future__ import annotations

import random

# fmt: off
THINGS = [
    "python script", "discord bot", "sqlite database", "pizza dough", "sourdough starter", "bike tyre",
    "study plan", "birthday party", "board game night", "playlist", "cover letter", "garden bed", "team retro",
    "penguin drawing", "travel budget", "coffee grinder", "home server", "minecraft world", "chess opening",
]
SUBJECTS = [
    "penguins", "black holes", "the french revolution", "sourdough", "rust lifetimes", "tides", "jazz chords",
    "photosynthesis", "the roman empire", "git rebase", "volcanoes", "compound interest", "haiku", "octopuses",
    "sqlite indexes", "the moon landing", "bread baking", "spanish verbs", "async python", "cloud formation",
]
LANGUAGES = ["french", "spanish", "german", "japanese", "italian", "portuguese"]
PHRASES = ["good morning", "thank you", "see you tomorrow", "where is the station", "I love this song"]
QUESTIONS = [
    "How do I fix my {thing}? It keeps breaking.",
    "Can you explain {subject} like I'm five?",
    "What's a good way to get started with {subject}?",
    "Any tips for my {thing}?",
    "Write a short poem about {subject}.",
    "How do you say '{phrase}' in {language}?",
    "Is it worth learning {subject} this year?",
    "Give me three ideas for a {thing}.",
    "Why does everyone talk about {subject}?",
    "Quick question: what's the difference between {subject} and {other}?",
    "Can you check my plan for a {thing}? I have a weekend.",
    "Tell me a fun fact about {subject}.",
]
OPENINGS = [
    "Good question!", "Sure, happy to help.", "Here's a short answer.", "Let's break it down.",
    "Great idea.", "Of course.",
]
BODIES = [
    "The key thing about {subject} is to start small and build up one step at a time.",
    "Most problems with a {thing} come from skipping the basics, so check those first.",
    "A simple way to picture {subject} is as a story with a beginning, a middle and an end.",
    "People usually get stuck at the same point, and it helps to write down what you tried.",
    "If you only remember one thing: practise a little every day rather than a lot once a week.",
    "Compared with {other}, it is simpler than it looks, though the details take time.",
    "For a {thing}, a checklist of five items beats a perfect plan you never finish.",
]
CLOSINGS = [
    "Want me to go into more detail?", "Let me know how it goes!", "Hope that helps.",
    "Happy to look at the next step with you.", "",
]
# fmt: on


def exchange(rng: random.Random, sentences: int) -> tuple[str, str]:
    """A question and an answer of `sentences` sentences about the same things."""
    subject, other = rng.sample(SUBJECTS, 2)
    fills = {"thing": rng.choice(THINGS), "subject": subject, "other": other}
    asked = rng.choice(QUESTIONS).format(
        **fills, phrase=rng.choice(PHRASES), language=rng.choice(LANGUAGES).capitalize()
    )
    body = " ".join(text.format(**fills) for text in rng.sample(BODIES, sentences))
    return asked, " ".join(part for part in (rng.choice(OPENINGS), body, rng.choice(CLOSINGS)) if part)
