"""Quantities of a scenario file and how totals are split into exact integers (no I/O).

An integer is an exact count; a number with a decimal point (``0.98``) or a percent string
(``"98.2%"``) is a share of the quantity's base. :func:`apportion` splits a total by weights with the
largest remainder; :func:`split_matrix` splits a table so that its rows and columns still add up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator

from producers.scenario_errors import ScenarioError


@dataclass(frozen=True)
class Quantity:
    """An exact ``count`` or a ``share`` (Fraction in [0, 1]) of some base."""

    count: int | None = None
    share: Fraction | None = None

    def of(self, base: int, key: str, base_name: str) -> int:
        if self.count is not None:
            if self.count > base:
                raise ScenarioError(key, f"{self.count} exceeds {base_name} ({base})")
            return self.count
        assert self.share is not None
        return _round_half_up(self.share * base)

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{float(self.share) * 100:g}%"  # type: ignore[arg-type]  # share is set when count is not


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def parse_quantity(v: Any) -> Quantity:
    if isinstance(v, Quantity):
        return v
    if isinstance(v, bool):
        raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {v!r}")
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"a count cannot be negative ({v})")
        return Quantity(count=v)
    if isinstance(v, float):
        share = Fraction(repr(v))
        if not 0 <= share <= 1:
            raise ValueError(f"a share must be between 0 and 1 (got {v}); write an integer for a count")
        return Quantity(share=share)
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", v)
        if not m:
            raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {v!r}")
        share = Fraction(m.group(1)) / 100
        if share > 1:
            raise ValueError(f"a share cannot exceed 100% (got {v})")
        return Quantity(share=share)
    raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {type(v).__name__}")


Q = Annotated[Quantity, BeforeValidator(parse_quantity)]


def apportion(total: int, weights: Sequence[Fraction | int | float], caps: list[int] | None = None) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder).

    Each part is within 1 of its exact quota; ties go to the earlier entry, so the
    result is deterministic.  With ``caps`` no part exceeds its cap (requires
    ``sum(caps) >= total``).
    """
    n = len(weights)
    if total == 0 or n == 0:
        return [0] * n
    ws = [Fraction(w) if not isinstance(w, Fraction) else w for w in weights]
    if caps is not None and sum(caps) < total:
        raise ValueError(f"cannot place {total} into capacities {caps}")
    wsum = sum(ws)
    if wsum <= 0:
        if caps is None:
            raise ValueError("all weights are zero")
        ws, wsum = [Fraction(c) for c in caps], Fraction(sum(caps))
    quotas = [total * w / wsum for w in ws]
    parts = [int(q.__floor__()) for q in quotas]
    if caps is not None:
        parts = [min(p, c) for p, c in zip(parts, caps, strict=False)]
    left = total - sum(parts)
    order = sorted(range(n), key=lambda i: (-(quotas[i] - int(quotas[i].__floor__())), i))
    while left > 0:
        moved = False
        for i in order:
            if left == 0:
                break
            if caps is None or parts[i] < caps[i]:
                parts[i] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError("apportionment failed")  # pragma: no cover - guarded by the caps check
    return parts


def split_matrix(row_totals: list[int], col_totals: list[int]) -> list[list[int]]:
    """Integer matrix with the given row and column sums, each row mixed like the columns.

    Rows are filled in order, each in proportion to what is left of every column, so
    the last row takes the exact remainder (sum(rows) must equal sum(cols)).
    """
    if sum(row_totals) != sum(col_totals):
        raise ValueError(f"row totals {sum(row_totals)} != column totals {sum(col_totals)}")
    left = list(col_totals)
    out = []
    for r in row_totals:
        part = apportion(r, [Fraction(x) for x in left], caps=left) if r else [0] * len(left)
        out.append(part)
        left = [a - b for a, b in zip(left, part, strict=False)]
    return out
