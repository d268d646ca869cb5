"""The four govpulse dashboards, written with grafana-foundation-sdk.

``govpulse dashboards generate`` writes them to ``dashboards/json/*.json`` (committed, and
mounted into Grafana by the file provider); ``govpulse dashboards check`` fails when that
JSON is stale.  Every query comes from :mod:`dashboards.queries`.

Titles and legends are Vietnamese; descriptions are English and say where each threshold
comes from (they are assumptions to adjust per province — see ``TARGETS``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from common import measurements as M
from dashboards import queries as Q
from dashboards.flux import FluxTarget, datasource_ref

JSON_DIR = Path(__file__).resolve().parent / "json"
FOLDER_UID = "govpulse"
FOLDER_TITLE = "govpulse"
TAGS = ["govpulse"]


# ---------------------------------------------------------------------------------------
# colour targets: (red below, orange from, green from), and where the numbers come from
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    orange_from: float
    green_from: float
    source: str


TARGETS: dict[str, Target] = {
    "on_time_rate": Target(
        0.90,
        0.95,
        (
            "Green from 95 % on time: the level provinces commonly set as the target in their annual PAR plans; "
            "orange 90-95 %, red below 90 %. Calibration: Mỹ Tho 2022 reported 99.66 % city-wide, Vĩnh Long city "
            "95.32 % (DOMAIN.md). Assumption: adjust to the province's own plan."
        ),
    ),
    "online_share": Target(
        0.50,
        0.80,
        (
            "Green from 80 %, orange from 50 %: assumed from the national e-government targets for 2025 as "
            "commonly quoted in provincial plans (about half of dossiers handled online, rising to most of "
            "them). Calibration: Vĩnh Yên 2024 handled over 96-97 % online. Assumption: verify against the "
            "decision in force for the province."
        ),
    ),
    "signature_adoption": Target(
        0.70,
        0.90,
        (
            "Green from 90 %, orange from 70 %: assumption based on the aim that documents between state "
            "agencies are exchanged electronically with digital signatures (secret documents excepted); "
            "Vĩnh Yên 2024 reports 100 %."
        ),
    ),
    "meeting_smooth_rate": Target(
        0.90,
        0.98,
        (
            "Green from 98 %, orange from 90 %: assumption; Mỹ Tho 2022 reports all 34 online meetings "
            "without interruption (100 %)."
        ),
    ),
    "satisfaction_rate": Target(
        0.80,
        0.90,
        (
            "Green from 90 %: the satisfaction level the PAR master programme 2021-2030 (Resolution "
            "76/NQ-CP) sets as the minimum to reach by 2025, as commonly cited; orange from 80 %. "
            "Calibration: Vĩnh Long 2022 96.77 %, Vĩnh Yên 2024 over 99 %."
        ),
    ),
    "apology_coverage": Target(
        0.90,
        1.0,
        (
            "Green only at 100 %: every dossier resolved late should have an apology letter (thư xin lỗi); "
            "orange from 90 %."
        ),
    ),
}

UNIT_LEVEL_LABELS = {
    "ward": "Phường/xã",
    "district": "Quận/huyện (cũ)",
    "department": "Sở, ban, ngành",
    "other": "Khác",
}


def _thresholds(rate: str) -> db.ThresholdsConfig | None:
    t = TARGETS.get(rate)
    if t is None:
        return None
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dm.Threshold(value=None, color="red"),
                dm.Threshold(value=t.orange_from, color="orange"),
                dm.Threshold(value=t.green_from, color="green"),
            ]
        )
    )


def _count_thresholds(bad_from: float = 1) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color="green"), dm.Threshold(value=bad_from, color="red")])
    )


def count_stat(
    pid: int, title: str, description: str, query: str, column: str, span: int = 8, warn: bool = False
) -> stat.Panel:
    """A big number with no graph: a count over the time range (column ``column`` of ``query``),
    green at 0, then red (or orange with ``warn``: worth a look, not an error)."""
    thresholds = (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color="green"), dm.Threshold(value=1, color="orange")])
        if warn
        else _count_thresholds()
    )
    return (
        stat.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .with_target(FluxTarget(query))
        .unit("none")
        .decimals(0)
        .span(span)
        .height(5)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields(f"/^{column}$/").values(False))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .thresholds(thresholds)
        .no_value("0")
    )


def _rate_description(rate: str, extra: str = "") -> str:
    nums, den = M.RATE_DEFINITIONS[rate]
    text = (
        f"{Q.RATE_LABELS[rate][1]}. Computed as sum({' + '.join(nums)}) / sum({den}) over the units in scope, "
        f"never as an average of unit rates."
    )
    if rate in TARGETS:
        text += " Colours: " + TARGETS[rate].source
    return text + (" " + extra if extra else "")


def _display(name: str, label: str) -> db.DashboardFieldConfigSourceOverrides:
    return (
        db.DashboardFieldConfigSourceOverrides()
        .matcher(dm.MatcherConfig(id_val="byName", options=name))
        .properties([dm.DynamicConfigValue(id_val="displayName", value=label)])
    )


def _bottom_legend() -> cb.VizLegendOptions:
    """The legend most panels use: a list under the chart, no calculations."""
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs([])
    )


def _by_name(name: str, *props: tuple[str, object]) -> db.DashboardFieldConfigSourceOverrides:
    return (
        db.DashboardFieldConfigSourceOverrides()
        .matcher(dm.MatcherConfig(id_val="byName", options=name))
        .properties([dm.DynamicConfigValue(id_val=k, value=v) for k, v in props])
    )


def _organize(order: list[str], rename: dict[str, str], exclude: tuple[str, ...] = ()) -> dm.DataTransformerConfig:
    """Column order and headers. ``_finish`` moves the headers into displayName overrides: renaming in the
    transformation would change the names that the other overrides match on."""
    return dm.DataTransformerConfig(
        id_val="organize",
        options={
            "indexByName": {name: i for i, name in enumerate(order)},
            "renameByName": rename,
            "excludeByName": {name: True for name in ("result", "table", *exclude)},
        },
    )


def _headers_as_overrides(p: dm.Panel) -> None:
    for t in p.transformations or []:
        # the SDK types options as object; an organize transformation's are the dict _organize gives
        options = cast("dict[str, Any]", t.options)
        if t.id_val != "organize" or not options.get("renameByName"):
            continue
        renames = options["renameByName"]
        t.options = {**options, "renameByName": {}}
        if p.field_config is None:
            p.field_config = dm.FieldConfigSource()
        overrides = p.field_config.overrides or []
        for name, label in renames.items():
            prop = dm.DynamicConfigValue(id_val="displayName", value=label)
            same = [o for o in overrides if o.matcher.id_val == "byName" and o.matcher.options == name]
            if same:
                same[0].properties.insert(0, prop)
            else:
                overrides.append(
                    dm.DashboardFieldConfigSourceOverrides(
                        matcher=dm.MatcherConfig(id_val="byName", options=name), properties=[prop]
                    )
                )
        p.field_config.overrides = overrides


YES_NO = [
    dm.ValueMap(
        options={
            "true": dm.ValueMappingResult(text="Có", color="green", index=0),
            "false": dm.ValueMappingResult(text="Chưa", color="red", index=1),
        }
    )
]
KIND_MAP = [
    dm.ValueMap(
        options={
            "dossier_overdue": dm.ValueMappingResult(text="Quá hạn", color="red", index=0),
            "dossier_due_soon": dm.ValueMappingResult(text="Sắp đến hạn", color="orange", index=1),
            "apology_missing": dm.ValueMappingResult(text="Chưa có thư xin lỗi", color="purple", index=2),
        }
    )
]
STATUS_MAP = [
    dm.ValueMap(
        options={
            "Quá hạn": dm.ValueMappingResult(color="red", index=0),
            "Sắp đến hạn": dm.ValueMappingResult(color="orange", index=1),
        }
    )
]
LEVEL_MAP = [
    dm.ValueMap(
        options={k: dm.ValueMappingResult(text=v, index=i) for i, (k, v) in enumerate(UNIT_LEVEL_LABELS.items())}
    )
]
# report_counts' field tag when the events did not give one (the report's label for it)
FIELD_MAP = [dm.ValueMap(options={M.UNKNOWN_TAG: dm.ValueMappingResult(text=Q.UNKNOWN_FIELD_LABEL, index=0)})]


# ---------------------------------------------------------------------------------------
# template variables
# ---------------------------------------------------------------------------------------
def var_province() -> db.QueryVariable:
    return (
        db.QueryVariable("province")
        .label("Tỉnh / Thành phố")
        .description("Province code (province_code tag), from the unit_rates data in the time range.")
        .query(Q.var_province())
        .datasource(datasource_ref())
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def var_window() -> db.QueryVariable:
    return (
        db.QueryVariable("window")
        .label("Kỳ tính")
        .description(
            "unit_rates window: 24h / 7d / 30d rolling (event time), month / year (calendar, "
            "Asia/Ho_Chi_Minh), report_year (annual reporting period, GOVPULSE_REPORT_YEAR_START) and "
            "report_month / report_quarter / report_half (the other report periods of Decree 09/2019, "
            "from the same start day)."
        )
        .query(Q.var_window())
        .datasource(datasource_ref())
        .current(dm.VariableOption(selected=True, text="report_year", value="report_year"))
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def var_unit(include_all: bool = False) -> db.QueryVariable:
    v = (
        db.QueryVariable("unit")
        .label("Đơn vị / Phường, xã")
        .description(
            "Receiving unit (unit_code tag): a ward, a former district desk or a department. "
            "Shown as 'code — name'; the value is the code."
        )
        .query(Q.var_unit())
        .datasource(datasource_ref())
        .regex(Q.UNIT_VAR_REGEX)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    if include_all:
        v = v.include_all(True).all_value(".*")
    return v


def _dashboard(uid: str, title: str, description: str, time_from: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("Asia/Ho_Chi_Minh")
        .time(time_from, "now")
        .refresh("1m")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .link(
            db.DashboardLink("govpulse")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


# ---------------------------------------------------------------------------------------
# panels
# ---------------------------------------------------------------------------------------
def rate_stat(pid: int, rate: str, scope: Q.Scope, span: int = 4) -> stat.Panel:
    p = (
        stat.Panel()
        .id(pid)
        .title(Q.RATE_LABELS[rate][0])
        .description(
            _rate_description(
                rate, "Snapshot: the selected window's latest period (or as-of step) at the end of the time range."
            )
        )
        .with_target(FluxTarget(Q.rate_latest(rate, scope)))
        .unit("percentunit")
        .decimals(2)
        .min(0)
        .max(1)
        .span(span)
        .height(5)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields(f"/^{rate}$/").values(False))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .text_mode(cm.BigValueTextMode.VALUE)
        .no_value("—")
    )
    th = _thresholds(rate)
    if th is not None:
        p = p.thresholds(th)
    else:
        p = p.color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("blue"))
    return p


def open_stat(pid: int, field: str, title: str, description: str, scope: Q.Scope, span: int = 4) -> stat.Panel:
    return (
        stat.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .with_target(FluxTarget(Q.open_dossiers_latest(field, scope)))
        .unit("none")
        .decimals(0)
        .span(span)
        .height(5)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields(f"/^{field}$/").values(False))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .text_mode(cm.BigValueTextMode.VALUE)
        .thresholds(_count_thresholds())
        .no_value("0")
    )


def rate_timeseries(pid: int, rate: str, scope: Q.Scope, span: int = 12) -> timeseries.Panel:
    """One rate over time (left axis) with its numerator and denominator counts as bars (right axis)."""
    nums, den = M.RATE_DEFINITIONS[rate]
    p = (
        timeseries.Panel()
        .id(pid)
        .title(Q.RATE_LABELS[rate][0])
        .description(
            _rate_description(
                rate, "Counts (bars, right axis) are the snapshot's numerator and denominator at each point."
            )
        )
        .with_target(FluxTarget(Q.rate_over_time(rate, scope)))
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .span(span)
        .height(8)
        .line_width(2)
        .fill_opacity(10)
        .show_points(cm.VisibilityMode.AUTO)
        .span_nulls(True)
        .legend(_bottom_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
        .override_by_name(rate, [dm.DynamicConfigValue(id_val="displayName", value=Q.RATE_LABELS[rate][0])])
    )
    th = _thresholds(rate)
    if th is not None:
        p = p.thresholds(th).thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
    for f in (*nums, den):
        p = p.override_by_name(
            f,
            [
                dm.DynamicConfigValue(id_val="displayName", value=Q.COUNT_LABELS[f]),
                dm.DynamicConfigValue(id_val="unit", value="short"),
                dm.DynamicConfigValue(id_val="min", value=0),
                dm.DynamicConfigValue(id_val="max", value=None),
                dm.DynamicConfigValue(id_val="decimals", value=0),
                dm.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
                dm.DynamicConfigValue(id_val="custom.fillOpacity", value=40),
                dm.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                dm.DynamicConfigValue(id_val="custom.thresholdsStyle", value={"mode": "off"}),
            ],
        )
    return p


def headline_rates_timeseries(pid: int) -> timeseries.Panel:
    p = (
        timeseries.Panel()
        .id(pid)
        .title("Các tỷ lệ theo thời gian")
        .description(
            "Province headline rates over time, one point per display interval: each unit's last "
            "snapshot of the selected window in the interval, summed over units, numerator / "
            "denominator. Counts are in the tooltip only. With a calendar window (month, year) or a "
            "report period (report_month, report_quarter, report_half, report_year) a point sits at "
            "the period start."
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .span(24)
        .height(9)
        .line_width(2)
        .fill_opacity(0)
        .show_points(cm.VisibilityMode.AUTO)
        .span_nulls(True)
        .legend(
            cb.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "min"])
        )
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    )
    counts = sorted({f for r in Q.HEADLINE_RATES for f in (*M.RATE_DEFINITIONS[r][0], M.RATE_DEFINITIONS[r][1])})
    for i, rate in enumerate(Q.HEADLINE_RATES):
        p = p.with_target(FluxTarget(Q.rate_over_time(rate, Q.PROVINCE), ref_id="ABCDEFGH"[i]))
        p = p.override_by_name(rate, [dm.DynamicConfigValue(id_val="displayName", value=Q.RATE_LABELS[rate][0])])
    p = p.override_by_regexp(
        f"^({'|'.join(counts)})$",
        [
            dm.DynamicConfigValue(id_val="custom.hideFrom", value={"legend": True, "tooltip": False, "viz": True}),
            dm.DynamicConfigValue(id_val="unit", value="short"),
        ],
    )
    return p


# ---------------------------------------------------------------------------------------
# the periodic report (báo cáo định kỳ): report_counts over the dashboard's time range
# ---------------------------------------------------------------------------------------
PERIOD_RANGE = (
    "The dashboard time range is the report period: set it to a report period, e.g. 15/12/2021 00:00 - "
    "14/12/2022 23:59:59 for report year 2022 (Decree 09/2019 periods run from the report year's start "
    "day, GOVPULSE_REPORT_YEAR_START), and these are the official report's figures, from the same Flux "
    "as `govpulse report` (dashboards.queries.period_report over report_counts). The window variable "
    "(Kỳ tính) plays no part."
)
PERIOD_FORM = (
    "Columns are the report's (3)-(17): to handle = carried over + newly received (online; in person "
    "or postal, where dossiers whose reception channel is unknown are counted); resolved = early + on "
    "time + late; withdrawn and refused close a dossier without a result; in process at the end of "
    "the range = within due + overdue. Carried over = open at the range start, so carried over + "
    "received = resolved + withdrawn + refused + in process on every row. Tỷ lệ đúng hạn = (early + "
    "on time) / resolved; cổng một cửa = 1 - (overdue in process + resolved late) / to handle; empty "
    "when the denominator is 0. Colours of the rates: " + TARGETS["on_time_rate"].source
)
PERIOD_COUNTS = [c for c in Q.PERIOD_REPORT_LABELS if not c.endswith("rate")]


def _rate_override(column: str, thresholds: db.ThresholdsConfig, cell: str) -> db.DashboardFieldConfigSourceOverrides:
    """A table column holding a rate: percent with two decimals, coloured by the rate's thresholds."""
    return _by_name(
        column,
        ("unit", "percentunit"),
        ("decimals", 2),
        ("custom.cellOptions", {"type": cell}),
        ("thresholds", thresholds.build()),
    )


def _period_overrides() -> list[cogbuilder.Builder[dm.DashboardFieldConfigSourceOverrides]]:
    on_time = _thresholds("on_time_rate")
    assert on_time is not None, "on_time_rate has a target in TARGETS"
    late = ("custom.cellOptions", {"type": "color-text"}), ("thresholds", _count_thresholds().build())
    return [
        _rate_override("on_time_rate", on_time, "color-background"),
        _rate_override("portal_on_time_rate", on_time, "color-text"),
        _by_name("resolved_late", *late),
        _by_name("in_process_overdue", *late),
        _by_name("field", ("mappings", FIELD_MAP)),
    ]


def period_table(pid: int, title: str, description: str, query: str, keys: dict[str, str]) -> table.Panel:
    """A period report table: the group's columns ``keys`` (name -> header), then the report's columns,
    with a footer that sums the counts (the report's total row; its rates are not sums, so none)."""
    shown = [*keys, *Q.PERIOD_REPORT_LABELS]
    return (
        table.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .with_target(FluxTarget(query))
        .span(24)
        .height(10)
        .cell_height(cm.TableCellHeight.SM)
        .show_header(True)
        .footer(cb.TableFooterOptions().show(True).reducer(["sum"]).fields(PERIOD_COUNTS).count_rows(False))
        .with_transformation(
            _organize(
                shown,
                keys | Q.PERIOD_REPORT_LABELS,
                tuple(c for c in Q.PERIOD_REPORT_COLUMNS if c not in shown),
            )
        )
        .overrides(_period_overrides())
    )


def late_by_field_chart(pid: int) -> barchart.Panel:
    """Horizontal stacked bars per field, as the report's chart: resolved late, then overdue in process."""
    return (
        barchart.Panel()
        .id(pid)
        .title("Hồ sơ trễ hạn theo lĩnh vực")
        .description(
            "Late dossiers of the unit per field (lĩnh vực) over the report period: resolved late in the "
            "range (resolved after the due date in force) and, at its end, still in process past the due "
            "date; the period report's columns (10) and (15), by field (dashboards.queries.late_by_field). "
            + PERIOD_RANGE
        )
        .with_target(FluxTarget(Q.late_by_field(Q.UNIT)))
        .span(12)
        .height(9)
        .x_field("field")
        .orientation(cm.VizOrientation.HORIZONTAL)
        .stacking(cm.StackingMode.NORMAL)
        .show_value(cm.VisibilityMode.AUTO)
        .unit("short")
        .decimals(0)
        .min(0)
        .fill_opacity(80)
        .legend(_bottom_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
        .overrides(
            [
                _by_name(
                    "resolved_late",
                    ("displayName", "Đã giải quyết quá hạn"),
                    ("color", {"mode": "fixed", "fixedColor": "red"}),
                ),
                _by_name(
                    "in_process_overdue",
                    ("displayName", "Đang giải quyết quá hạn"),
                    ("color", {"mode": "fixed", "fixedColor": "orange"}),
                ),
                _by_name("field", ("mappings", FIELD_MAP)),
            ]
        )
    )


def late_procedures_table(pid: int) -> table.Panel:
    shown = {
        "procedure_code": "Mã TTHC",
        "field": "Lĩnh vực",
        "to_handle": Q.PERIOD_REPORT_LABELS["to_handle"],
        "resolved": Q.PERIOD_REPORT_LABELS["resolved"],
        "resolved_late": Q.PERIOD_REPORT_LABELS["resolved_late"],
        "in_process_overdue": Q.PERIOD_REPORT_LABELS["in_process_overdue"],
        "on_time_rate": Q.PERIOD_REPORT_LABELS["on_time_rate"],
    }
    return (
        table.Panel()
        .id(pid)
        .title("Thủ tục có nhiều hồ sơ trễ hạn nhất")
        .description(
            "The ten procedures (mã TTHC) of the unit with the most late dossiers in the report period "
            "(resolved late + still in process past the due date at its end), most first, as the "
            "report lists them (period_report by procedure, top 10). " + PERIOD_RANGE
        )
        .with_target(FluxTarget(Q.period_report("procedure", Q.UNIT, top=10)))
        .span(12)
        .height(9)
        .cell_height(cm.TableCellHeight.SM)
        .show_header(True)
        .with_transformation(_organize(list(shown), shown, tuple(c for c in Q.PERIOD_REPORT_COLUMNS if c not in shown)))
        .overrides(_period_overrides())
    )


def _alert_link(uid: str) -> list[dict[str, str]]:
    return [
        {
            "title": "Chi tiết đơn vị",
            "url": f"/d/{uid}?var-province=${{province}}&var-unit=${{__data.fields.unit_code}}"
            "&var-window=${window}&${__url_time_range}",
        }
    ]


# ---------------------------------------------------------------------------------------
# dashboards
# ---------------------------------------------------------------------------------------
INDEX_DESCRIPTION = (
    "The index of Decision 766/QĐ-TTg as `govpulse index` last wrote it (measurement service_index) for the "
    "selected window's latest period in the time range: it is computed by that command, not by the worker, "
    "so run `govpulse index --unit U --period WINDOW:LABEL` first. Scores only where the criterion's points "
    "and scoring rule are known (the three published points, or the weights file); otherwise the value is "
    "shown with an empty score; `govpulse index` prints why each is not scored (README: the service index)."
)


def service_index_table(pid: int) -> table.Panel:
    """The unit's index: one row per criterion, group and total."""
    return (
        table.Panel()
        .id(pid)
        .title("Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg)")
        .description(INDEX_DESCRIPTION)
        .with_target(FluxTarget(Q.service_index_table("unit")))
        .span(24)
        .height(14)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .with_transformation(
            _organize(
                [*Q.SERVICE_INDEX_COLUMNS, "period"],
                {
                    "group": "Nhóm",
                    "criterion": "Tiêu chí",
                    "name": "Tên",
                    "value": "Giá trị",
                    "score": "Điểm",
                    "max": "Tối đa",
                    "numerator": "Tử số",
                    "denominator": "Mẫu số",
                    "period": "Kỳ (bắt đầu)",
                },
            )
        )
        .overrides([_by_name("value", ("unit", "percentunit"), ("decimals", 2)), _by_name("score", ("decimals", 2))])
    )


def service_index_points_lost_table(pid: int) -> table.Panel:
    """Where the unit's index score goes: the scored criteria losing the most points. The dossiers behind
    2.1 and 5.4 are the late list's (late and overdue dossiers)."""
    return (
        table.Panel()
        .id(pid)
        .title("Chỉ số 766: tiêu chí mất nhiều điểm nhất")
        .description(
            "The scored criteria of the unit's latest written index (service_index) that lose the most points "
            "(maximum − score). The dossiers behind the progress criteria (2.1, 5.4) are in the late-dossiers "
            "dashboard: late resolutions and overdue dossiers."
        )
        .with_target(FluxTarget(Q.service_index_points_lost("unit")))
        .span(12)
        .height(8)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .with_transformation(
            _organize(
                list(Q.SERVICE_INDEX_LOST_COLUMNS),
                {
                    "criterion": "Tiêu chí",
                    "name": "Tên",
                    "value": "Giá trị",
                    "score": "Điểm",
                    "max": "Tối đa",
                    "lost": "Điểm mất",
                },
            )
        )
        .overrides([_by_name("value", ("unit", "percentunit"), ("decimals", 2)), _by_name("lost", ("decimals", 2))])
    )


def service_index_history_timeseries(pid: int) -> timeseries.Panel:
    """The unit's index over the report months: total and group scores."""
    return (
        timeseries.Panel()
        .id(pid)
        .title("Chỉ số 766 theo tháng")
        .description(
            "The unit's index month by month (report months): the total of scored points and each group's "
            "score, as `govpulse index --each-month` last wrote them (measurement service_index, window "
            "report_month). Run it for the period to see (for example --period report_year:2024 --each-month)."
        )
        .with_target(FluxTarget(Q.service_index_history("unit")))
        .span(12)
        .height(8)
        .min(0)
        .decimals(2)
        .line_width(2)
        .show_points(cm.VisibilityMode.ALWAYS)
        .span_nulls(True)
        .legend(_bottom_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )


def service_index_ranking_table(pid: int) -> table.Panel:
    return (
        table.Panel()
        .id(pid)
        .title("Xếp hạng đơn vị theo Chỉ số 766")
        .description(INDEX_DESCRIPTION + " Units ranked by their total of scored points (scored_max: out of).")
        .with_target(FluxTarget(Q.service_index_ranking()))
        .span(24)
        .height(10)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .with_transformation(
            _organize(
                ["rank", "unit_code", "unit_name", "score", "scored_max"],
                {
                    "rank": "Hạng",
                    "unit_code": "Mã đơn vị",
                    "unit_name": "Đơn vị",
                    "score": "Điểm",
                    "scored_max": "Trên",
                },
            )
        )
        .overrides([_by_name("score", ("decimals", 2)), _by_name("unit_name", ("links", _alert_link("govpulse-unit")))])
    )


def province_overview() -> db.Dashboard:
    ids = _Ids()
    d = (
        _dashboard(
            "govpulse-province",
            "Tổng quan tỉnh",
            "Province overview: headline rates of the one-stop, document and meeting systems for the "
            "selected window, units ranked by on-time rate, and the rates over time. Province figures "
            "are sum(numerators) / sum(denominators) across units, never averages of unit rates.",
            "now-1y",
        )
        .with_variable(var_province())
        .with_variable(var_window())
    )
    d = d.with_row(db.Row("Chỉ tiêu chính (kỳ hiện tại)").id(ids()))
    for rate in Q.HEADLINE_RATES:
        d = d.with_panel(rate_stat(ids(), rate, Q.PROVINCE))
    d = d.with_panel(
        open_stat(
            ids(),
            "overdue",
            "Hồ sơ đang giải quyết quá hạn",
            "Overdue open dossiers: open dossiers whose due date has passed, summed over the province's units "
            "(each unit's latest open_dossiers point in the range). Target 0: any is red.",
            Q.PROVINCE,
        )
    )
    d = d.with_row(db.Row("Xếp hạng đơn vị").id(ids()))
    on_time_thresholds = _thresholds("on_time_rate")
    assert on_time_thresholds is not None, "on_time_rate has a target in TARGETS"
    ranking = (
        table.Panel()
        .id(ids())
        .title("Xếp hạng đơn vị theo tỷ lệ giải quyết đúng hạn")
        .description(
            "Units ranked by on-time rate in the current snapshot of the selected window, with "
            "the counts public reports give: received, resolved, resolved on time or early, "
            "resolved late. Units that resolved nothing have no rate and rank last. "
            "Colours: " + TARGETS["on_time_rate"].source
        )
        .with_target(FluxTarget(Q.unit_ranking()))
        .span(24)
        .height(12)
        .cell_height(cm.TableCellHeight.SM)
        .show_header(True)
        .footer(cb.TableFooterOptions().show(False).reducer(["sum"]).count_rows(False))
        .with_transformation(
            _organize(
                [
                    "rank",
                    "unit_name",
                    "unit_code",
                    "unit_level",
                    "received",
                    "resolved",
                    "on_time",
                    "late",
                    "on_time_rate",
                    "as_of",
                ],
                {
                    "rank": "Hạng",
                    "unit_name": "Đơn vị",
                    "unit_code": "Mã đơn vị",
                    "unit_level": "Cấp",
                    "received": "Tiếp nhận",
                    "resolved": "Đã giải quyết",
                    "on_time": "Đúng hạn và trước hạn",
                    "late": "Trễ hạn",
                    "on_time_rate": "Tỷ lệ đúng hạn",
                    "as_of": "Kỳ (bắt đầu / tính đến)",
                },
            )
        )
        .overrides(
            [
                _rate_override("on_time_rate", on_time_thresholds, "color-background"),
                _by_name(
                    "late", ("custom.cellOptions", {"type": "color-text"}), ("thresholds", _count_thresholds().build())
                ),
                _by_name("unit_name", ("links", _alert_link("govpulse-unit"))),
                _by_name("unit_level", ("mappings", LEVEL_MAP)),
            ]
        )
    )
    d = d.with_panel(ranking)
    d = d.with_row(db.Row("Diễn biến").id(ids()))
    d = d.with_panel(headline_rates_timeseries(ids()))
    d = d.with_panel(
        timeseries.Panel()
        .id(ids())
        .title("Hồ sơ đang giải quyết")
        .description(
            "Open, overdue, due-soon and overdue-without-apology dossiers over time, summed over the "
            "province's units (open_dossiers)."
        )
        .with_target(FluxTarget(Q.open_dossiers_over_time(Q.PROVINCE)))
        .unit("short")
        .decimals(0)
        .min(0)
        .span(24)
        .height(8)
        .line_width(2)
        .fill_opacity(10)
        .legend(_bottom_legend())
        .overrides(
            [
                _display("open", "Đang giải quyết"),
                _display("overdue", "Quá hạn"),
                _display("due_soon", "Sắp đến hạn"),
                _display("overdue_without_apology", "Quá hạn chưa có thư xin lỗi"),
            ]
        )
    )
    d = d.with_row(db.Row("Báo cáo định kỳ theo đơn vị").id(ids()))
    d = d.with_panel(
        period_table(
            ids(),
            "Báo cáo kết quả giải quyết TTHC (theo đơn vị)",
            "The periodic report of the province by receiving unit, ranked as the report ranks them: by "
            "on-time rate over resolved, then by resolved; units that resolved nothing last. The footer "
            "sums the counts: the report's total row. " + PERIOD_RANGE + " " + PERIOD_FORM,
            Q.period_unit_ranking(Q.PROVINCE),
            {"rank": "Hạng", "unit_name": "Đơn vị", "unit_code": "Mã đơn vị"},
        )
        .height(12)
        .overrides([*_period_overrides(), _by_name("unit_name", ("links", _alert_link("govpulse-unit")))])
    )
    d = d.with_row(db.Row("Chỉ số 766").id(ids()))
    d = d.with_panel(service_index_ranking_table(ids()))
    return d


def unit_detail() -> db.Dashboard:
    ids = _Ids()
    d = (
        _dashboard(
            "govpulse-unit",
            "Chi tiết đơn vị",
            "Unit detail: every contract rate of one unit over time with its counts, its open and overdue "
            "dossiers, its dossier alerts and its apology coverage, and its periodic report (by field, "
            "late dossiers by field, the procedures with the most late dossiers) over the time range.",
            "now-1y",
        )
        .with_variable(var_province())
        .with_variable(var_unit())
        .with_variable(var_window())
    )
    d = d.with_row(db.Row("Kỳ hiện tại").id(ids()))
    d = d.with_panel(rate_stat(ids(), "on_time_rate", Q.UNIT))
    d = d.with_panel(rate_stat(ids(), "apology_coverage", Q.UNIT))
    d = d.with_panel(
        open_stat(
            ids(), "open", "Đang giải quyết", "Open dossiers of the unit at its latest open_dossiers point.", Q.UNIT
        ).thresholds(
            db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([dm.Threshold(value=None, color="blue")])
        )
    )
    d = d.with_panel(
        open_stat(
            ids(),
            "due_soon",
            "Sắp đến hạn",
            "Open dossiers due within the due-soon lead (GOVPULSE_DUE_SOON_LEAD_WORKING_DAYS).",
            Q.UNIT,
        ).thresholds(
            db.ThresholdsConfig()
            .mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=None, color="green"), dm.Threshold(value=1, color="orange")])
        )
    )
    d = d.with_panel(open_stat(ids(), "overdue", "Quá hạn", "Open dossiers past their due date. Target 0.", Q.UNIT))
    d = d.with_panel(
        open_stat(
            ids(),
            "overdue_without_apology",
            "Quá hạn chưa có thư xin lỗi",
            "Overdue open dossiers without an apology letter yet. Target 0.",
            Q.UNIT,
        )
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Các chỉ tiêu của đơn vị")
        .description(
            "Every contract rate (RATE_DEFINITIONS) of the unit in the current snapshot of the selected "
            "window, with numerator and denominator. Empty value: denominator 0 (rate undefined)."
        )
        .with_target(FluxTarget(Q.unit_rate_table(Q.UNIT)))
        .span(24)
        .height(10)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .with_transformation(
            _organize(
                ["label", "numerator", "denominator", "value", "as_of", "rate"],
                {
                    "label": "Chỉ tiêu",
                    "numerator": "Tử số",
                    "denominator": "Mẫu số",
                    "value": "Tỷ lệ",
                    "as_of": "Kỳ (bắt đầu / tính đến)",
                    "rate": "Trường (contract)",
                },
            )
        )
        .overrides(
            [
                _by_name(
                    "value", ("unit", "percentunit"), ("decimals", 2), ("custom.cellOptions", {"type": "color-text"})
                )
            ]
        )
    )
    d = d.with_row(db.Row("Tỷ lệ theo thời gian").id(ids()))
    for rate in M.RATE_DEFINITIONS:
        d = d.with_panel(rate_timeseries(ids(), rate, Q.UNIT, span=12))
    d = d.with_row(db.Row("Hồ sơ đang giải quyết và cảnh báo").id(ids()))
    d = d.with_panel(
        timeseries.Panel()
        .id(ids())
        .title("Hồ sơ đang giải quyết, quá hạn")
        .description("open_dossiers of the unit over time: open, overdue, due soon, overdue without apology.")
        .with_target(FluxTarget(Q.open_dossiers_over_time(Q.UNIT)))
        .unit("short")
        .decimals(0)
        .min(0)
        .span(24)
        .height(8)
        .line_width(2)
        .fill_opacity(10)
        .legend(_bottom_legend())
        .overrides(
            [
                _display("open", "Đang giải quyết"),
                _display("overdue", "Quá hạn"),
                _display("due_soon", "Sắp đến hạn"),
                _display("overdue_without_apology", "Quá hạn chưa có thư xin lỗi"),
            ]
        )
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Cảnh báo hồ sơ của đơn vị")
        .description(
            "dossier_alerts of the unit due in the time range: overdue and apology missing (open "
            "due-soon dossiers are on the 'Hồ sơ trễ hạn' dashboard); late_seconds is how late the "
            "dossier was at the alert instant. Rows are updated in place when the dossier is resolved "
            "or apologised for."
        )
        .with_target(FluxTarget(Q.unit_alerts(Q.UNIT)))
        .span(24)
        .height(10)
        .show_header(True)
        .with_transformation(
            _organize(
                [
                    "_time",
                    "kind",
                    "dossier_id",
                    "procedure_code",
                    "field",
                    "due_at",
                    "late_seconds",
                    "apology_sent",
                    "resolved",
                ],
                {
                    "_time": "Thời điểm cảnh báo",
                    "kind": "Loại",
                    "dossier_id": "Mã hồ sơ",
                    "procedure_code": "Mã TTHC",
                    "field": "Lĩnh vực",
                    "due_at": "Hạn trả",
                    "late_seconds": "Trễ tại thời điểm cảnh báo",
                    "apology_sent": "Đã có thư xin lỗi",
                    "resolved": "Đã giải quyết",
                },
            )
        )
        .overrides(
            [
                _by_name("kind", ("mappings", KIND_MAP), ("custom.cellOptions", {"type": "color-text"})),
                _by_name("late_seconds", ("unit", "s")),
                _by_name("apology_sent", ("mappings", YES_NO)),
                _by_name("resolved", ("mappings", YES_NO)),
            ]
        )
    )
    d = d.with_row(db.Row("Báo cáo định kỳ theo lĩnh vực").id(ids()))
    d = d.with_panel(
        period_table(
            ids(),
            "Báo cáo kết quả giải quyết TTHC (theo lĩnh vực)",
            "The unit's periodic report (báo cáo định kỳ) by field (lĩnh vực), one row per field as in "
            "the report; the footer sums the counts: the report's total row. " + PERIOD_RANGE + " " + PERIOD_FORM,
            Q.period_report("field", Q.UNIT),
            {"field": "Lĩnh vực"},
        )
    )
    d = d.with_panel(late_by_field_chart(ids()))
    d = d.with_panel(late_procedures_table(ids()))
    d = d.with_row(db.Row("Chỉ số 766").id(ids()))
    d = d.with_panel(service_index_table(ids()))
    d = d.with_panel(service_index_points_lost_table(ids()))
    d = d.with_panel(service_index_history_timeseries(ids()))
    return d


def late_dossiers() -> db.Dashboard:
    ids = _Ids()
    d = (
        _dashboard(
            "govpulse-late",
            "Hồ sơ trễ hạn",
            "Late dossiers: the live list of open overdue and due-soon dossiers by unit and procedure, how "
            "late they are and whether an apology letter was sent (dossier_alerts), and the dossiers "
            "resolved late in the range.",
            "now-30d",
        )
        .with_variable(var_province())
        .with_variable(var_unit(include_all=True))
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Đang quá hạn",
            "Open dossiers past due at the end of the time range (live list below). Target 0.",
            Q.late_dossiers_count("Quá hạn"),
            "count",
            span=8,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Sắp đến hạn",
            "Open dossiers whose due date is within the due-soon lead and not yet passed.",
            Q.late_dossiers_count("Sắp đến hạn"),
            "count",
            span=8,
            warn=True,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Quá hạn chưa có thư xin lỗi",
            "Overdue open dossiers without an apology letter. Each overdue dossier should get one.",
            Q.late_dossiers_count("Quá hạn", without_apology=True),
            "count",
            span=8,
        )
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Danh sách hồ sơ quá hạn và sắp đến hạn")
        .description(
            "Open dossiers overdue or due soon at the end of the time range, most late first: one row "
            "per dossier (its most advanced alert). 'Trễ đến cuối kỳ' = end of the time range − due date "
            "(negative: still before the due date); 'Trễ tại thời điểm cảnh báo' = late_seconds of the "
            "alert. Looks back one year before the range start for dossiers still open."
        )
        .with_target(FluxTarget(Q.late_dossiers_live()))
        .span(24)
        .height(12)
        .show_header(True)
        .with_transformation(
            _organize(
                [
                    "status",
                    "unit_name",
                    "unit_code",
                    "procedure_code",
                    "field",
                    "dossier_id",
                    "due_at",
                    "late_seconds_now",
                    "late_seconds",
                    "apology_sent",
                ],
                {
                    "unit_name": "Đơn vị",
                    "unit_code": "Mã đơn vị",
                    "procedure_code": "Mã TTHC",
                    "field": "Lĩnh vực",
                    "dossier_id": "Mã hồ sơ",
                    "due_at": "Hạn trả",
                    "late_seconds_now": "Trễ đến cuối kỳ",
                    "late_seconds": "Trễ tại thời điểm cảnh báo",
                    "apology_sent": "Đã có thư xin lỗi",
                },
            )
        )
        .overrides(
            [
                _by_name("status", ("mappings", STATUS_MAP), ("custom.cellOptions", {"type": "color-text"})),
                _by_name("late_seconds_now", ("unit", "s")),
                _by_name("late_seconds", ("unit", "s")),
                _by_name("apology_sent", ("mappings", YES_NO), ("custom.cellOptions", {"type": "color-text"})),
                _by_name("unit_name", ("links", _alert_link("govpulse-unit"))),
            ]
        )
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Quá hạn theo đơn vị và thủ tục")
        .description(
            "Overdue open dossiers per unit and procedure (mã TTHC): how many, how many without an "
            "apology letter, and the longest delay."
        )
        .with_target(FluxTarget(Q.late_by_procedure()))
        .span(12)
        .height(10)
        .show_header(True)
        .with_transformation(
            _organize(
                ["unit_name", "unit_code", "procedure_code", "overdue", "without_apology", "max_late_seconds"],
                {
                    "unit_name": "Đơn vị",
                    "unit_code": "Mã đơn vị",
                    "procedure_code": "Mã TTHC",
                    "overdue": "Quá hạn",
                    "without_apology": "Chưa có thư xin lỗi",
                    "max_late_seconds": "Trễ lâu nhất",
                },
            )
        )
        .overrides([_by_name("max_late_seconds", ("unit", "s"))])
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Hồ sơ đã giải quyết trễ hạn")
        .description(
            "Dossiers resolved late whose due date falls in the time range: how late (resolved_at − "
            "due_at) and whether an apology letter was sent."
        )
        .with_target(FluxTarget(Q.resolved_late_dossiers()))
        .span(12)
        .height(10)
        .show_header(True)
        .with_transformation(
            _organize(
                [
                    "unit_name",
                    "unit_code",
                    "procedure_code",
                    "field",
                    "dossier_id",
                    "due_at",
                    "resolved_at",
                    "late_seconds",
                    "apology_sent",
                ],
                {
                    "unit_name": "Đơn vị",
                    "unit_code": "Mã đơn vị",
                    "procedure_code": "Mã TTHC",
                    "field": "Lĩnh vực",
                    "dossier_id": "Mã hồ sơ",
                    "due_at": "Hạn trả",
                    "resolved_at": "Ngày giải quyết",
                    "late_seconds": "Trễ",
                    "apology_sent": "Đã có thư xin lỗi",
                },
            )
        )
        .overrides(
            [
                _by_name("late_seconds", ("unit", "s")),
                _by_name("apology_sent", ("mappings", YES_NO), ("custom.cellOptions", {"type": "color-text"})),
            ]
        )
    )
    return d


def _health_ts(pid: int, title: str, description: str, query: str, unit: str, bars: bool = False) -> timeseries.Panel:
    p = (
        timeseries.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .with_target(FluxTarget(query))
        .unit(unit)
        .min(0)
        .span(12)
        .height(8)
        .line_width(1)
        .fill_opacity(15)
        .legend(_bottom_legend())
        # one value column per (app_id, topic) frame, labelled by the group key: name the series by topic
        .display_name("${__field.labels.topic}")
    )
    if bars:
        p = p.draw_style(cm.GraphDrawStyle.BARS)
    return p


def pipeline_health() -> db.Dashboard:
    ids = _Ids()
    d = (
        _dashboard(
            "govpulse-pipeline",
            "Sức khoẻ hệ thống",
            "Pipeline health: events per second per topic, consumer lag, dead letters, late events, "
            "points InfluxDB rejected, reused event ids, and units silent for longer than expected "
            "(pipeline_health, unit_activity).",
            "now-6h",
        )
        .refresh("30s")
        .with_variable(var_province())
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Thư chết (dead letters)",
            "Events sent to the dead-letter topic during the time range (increase of the dead_letters "
            "counter, all topics). Any is worth a look.",
            Q.health_counter_total("dead_letters"),
            "dead_letters",
            span=8,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Sự kiện đến muộn",
            "Events that arrived after the allowed lateness during the time range (increase of "
            "late_events, all topics).",
            Q.health_counter_total("late_events"),
            "late_events",
            span=8,
            warn=True,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            f"Đơn vị im lặng quá {Q.SILENT_AFTER_SECONDS // 3600} giờ",
            f"Units of the province with no event for more than {Q.SILENT_AFTER_SECONDS // 3600} h "
            "(last_event_age_seconds, measured against the worker's watermark). Assumption: a one-stop "
            "desk receives something every working day, so two days of silence (a weekend) is the "
            "most that is normal.",
            Q.silent_units_count(),
            "silent",
            span=8,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Điểm dữ liệu bị InfluxDB từ chối",
            "Lines InfluxDB refused as invalid during the time range (increase of points_rejected, all "
            "workers). Each was isolated from its batch and dropped, the others written; the worker log "
            "names its series and InfluxDB's reason. Any means figures are missing.",
            Q.health_counter_total("points_rejected"),
            "points_rejected",
            span=8,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Mã sự kiện dùng lại, nội dung khác",
            "Events that reused an event_id with different content during the time range (increase of "
            "conflicting_event_ids, all topics); they went to the dead-letter topic. A producer bug.",
            Q.health_counter_total("conflicting_event_ids"),
            "conflicting_event_ids",
            span=8,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Sai phân vùng (chuyển tiếp)",
            "Records that arrived in a partition other than their unit's and were forwarded to it "
            "(increase of repartitioned, all topics): a producer uses another partitioner than murmur2.",
            Q.health_counter_total("repartitioned"),
            "repartitioned",
            span=4,
            warn=True,
        )
    )
    d = d.with_panel(
        count_stat(
            ids(),
            "Không có khoá Kafka",
            "Records without a Kafka key during the time range (increase of unkeyed, all topics).",
            Q.health_counter_total("unkeyed"),
            "unkeyed",
            span=4,
            warn=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Sự kiện/giây theo topic",
            "events_per_second per topic (mean per interval).",
            Q.health_gauge("events_per_second", "mean"),
            "ops",
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Độ trễ consumer (consumer lag)",
            "Consumer lag per topic, messages behind the log end (max per interval).",
            Q.health_gauge("consumer_lag", "max"),
            "short",
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Thư chết theo topic",
            "Dead letters added per interval, per topic.",
            Q.health_counter_increase("dead_letters"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Sự kiện đến muộn theo topic",
            "Late events added per interval, per topic.",
            Q.health_counter_increase("late_events"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Sự kiện trùng lặp theo topic",
            "Duplicate events (same event_id) dropped per interval, per topic.",
            Q.health_counter_increase("duplicates"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Đọc lại do thiếu offset theo topic",
            "Records that reached a worker out of order and were read again, per interval "
            "and topic (offset_gaps). They happen around rebalances and cost only time; "
            "many mean workers keep joining and leaving the group.",
            Q.health_counter_increase("offset_gaps"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Điểm dữ liệu bị InfluxDB từ chối theo thời gian",
            "Lines InfluxDB refused as invalid per interval (points_rejected, topic "
            "'influxdb': the sink's count, per worker group). Each was dropped alone; the "
            "worker log names its series.",
            Q.health_counter_increase("points_rejected"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        _health_ts(
            ids(),
            "Mã sự kiện dùng lại theo topic",
            "Events reusing an event_id with different content, dead-lettered, per interval "
            "and topic (conflicting_event_ids).",
            Q.health_counter_increase("conflicting_event_ids"),
            "short",
            bars=True,
        )
    )
    d = d.with_panel(
        table.Panel()
        .id(ids())
        .title("Hoạt động nguồn theo đơn vị")
        .description(
            "Each unit and source system of the province: its last event and how long ago that was "
            f"(against the watermark), most silent first; red above {Q.SILENT_AFTER_SECONDS // 3600} h."
        )
        .with_target(FluxTarget(Q.unit_activity_table()))
        .span(12)
        .height(8)
        .show_header(True)
        .with_transformation(
            _organize(
                [
                    "unit_name",
                    "unit_code",
                    "unit_level",
                    "source_system",
                    "last_event_at",
                    "last_event_age_seconds",
                    "reported_at",
                ],
                {
                    "unit_name": "Đơn vị",
                    "unit_code": "Mã đơn vị",
                    "unit_level": "Cấp",
                    "source_system": "Hệ thống nguồn",
                    "last_event_at": "Sự kiện gần nhất",
                    "last_event_age_seconds": "Im lặng",
                    "reported_at": "Cập nhật lúc",
                },
            )
        )
        .overrides(
            [
                _by_name(
                    "last_event_age_seconds",
                    ("unit", "s"),
                    ("custom.cellOptions", {"type": "color-background"}),
                    (
                        "thresholds",
                        db.ThresholdsConfig()
                        .mode(dm.ThresholdsMode.ABSOLUTE)
                        .steps(
                            [
                                dm.Threshold(value=None, color="green"),
                                dm.Threshold(value=Q.SILENT_AFTER_SECONDS / 2, color="orange"),
                                dm.Threshold(value=Q.SILENT_AFTER_SECONDS, color="red"),
                            ]
                        )
                        .build(),
                    ),
                ),
                _by_name("unit_level", ("mappings", LEVEL_MAP)),
            ]
        )
    )
    return d


DASHBOARDS = {
    "province-overview": province_overview,
    "unit-detail": unit_detail,
    "late-dossiers": late_dossiers,
    "pipeline-health": pipeline_health,
}


# ---------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------
def to_json_text(obj: object) -> str:
    return json.dumps(obj, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def _finish(d: dm.Dashboard) -> dm.Dashboard:
    """Every panel with queries names the datasource itself too (Grafana uses the panel's)."""
    for p in d.panels or []:
        if isinstance(p, dm.Panel) and p.targets:
            p.datasource = datasource_ref()
        if isinstance(p, dm.Panel):
            _headers_as_overrides(p)
    return d


def render_dashboards() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{name}.json": to_json_text(_finish(build().build())) for name, build in DASHBOARDS.items()}


def dashboard_models() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in render_dashboards().items()}
