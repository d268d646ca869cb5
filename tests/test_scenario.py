"""Scenario files: parsing, errors that name the YAML key, exact plans, group splits."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.apportion import Quantity, apportion, split_matrix
from producers.apportion import parse_quantity as _parse_quantity
from producers.scenario import ScenarioError, load_scenario, parse_scenario
from producers.simulator import Simulation

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "producers" / "scenarios"


def base(**unit_over) -> dict:
    unit = {
        "province_code": "82",
        "ward_code": "28261",
        "dossiers": {
            "received": 100,
            "resolved": 90,
            "on_time": 85,
            "procedures": [{"code": "1.001193", "field": "Hộ tịch", "days": 2}],
        },
    }
    unit.update(unit_over)
    return {"name": "t", "seed": 1, "period": {"start": "2022-01-01", "end": "2022-03-31"}, "units": [unit]}


def err(data, tmp_path=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data, source=(tmp_path / "s.yaml") if tmp_path else None)
    return e.value


# --- quantities and apportionment ---------------------------------------------------------
def test_quantity_forms():
    assert _parse_quantity(12) == Quantity(count=12)
    assert _parse_quantity(0.25) == Quantity(share=Fraction(1, 4))
    assert _parse_quantity("99.66%") == Quantity(share=Fraction(9966, 10000))
    assert _parse_quantity(1.0).of(7, "k", "b") == 7
    assert _parse_quantity("50%").of(3, "k", "b") == 2  # 1.5 rounds half up
    assert _parse_quantity(0.07).of(100, "k", "b") == 7  # exact decimal, no float noise


@pytest.mark.parametrize(
    "bad, msg",
    [(True, "count"), (-1, "negative"), (1.5, "between 0 and 1"), ("abc", "share"), ("120%", "100%"), ([1], "count")],
)
def test_quantity_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        _parse_quantity(bad)


def test_count_larger_than_base_names_key():
    with pytest.raises(ScenarioError, match=r"units\[0\]\.x: 5 exceeds received \(4\)"):
        Quantity(count=5).of(4, "units[0].x", "received")


def test_apportion_examples():
    assert apportion(4121, [Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)]) == [2061, 1236, 824]
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(0, [1, 2]) == [0, 0]
    assert apportion(5, [1, 1], caps=[1, 10]) == [1, 4]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(0, 1000), min_size=1, max_size=8).filter(lambda w: sum(w) > 0))
def test_apportion_is_exact_and_nearest(total, weights):
    parts = apportion(total, weights)
    assert sum(parts) == total
    for p, w in zip(parts, weights, strict=True):
        quota = Fraction(total * w, sum(weights))
        assert abs(p - quota) < 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=6), st.lists(st.integers(0, 500), min_size=1, max_size=5))
def test_split_matrix_keeps_row_and_column_sums(rows, cols):
    total = sum(rows)
    # scale cols to the same total
    cols = [total] + [0] * (len(cols) - 1) if sum(cols) == 0 else apportion(total, cols)
    m = split_matrix(rows, cols)
    assert [sum(r) for r in m] == rows
    assert [sum(c) for c in zip(*m, strict=True)] == cols
    assert all(x >= 0 for r in m for x in r)


# --- errors name the YAML key --------------------------------------------------------------
def test_unknown_key_is_named():
    d = base()
    d["units"][0]["dossiers"]["resolvd"] = 3
    e = err(d)
    assert e.key == "units[0].dossiers.resolvd" and "unknown key" in str(e)


def test_missing_key_is_named():
    d = base()
    del d["units"][0]["dossiers"]["resolved"]
    assert err(d).key == "units[0].dossiers.resolved"


def test_missing_top_level_key():
    d = base()
    del d["seed"]
    assert err(d).key == "seed"


def test_on_time_more_than_resolved():
    d = base()
    d["units"][0]["dossiers"]["on_time"] = 95
    e = err(d)
    assert e.key == "units[0].dossiers.on_time" and "exceeds resolved (90)" in str(e)


def test_late_must_match():
    d = base()
    d["units"][0]["dossiers"]["late"] = 4
    e = err(d)
    assert e.key == "units[0].dossiers.late" and "resolved - on_time = 5" in str(e)


def test_closed_more_than_received():
    d = base()
    d["units"][0]["dossiers"].update(withdrawn=8, refused=5)
    assert err(d).key == "units[0].dossiers.resolved"


def test_channel_counts_must_add_up():
    d = base()
    d["units"][0]["dossiers"]["channels"] = {"online_full": 30, "in_person": 60}
    e = err(d)
    assert e.key == "units[0].dossiers.channels" and "received is 100" in str(e)


def test_unknown_channel():
    d = base()
    d["units"][0]["dossiers"]["channels"] = {"fax": 1.0}
    assert err(d).key.startswith("units[0].dossiers.channels")


def test_bad_share_string():
    d = base()
    d["units"][0]["dossiers"]["early"] = "lots"
    e = err(d)
    assert e.key == "units[0].dossiers.early" and "share" in str(e)


def test_procedure_days_must_be_positive():
    d = base()
    d["units"][0]["dossiers"]["procedures"][0]["days"] = 0
    assert err(d).key == "units[0].dossiers.procedures[0].days"


def test_unknown_ward():
    e = err(base(ward_code="99999"))
    assert e.key == "units[0].ward_code" and "not an official ward code" in str(e)


def test_ward_in_wrong_province():
    e = err(base(province_code="86"))
    assert e.key == "units[0].ward_code" and "belongs to province 82" in str(e)


def test_unregistered_district(tmp_path):
    d = base()
    del d["units"][0]["ward_code"]
    d["units"][0]["district_code"] = "999"
    e = err(d, tmp_path)
    assert e.key == "units[0].district_code" and "extra_units" in str(e) and "s.yaml" in str(e)


def test_registered_district_in_other_province(tmp_path):
    (tmp_path / "u.yaml").write_text(
        yaml.safe_dump({"units": [{"code": "998", "level": "district", "name": "X", "province_code": "86"}]})
    )
    d = base()
    d["extra_units"] = ["u.yaml"]
    d["units"][0].pop("ward_code")
    d["units"][0]["district_code"] = "998"
    e = err(d, tmp_path)
    assert e.key == "units[0].district_code" and "province 86" in str(e)


def test_missing_extra_units_file(tmp_path):
    d = base()
    d["extra_units"] = "nope.yaml"
    e = err(d, tmp_path)
    assert e.key == "extra_units[0]" and "not found" in str(e)


def test_unit_needs_a_code():
    d = base()
    del d["units"][0]["ward_code"]
    assert err(d).key == "units[0].ward_code"


def test_duplicate_unit():
    d = base()
    d["units"].append(copy.deepcopy(d["units"][0]))
    e = err(d)
    assert e.key == "units[1]" and "already defined at units[0]" in str(e)


def test_period_order_and_timezone():
    d = base()
    d["period"]["end"] = "2021-01-01"
    assert err(d).key == "period.end"
    d = base()
    d["period"]["timezone"] = "Europe/Paris"
    e = err(d)
    assert e.key == "period.timezone" and "UTC+07:00" in str(e)


def test_group_with_ward_code_and_wards():
    d = base(wards={"28249": 1})
    assert err(d).key == "units[0].ward_code"


def test_group_ward_in_wrong_province():
    d = base(wards={"29590": 1})
    d["units"][0].pop("ward_code")
    e = err(d)
    assert e.key == "units[0].wards.29590"


def test_meeting_endpoint_codes_checked():
    d = base(meetings={"count": 2, "endpoints": ["ok", "not ok"]})
    assert err(d).key == "units[0].meetings.endpoints"


def test_documents_secret_plus_signed():
    d = base(documents={"issued": 10, "signed": 8, "secret": 3})
    assert err(d).key == "units[0].documents.secret"


def test_yaml_syntax_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(p)


def test_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(p)


def test_defaults_merge_into_units():
    d = base()
    d["defaults"] = {"source_system": "motcua-x", "dossiers": {"early": 0.0}}
    sc = parse_scenario(d)
    assert sc.units[0].source_system == "motcua-x"
    assert sc.units[0].dossiers.early == 0


def test_period_too_short_for_procedure():
    d = base()
    d["period"] = {"start": "2022-03-01", "end": "2022-03-04"}
    d["units"][0]["dossiers"]["procedures"][0]["days"] = 10
    sc = parse_scenario(d)
    with pytest.raises(ScenarioError, match="takes 10 working days"):
        list(Simulation(sc))


# --- plans ------------------------------------------------------------------------------
def test_shares_resolve_to_nearest_counts():
    d = base()
    d["units"][0]["dossiers"].update(
        received=4121,
        resolved="90.73%",
        on_time=0.982,
        early=0.5,
        channels={"online_full": 0.5, "online_partial": 0.3, "in_person": 0.2},
    )
    p = parse_scenario(d).units[0].dossiers
    assert p.resolved == 3739  # 0.9073 * 4121 = 3738.98
    assert p.on_time == 3672  # 0.982 * 3739 = 3671.7
    assert dict(p.channels) == {"online_full": 2061, "online_partial": 1236, "in_person": 824}


def test_mixed_counts_and_shares_in_a_mix():
    d = base()
    d["units"][0]["dossiers"]["channels"] = {"postal": 7, "online_full": 0.3, "in_person": 0.1}
    p = parse_scenario(d).units[0].dossiers
    assert dict(p.channels) == {"online_full": 70, "in_person": 23, "postal": 7}  # 93 split 3:1


def test_group_split_is_exact():
    d = base(wards={"28261": 3, "28249": 2, "28273": 2, "28270": 1, "28285": 2})
    d["units"][0].pop("ward_code")
    d["units"][0]["district_code"] = "815"
    d["extra_units"] = str(SCENARIOS / "mytho_units.yaml")
    d["units"][0]["dossiers"].update(
        received=16621,
        resolved=16585,
        on_time=16584,
        withdrawn=3,
        refused=2,
        supplements=0.02,
        channels={"online_full": 2000, "online_partial": 1000, "in_person": 13621},
        ratings={"total": 1333, "levels": {"very_satisfied": 1300, "satisfied": 30, "unsatisfied": 3}},
    )
    d["units"][0]["documents"] = {"issued": 1001, "signed": 999, "received": 5003, "processed_online": 4999}
    d["units"][0]["meetings"] = {"count": 7, "uninterrupted": 6, "endpoints": ["815"]}
    sc = parse_scenario(d)
    assert [u.key for u in sc.units] == ["28261", "28249", "28273", "28270", "28285"]
    assert sc.groups[0].unit_keys == tuple(u.key for u in sc.units)
    ds = [u.dossiers for u in sc.units]

    def total(f):
        return sum(f(x) for x in ds)

    assert total(lambda x: x.received) == 16621
    assert total(lambda x: x.resolved) == 16585
    assert total(lambda x: x.on_time) == 16584
    assert total(lambda x: x.late) == 1
    assert total(lambda x: x.withdrawn) == 3 and total(lambda x: x.refused) == 2
    assert total(lambda x: x.online) == 3000
    assert total(lambda x: x.rated) == 1333
    assert total(lambda x: dict(x.ratings)["unsatisfied"]) == 3
    for x in ds:
        assert x.resolved + x.withdrawn + x.refused + x.open == x.received
        assert sum(n for _, n in x.channels) == x.received
        assert sum(n for _, n in x.procedures) == x.received
        assert x.on_time <= x.resolved and x.rated <= x.resolved and x.supplements <= x.received - x.refused
    docs = [u.documents for u in sc.units]
    assert sum(x.issued for x in docs) == 1001 and sum(x.signed for x in docs) == 999
    assert sum(x.processed_online for x in docs) == 4999
    assert all(x.signed <= x.issued and x.processed_online <= x.received for x in docs)
    assert sum(u.meetings.count for u in sc.units) == 7
    assert sum(u.meetings.uninterrupted for u in sc.units) == 6


@pytest.mark.parametrize("name", ["mytho_2022.yaml", "vinhlong_2022.yaml", "vinhyen_2024.yaml"])
def test_shipped_scenarios_load(name):
    sc = load_scenario(SCENARIOS / name)
    assert sc.units and all(u.dossiers for u in sc.units)


def test_mytho_plan_matches_report():
    sc = load_scenario(SCENARIOS / "mytho_2022.yaml")
    desk = sc.unit("815").dossiers
    assert (desk.received, desk.resolved, desk.on_time) == (4121, 3739, 3671)
    ds = [u.dossiers for u in sc.units]
    assert sum(d.received for d in ds) == 20742
    assert sum(d.resolved for d in ds) == 20324
    assert sum(d.on_time for d in ds) == 20255
    assert round(20255 / 20324 * 100, 2) == 99.66
    wards = [u for u in sc.units if u.ward_code]
    assert {u.district_code for u in wards} == {"815"} and len(wards) == 5
    doc = sc.unit("815").documents
    assert (doc.received, doc.processed_online, doc.signed) == (70800, 70800, 13200)
    m = sc.unit("815").meetings
    assert (m.count, m.uninterrupted, len(m.endpoints)) == (34, 34, 18)


def test_vinhlong_plan_matches_report():
    sc = load_scenario(SCENARIOS / "vinhlong_2022.yaml")
    desk = sc.unit("855").dossiers
    assert (desk.received, desk.resolved, desk.on_time) == (8081, 8081, 7703)
    assert round(desk.on_time / desk.resolved * 100, 2) == 95.32
    wards = [u.dossiers for u in sc.units if u.ward_code]
    assert sum(d.received for d in wards) == 17484
    assert round(sum(d.on_time for d in wards) / sum(d.resolved for d in wards) * 100, 2) == 99.81


def test_vinhyen_plan_matches_report():
    sc = load_scenario(SCENARIOS / "vinhyen_2024.yaml")
    desk = sc.unit("243").dossiers
    assert desk.online > 3600 and desk.online / desk.received > 0.97
    wards = [u.dossiers for u in sc.units if u.ward_code]
    online, received = sum(d.online for d in wards), sum(d.received for d in wards)
    assert online > 19300 and online / received > 0.96
    levels = {}
    for u in sc.units:
        for lvl, n in u.dossiers.ratings:
            levels[lvl] = levels.get(lvl, 0) + n
    total = sum(levels.values())
    assert total > 1400
    assert levels["very_satisfied"] / total > 0.96 and levels["satisfied"] / total > 0.03
    assert levels["unsatisfied"] == 1 and round(levels["unsatisfied"] / total * 100, 2) == 0.07
    doc = sc.unit("243").documents
    assert doc.signed == doc.issued - doc.secret
