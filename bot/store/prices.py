"""Model prices from a CSV file (BOT_MODEL_PRICES), added to the log's model_prices table.

The file has the header `model,effective_from,input_per_mtok,output_per_mtok`, optionally followed by
`,cache_write_per_mtok,cache_read_per_mtok` (the prompt cache's prices; without them a price's cache write
is 1.25x and its read 0.1x its input price, Anthropic's multipliers); a date is `YYYY-MM-DD`
and the price takes effect at 00:00 UTC that day. A row for an existing (model, date) replaces it,
so the file can correct a default; earlier dated rows keep pricing the days before a change.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import astuple, dataclass
from datetime import date
from pathlib import Path

from bot.store.schema import StoreError, connect, migrate, write_transaction
from bot.store.usage import CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIER, PRICE_DIGITS

HEADER = ["model", "effective_from", "input_per_mtok", "output_per_mtok"]
CACHE_HEADER = [*HEADER, "cache_write_per_mtok", "cache_read_per_mtok"]
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class PriceFileError(StoreError):
    """The price file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Price:
    model: str
    effective_from: str
    input_per_mtok: float
    output_per_mtok: float
    cache_write_per_mtok: float
    cache_read_per_mtok: float


def read_prices(path: Path) -> list[Price]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as err:
        raise PriceFileError(f"cannot read the price file {path} (BOT_MODEL_PRICES): {err.strerror}") from None
    header = [cell.strip() for cell in rows[0]] if rows else []
    if header not in (HEADER, CACHE_HEADER):
        raise PriceFileError(f"{path}: the first line must be {','.join(HEADER)} or {','.join(CACHE_HEADER)}")
    return [_price(path, number, row, header) for number, row in enumerate(rows[1:], start=2) if any(row)]


def _price(path: Path, number: int, row: list[str], header: list[str]) -> Price:
    """One line of the file as a Price; anything else is one line naming the file, the line and the value."""
    where = f"{path} line {number}"
    if len(row) != len(header):
        raise PriceFileError(
            f"{where}: expected {len(header)} values ({','.join(header)}), got {len(row)}: {','.join(row)!r}"
        )
    model, day, *prices = (cell.strip() for cell in row)
    if not model:
        raise PriceFileError(f"{where}: model is empty")
    usd = [_usd(where, column, text) for column, text in zip(header[2:], prices, strict=True)]
    if len(usd) == len(HEADER) - 2:  # no cache prices given: Anthropic's multiples of the input price
        usd += [round(usd[0] * multiple, PRICE_DIGITS) for multiple in (CACHE_WRITE_MULTIPLIER, CACHE_READ_MULTIPLIER)]
    return Price(model, _day(where, day), *usd)


def _day(where: str, text: str) -> str:
    """A YYYY-MM-DD date (fromisoformat alone would also take 20260305 or 2026-W10-1)."""
    if DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
            return text
        except ValueError:  # 2026-02-30
            pass
    raise PriceFileError(f"{where}: effective_from {text!r} is not a YYYY-MM-DD date")


def _usd(where: str, column: str, text: str) -> float:
    """A finite price >= 0: float() also takes nan and inf, which the table's CHECKs refuse."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise PriceFileError(f"{where}: {column} {text!r} is not a price in USD per million tokens (a number >= 0)")
    return value


def apply_prices(log_path: Path, prices: list[Price]) -> None:
    """Insert or replace each price in the log's model_prices table."""
    db = connect(log_path)
    try:
        with write_transaction(db):
            db.conn.executemany(
                f"insert or replace into model_prices ({', '.join(CACHE_HEADER)}) values (?, ?, ?, ?, ?, ?)",
                [astuple(price) for price in prices],
            )
    finally:
        db.close()


def migrate_and_price(log_path: Path, price_file: Path | None) -> None:
    """Bring the log up to date, then add the configured prices (if any) to it."""
    migrate(log_path)
    if price_file is not None:
        apply_prices(log_path, read_prices(price_file))
