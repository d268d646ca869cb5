"""Counts and the rates derived from them (no I/O).

A :class:`Counts` is a sparse vector over :data:`common.measurements.COUNT_FIELDS`.
Rates are always computed from summed counts: a province's on-time rate is
``sum(early + on_time) / sum(resolved)`` over its units, never a mean of unit rates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from common.measurements import COUNT_FIELDS, RATE_DEFINITIONS

FIELD_INDEX: dict[str, int] = {name: i for i, name in enumerate(COUNT_FIELDS)}
N_FIELDS = len(COUNT_FIELDS)


class Counts(dict[int, int]):
    """Sparse ``{field_index: count}``; missing fields are zero."""

    __slots__ = ()

    @classmethod
    def of(cls, **named: int) -> Counts:
        c = cls()
        for name, v in named.items():
            if v:
                c[FIELD_INDEX[name]] = v
        return c

    def add(self, other: Mapping[int, int], sign: int = 1) -> Counts:
        """In-place ``self += sign * other``; zeros are dropped so equal totals compare equal."""
        for k, v in other.items():
            nv = self.get(k, 0) + sign * v
            if nv:
                self[k] = nv
            else:
                self.pop(k, None)
        return self

    def bump(self, index: int, delta: int) -> None:
        nv = self.get(index, 0) + delta
        if nv:
            self[index] = nv
        else:
            self.pop(index, None)

    def as_fields(self) -> dict[str, int]:
        """All count fields by name (zeros included), for writing beside the rates."""
        return {name: self.get(i, 0) for i, name in enumerate(COUNT_FIELDS)}


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    if denominator < 0 or numerator < 0:
        raise ValueError(f"counts cannot be negative: {numerator}/{denominator}")
    if numerator > denominator:
        raise ValueError(f"numerator {numerator} exceeds denominator {denominator}")
    return None if denominator == 0 else numerator / denominator


# RATE_DEFINITIONS by field index, for the per-row hot path
_RATES_BY_INDEX = tuple(
    (rate, tuple(FIELD_INDEX[n] for n in nums), FIELD_INDEX[den]) for rate, (nums, den) in RATE_DEFINITIONS.items()
)


def rates(counts: Mapping[int, int] | Mapping[str, int]) -> dict[str, float]:
    """Every rate of RATE_DEFINITIONS that is defined for these counts (denominator > 0)."""
    out: dict[str, float] = {}
    if counts and isinstance(next(iter(counts)), str):
        named: Mapping[str, int] = counts  # type: ignore[assignment]  # keys are field names: checked just above
        for rate, (num_names, den_name) in RATE_DEFINITIONS.items():
            r = ratio(sum(named.get(n, 0) for n in num_names), named.get(den_name, 0))
            if r is not None:
                out[rate] = r
        return out
    get: Callable[[int, int], int] = counts.get  # type: ignore[assignment]  # keys are field indices here
    for rate, nums, den in _RATES_BY_INDEX:
        d = get(den, 0)
        if d:
            n = 0
            for i in nums:
                n += get(i, 0)
            out[rate] = ratio(n, d)  # type: ignore[assignment]  # d > 0: a float, never None
    return out
