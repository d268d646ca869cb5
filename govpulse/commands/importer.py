"""`govpulse import`: one-stop exports (XLSX, XLS, CSV) → dossier events → Kafka or an archive file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.settings import get_settings

if TYPE_CHECKING:
    from producers.importer.mapping import Mapping
    from producers.importer.run import ImportSummary

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def import_command(
    paths: list[Path] = typer.Argument(None, help="export files (.xlsx .xls .csv) or folders"),
    mapping: str | None = typer.Option(
        None, "--mapping", "-m", help="mapping YAML, or a shipped one: tracking_book, vendor_csv"
    ),
    source_system: str | None = typer.Option(
        None, "--source-system", help="source system of the events (default: the mapping's); part of every event id"
    ),
    out: Path | None = typer.Option(None, "--out", help="write an archive FILE.jsonl.gz (for `govpulse replay`)"),
    kafka: bool | None = typer.Option(None, "--kafka/--no-kafka", help="send to Kafka (default unless --out is given)"),
    rejects: Path | None = typer.Option(None, "--rejects", help="rejected rows to this CSV (same columns + reason)"),
    follow: Path | None = typer.Option(
        None, "--follow", help="watch this folder: import new or changed exports as they appear"
    ),
    interval: float = typer.Option(10.0, "--interval", help="--follow: seconds between polls", min=0.1),
    state_file: Path | None = typer.Option(
        None, "--state", help="--follow: state file (default: under GOVPULSE_HOME/import/)"
    ),
    max_polls: int | None = typer.Option(None, "--max-polls", hidden=True, help="--follow: stop after N polls (tests)"),
    inspect: bool = typer.Option(False, "--inspect", help="show each file's header, a sample and the mappable columns"),
    connect_timeout: float = typer.Option(30.0, "--connect-timeout", help="seconds to reach Kafka", min=1),
) -> None:
    """Import one-stop exports (the dossier tracking book, vendors' variants) as dossier events."""
    from producers.importer.mapping import MappingError, load_mapping, shipped_names

    try:
        mappings = [load_mapping(mapping)] if mapping else [load_mapping(n) for n in shipped_names()]
    except MappingError as e:
        _fail(str(e))
    if inspect:
        _inspect(paths or [], mappings)
        return
    if mapping is None:
        _fail(f"--mapping is required (shipped: {', '.join(shipped_names())}); `--inspect FILE` helps write one")
    if not paths and follow is None:
        _fail("give export files or folders, or --follow DIR")
    m = mappings[0]
    system = source_system or m.source_system
    if not system:
        _fail("--source-system is required (the mapping names none)")
    if out is not None and follow is not None:
        _fail("--out writes one archive: use it without --follow")
    to_kafka = kafka if kafka is not None else out is None
    _run(paths or [], m, system, out, to_kafka, rejects, follow, interval, state_file, max_polls, connect_timeout)


def _inspect(paths: list[Path], mappings: list[Mapping]) -> None:
    from producers.importer.mapping import FIELDS
    from producers.importer.readers import UnreadableFile, expand
    from producers.importer.run import inspect_file

    try:
        files = expand(list(paths))
    except FileNotFoundError as e:
        _fail(str(e))
    for f in files:
        try:
            result = inspect_file(f, mappings)
        except (UnreadableFile, OSError, ValueError) as e:
            err_console.print(f"[red]{f}[/]: {e}")
            continue
        for ins in result:
            enc = f", encoding {ins.encoding}" if ins.encoding else ""
            console.print(f"[bold]{f}[/] sheet {ins.sheet!r}{enc}")
            if ins.header_row is None:
                console.print("  no header row with known column names; first rows:")
                for r in ins.sample:
                    console.print("  " + " | ".join(r))
                continue
            t = Table("column", "header", "maps to", "sample", title=f"header row {ins.header_row}")
            for i, h in enumerate(ins.header):
                what = next((w for hh, w in ins.columns if hh == h), "")
                sample = " · ".join(r[i] for r in ins.sample if i < len(r) and r[i])[:60]
                label = (
                    "[yellow]personal data (ignored)[/]"
                    if what.startswith("personal")
                    else (f"[green]{what}[/]: {FIELDS[what]}" if what else "[dim]not mapped[/]")
                )
                t.add_row(_column_letter(i), h, label, sample)
            console.print(t)
            if ins.missing_required:
                console.print(f"  [red]no column found for required {ins.missing_required}[/]")


def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _run(
    paths: list[Path],
    m: Mapping,
    system: str,
    out: Path | None,
    to_kafka: bool,
    rejects_path: Path | None,
    follow: Path | None,
    interval: float,
    state_file: Path | None,
    max_polls: int | None,
    connect_timeout: float,
) -> None:
    from producers.importer.run import (
        FollowState,
        ImportSummary,
        Output,
        RejectsWriter,
        default_state_path,
        import_files,
        pending_files,
        sha256_of,
    )
    from producers.kafka_common import BrokerUnavailable
    from producers.kafka_sink import DeliveryError, KafkaSink
    from producers.records import RecordWriter
    from producers.topics import EVENT_TOPICS, ensure_topics
    from schemas import units

    settings = get_settings()
    try:
        units.load_units_files(settings.extra_units_file)  # as govpulse/cli.py does; registering twice is harmless
    except (OSError, ValueError) as e:
        _fail(str(e))
    sink = writer = None
    rejects = RejectsWriter(rejects_path) if rejects_path else None
    shown_rejects = [0]

    def on_reject(file: str, sheet: str, row: int, rej: object) -> None:
        shown_rejects[0] += 1
        if shown_rejects[0] <= 20:
            r = rej  # Reject
            err_console.print(
                f"[yellow]rejected[/] {file} sheet {sheet!r} row {row} column {getattr(r, 'column', '')!r}: "
                f"{getattr(r, 'reason', '')}: {getattr(r, 'detail', '')}",
                highlight=False,
            )

    try:
        if to_kafka:
            ensure_topics(settings, names=EVENT_TOPICS, connect_timeout_s=connect_timeout)
            sink = KafkaSink(settings, connect_timeout_s=connect_timeout, client_id="govpulse-import")
        if out is not None:
            writer = RecordWriter(out)
        output = Output(settings, sink, writer)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        ) as prog:
            task = prog.add_task("import", total=None, info="")

            def progress(s: ImportSummary, file: str) -> None:
                prog.update(
                    task,
                    info=f"{Path(file).name}: {s.rows:,} rows, {s.rate:,.0f} rows/s, {s.events:,} events, "
                    f"{s.rows_rejected:,} rejected",
                )

            if follow is None:
                summary = import_files(paths, m, system, output, rejects, on_reject, progress)
                if sink is not None:
                    sink.flush()
                progress(summary, str(paths[-1]) if paths else "")
            else:
                state = FollowState(state_file or default_state_path(settings.home, follow))
                console.print(f"following {follow} every {interval:g} s (state {state.path})")
                summary = ImportSummary()
                settle: dict[str, tuple[int, int]] = {}
                polls = 0
                while max_polls is None or polls < max_polls:
                    polls += 1
                    # the first poll takes files as they are; later ones wait until a file holds still
                    ready = pending_files(follow, state, settle)
                    if polls == 1:
                        ready += [(p, p.stat()) for p in map(Path, list(settle))]
                        settle.clear()
                    for p, st in ready:
                        digest = sha256_of(p)
                        if state.same_content(p, digest):
                            state.remember(
                                p,
                                st,
                                digest,
                                **{
                                    k: v
                                    for k, v in state.files[str(p.resolve())].items()
                                    if k in ("rows", "events", "rejected")
                                },
                            )
                            continue
                        before = (summary.rows, summary.events, summary.rows_rejected)
                        import_files([p], m, system, output, rejects, on_reject, progress, summary)
                        if sink is not None:
                            sink.flush()  # remembered only once Kafka has acknowledged its events
                        fs = summary.files[-1]
                        state.remember(
                            p,
                            st,
                            digest,
                            rows=summary.rows - before[0],
                            events=summary.events - before[1],
                            rejected=summary.rows_rejected - before[2],
                            problem=fs.problem,
                        )
                        console.print(
                            f"imported {p}: {fs.rows:,} rows, {fs.events:,} events, {fs.rejected:,} rejected"
                            + (f" [red]{fs.problem}[/]" if fs.problem else "")
                        )
                    if max_polls is not None and polls >= max_polls:
                        break
                    time.sleep(interval)
                summary.seconds = time.monotonic() - summary.started
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
    except (BrokerUnavailable, DeliveryError, FileNotFoundError) as e:
        if writer is not None:
            writer.discard()
        if sink is not None:
            sink.abort()
        _fail(str(e))
    except KeyboardInterrupt:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
        _fail("interrupted (what was sent so far is in Kafka; importing again is safe: same event ids)", 130)
    finally:
        if rejects is not None:
            rejects.close()
    _print_summary(summary, out, to_kafka, settings.topic_prefix, rejects_path)


def _print_summary(
    summary: ImportSummary, out: Path | None, to_kafka: bool, prefix: str, rejects_path: Path | None
) -> None:
    t = Table("file", "rows", "events", "rejected", "ignored personal-data columns", "unused columns", "problem")
    for fs in summary.files:
        t.add_row(
            fs.path + (f" ({fs.encoding})" if fs.encoding else ""),
            f"{fs.rows:,}",
            f"{fs.events:,}",
            f"{fs.rejected:,}",
            ", ".join(fs.personal_columns),
            ", ".join(fs.unmapped_columns),
            fs.problem or "",
        )
    console.print(t)
    where = " + ".join(([f"Kafka {prefix}.*"] if to_kafka else []) + ([str(out)] if out else []))
    console.print(
        f"rows read {summary.rows:,}, events produced {summary.events:,} -> {where}, rows rejected "
        f"{summary.rows_rejected:,}; {summary.seconds:.1f} s, {summary.rate:,.0f} rows/s"
    )
    if summary.by_type:
        console.print("events: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.by_type.items())))
    if summary.rejected:
        console.print(
            "rejected by reason: "
            + ", ".join(f"{k} {v:,}" for k, v in summary.rejected.most_common())
            + (f" (rows in {rejects_path})" if rejects_path else " (use --rejects FILE.csv to keep them)")
        )


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)


def main() -> None:
    """`python -m govpulse.commands.importer import …`: the command on its own, until govpulse/cli.py registers it."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)
    register(app)

    @app.callback()
    def _root() -> None:
        """govpulse import (standalone)."""

    app()


if __name__ == "__main__":
    main()
