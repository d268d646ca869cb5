"""Options shared by the commands that read a unit's figures over a period (report, index)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from common.settings import get_settings

UnitOption = Annotated[str, typer.Option("--unit", help="unit code (ward, district, department) or province code")]
PeriodOption = Annotated[
    str,
    typer.Option(
        "--period",
        help="WINDOW:LABEL — report_year:2022, report_half:2024H1, report_quarter:2024Q3, report_month:2024-05, "
        "year:2024, month:2024-05",
    ),
]
RollupOption = Annotated[
    str, typer.Option("--rollup", help="unit | district (the unit is a district: it and its units) | province")
]
# the Decision 766 index's files (index, and report's index section)
WeightsOption = Annotated[
    Path | None, typer.Option("--weights", help="index weights YAML (default GOVPULSE_INDEX_WEIGHTS_FILE)")
]
FiguresOption = Annotated[
    Path | None, typer.Option("--figures", help="index supplied figures CSV (default GOVPULSE_INDEX_FIGURES_FILE)")
]


def index_files(weights: Path | None, figures: Path | None) -> tuple[Path | None, Path | None]:
    """The index's weights and figures files: the options', else the settings' (None: not given)."""
    s = get_settings()
    return weights or s.index_weights_file, figures or s.index_figures_file
