"""Optional redaction (BOT_REDACT): mask e-mail addresses, phone numbers and secrets before storing."""

from __future__ import annotations

import re

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
SECRET = re.compile(
    r"\b(?:"
    r"sk-(?:ant-)?[A-Za-z0-9_-]{16,}"  # Anthropic and OpenAI keys
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"  # JSON Web Tokens
    r"|[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,}"  # Discord bot tokens
    r")"
)
# A phone number: an optional +country code, then groups split by spaces, dots, dashes or
# parentheses. Dates (2026-11-24) and long ids are not phones; the digit count is checked too.
PHONE = re.compile(
    r"(?<![\w+/.-])(?!\d{4}-\d\d-\d\d\b)"
    r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,5}){1,4}"
    r"(?![\w/-])"
    r"|(?<![\w+])\+\d{8,15}\b"
)


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return "[phone]" if 7 <= digits <= 15 else match.group()


def redact(text: str) -> str:
    """The text with secrets, e-mail addresses and phone numbers replaced by placeholders."""
    text = SECRET.sub("[secret]", text)
    text = EMAIL.sub("[email]", text)
    return PHONE.sub(_phone, text)
