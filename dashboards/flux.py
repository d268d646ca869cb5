"""A typed InfluxDB (Flux) dataquery for grafana-foundation-sdk, and Grafana's query interpolation.

grafana-foundation-sdk 10.1 ships no InfluxDB dataquery, so this module adds one in the
SDK's own shape: :class:`FluxQuery` is a ``cog`` ``Dataquery`` with ``to_json`` /
``from_json``, registered as the ``influxdb`` variant so ``Dashboard.from_json`` decodes
our targets into it (round trip), and :class:`FluxTarget` is its builder.

:func:`interpolate` does to a query what Grafana does before sending it to InfluxDB:
dashboard template variables (``${name}``, in the browser) and Flux macros
(``v.timeRangeStart``, ``v.timeRangeStop``, ``v.windowPeriod``, ``v.defaultBucket``,
``v.organization``; Grafana's backend, pkg/tsdb/influxdb/flux/macros.go).  Tests use it to
run the exact query text of the generated JSON against a real InfluxDB.
"""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime, timedelta

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

DATASOURCE_TYPE = "influxdb"
DATASOURCE_UID = "govpulse-influxdb"


def datasource_ref() -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class FluxQuery(cogvariants.Dataquery):
    """An InfluxDB target in Flux mode (``query`` holds the Flux text)."""

    ref_id: str
    query: str
    hide: bool | None
    datasource: dm.DataSourceRef | None
    # alert rule models carry these two (Grafana fills them in when absent)
    interval_ms: int | None
    max_data_points: int | None

    def __init__(
        self,
        ref_id: str = "",
        query: str = "",
        hide: bool | None = None,
        datasource: dm.DataSourceRef | None = None,
        interval_ms: int | None = None,
        max_data_points: int | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.hide = hide
        self.datasource = datasource
        self.interval_ms = interval_ms
        self.max_data_points = max_data_points

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {"refId": self.ref_id, "query": self.query}
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.interval_ms is not None:
            payload["intervalMs"] = self.interval_ms
        if self.max_data_points is not None:
            payload["maxDataPoints"] = self.max_data_points
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> typing.Self:
        unknown = set(data) - {"refId", "query", "hide", "datasource", "intervalMs", "maxDataPoints"}
        if unknown:
            raise ValueError(f"FluxQuery: unexpected keys {sorted(unknown)}")
        return cls(
            ref_id=data.get("refId", ""),
            query=data.get("query", ""),
            hide=data.get("hide"),
            datasource=dm.DataSourceRef.from_json(data["datasource"]) if "datasource" in data else None,
            interval_ms=data.get("intervalMs"),
            max_data_points=data.get("maxDataPoints"),
        )


class FluxTarget(cogbuilder.Builder[FluxQuery]):
    """Builder for :class:`FluxQuery`, usable wherever the SDK takes a dataquery builder."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._internal = FluxQuery(ref_id=ref_id, query=query, datasource=datasource_ref())

    def build(self) -> FluxQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def hide(self, hide: bool) -> typing.Self:
        self._internal.hide = hide
        return self

    def interval_ms(self, interval_ms: int) -> typing.Self:
        self._internal.interval_ms = interval_ms
        return self

    def max_data_points(self, max_data_points: int) -> typing.Self:
        self._internal.max_data_points = max_data_points
        return self


def register() -> None:
    """Register the SDK's default plugins plus our ``influxdb`` dataquery variant (idempotent)."""
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=FluxQuery.from_json)
    )


# ---------------------------------------------------------------------------------------
# What Grafana does to the text before InfluxDB sees it
# ---------------------------------------------------------------------------------------
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# Grafana's backend: any `word.word`, replaced by what the second word names.
_MACRO = re.compile(r"([a-zA-Z]+)\.([a-zA-Z]+)")


def _go_duration(d: timedelta) -> str:
    """A duration as Go's time.Duration.String() prints it (what Grafana puts in for v.windowPeriod)."""
    total = int(d.total_seconds())
    if total <= 0:
        return "0s"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("interpolate: time range bounds must be timezone-aware")
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def substitute_variables(query: str, variables: typing.Mapping[str, str]) -> str:
    """Replace dashboard template variables (``${name}``, ``$name``, ``${name:raw}``).

    Fails on a variable it has no value for, so a test can't silently run a query
    that still contains a placeholder.
    """

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        fmt = m.group(2)
        if name not in variables:
            raise KeyError(f"no value for template variable ${{{name}}}")
        if fmt not in (None, "raw"):
            raise ValueError(f"unsupported variable format {fmt!r} in ${{{name}:{fmt}}}")
        return variables[name]

    return _VAR.sub(repl, query)


def interpolate(
    query: str,
    *,
    start: datetime,
    stop: datetime,
    window_period: timedelta,
    bucket: str,
    organization: str = "",
    variables: typing.Mapping[str, str] | None = None,
) -> str:
    """The query as InfluxDB receives it from Grafana for this time range and variable values."""
    flux = substitute_variables(query, variables or {})
    replacements = {
        "timeRangeStart": _rfc3339(start),
        "timeRangeStop": _rfc3339(stop),
        "windowPeriod": _go_duration(window_period),
        "bucket": f'"{bucket}"',
        "defaultBucket": f'"{bucket}"',
        "organization": f'"{organization}"',
    }
    for full, _, name in {(m.group(0), m.group(1), m.group(2)) for m in _MACRO.finditer(flux)}:
        if name in replacements:
            flux = flux.replace(full, replacements[name])
    ms = int(window_period.total_seconds() * 1000)
    flux = flux.replace("$__interval_ms", str(ms)).replace("$__interval", _go_duration(window_period))
    return flux
