"""The `govpulse` console command. Each area registers its subcommands from govpulse/commands/."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="govpulse: live e-government service health for Vietnamese one-stop systems.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Modules are registered only if present, so an area can land on its own.
for _name in ("services", "schemas", "producers", "worker", "dashboards", "demo", "bench"):
    try:
        _mod = importlib.import_module(f"govpulse.commands.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"govpulse.commands.{_name}":
            raise
        continue
    _mod.register(app)


if __name__ == "__main__":
    app()
