"""`govpulse dashboards push` against a stand-in Grafana HTTP server."""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from dashboards import alerts
from dashboards.build import FOLDER_UID, dashboard_models
from dashboards.flux import DATASOURCE_UID
from dashboards.push import PushError, is_subset, push

ADMIN = "admin-token"
VIEWER = "viewer-token"


class FakeGrafana:
    """Stands in for Grafana, because Grafana cannot run on this machine (no Docker engine, no
    Grafana build): a real HTTP server on 127.0.0.1 that implements the few endpoints of
    Grafana's HTTP API that `dashboards push` uses, keeps their state the way Grafana does
    (ids, versions, write-only datasource secrets, provenance on rules), checks the bearer
    token (401 for an unknown one; 403 on writes for a Viewer's) and records every request.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.groups: dict[tuple[str, str], int] = {}
        self._ids = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path))
                if self.path == "/api/health":
                    return self._reply(200, {"commit": "stand-in", "database": "ok", "version": "10.4.2"})
                auth = self.headers.get("Authorization", "")
                if auth not in (f"Bearer {ADMIN}", f"Bearer {VIEWER}"):
                    return self._reply(401, {"message": "Unauthorized"})
                if method != "GET" and auth == f"Bearer {VIEWER}":
                    return self._reply(403, {"message": "You'll need additional permissions to perform this action."})
                code, out = fake.route(method, self.path.split("?")[0], body)
                self._reply(code, out)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

            def do_DELETE(self):
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -- Grafana's behaviour ----------------------------------------------------------------
    def route(self, method: str, path: str, body):
        m = re.fullmatch(r"/api/datasources(?:/uid/([^/]+))?", path)
        if m:
            uid = m.group(1)
            if method == "GET" and uid:
                ds = self.datasources.get(uid)
                return (200, ds) if ds else (404, {"message": "Data source not found"})
            if method == "POST" and not uid:
                stored = self._store_ds(body, None)
                return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource added"}
            if method == "PUT" and uid in self.datasources:
                stored = self._store_ds(body, self.datasources[uid])
                return 200, {"datasource": stored, "message": "Datasource updated"}
            return 404, {"message": "Data source not found"}
        m = re.fullmatch(r"/api/folders(?:/([^/]+))?", path)
        if m:
            uid = m.group(1)
            if method == "GET" and uid:
                f = self.folders.get(uid)
                return (200, f) if f else (404, {"message": "folder not found"})
            if method == "POST" and not uid:
                f = {"id": self._id(), "uid": body.get("uid"), "title": body["title"], "version": 1}
                self.folders[f["uid"]] = f
                return 200, f
            if method == "PUT" and uid in self.folders:
                f = self.folders[uid]
                f.update(title=body["title"], version=f["version"] + 1)
                return 200, f
            return 404, {"message": "folder not found"}
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if m and method == "GET":
            d = self.dashboards.get(m.group(1))
            return (200, copy.deepcopy(d)) if d else (404, {"message": "Dashboard not found"})
        if path == "/api/dashboards/db" and method == "POST":
            dash = copy.deepcopy(body["dashboard"])
            uid = dash["uid"]
            old = self.dashboards.get(uid)
            if old and not body.get("overwrite"):
                return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
            dash["id"] = old["dashboard"]["id"] if old else self._id()
            dash["version"] = old["dashboard"]["version"] + 1 if old else 1
            self.dashboards[uid] = {
                "dashboard": dash,
                "meta": {"folderUid": body.get("folderUid", ""), "slug": uid, "provisioned": False},
            }
            return 200, {"id": dash["id"], "uid": uid, "status": "success", "version": dash["version"]}
        m = re.fullmatch(r"/api/v1/provisioning/alert-rules(?:/([^/]+))?", path)
        if m:
            uid = m.group(1)
            if method == "GET" and uid:
                r = self.rules.get(uid)
                return (200, copy.deepcopy(r)) if r else (404, {"message": "rule not found"})
            if method == "POST" and not uid:
                if body["folderUID"] not in self.folders:
                    return 400, {"message": "folder does not exist"}
                return 201, self._store_rule(body, None)
            if method == "PUT" and uid in self.rules:
                return 200, self._store_rule(body, self.rules[uid])
            return 404, {"message": "rule not found"}
        m = re.fullmatch(r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", path)
        if m:
            key = (m.group(1), m.group(2))
            rules = [r for r in self.rules.values() if (r["folderUID"], r["ruleGroup"]) == key]
            if method == "GET":
                if not rules:
                    return 404, {"message": "rule group not found"}
                return 200, {
                    "title": key[1],
                    "folderUid": key[0],
                    "interval": self.groups.get(key, 60),
                    "rules": copy.deepcopy(rules),
                }
            if method == "PUT":
                self.groups[key] = body["interval"]
                return 200, body
        return 404, {"message": "Not found"}

    def _store_ds(self, body: dict, old: dict | None) -> dict:
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        stored.update(
            id=old["id"] if old else self._id(),
            orgId=1,
            version=(old["version"] + 1) if old else 1,
            readOnly=False,
            withCredentials=False,
            database="",
            user="",
            basicAuthUser="",
            typeLogoUrl="public/app/plugins/datasource/influxdb/img/influxdb_logo.svg",
        )
        secrets = dict((old or {}).get("secureJsonFields", {}))
        secrets.update({k: True for k in (body.get("secureJsonData") or {})})
        stored["secureJsonFields"] = secrets
        self.datasources[body["uid"]] = stored
        return stored

    def _store_rule(self, body: dict, old: dict | None) -> dict:
        stored = copy.deepcopy(body)
        stored.update(id=old["id"] if old else self._id(), updated="2026-11-22T10:00:00Z", provenance="api")
        self.groups.setdefault((body["folderUID"], body["ruleGroup"]), 60)
        self.rules[body["uid"]] = stored
        return stored


def _push(url: str, token: str = ADMIN, **kw):
    args = dict(
        influx_url="http://influxdb:8086",
        influx_org="govpulse",
        influx_bucket="govpulse",
        influx_token="influx-read-token",
        timeout=5,
    )
    args.update(kw)
    return push(url, token, **args)


def test_push_installs_everything_then_changes_nothing():
    with FakeGrafana() as g:
        first = _push(g.url)
        assert {what for *_, what in first.actions} == {"created", "unchanged"}
        assert DATASOURCE_UID in g.datasources and g.datasources[DATASOURCE_UID]["secureJsonFields"] == {"token": True}
        assert g.datasources[DATASOURCE_UID]["jsonData"]["version"] == "Flux"
        assert FOLDER_UID in g.folders
        assert set(g.dashboards) == {d["uid"] for d in dashboard_models().values()}
        assert all(d["meta"]["folderUid"] == FOLDER_UID for d in g.dashboards.values())
        assert set(g.rules) == {s.uid for s in alerts.ALERTS}
        writes_after_first = len(g.writes)
        assert writes_after_first == 1 + 1 + len(dashboard_models()) + len(alerts.ALERTS)

        second = _push(g.url)
        assert second.changed == 0, second.actions
        assert len(g.writes) == writes_after_first, g.writes[writes_after_first:]

        # someone edits a dashboard and a rule in the UI: exactly those two are put back
        g.dashboards["govpulse-late"]["dashboard"]["title"] = "edited"
        g.rules["govpulse-dead-letters"]["for"] = "1h"
        third = _push(g.url)
        assert sorted((k, n) for k, n, what in third.actions if what != "unchanged") == [
            ("alert rule", "govpulse-dead-letters"),
            ("dashboard", "govpulse-late"),
        ]
        assert g.dashboards["govpulse-late"]["dashboard"]["title"] == "Hồ sơ trễ hạn"
        assert g.dashboards["govpulse-late"]["dashboard"]["version"] == 2

        # a changed threshold in the environment updates that rule only
        fourth = _push(g.url, environ={"GOVPULSE_ALERT_ON_TIME_THRESHOLD": "0.9"})
        assert [n for _, n, what in fourth.actions if what != "unchanged"] == ["govpulse-on-time-7d"]
        assert g.rules["govpulse-on-time-7d"]["data"][2]["model"]["expression"] == "$B < 0.9"


def test_push_keeps_the_datasource_token_write_only():
    with FakeGrafana() as g:
        _push(g.url)
        n = len(g.writes)
        # no token at hand: fine, the datasource already has one
        assert _push(g.url, influx_token=None).changed == 0
        assert len(g.writes) == n
        # the URL Grafana should use changed: updated, token re-sent
        report = _push(g.url, influx_url="http://influx.internal:8086")
        assert [k for k, _, what in report.actions if what == "updated"] == ["datasource"]
        assert g.datasources[DATASOURCE_UID]["url"] == "http://influx.internal:8086"


def test_bad_token_is_a_clear_401_error():
    with FakeGrafana() as g:
        with pytest.raises(PushError, match=r"rejected the token \(HTTP 401 Unauthorized\)"):
            _push(g.url, token="wrong")
        assert not g.writes


def test_missing_permission_is_a_clear_403_error():
    with FakeGrafana() as g:
        with pytest.raises(PushError, match=r"may not create the datasource \(HTTP 403 Forbidden\).*Admin role"):
            _push(g.url, token=VIEWER)
        assert g.writes == [("POST", "/api/datasources")]


def test_unreachable_or_malformed_url_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on that port any more
    with pytest.raises(PushError, match=rf"cannot reach Grafana at http://127.0.0.1:{port}"):
        _push(f"http://127.0.0.1:{port}")
    for bad in ("grafana.example.vn", "ftp://grafana", "http://"):
        with pytest.raises(PushError, match="bad Grafana URL"):
            _push(bad)


def test_cli_push_takes_the_token_from_env_or_file_only(tmp_path, monkeypatch):
    from govpulse.cli import app

    monkeypatch.delenv("GOVPULSE_GRAFANA_TOKEN", raising=False)
    monkeypatch.setenv("GOVPULSE_GRAFANA_INFLUX_TOKEN", "influx-read-token")
    runner = CliRunner()
    with FakeGrafana() as g:
        r = runner.invoke(app, ["dashboards", "push", "--url", g.url])
        assert r.exit_code == 2 and "GOVPULSE_GRAFANA_TOKEN" in r.output
        r = runner.invoke(app, ["dashboards", "push", "--url", g.url], env={"GOVPULSE_GRAFANA_TOKEN": "nope"})
        assert r.exit_code == 1 and "HTTP 401" in r.output
        token_file = tmp_path / "grafana-token"
        token_file.write_text(ADMIN + "\n")
        r = runner.invoke(app, ["dashboards", "push", "--url", g.url, "--token-file", str(token_file)])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["dashboards", "push", "--url", g.url, "--token-file", str(token_file)])
        assert r.exit_code == 0 and "0 change(s)" in r.output
    help_text = runner.invoke(app, ["dashboards", "push", "--help"]).output
    assert "--token " not in help_text  # no way to pass a token literal on the command line


def test_is_subset():
    assert is_subset({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2, "c": 3}], "d": 4})
    assert not is_subset({"a": [1]}, {"a": [1, 2]})
    assert is_subset({"x": 0.9}, {"x": 0.9}) and not is_subset({"x": 1}, {"x": True})
