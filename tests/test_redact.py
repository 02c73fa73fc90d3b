"""Redaction patterns on realistic text: what is masked, and what must stay."""

from __future__ import annotations

import pytest

from bot.core.redact import redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at jane.doe+bots@example.co.uk or JOHN@corp.io!", "mail me at [email] or [email]!"),
        ("call +1 (555) 123-4567 or 020 7946 0958", "call [phone] or [phone]"),
        ("text +447911123456 or 555.123.4567", "text [phone] or [phone]"),
        ("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx", "key [secret]"),
        ("github ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github [secret]"),
        (
            "bot token MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123 leaked",
            "bot token [secret] leaked",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [secret]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36P", "jwt [secret]"),
    ],
)
def test_masks_personal_data_and_secrets(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "on 2026-11-24 at 12:30:00",
        "ticket 4521, version 3.11.7, port 8080",
        "ping <@123456789012345678> in <#987654321098765432>",
        "10 000 users, score 12 34, room 12-34, 1+1 = 2, price 1,299.99",
        "an @mention and user@localhost",
    ],
)
def test_leaves_ordinary_text_alone(text):
    assert redact(text) == text
