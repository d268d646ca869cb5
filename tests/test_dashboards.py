"""Dashboards and alert rules as code: committed files fresh, SDK round trips, query hygiene."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from common import measurements as M
from dashboards import alerts, artifacts
from dashboards import queries as Q
from dashboards.build import DASHBOARDS, render_dashboards, to_json_text
from dashboards.flux import DATASOURCE_UID, FluxQuery, interpolate, register, substitute_variables

REPO = Path(__file__).resolve().parent.parent
KNOWN_VARIABLES = {"province", "unit", "window"}


def _panels(dash: dict):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def _targets(dash: dict):
    for p in _panels(dash):
        for t in p.get("targets") or []:
            yield p, t


def test_committed_files_are_fresh():
    bad = artifacts.stale()
    assert not bad, f"stale generated files (run `govpulse dashboards generate`): {[str(p) for p in bad]}"


def test_check_command_fails_on_stale_file(tmp_path):
    for rel in ("dashboards/json", "deploy/grafana/provisioning"):
        shutil.copytree(REPO / rel, tmp_path / rel)
    assert artifacts.stale(tmp_path) == []
    victim = tmp_path / "dashboards/json/unit-detail.json"
    victim.write_text(victim.read_text().replace("Chi tiết đơn vị", "Chi tiet"), encoding="utf-8")
    (tmp_path / "dashboards/json/old.json").write_text("{}")
    assert set(artifacts.stale(tmp_path)) == {victim, tmp_path / "dashboards/json/old.json"}

    from govpulse.cli import app

    result = CliRunner().invoke(app, ["dashboards", "check", "--root", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "unit-detail.json" in result.output
    result = CliRunner().invoke(app, ["dashboards", "generate", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (tmp_path / "dashboards/json/old.json").unlink()
    assert CliRunner().invoke(app, ["dashboards", "check", "--root", str(tmp_path)]).exit_code == 0


def test_four_dashboards_with_vietnamese_titles():
    titles = {json.loads(t)["title"] for t in render_dashboards().values()}
    assert titles == {"Tổng quan tỉnh", "Chi tiết đơn vị", "Hồ sơ trễ hạn", "Sức khoẻ hệ thống"}
    assert set(render_dashboards()) == {f"{n}.json" for n in DASHBOARDS}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_json_round_trips_through_sdk_models(name):
    from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

    register()
    text = (REPO / "dashboards/json" / f"{name}.json").read_text(encoding="utf-8")
    model = Dashboard.from_json(json.loads(text))
    assert to_json_text(model) == text
    targets = [t for p in model.panels if isinstance(p, Panel) for t in (p.targets or [])]
    assert targets and all(isinstance(t, FluxQuery) for t in targets)


def test_alert_rules_round_trip_through_sdk_models():
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.alerting import Rule

    register()
    for rule in alerts.api_rules():
        again = json.loads(json.dumps(Rule.from_json(rule), cls=JSONEncoder))
        assert again == rule


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_queries_use_the_datasource_and_known_variables(name):
    dash = json.loads((REPO / "dashboards/json" / f"{name}.json").read_text(encoding="utf-8"))
    n = 0
    for panel, target in _targets(dash):
        n += 1
        assert target["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, panel["title"]
        assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, panel["title"]
        q = target["query"]
        assert "from(bucket: v.defaultBucket)" in q or "schema." in q, panel["title"]
        used = set(re.findall(r"\$\{(\w+)\}", q))
        assert used <= KNOWN_VARIABLES, (panel["title"], used)
        declared = {v["name"] for v in dash["templating"]["list"]}
        assert used <= declared, (panel["title"], used - declared)
        # Grafana's backend rewrites any `word.bucket` / `word.organization`: only v.* may use them
        assert not re.search(
            r"(?<!v)\.(bucket|organization|windowPeriod|timeRangeStart|timeRangeStop)\b",
            q.replace("v.defaultBucket", ""),
        ), panel["title"]
    assert n > 0
    for var in dash["templating"]["list"]:
        assert var["type"] == "query" and var["datasource"]["uid"] == DATASOURCE_UID
        assert var["query"].strip(), var["name"]
        if var["name"] == "unit":
            assert var["label"] == "Đơn vị / Phường, xã"


def test_rates_are_always_recomputed_from_counts():
    """No query reads a stored rate field: a province figure must be sum(num)/sum(den), never a mean of rates."""
    texts = [t["query"] for d in render_dashboards().values() for _, t in _targets(json.loads(d))]
    texts += [q["model"]["query"] for r in alerts.api_rules() for q in r["data"] if q["datasourceUid"] != "__expr__"]
    for q in texts:
        for rate in M.RATE_FIELDS:
            assert f'r._field == "{rate}"' not in q
        assert "mean()" not in q or "pipeline_health" in q


def test_every_contract_rate_has_a_unit_panel():
    dash = json.loads(render_dashboards()["unit-detail.json"])
    titles = {p["title"] for p in _panels(dash)}
    for rate in M.RATE_DEFINITIONS:
        assert Q.RATE_LABELS[rate][0] in titles


def test_provisioning_files_hold_no_secret_and_escape_dollars():
    prov = REPO / "deploy/grafana/provisioning"
    ds = yaml.safe_load((prov / "datasources/govpulse.yaml").read_text())["datasources"][0]
    assert ds["uid"] == DATASOURCE_UID and ds["jsonData"]["version"] == "Flux"
    assert ds["secureJsonData"] == {"token": "$__env{GOVPULSE_INFLUX_TOKEN}"}
    cps = yaml.safe_load((prov / "alerting/govpulse-contact-points.yaml").read_text())
    settings = [r["settings"] for cp in cps["contactPoints"] for r in cp["receivers"]]
    assert {"url": "$__env{GOVPULSE_ALERT_WEBHOOK_URL}", "httpMethod": "POST"} in settings
    rules = yaml.safe_load((prov / "alerting/govpulse-rules.yaml").read_text())
    assert rules["apiVersion"] == 1

    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for v in o.values():
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)

    for s in strings(rules):
        # after Grafana's expansion ($$ -> $), nothing but our $__env{} references may remain
        rest = re.sub(r"\$__env\{GOVPULSE_[A-Z_]+\}", "", s).replace("$$", "")
        assert "$" not in rest, s
    uids = [r["uid"] for g in rules["groups"] for r in g["rules"]]
    assert len(uids) == len(set(uids)) == len(alerts.ALERTS)
    for g in rules["groups"]:
        for r in g["rules"]:
            refs = {q["refId"] for q in r["data"]}
            assert r["condition"] in refs


def test_alert_thresholds_come_from_the_environment():
    env = {
        "GOVPULSE_ALERT_ON_TIME_THRESHOLD": "0.9",
        "GOVPULSE_ALERT_SILENT_SECONDS": "3600",
        "GOVPULSE_ALERT_DEAD_LETTERS": "3",
        "GOVPULSE_ALERT_OFFSET_GAPS": "2",
        "GOVPULSE_ALERT_POINTS_REJECTED": "4",
        "GOVPULSE_ALERT_CONFLICTING_EVENT_IDS": "5",
    }
    exprs = {r["uid"]: r["data"][2]["model"]["expression"] for r in alerts.api_rules(env)}
    assert exprs == {
        "govpulse-on-time-7d": "$B < 0.9",
        "govpulse-overdue-open": "$B > 0",
        "govpulse-unit-silent": "$B > 3600",
        "govpulse-dead-letters": "$B > 3",
        "govpulse-offset-gaps": "$B > 2",
        "govpulse-points-rejected": "$B > 4",
        "govpulse-conflicting-event-ids": "$B > 5",
    }
    defaults = {r["uid"]: r["data"][2]["model"]["expression"] for r in alerts.api_rules({})}
    assert defaults["govpulse-points-rejected"] == "$B > 0" and defaults["govpulse-conflicting-event-ids"] == "$B > 0"
    with pytest.raises(ValueError):
        alerts.api_rules({"GOVPULSE_ALERT_ON_TIME_THRESHOLD": "ninety"})


def test_interpolate_does_what_grafana_does():
    q = (
        "from(bucket: v.defaultBucket) |> range(start: v.timeRangeStart, stop: v.timeRangeStop) "
        '|> aggregateWindow(every: v.windowPeriod, fn: last) |> filter(fn: (r) => r.unit_code == "${unit}")'
    )
    out = interpolate(
        q,
        start=datetime(2021, 12, 14, 17, tzinfo=UTC),
        stop=datetime(2022, 12, 1, tzinfo=timezone(timedelta(hours=7))),
        window_period=timedelta(hours=1),
        bucket="b",
        variables={"unit": "815"},
    )
    assert out == (
        'from(bucket: "b") |> range(start: 2021-12-14T17:00:00Z, stop: 2022-11-30T17:00:00Z) '
        '|> aggregateWindow(every: 1h0m0s, fn: last) |> filter(fn: (r) => r.unit_code == "815")'
    )
    with pytest.raises(KeyError):
        substitute_variables("${province}", {})
