"""`govpulse dashboards generate | check | push`: Grafana dashboards, alert rules and provisioning as code."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
dashboards_app = typer.Typer(help="Grafana dashboards and alert rules (grafana-foundation-sdk): generate, check, push.")


_ROOT = typer.Option(None, "--root", hidden=True, help="repository root (default: this checkout)")


@dashboards_app.command("generate")
def generate(root: Path | None = _ROOT) -> None:
    """Write dashboards/json/*.json and deploy/grafana/provisioning/** from the Python sources."""
    from dashboards.artifacts import REPO, expected
    from dashboards.artifacts import generate as gen

    root = root or REPO
    changed = gen(root)
    for p in expected(root):
        mark = "[yellow]written[/]" if p in changed else "unchanged"
        console.print(f"{p.relative_to(root)}: {mark}")


@dashboards_app.command("check")
def check(root: Path | None = _ROOT) -> None:
    """Exit 1 if a generated file is missing, stale or stray (run `govpulse dashboards generate`)."""
    from dashboards.artifacts import REPO, stale

    root = root or REPO
    bad = stale(root)
    if bad:
        for p in bad:
            console.print(f"[red]stale[/]: {p.relative_to(root)}")
        console.print("run `govpulse dashboards generate` and commit the result")
        raise typer.Exit(1)
    console.print("[green]generated dashboards and provisioning files are up to date[/]")


def _read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise typer.BadParameter(f"cannot read {what} file {path}: {e.strerror}") from e
    if not text:
        raise typer.BadParameter(f"{what} file {path} is empty")
    return text


@dashboards_app.command("push")
def push_cmd(
    url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. https://grafana.example.vn"),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="file holding a Grafana service-account token (default: the GOVPULSE_GRAFANA_TOKEN environment variable)",
    ),
    influx_url: str | None = typer.Option(
        None, "--influx-url", help="InfluxDB URL as Grafana reaches it (default: GOVPULSE_INFLUX_URL setting)"
    ),
    influx_token_file: Path | None = typer.Option(
        None,
        "--influx-token-file",
        help="InfluxDB token for the datasource, ideally read-only (default: "
        "GOVPULSE_GRAFANA_INFLUX_TOKEN, else the worker's InfluxDB token)",
    ),
    timeout: float = typer.Option(15.0, help="seconds per HTTP request"),
) -> None:
    """Install or update datasource, folder, dashboards and alert rules in Grafana; a second run changes nothing."""
    from common.settings import get_settings
    from dashboards.push import PushError, push

    if token_file is not None:
        token = _read_secret_file(token_file, "Grafana token")
    else:
        token = os.environ.get("GOVPULSE_GRAFANA_TOKEN", "").strip()
        if not token:
            console.print("[red]no Grafana token: set GOVPULSE_GRAFANA_TOKEN or pass --token-file[/]")
            raise typer.Exit(2)
    s = get_settings()
    if influx_token_file is not None:
        influx_token: str | None = _read_secret_file(influx_token_file, "InfluxDB token")
    else:
        influx_token = os.environ.get("GOVPULSE_GRAFANA_INFLUX_TOKEN", "").strip() or None
        if influx_token is None:
            try:
                influx_token = s.resolve_influx_token()
            except RuntimeError:
                influx_token = None  # fine while the datasource already has one
    try:
        report = push(
            url,
            token,
            influx_url=influx_url or s.influx_url,
            influx_org=s.influx_org,
            influx_bucket=s.influx_bucket,
            influx_token=influx_token,
            timeout=timeout,
            log=lambda m: console.print(m),
        )
    except PushError as e:
        console.print(f"[red]push failed:[/] {e}")
        raise typer.Exit(1) from e
    t = Table("kind", "name", "result")
    for kind, name, what in report.actions:
        t.add_row(kind, name, {"created": "[green]created[/]", "updated": "[yellow]updated[/]"}.get(what, what))
    console.print(t)
    console.print(f"{report.changed} change(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(dashboards_app, name="dashboards")
