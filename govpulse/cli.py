"""The `govpulse` console command. Each area registers its subcommands from govpulse/commands/."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="govpulse: live e-government service health for Vietnamese one-stop systems.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _load_units() -> None:
    """Every subcommand: the unit registry (GOVPULSE_EXTRA_UNITS_FILE) is loaded once, here, so a
    refused unit stops the command at start and no event lookup ever reads a file."""
    from common.settings import get_settings
    from schemas import units

    units.load_units_files(get_settings().extra_units_file)


# Modules are registered only if present, so an area can land on its own.
for _name in (
    "services",
    "schemas",
    "producers",
    "worker",
    "dashboards",
    "demo",
    "bench",
    "ingest",
    "importer",
    "report",
    "index",
):
    try:
        _mod = importlib.import_module(f"govpulse.commands.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"govpulse.commands.{_name}":
            raise
        continue
    _mod.register(app)


if __name__ == "__main__":
    app()
