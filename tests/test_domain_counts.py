"""streams/domain/counts.py: sparse counts, merging, and rates derived from summed counts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.measurements import COUNT_FIELDS, RATE_DEFINITIONS, RATE_FIELDS
from streams.domain.counts import FIELD_INDEX, N_FIELDS, Counts, rates, ratio


# Roll-ups happen in Flux (dashboards.queries) and in the worker through Counts.add; these
# test-side helpers state the arithmetic the contract promises, built on those primitives.
def get_field(c: Counts, name: str) -> int:
    return c.get(FIELD_INDEX[name], 0)


def merge(parts) -> Counts:
    total = Counts()
    for p in parts:
        total.add(p)
    return total


def on_time_rate(early: int, on_time: int, resolved: int) -> float | None:
    return rates({"resolved_early": early, "resolved_on_time": on_time, "resolved": resolved}).get("on_time_rate")


def rollup(unit_counts):
    total = merge(unit_counts)
    return total, rates(total)


F = FIELD_INDEX

# sparse partial counts as the aggregator produces them: field index -> non-zero int (deltas may be negative)
partials = st.dictionaries(st.integers(0, N_FIELDS - 1), st.integers(-50, 50).filter(bool), max_size=8)


def dense(parts) -> list[int]:
    """Brute-force field-by-field sum."""
    out = [0] * N_FIELDS
    for p in parts:
        for k, v in p.items():
            out[k] += v
    return out


# -- the field index ------------------------------------------------------------------------------
def test_field_index_covers_every_count_field_once():
    assert N_FIELDS == len(COUNT_FIELDS) == len(set(COUNT_FIELDS))
    assert sorted(F.values()) == list(range(N_FIELDS))
    assert all(COUNT_FIELDS[i] == name for name, i in F.items())


def test_rate_definitions_only_name_count_fields():
    for rate, (nums, den) in RATE_DEFINITIONS.items():
        assert den in F, rate
        assert nums and all(n in F for n in nums), rate
        assert den not in nums, rate
    assert tuple(RATE_DEFINITIONS) == RATE_FIELDS
    assert not set(RATE_FIELDS) & set(COUNT_FIELDS)


# -- Counts -------------------------------------------------------------------------------------
def test_of_drops_zeros_and_reads_back_by_name():
    c = Counts.of(received=3, resolved=0, resolved_late=2)
    assert c == {F["received"]: 3, F["resolved_late"]: 2}
    assert get_field(c, "received") == 3
    assert get_field(c, "resolved") == 0
    assert get_field(c, "documents_issued") == 0
    assert not Counts.of(received=0)
    assert c


def test_of_rejects_unknown_field():
    with pytest.raises(KeyError):
        Counts.of(recieved=1)


def test_add_cancelling_drops_the_key_so_equal_totals_compare_equal():
    c = Counts.of(received=2, resolved=1)
    c.add(Counts.of(received=2), sign=-1)
    assert c == Counts.of(resolved=1)
    assert F["received"] not in c
    c.add({F["resolved"]: 1}, -1)
    assert c == {} and not c


def test_bump_drops_zero_and_handles_new_keys():
    c = Counts()
    c.bump(F["supplements"], 2)
    c.bump(F["supplements"], -2)
    assert c == {}
    c.bump(F["transfers"], -1)  # transient negatives are legal mid-update
    assert c == {F["transfers"]: -1}


def test_add_returns_self_for_chaining():
    c = Counts()
    assert c.add(Counts.of(received=1)) is c


def test_as_fields_lists_every_field_with_zeros():
    c = Counts.of(received=5, apologies=1)
    f = c.as_fields()
    assert list(f) == list(COUNT_FIELDS)
    assert f["received"] == 5 and f["apologies"] == 1
    assert sum(f.values()) == 6
    assert all(isinstance(v, int) for v in f.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(partials, max_size=12), st.randoms(use_true_random=False))
def test_merge_is_order_and_grouping_independent(parts, rnd):
    expected = dense(parts)
    total = merge(parts)
    # no stored zeros, and equal to the brute-force dense sum
    assert all(v != 0 for v in total.values())
    assert [total.get(i, 0) for i in range(N_FIELDS)] == expected
    # any permutation
    shuffled = list(parts)
    rnd.shuffle(shuffled)
    assert merge(shuffled) == total
    # any grouping: split into random chunks, merge each, then merge the chunk totals
    cuts = sorted(rnd.sample(range(len(parts) + 1), k=min(3, len(parts) + 1)))
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    assert merge(merge(c) for c in chunks) == total
    # adding then subtracting everything gives back the empty vector
    assert merge(parts).add(merge(parts), -1) == {}


@settings(max_examples=100, deadline=None)
@given(partials, partials)
def test_add_then_subtract_is_identity(a, b):
    c = Counts(a)
    c.add(b).add(b, sign=-1)
    assert c == {k: v for k, v in a.items() if v}


def test_merge_of_nothing_is_empty():
    assert merge([]) == {} and isinstance(merge([]), Counts)


# -- ratio / rates -------------------------------------------------------------------------------
def test_ratio_cases():
    assert ratio(0, 0) is None
    assert ratio(0, 4) == 0.0
    assert ratio(3, 4) == 0.75
    assert ratio(4, 4) == 1.0


@pytest.mark.parametrize("num,den", [(5, 4), (1, 0), (-1, 3), (1, -1), (-2, -1)])
def test_ratio_rejects_impossible_counts(num, den):
    with pytest.raises(ValueError):
        ratio(num, den)


def test_rates_only_when_denominator_positive():
    # only dossier receipts: online share is defined, nothing else is
    r = rates(Counts.of(received=4, received_online=3))
    assert r == {"online_share": 0.75}
    assert rates(Counts()) == {}
    # a zero numerator with a positive denominator is a defined 0.0, not missing
    r = rates(Counts.of(resolved=2, resolved_late=2))
    assert r["on_time_rate"] == 0.0 and r["digitised_share"] == 0.0
    assert r["apology_coverage"] == 0.0
    assert "online_payment_share" not in r and "online_share" not in r


def test_rates_accepts_named_counts_too():
    named = {"resolved": 8, "resolved_early": 2, "resolved_on_time": 4, "resolved_late": 2, "late_with_apology": 1}
    by_name = rates(named)
    by_index = rates(Counts.of(**named))
    assert by_name == by_index
    assert by_name["on_time_rate"] == 6 / 8
    assert by_name["apology_coverage"] == 1 / 2


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(COUNT_FIELDS), st.integers(0, 1000), max_size=len(COUNT_FIELDS)))
def test_rates_match_the_definitions(named):
    """Every rate whose denominator is positive and numerator fits is present and exact; others absent."""

    def get(n):
        return named.get(n, 0)

    consistent = all(sum(get(n) for n in nums) <= get(den) for nums, den in RATE_DEFINITIONS.values())
    if not consistent:
        with pytest.raises(ValueError):
            rates(named)
        return
    r = rates(named)
    for rate, (nums, den) in RATE_DEFINITIONS.items():
        if get(den) > 0:
            assert r[rate] == sum(get(n) for n in nums) / get(den)
            assert 0.0 <= r[rate] <= 1.0
        else:
            assert rate not in r


def test_numerator_above_denominator_raises_in_rates():
    with pytest.raises(ValueError, match="exceeds"):
        rates(Counts.of(resolved=1, resolved_early=1, resolved_on_time=1))
    with pytest.raises(ValueError):
        rates({"documents_issued": 1, "documents_signed": 2})


def test_on_time_rate_is_over_resolved_mytho_2022():
    """DOMAIN.md: Mỹ Tho 2022 — 20,255 on time or early; 99.66% is over resolved (~20,324), not received."""
    r = on_time_rate(early=0, on_time=20_255, resolved=20_324)
    assert round(r * 100, 2) == 99.66
    assert round(20_255 / 20_742 * 100, 2) == 97.65  # the wrong denominator would give this
    assert on_time_rate(3, 4, 7) == 1.0
    assert on_time_rate(0, 0, 0) is None
    with pytest.raises(ValueError):
        on_time_rate(3, 3, 5)


# -- roll-ups ------------------------------------------------------------------------------------
def test_province_rate_is_ratio_of_sums_not_mean_of_unit_rates():
    ward_a = Counts.of(resolved=10, resolved_on_time=10, received=10)  # 100 %
    ward_b = Counts.of(resolved=90, resolved_early=20, resolved_on_time=25, resolved_late=45, received=100)  # 50 %
    total, r = rollup([ward_a, ward_b])
    assert get_field(total, "resolved") == 100
    assert get_field(total, "resolved_early") + get_field(total, "resolved_on_time") == 55
    assert r["on_time_rate"] == 55 / 100
    mean_of_rates = (rates(ward_a)["on_time_rate"] + rates(ward_b)["on_time_rate"]) / 2
    assert mean_of_rates == 0.75
    assert r["on_time_rate"] != mean_of_rates


def test_rollup_omits_rates_no_unit_defines_and_keeps_inputs_intact():
    a = Counts.of(documents_issued=4, documents_signed=1)
    b = Counts.of(documents_issued=0, received=2)
    before = (dict(a), dict(b))
    _total, r = rollup([a, b])
    assert (dict(a), dict(b)) == before
    assert r == {"signature_adoption": 0.25, "online_share": 0.0}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(0, 200)), min_size=1, max_size=8))
def test_rollup_on_time_rate_equals_pooled_fraction(units):
    parts = [
        Counts.of(resolved=e + o + late, resolved_early=e, resolved_on_time=o, resolved_late=late)
        for e, o, late in units
    ]
    random.Random(len(units)).shuffle(parts)
    _total, r = rollup(parts)
    resolved = sum(e + o + late for e, o, late in units)
    if resolved == 0:
        assert "on_time_rate" not in r
    else:
        assert r["on_time_rate"] == sum(e + o for e, o, _ in units) / resolved
