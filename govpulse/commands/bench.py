"""`govpulse bench`: speed and memory figures beside their baselines (see govpulse/bench.py)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def bench(
    events: int = typer.Option(1_000_000, help="events for the throughput run (all open dossiers)"),
    wards: int = typer.Option(3000, help="wards the events are spread over"),
    live_rate: int = typer.Option(1000, help="events/s of the live latency run"),
    live_seconds: int = typer.Option(30, help="length of the live latency run"),
    skip_throughput: bool = typer.Option(False),
    skip_live: bool = typer.Option(False),
    skip_restart: bool = typer.Option(False),
    core_memory: int = typer.Option(
        0, help="also count, for N open dossiers through the worker core alone, the bytes each keeps and where"
    ),
) -> None:
    """Throughput vs an aiokafka baseline, peak memory, live latency, alert delay and restart after kill -9."""
    from govpulse import bench as b

    result = b.Result()
    if not skip_throughput:
        b.throughput(result, events, wards, console)
    if not skip_live:
        b.live(result, live_rate, live_seconds, console=console)
    if not skip_restart:
        b.restart(result, console=console)
    if core_memory:
        b.core_memory(result, core_memory, wards, console=console)
    t = Table("measurement", "result", "goal", title=f"govpulse bench — {b.machine()}")
    for row in result.rows:
        t.add_row(*row)
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
