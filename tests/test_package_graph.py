"""The package graph has no arrows running back up (issue 12): `lint-imports` checks the contracts
in pyproject.toml (common at the bottom, then schemas, then producers | streams | dashboards, reports, the
CLI on top; the stream domain pure; WorkerCore and the domain free of Kafka). The second test shows the check can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("common", "schemas", "streams", "producers", "dashboards", "reports", "govpulse")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept():
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout and "4 kept" in out.stdout


def _copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "json", "scenarios"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_lower_layer_importing_a_higher_one_breaks_a_contract(tmp_path):
    root = _copy(tmp_path)
    with (root / "common" / "measurements.py").open("a") as f:
        f.write("\nfrom streams import core  # an arrow running back up\n")
    with (root / "streams" / "domain" / "counts.py").open("a") as f:
        f.write("\nfrom streams import sink  # the pure domain reaching for InfluxDB\n")
    with (root / "streams" / "core.py").open("a") as f:
        f.write("\nimport aiokafka  # WorkerCore reaching for Kafka\n")
    out = _lint(root)
    assert out.returncode != 0
    assert "common.measurements -> streams.core" in out.stdout
    assert "streams.domain.counts -> streams.sink" in out.stdout
    assert "streams.core -> aiokafka" in out.stdout
    assert "4 broken" in out.stdout
