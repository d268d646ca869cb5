"""Options shared by the commands that read a unit's figures over a period (report, index)."""

from __future__ import annotations

from typing import Annotated

import typer

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
