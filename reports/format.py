"""Vietnamese number and date spellings for the report (pure functions, no locale lookup).

Integers take '.' between thousands (20742 → "20.742"), rates a decimal comma (0.982 → "98,2%"),
a missing rate (nothing resolved) is the en dash "–", dates are dd/mm/yyyy. Percentages round half
up on the decimal the float prints as (0.9825 → "98,3%", as a person rounding the printed figure
would), not on its binary value (0.9825 is stored as 0.98249999…).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

MISSING = "–"  # en dash: no figure (a rate over zero dossiers)


def _check(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")


def _group(digits: str) -> str:
    """'20742' → '20.742' (digits only, no sign)."""
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return ".".join(parts)


def format_int(value: int) -> str:
    """A count of dossiers: 20742 → "20.742", 0 → "0". Negative counts are a bug upstream: ValueError."""
    _check(value, "a count")
    if not isinstance(value, int):
        raise TypeError(f"a count must be an int, not {value!r}")
    return _group(str(value))


def format_percent(rate: float | None, digits: int = 1) -> str:
    """A rate in [0, 1] as a percentage with a decimal comma: 0.982 → "98,2%", 1.0 → "100,0%",
    0.9966 with digits=2 → "99,66%", digits=0 → "98%"; None (no dossier to rate) → "–"."""
    if rate is None:
        return MISSING
    _check(rate, "a rate")
    return _decimal_text(rate, digits, scale=100) + "%"


def _decimal_text(value: float, digits: int, scale: int = 1) -> str:
    """value × scale rounded half up to ``digits`` decimals, '.' between thousands, a decimal comma."""
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative int, got {digits!r}")
    # repr: the shortest decimal that reads back as the float; + 0.0 turns -0.0 into 0.0
    scaled = (Decimal(repr(float(value) + 0.0)) * scale).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{scaled:f}".partition(".")
    text = _group(whole)
    return f"{text},{fraction}" if digits else text


def format_decimal(value: float | None, digits: int = 2) -> str:
    """A non-negative number with a decimal comma: points 17.5 → "17,50", 1234.5 → "1.234,50"; None → "–".
    Rounded half up on the printed decimal, as format_percent."""
    if value is None:
        return MISSING
    _check(value, "a number")
    return _decimal_text(value, digits)


def format_date(day: date) -> str:
    """15/12/2021 (a datetime gives its own date)."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def format_datetime(moment: datetime) -> str:
    """15/12/2021 08:05, in the datetime's own zone (the caller passes local time)."""
    return f"{format_date(moment)} {moment.hour:02d}:{moment.minute:02d}"


# The reports quote rates to two decimals (99,66%; 95,32%): the report's tables do too.
REPORT_RATE_DIGITS = 2


def format_rate(rate: float | None) -> str:
    """A rate as the report's tables show it: two decimals, 98,18%; None (nothing to divide) → "–"."""
    return format_percent(rate, digits=REPORT_RATE_DIGITS)


def format_figure(value: float | None) -> str:
    """A numerator or denominator: a whole number as a count (20266.0 → "20.266"), else two decimals
    (a supplied time total, or 3.3's online count times 1.4's share: 1234.5 → "1.234,50"); None → "–"."""
    if value is None:
        return MISSING
    _check(value, "a figure")
    return format_int(int(value)) if float(value).is_integer() else format_decimal(value)
