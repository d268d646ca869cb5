"""`govpulse services up | down | status` and `govpulse config`."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from common.settings import get_settings

console = Console()
services_app = typer.Typer(help="Local Kafka (KRaft) and InfluxDB 2.7 servers: install, start, stop, check.")


@services_app.command("up")
def up(timeout: float = typer.Option(120, help="seconds to wait for each health check")) -> None:
    """Install (first time: fetch Kafka jars, build influxd), start and health-check the local servers."""
    from govpulse.services import ServiceError, all_services

    s = get_settings()
    for svc, managed in all_services(s):
        if not managed:
            console.print(f"[cyan]{svc.name}[/]: external server configured, starting nothing")
            continue
        t0 = time.monotonic()
        try:
            if not svc.installed():
                console.print(
                    f"[cyan]{svc.name}[/]: not in cache yet, installing into {svc.install_dir} "
                    f"(log: {getattr(svc, 'build_log', svc.install_dir / 'install.log')})"
                )
                with console.status(f"installing {svc.name} (InfluxDB builds from source: ~10 min first time)"):
                    svc.install()
                console.print(f"[cyan]{svc.name}[/]: installed in {time.monotonic() - t0:.0f}s")
            with console.status(f"starting {svc.name}"):
                what = svc.start(timeout=timeout)
        except ServiceError as e:
            console.print(f"[red]{svc.name}: {e}[/]")
            raise typer.Exit(1) from e
        console.print(f"[green]{svc.name}[/]: {what}, healthy ({time.monotonic() - t0:.1f}s)")


@services_app.command("down")
def down() -> None:
    """Stop the servers that `up` started (SIGTERM, then SIGKILL after 30 s)."""
    from govpulse.services import all_services

    for svc, managed in reversed(all_services(get_settings())):
        if managed:
            stopped = svc.stop()
            console.print(f"{svc.name}: {'stopped' if stopped else 'was not running'}")


@services_app.command("status")
def status_cmd() -> None:
    """Each service with its version, address, PID and health. Exit 1 if one is unhealthy."""
    from govpulse.services import status

    rows = status(get_settings())
    t = Table("service", "managed", "address", "version", "pid", "health")
    for r in rows:
        t.add_row(
            r.name,
            "yes" if r.managed else "external",
            r.address,
            r.version or "-",
            str(r.pid or "-"),
            "[green]healthy[/]" if r.healthy else f"[red]down[/] {r.detail}",
        )
    console.print(t)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def config() -> None:
    """Print the effective settings (secrets masked)."""
    t = Table("setting", "value", "environment variable")
    for k, v in get_settings().masked().items():
        t.add_row(k, v, f"GOVPULSE_{k.upper()}" if " " not in k else "")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")
    app.command("config")(config)
