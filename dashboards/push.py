"""Install or update govpulse in a running Grafana through its HTTP API (grafana-client).

Idempotent: every object is read first and written only when it is missing or differs from
what the code makes (a second run sends no write request).  What is compared is what we
send: Grafana's extra fields (ids, versions, timestamps) are ignored, and the datasource's
token is write-only in Grafana, so it is sent only when the datasource is created or has
no token, or when another field changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse

from dashboards.alerts import (
    RULE_GROUP,
    RULE_GROUP_INTERVAL_SECONDS,
    api_rules,
    datasource_api_payload,
)
from dashboards.build import FOLDER_TITLE, FOLDER_UID, dashboard_models
from dashboards.flux import DATASOURCE_UID

P = ParamSpec("P")
R = TypeVar("R")


class PushError(Exception):
    """A failure with a message meant for the operator."""


@dataclass
class PushReport:
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, created|updated|unchanged)

    def add(self, kind: str, name: str, what: str) -> None:
        self.actions.append((kind, name, what))

    @property
    def changed(self) -> int:
        return sum(1 for *_, what in self.actions if what != "unchanged")


def is_subset(want: Any, have: Any) -> bool:
    """Whether everything in ``want`` is in ``have`` (dict keys recursively; lists element-wise)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(a, b) for a, b in zip(want, have, strict=True))
        )
    if isinstance(want, bool) or isinstance(have, bool):
        return type(want) is type(have) and want == have
    if isinstance(want, float) or isinstance(have, float):
        return isinstance(have, (int, float)) and not isinstance(have, bool) and float(want) == float(have)
    same: bool = want == have
    return same


def _check_url(url: str) -> None:
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise PushError(f"bad Grafana URL {url!r}: expected http(s)://host[:port][/path]")
    try:
        _ = u.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as e:
        raise PushError(f"bad Grafana URL {url!r}: {e}") from e


class _Grafana:
    """grafana-client calls with errors turned into operator messages."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        from grafana_client.api import GrafanaApi

        self.url = url.rstrip("/")
        self.api = GrafanaApi.from_url(self.url, credential=token, timeout=timeout)

    def call(self, action: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
        """``fn(*args, **kwargs)``; None when Grafana answers 404 Not Found."""
        from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

        try:
            return fn(*args, **kwargs)
        except GrafanaUnauthorizedError as e:
            raise PushError(
                f"Grafana at {self.url} rejected the token (HTTP 401 Unauthorized) while trying to {action}: "
                "check GOVPULSE_GRAFANA_TOKEN or --token-file (a service-account token of this Grafana)"
            ) from e
        except GrafanaClientError as e:
            if e.status_code == 403:
                raise PushError(
                    f"the token may not {action} (HTTP 403 Forbidden): give its service account the Admin role "
                    "in the organisation (datasources and alert rules need Admin; folders and dashboards "
                    f"Editor). Grafana said: {_message(e)}"
                ) from e
            if e.status_code == 404:
                return None
            raise PushError(f"Grafana refused to {action} (HTTP {e.status_code}): {_message(e)}") from e
        except GrafanaException as e:
            if e.status_code == 0:
                raise PushError(f"cannot reach Grafana at {self.url} to {action}: {e.message}") from e
            raise PushError(f"Grafana failed to {action} (HTTP {e.status_code}): {_message(e)}") from e
        except Exception as e:
            raise PushError(f"cannot reach Grafana at {self.url} to {action}: {type(e).__name__}: {e}") from e


def _message(e: Exception) -> str:
    resp = getattr(e, "response", None)
    if isinstance(resp, dict) and resp.get("message"):
        return str(resp["message"])
    return str(getattr(e, "message", e))


def push(
    url: str,
    token: str,
    *,
    influx_url: str,
    influx_org: str,
    influx_bucket: str,
    influx_token: str | None,
    environ: dict[str, str] | None = None,
    timeout: float = 15.0,
    log: Callable[[str], None] = lambda _: None,
) -> PushReport:
    """Install or update datasource, folder, dashboards and alert rules; return what was done."""
    _check_url(url)
    if not token:
        raise PushError("no Grafana token: set GOVPULSE_GRAFANA_TOKEN or pass --token-file")
    g = _Grafana(url, token, timeout)
    report = PushReport()
    api = g.api

    health = g.call("check its health", api.client.GET, "/health")
    if not isinstance(health, dict) or "database" not in health:
        raise PushError(f"{url} does not answer like Grafana (GET /api/health gave {health!r:.200})")
    log(f"Grafana {health.get('version', '?')} at {g.url}")

    # --- datasource -----------------------------------------------------------------------
    want = datasource_api_payload(influx_url, influx_org, influx_bucket, influx_token)
    compare = {k: v for k, v in want.items() if k != "secureJsonData"}
    have = g.call("read the datasource", api.datasource.get_datasource_by_uid, DATASOURCE_UID)
    if have is None:
        if influx_token is None:
            raise PushError("the datasource does not exist yet and no InfluxDB token was given for it")
        g.call("create the datasource", api.datasource.create_datasource, want)
        report.add("datasource", DATASOURCE_UID, "created")
    elif not is_subset(compare, have) or not (have.get("secureJsonFields") or {}).get("token"):
        if not (have.get("secureJsonFields") or {}).get("token") and influx_token is None:
            raise PushError("the datasource has no token and no InfluxDB token was given for it")
        g.call("update the datasource", api.datasource.update_datasource_by_uid, DATASOURCE_UID, want)
        report.add("datasource", DATASOURCE_UID, "updated")
    else:
        report.add("datasource", DATASOURCE_UID, "unchanged")

    # --- folder ---------------------------------------------------------------------------
    folder = g.call("read the folder", api.folder.get_folder, FOLDER_UID)
    if folder is None:
        g.call("create the folder", api.folder.create_folder, FOLDER_TITLE, uid=FOLDER_UID)
        report.add("folder", FOLDER_UID, "created")
    elif folder.get("title") != FOLDER_TITLE:
        g.call(
            "rename the folder",
            api.folder.update_folder,
            FOLDER_UID,
            title=FOLDER_TITLE,
            version=folder.get("version"),
            overwrite=True,
        )
        report.add("folder", FOLDER_UID, "updated")
    else:
        report.add("folder", FOLDER_UID, "unchanged")

    # --- dashboards -------------------------------------------------------------------------
    for dash in dashboard_models().values():
        uid = dash["uid"]
        have = g.call(f"read dashboard {uid}", api.dashboard.get_dashboard, uid)
        if (
            have is not None
            and is_subset(dash, have.get("dashboard"))
            and (have.get("meta") or {}).get("folderUid") == FOLDER_UID
        ):
            report.add("dashboard", uid, "unchanged")
            continue
        body = {
            "dashboard": {**dash, "id": None},
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "govpulse dashboards push",
        }
        g.call(f"save dashboard {uid}", api.dashboard.update_dashboard, body)
        report.add("dashboard", uid, "created" if have is None else "updated")

    # --- alert rules ---------------------------------------------------------------------------
    for rule in api_rules(environ):
        uid = rule["uid"]
        have = g.call(f"read alert rule {uid}", api.alertingprovisioning.get_alertrule, uid)
        if have is None:
            g.call(f"create alert rule {uid}", api.alertingprovisioning.create_alertrule, rule)
            report.add("alert rule", uid, "created")
        elif not is_subset(rule, have):
            g.call(f"update alert rule {uid}", api.alertingprovisioning.update_alertrule, uid, rule)
            report.add("alert rule", uid, "updated")
        else:
            report.add("alert rule", uid, "unchanged")
    group = g.call("read the alert rule group", api.alertingprovisioning.get_rule_group, FOLDER_UID, RULE_GROUP)
    if group is not None and group.get("interval") != RULE_GROUP_INTERVAL_SECONDS:
        body = {**group, "interval": RULE_GROUP_INTERVAL_SECONDS}
        g.call(
            "set the alert rule group interval",
            api.alertingprovisioning.update_rule_group,
            FOLDER_UID,
            RULE_GROUP,
            body,
        )
        report.add("rule group", RULE_GROUP, "updated")
    else:
        report.add("rule group", RULE_GROUP, "unchanged")
    return report
