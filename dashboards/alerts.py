"""Grafana-managed alert rules and Grafana provisioning files, from one Python source.

The rules are built with grafana-foundation-sdk's alerting builders (the shape of Grafana's
provisioning HTTP API, used by ``govpulse dashboards push``) and converted to Grafana's
file-provisioning format (apiVersion 1) for ``deploy/grafana/provisioning/``.  Each rule is
three queries: A = Flux from :mod:`dashboards.queries` (one series per unit / topic),
B = reduce A to its last value, C = math ``$B <op> threshold`` (the condition).

Thresholds are configurable through the environment of the Grafana server (provisioning
files, ``$__env{NAME}``) or of ``dashboards push`` (``NAME`` in its environment), with the
defaults below.  Provisioning files pass every string through environment expansion, so a
literal ``$`` (``$B``, ``{{ $labels.x }}``) is written ``$$`` there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from grafana_foundation_sdk.builders import alerting as ab
from grafana_foundation_sdk.builders import expr as eb
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as Q
from dashboards.build import FOLDER_TITLE, FOLDER_UID
from dashboards.flux import DATASOURCE_TYPE, DATASOURCE_UID, FluxTarget

RULE_GROUP = "govpulse"
RULE_GROUP_INTERVAL_SECONDS = 60
CONTACT_POINT = "govpulse"
DATASOURCE_NAME = "govpulse InfluxDB"
DASHBOARDS_PATH_IN_GRAFANA = "/var/lib/grafana/dashboards/govpulse"
EXPR = "__expr__"


@dataclass(frozen=True)
class Threshold:
    env: str
    default: str
    meaning: str

    def value(self, environ: dict[str, str] | None = None) -> str:
        raw = (environ if environ is not None else os.environ).get(self.env, self.default).strip()
        float(raw)  # must be a number: it goes into a math expression
        return raw


THRESHOLDS = {
    "on_time": Threshold(
        "GOVPULSE_ALERT_ON_TIME_THRESHOLD", "0.95", "a unit's 7-day on-time rate below this fraction fires"
    ),
    "silent": Threshold(
        "GOVPULSE_ALERT_SILENT_SECONDS",
        "172800",
        "a unit with no event for longer than this many seconds (against the watermark) fires",
    ),
    "offset_gaps": Threshold(
        "GOVPULSE_ALERT_OFFSET_GAPS",
        "10",
        "more offset gaps (records read again) than this on one topic within 15 minutes fires",
    ),
    "dead_letters": Threshold(
        "GOVPULSE_ALERT_DEAD_LETTERS", "10", "more dead letters than this on one topic within 15 minutes fires"
    ),
    "points_rejected": Threshold(
        "GOVPULSE_ALERT_POINTS_REJECTED", "0", "more points rejected by InfluxDB than this within 15 minutes fires"
    ),
    "conflicting_event_ids": Threshold(
        "GOVPULSE_ALERT_CONFLICTING_EVENT_IDS",
        "0",
        "more events reusing an event_id with other content than this on one topic within 15 minutes fires",
    ),
}


@dataclass(frozen=True)
class AlertSpec:
    uid: str
    title: str
    query: Callable[[], str]
    range_seconds: int
    op: str  # "<" or ">"
    threshold: str  # key of THRESHOLDS, or a literal number
    pending: str
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)

    def threshold_value(self, environ: dict[str, str] | None = None) -> str:
        t = THRESHOLDS.get(self.threshold)
        return t.value(environ) if t else self.threshold


ALERTS: tuple[AlertSpec, ...] = (
    AlertSpec(
        uid="govpulse-on-time-7d",
        title="Tỷ lệ đúng hạn 7 ngày dưới ngưỡng",
        query=Q.alert_on_time_7d,
        range_seconds=3 * 86400,
        op="<",
        threshold="on_time",
        pending="1h",
        summary="{{ $labels.unit_name }} ({{ $labels.unit_code }}): tỷ lệ giải quyết đúng hạn 7 ngày "
        "{{ humanizePercentage $values.B.Value }}",
        description="A unit's on-time rate over its latest 7-day snapshot is under the threshold "
        f"(GOVPULSE_ALERT_ON_TIME_THRESHOLD, default {THRESHOLDS['on_time'].default}); units that "
        f"resolved fewer than {Q.MIN_RESOLVED_FOR_ON_TIME_ALERT} dossiers in the 7 days are not "
        "evaluated.",
        labels={"severity": "warning"},
    ),
    AlertSpec(
        uid="govpulse-overdue-open",
        title="Có hồ sơ đang giải quyết quá hạn",
        query=Q.alert_overdue_open,
        range_seconds=30 * 86400,
        op=">",
        threshold="0",
        pending="5m",
        summary="{{ $labels.unit_name }} ({{ $labels.unit_code }}): {{ $values.B.Value }} hồ sơ quá hạn",
        description="The unit has open dossiers past their due date (open_dossiers.overdue > 0 at its latest "
        "point). Each should get an apology letter and a new appointment.",
        labels={"severity": "warning"},
    ),
    AlertSpec(
        uid="govpulse-unit-silent",
        title="Đơn vị không phát sinh sự kiện quá lâu",
        query=Q.alert_unit_silent,
        range_seconds=3600,
        op=">",
        threshold="silent",
        pending="15m",
        summary="{{ $labels.unit_name }} ({{ $labels.unit_code }}, {{ $labels.source_system }}): "
        "không có sự kiện trong {{ humanizeDuration $values.B.Value }}",
        description="No event from this unit and source system for longer than GOVPULSE_ALERT_SILENT_SECONDS "
        f"(default {THRESHOLDS['silent'].default} s), measured against the worker's watermark: the "
        "source system or its connector may be down.",
        labels={"severity": "warning"},
    ),
    AlertSpec(
        uid="govpulse-dead-letters",
        title="Thư chết tăng đột biến",
        query=Q.alert_dead_letters,
        range_seconds=900,
        op=">",
        threshold="dead_letters",
        pending="0s",
        summary="{{ $labels.topic }}: {{ $values.B.Value }} thư chết trong 15 phút",
        description="More events than GOVPULSE_ALERT_DEAD_LETTERS "
        f"(default {THRESHOLDS['dead_letters'].default}) went to the dead-letter topic within 15 "
        "minutes: a producer is sending invalid events.",
        labels={"severity": "critical"},
    ),
    AlertSpec(
        uid="govpulse-offset-gaps",
        title="Worker phải đọc lại sự kiện nhiều lần",
        query=Q.alert_offset_gaps,
        range_seconds=900,
        op=">",
        threshold="offset_gaps",
        pending="0s",
        summary="{{ $labels.topic }}: {{ $values.B.Value }} lần đọc lại do thiếu offset trong 15 phút",
        description="Records reached a worker out of order (pipeline_health.offset_gaps) more often than "
        "GOVPULSE_ALERT_OFFSET_GAPS within 15 minutes. The worker reads them again, so no "
        "figure is wrong, but it happens around rebalances: many mean workers keep joining "
        "and leaving the group (crash loop, health probe killing slow starters, session "
        "timeouts). See the worker logs for 'did not reach the worker'.",
        labels={"severity": "warning"},
    ),
    AlertSpec(
        uid="govpulse-points-rejected",
        title="InfluxDB từ chối ghi điểm dữ liệu",
        query=Q.alert_points_rejected,
        range_seconds=900,
        op=">",
        threshold="points_rejected",
        pending="0s",
        summary="{{ $labels.app_id }}: InfluxDB từ chối {{ $values.B.Value }} điểm dữ liệu trong 15 phút",
        description="InfluxDB refused lines as invalid (pipeline_health.points_rejected, more than "
        "GOVPULSE_ALERT_POINTS_REJECTED, default "
        f"{THRESHOLDS['points_rejected'].default}, within 15 minutes). Each was isolated from its "
        "batch and dropped, the rest written: those figures are missing. The worker log names "
        "each one's series and InfluxDB's reason ('InfluxDB rejected a point as invalid').",
        labels={"severity": "critical"},
    ),
    AlertSpec(
        uid="govpulse-conflicting-event-ids",
        title="Mã sự kiện bị dùng lại với nội dung khác",
        query=Q.alert_conflicting_event_ids,
        range_seconds=900,
        op=">",
        threshold="conflicting_event_ids",
        pending="0s",
        summary="{{ $labels.topic }}: {{ $values.B.Value }} sự kiện dùng lại event_id với nội dung khác trong 15 phút",
        description="Events reused an event_id with different content (pipeline_health.conflicting_event_ids, "
        "more than GOVPULSE_ALERT_CONFLICTING_EVENT_IDS, default "
        f"{THRESHOLDS['conflicting_event_ids'].default}, within 15 minutes). They went to the "
        "dead-letter topic (reason conflicting_event_id, with both versions' hashes): a producer "
        "is reusing ids, which is a bug at the source.",
        labels={"severity": "critical"},
    ),
)

_ENV_MARK = "\x00ENV:{}\x00"


def _rule_builder(spec: AlertSpec, threshold_text: str) -> ab.Rule:
    flux = FluxTarget(spec.query(), ref_id="A").interval_ms(1000).max_data_points(43200)
    return (
        ab.Rule(spec.title)
        .uid(spec.uid)
        .folder_uid(FOLDER_UID)
        .rule_group(RULE_GROUP)
        .org_id(1)
        .condition("C")
        .for_val(spec.pending)
        .no_data_state("OK")
        .exec_err_state("Error")
        .is_paused(False)
        .labels({"team": "govpulse", **spec.labels})
        .annotations(
            {
                "summary": spec.summary,
                "description": spec.description,
                "runbook_url": "/d/govpulse-late"
                if "overdue" in spec.uid
                else (
                    "/d/govpulse-pipeline"
                    if spec.uid
                    in (
                        "govpulse-unit-silent",
                        "govpulse-dead-letters",
                        "govpulse-offset-gaps",
                        "govpulse-points-rejected",
                        "govpulse-conflicting-event-ids",
                    )
                    else "/d/govpulse-unit"
                ),
            }
        )
        .with_query(
            ab.Query("A")
            .datasource_uid(DATASOURCE_UID)
            .query_type("")
            .relative_time_range(am.RelativeTimeRange(from_val=spec.range_seconds, to=0))
            .model(flux)
        )
        .with_query(
            ab.Query("B")
            .datasource_uid(EXPR)
            .query_type("")
            .relative_time_range(am.RelativeTimeRange(from_val=0, to=0))
            .model(
                eb.TypeReduce()
                .ref_id("B")
                .expression("A")
                .reducer("last")
                .settings(eb.ExprTypeReduceSettings().mode("dropNN"))
                .datasource(dm.DataSourceRef(type_val=EXPR, uid=EXPR))
                .interval_ms(1000)
                .max_data_points(43200)
            )
        )
        .with_query(
            ab.Query("C")
            .datasource_uid(EXPR)
            .query_type("")
            .relative_time_range(am.RelativeTimeRange(from_val=0, to=0))
            .model(
                eb.TypeMath()
                .ref_id("C")
                .expression(f"$B {spec.op} {threshold_text}")
                .datasource(dm.DataSourceRef(type_val=EXPR, uid=EXPR))
                .interval_ms(1000)
                .max_data_points(43200)
            )
        )
    )


# a JSON value, as the provisioning files hold them
Json = str | int | float | bool | None | list["Json"] | dict[str, "Json"]


def _encode(obj: object) -> dict[str, Any]:
    """A built SDK object as its JSON object."""
    out: dict[str, Any] = json.loads(json.dumps(obj, cls=JSONEncoder))
    return out


def api_rules(environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Rules as Grafana's provisioning API takes them, thresholds resolved from ``environ``."""
    return [_encode(_rule_builder(s, s.threshold_value(environ)).build()) for s in ALERTS]


def api_rule_group(environ: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "title": RULE_GROUP,
        "folderUid": FOLDER_UID,
        "interval": RULE_GROUP_INTERVAL_SECONDS,
        "rules": api_rules(environ),
    }


def _file_strings(obj: Json) -> Json:
    """Escape ``$`` for provisioning-file env expansion, then turn env markers into ``$__env{NAME}``."""
    if isinstance(obj, str):
        out = obj.replace("$", "$$")
        for t in THRESHOLDS.values():
            out = out.replace(_ENV_MARK.format(t.env), f"$__env{{{t.env}}}")
        return out
    if isinstance(obj, list):
        return [_file_strings(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _file_strings(v) for k, v in obj.items()}
    return obj


def file_rules_doc() -> dict[str, Any]:
    rules: list[Json] = []
    for s in ALERTS:
        t = THRESHOLDS.get(s.threshold)
        text = _ENV_MARK.format(t.env) if t else s.threshold
        r = _encode(_rule_builder(s, text).build())
        for k in ("folderUID", "ruleGroup", "orgID"):
            r.pop(k)
        rules.append(_file_strings(r))
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": f"{RULE_GROUP_INTERVAL_SECONDS}s",
                "rules": rules,
            }
        ],
    }


# ---------------------------------------------------------------------------------------
# other provisioning files
# ---------------------------------------------------------------------------------------
def datasource_doc() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": DATASOURCE_TYPE,
                "access": "proxy",
                "orgId": 1,
                "url": "$__env{GOVPULSE_INFLUX_URL}",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "version": "Flux",
                    "organization": "$__env{GOVPULSE_INFLUX_ORG}",
                    "defaultBucket": "$__env{GOVPULSE_INFLUX_BUCKET}",
                    "tlsSkipVerify": False,
                },
                "secureJsonData": {"token": "$__env{GOVPULSE_INFLUX_TOKEN}"},
            }
        ],
    }


def datasource_api_payload(url: str, organization: str, bucket: str, token: str | None) -> dict[str, Any]:
    """The datasource as Grafana's /api/datasources takes it (token only when given)."""
    body: dict[str, Any] = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": url,
        "isDefault": False,
        "basicAuth": False,
        "jsonData": {"version": "Flux", "organization": organization, "defaultBucket": bucket, "tlsSkipVerify": False},
    }
    if token is not None:
        body["secureJsonData"] = {"token": token}
    return body


def dashboard_provider_doc() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "govpulse",
                "orgId": 1,
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_PATH_IN_GRAFANA, "foldersFromFilesStructure": False},
            }
        ],
    }


def contact_points_doc() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "govpulse-webhook",
                        "type": "webhook",
                        "disableResolveMessage": False,
                        "settings": {"url": "$__env{GOVPULSE_ALERT_WEBHOOK_URL}", "httpMethod": "POST"},
                    },
                    {
                        "uid": "govpulse-email",
                        "type": "email",
                        "disableResolveMessage": False,
                        "settings": {"addresses": "$__env{GOVPULSE_ALERT_EMAIL_ADDRESSES}", "singleEmail": True},
                    },
                ],
            }
        ],
        # This Grafana is govpulse's own (deploy/docker-compose.yml): its root policy sends everything to
        # the govpulse contact point. On a shared Grafana, drop this part and route on label team=govpulse.
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname", "province_code"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            }
        ],
    }


HEADER = (
    "# Generated by `govpulse dashboards generate` from dashboards/alerts.py: do not edit by hand.\n"
    "# $__env{NAME} is expanded by Grafana from its environment; $$ is a literal $.\n"
)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]  # PyYAML has no type stubs here: SafeDumper is Any
    """Multi-line strings (the Flux queries) as literal blocks, so the files read like the queries."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def _yaml(doc: dict[str, Any]) -> str:
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return HEADER + text


def render_provisioning() -> dict[str, str]:
    """Path under deploy/grafana/provisioning -> file text."""
    return {
        "datasources/govpulse.yaml": _yaml(datasource_doc()),
        "dashboards/govpulse.yaml": _yaml(dashboard_provider_doc()),
        "alerting/govpulse-rules.yaml": _yaml(file_rules_doc()),
        "alerting/govpulse-contact-points.yaml": _yaml(contact_points_doc()),
    }
