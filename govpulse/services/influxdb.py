"""Local InfluxDB 2.7 ``influxd``, built from source through the Go module proxy.

The build (about 10 minutes on 2 cores the first time, then cached):

1. ``go mod download github.com/influxdata/influxdb/v2@<version>``; the module's
   go.mod has ``replace`` directives, so ``go install pkg@version`` refuses it and we
   build a writable copy of the module as the main module instead.
2. Install the ``github.com/influxdata/pkg-config`` wrapper at the version that
   go.mod pins: when cgo asks for ``flux``, it builds flux's Rust ``libflux``
   with cargo from crates.io.
3. ``go build ./cmd/influxd`` without the ``assets`` tag (no UI).

Two adjustments let the 2023-era Rust code build with today's toolchain:
``RUSTUP_TOOLCHAIN`` selects the installed toolchain instead of the pinned 1.72
that rustup cannot download here, and a ``RUSTC_WRAPPER`` adds ``--cap-lints warn``
because flux compiles with ``#![deny(warnings)]`` and newer rustc has new lints.
(``RUSTFLAGS`` is not enough: flux-core is also a host build-dependency, and with
``--target`` set cargo does not apply RUSTFLAGS to host crates.)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.settings import Settings
from govpulse.services.process import ManagedProcess, ServiceError, port_in_use, require_tool, run_logged

MODULE = "github.com/influxdata/influxdb/v2"

RUSTC_WRAPPER = """#!/bin/sh
# flux builds with #![deny(warnings)]; lints added to rustc since then would fail it.
case " $* " in *" --cap-lints "*) exec "$@" ;; esac
exec "$@" --cap-lints warn
"""


class InfluxService:
    name = "influxdb"

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.install_dir = settings.home / "influxdb" / settings.influx_version
        self.binary = self.install_dir / "bin" / "influxd"
        self.build_log = self.install_dir / "build.log"
        port = settings.influx_port
        self.data_dir = settings.home / "data" / f"influxdb-{port}"
        self.proc = ManagedProcess(
            "influxdb",
            settings.home / "run" / f"influxdb-{port}.pid",
            settings.home / "logs" / f"influxdb-{port}.log",
        )

    # -- install (build from source) --------------------------------------------
    def installed(self) -> bool:
        return self.binary.exists() and (self.install_dir / ".complete").exists()

    def install(self) -> None:
        if self.installed():
            return
        go = require_tool("go", "build InfluxDB from the Go module proxy (install Go 1.23+)")
        require_tool("cargo", "build flux's libflux (install Rust with cargo)")
        require_tool("gcc", "link InfluxDB with cgo (install gcc)")
        self.install_dir.mkdir(parents=True, exist_ok=True)
        self.build_log.write_text("")
        env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
        ver = f"v{self.s.influx_version}"

        out = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{ver}"], capture_output=True, text=True, env=env
        )
        if out.returncode != 0:
            self.build_log.write_text(out.stdout + out.stderr)
            raise ServiceError(f"downloading {MODULE}@{ver} failed; log: {self.build_log}\n{out.stdout}{out.stderr}")
        module_dir = Path(json.loads(out.stdout)["Dir"])

        src = self.install_dir / "src"
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(module_dir, src)
        for p in [src, *src.rglob("*")]:  # the module cache is read-only
            p.chmod(p.stat().st_mode | 0o200)

        pkgconfig_ver = re.search(r"github.com/influxdata/pkg-config (v[0-9.]+)", (src / "go.mod").read_text())
        tools = self.install_dir / "tools"
        run_logged(
            [
                go,
                "install",
                f"github.com/influxdata/pkg-config@{pkgconfig_ver.group(1) if pkgconfig_ver else 'v0.2.14'}",
            ],
            self.build_log,
            env=dict(env, GOBIN=str(tools)),
            what="installing influxdata/pkg-config",
        )
        wrapper = tools / "rustc-cap-lints"
        wrapper.write_text(RUSTC_WRAPPER)
        wrapper.chmod(0o755)

        build_env = dict(env, PKG_CONFIG=str(tools / "pkg-config"), RUSTC_WRAPPER=str(wrapper))
        toolchain = _active_rust_toolchain()
        if toolchain:
            build_env["RUSTUP_TOOLCHAIN"] = toolchain
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        run_logged(
            [
                go,
                "build",
                "-ldflags",
                f"-X main.version={ver} -X main.commit=go-module-proxy",
                "-o",
                str(self.binary),
                "./cmd/influxd",
            ],
            self.build_log,
            cwd=src,
            env=build_env,
            what=f"building influxd {ver} (Go + cargo for libflux)",
        )
        shutil.rmtree(src, ignore_errors=True)
        (self.install_dir / ".complete").write_text(ver)

    # -- lifecycle ----------------------------------------------------------------
    def _get(self, path: str, timeout: float = 3) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.s.influx_url}{path}", timeout=timeout) as r:
            body: dict[str, Any] = json.loads(r.read())
            return body

    def healthy(self) -> bool:
        return self._get("/health").get("status") == "pass"

    def start(self, timeout: float = 90) -> str:
        if self.proc.pid() is not None:
            self.proc.wait_healthy(self.healthy, timeout, "InfluxDB")
            self.onboard()
            return "already running"
        if port_in_use(self.s.influx_host, self.s.influx_port):
            raise ServiceError(
                f"port {self.s.influx_port} on {self.s.influx_host} is already taken by another process; "
                "stop it or set GOVPULSE_INFLUX_URL"
            )
        self.install()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(self.binary),
            f"--bolt-path={self.data_dir / 'influxd.bolt'}",
            f"--engine-path={self.data_dir / 'engine'}",
            f"--sqlite-path={self.data_dir / 'influxd.sqlite'}",
            f"--http-bind-address={self.s.influx_host}:{self.s.influx_port}",
            "--reporting-disabled",
            "--log-level=warn",
        ]
        self.proc.start(cmd)
        self.proc.wait_healthy(self.healthy, timeout, "InfluxDB")
        self.onboard()
        return "started"

    def onboard(self) -> None:
        """Create org, bucket and operator token once; later calls only check the token is there."""
        token_file = self.s.local_token_file
        if not self._get("/api/v2/setup").get("allowed"):
            if not token_file.exists() and self.s.influx_token is None and self.s.influx_token_file is None:
                raise ServiceError(
                    f"InfluxDB at {self.s.influx_url} is already set up but its token file {token_file} is gone; "
                    f"remove {self.data_dir} to start afresh, or set GOVPULSE_INFLUX_TOKEN"
                )
            return
        token = secrets.token_urlsafe(48)
        password = secrets.token_urlsafe(24)
        body = {
            "username": "govpulse-admin",
            "password": password,
            "org": self.s.influx_org,
            "bucket": self.s.influx_bucket,
            "token": token,
            "retentionPeriodSeconds": _retention_seconds(self.s.influx_retention),
        }
        req = urllib.request.Request(
            f"{self.s.influx_url}/api/v2/setup",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            raise ServiceError(f"InfluxDB onboarding failed: HTTP {e.code} {e.read().decode(errors='replace')}") from e
        token_file.parent.mkdir(parents=True, exist_ok=True)
        # Written 0600: the operator token is a secret and never goes in the repository.
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        pw = token_file.with_name(token_file.name.replace("token", "password"))
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password)

    def stop(self) -> bool:
        return self.proc.stop(grace=30)

    def version(self) -> str | None:
        if not self.binary.exists():
            return None
        out = subprocess.run([str(self.binary), "version"], capture_output=True, text=True)
        m = re.search(r"InfluxDB (v?[\w.\-]+)", out.stdout)
        return m.group(1) if m else out.stdout.strip() or None


def _retention_seconds(text: str) -> int:
    text = text.strip()
    if text in ("", "0"):
        return 0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def _active_rust_toolchain() -> str | None:
    """Name of the installed default toolchain, to override flux's pinned rust-toolchain file."""
    rustup = shutil.which("rustup")
    if not rustup:
        return None
    out = subprocess.run([rustup, "default"], capture_output=True, text=True, cwd="/")
    m = re.match(r"(\S+)", out.stdout)
    return m.group(1) if m and out.returncode == 0 else None
