"""Producer commands: `govpulse topics`, `simulate`, `archive`, `replay`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from common.settings import Settings, get_settings
from common.topics import EVENT_TOPICS

if TYPE_CHECKING:
    from datetime import datetime
    from types import FrameType

    from producers.replay import ReplaySummary
    from producers.run import RunSummary
    from producers.scenario import Scenario

console = Console()
err_console = Console(stderr=True)
topics_app = typer.Typer(help="Kafka topics of govpulse (under GOVPULSE_TOPIC_PREFIX).", no_args_is_help=True)

PREFIX_OPT = typer.Option(None, "--prefix", help="topic prefix for this run (default: GOVPULSE_TOPIC_PREFIX)")
TIMEOUT_OPT = typer.Option(30.0, "--connect-timeout", help="seconds to reach Kafka before giving up", min=1)


def _settings(prefix: str | None) -> Settings:
    if not prefix:
        return get_settings()
    try:
        return Settings(topic_prefix=prefix)
    except Exception as e:  # noqa: BLE001 - any settings error (pydantic ValidationError): show the reason, not a traceback
        _fail(f"--prefix: {e}")


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures become one clear line and exit code 1 (no traceback)."""
    from producers.kafka_common import BrokerUnavailable
    from producers.kafka_sink import DeliveryError
    from producers.records import CorruptFile
    from producers.replay import ReplayError
    from producers.scenario import ScenarioError

    try:
        yield
    except (
        BrokerUnavailable,
        DeliveryError,
        ScenarioError,
        ReplayError,
        CorruptFile,
        FileNotFoundError,
        ValueError,
    ) as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _progress(**kw: Any) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        **kw,
    )


# ---------------------------------------------------------------------------------------
# topics
# ---------------------------------------------------------------------------------------
@topics_app.command("create")
def topics_create(
    partitions: int | None = typer.Option(None, help="partitions (default GOVPULSE_TOPIC_PARTITIONS)", min=1),
    replication: int | None = typer.Option(None, help="replication factor (default GOVPULSE_TOPIC_REPLICATION)", min=1),
    prefix: str | None = PREFIX_OPT,
    connect_timeout: float = TIMEOUT_OPT,
) -> None:
    """Create the govpulse topics that are missing (idempotent); show each one's partitions."""
    from producers.topics import ensure_topics

    s = _settings(prefix)
    with _errors():
        rows = ensure_topics(s, partitions, replication, connect_timeout_s=connect_timeout)
    t = Table("topic", "partitions", "replication", "status")
    want = partitions or s.topic_partitions
    for r in rows:
        note = r.note
        if not r.created and r.partitions != want:
            note += f" [yellow](has {r.partitions} partitions, not {want}: left unchanged)[/]"
        t.add_row(r.name, str(r.partitions), str(r.replication), note)
    console.print(t)


@topics_app.command("list")
def topics_list(
    all_prefixes: bool = typer.Option(False, "--all-prefixes", help="govpulse topics under any prefix"),
    prefix: str | None = PREFIX_OPT,
    connect_timeout: float = TIMEOUT_OPT,
) -> None:
    """List govpulse topics with partition and replication counts."""
    from producers.topics import list_topics

    s = _settings(prefix)
    with _errors():
        rows = list_topics(s, all_prefixes=all_prefixes, connect_timeout_s=connect_timeout)
    t = Table("topic", "partitions", "replication")
    for name, parts, repl in rows:
        t.add_row(name, str(parts), str(repl))
    console.print(t if rows else f"no govpulse topics under prefix {s.topic_prefix!r}")


# ---------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------
def _plan_tables(scenario: Scenario) -> list[Table]:
    title = (
        f"scenario {scenario.name}: {scenario.start:%Y-%m-%d %H:%M} .. {scenario.end:%Y-%m-%d %H:%M} "
        "(end exclusive): exact counts"
    )
    t = Table(
        "unit", "received", "online", "resolved", "on time (early)", "late", "open (overdue)", "ratings", title=title
    )
    names = Table(
        "unit",
        "name",
        "docs issued/signed",
        "docs received/online",
        "meetings (smooth)",
        "feedback received/handled (on time, rated)",
    )
    for u in scenario.units:
        d, doc, m = u.dossiers, u.documents, u.meetings
        if d:
            t.add_row(
                u.key,
                f"{d.received:,}",
                f"{d.online:,}",
                f"{d.resolved:,}",
                f"{d.on_time:,} ({d.early:,})",
                f"{d.late:,}",
                f"{d.open:,} ({d.open_overdue:,})",
                f"{d.rated:,}",
            )
        names.add_row(
            u.key,
            u.label,
            f"{doc.issued:,}/{doc.signed:,}" if doc else "-",
            f"{doc.received:,}/{doc.processed_online:,}" if doc else "-",
            f"{m.count} ({m.uninterrupted})" if m else "-",
            (
                f"{u.feedback.received}/{u.feedback.handled} "
                f"({u.feedback.early + u.feedback.on_time_plain}, {u.feedback.rated})"
            )
            if u.feedback
            else "-",
        )
    return [t, names]


def simulate(
    scenario_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="scenario YAML"),
    live: bool = typer.Option(
        False, "--live/--bulk", help="--bulk (default): as fast as Kafka takes it; --live: paced at --speed x real time"
    ),
    speed: float = typer.Option(
        1.0, "--speed", help="live pace: N x real time (1440 = a simulated day per minute)", min=0.000001
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="shift the period: 'now' (the stream catches up "
        "with the wall clock as it ends) or an ISO date/time for the first instant",
    ),
    out: Path | None = typer.Option(None, "--out", help="also write the stream to FILE.jsonl.gz (archive format)"),
    kafka: bool = typer.Option(True, "--kafka/--no-kafka", help="send to Kafka (default) or only write --out"),
    disorder: str | None = typer.Option(
        None, "--disorder", help="e.g. duplicates=0.01,late=0.02,max_delay=3d (stream-side tests)"
    ),
    plan: bool = typer.Option(False, "--plan", help="print the exact per-unit plan and exit"),
    create_topics: bool = typer.Option(True, "--create-topics/--no-create-topics", help="create missing topics first"),
    prefix: str | None = PREFIX_OPT,
    connect_timeout: float = TIMEOUT_OPT,
) -> None:
    """Generate a scenario's event stream into Kafka and/or a file."""
    from producers.disorder import parse_disorder
    from producers.run import plan_start, run_simulation
    from producers.scenario import load_scenario

    s = _settings(prefix)
    with _errors():
        scenario = load_scenario(scenario_path)
        scenario = plan_start(scenario, start, speed if live else None)
        spec = parse_disorder(disorder) if disorder else None
    if plan:
        for t in _plan_tables(scenario):
            console.print(t)
        return
    if not kafka and out is None:
        _fail("--no-kafka needs --out FILE")
    expected = sum(sum(v.values()) for v in scenario.expected_counts().values())
    console.print(
        f"[bold]{scenario.name}[/]: {len(scenario.units)} units, {expected:,} events, "
        f"{scenario.start:%Y-%m-%d %H:%M} .. {scenario.end:%Y-%m-%d %H:%M} "
        f"{'live at ' + format(speed, 'g') + 'x' if live else 'bulk'}"
        f"{' -> ' + s.topic_prefix + '.*' if kafka else ''}{' -> ' + str(out) if out else ''}"
    )
    sink = None
    with _errors():
        if kafka:
            from producers.kafka_sink import KafkaSink
            from producers.topics import EVENT_TOPICS, ensure_topics

            if create_topics:
                ensure_topics(s, names=EVENT_TOPICS, connect_timeout_s=connect_timeout)
            sink = KafkaSink(s, connect_timeout_s=connect_timeout)
        try:
            with _progress() as prog:
                task = prog.add_task("simulate", total=expected, info="")

                def update(summary: RunSummary, emit_ms: int, sim_now: datetime | None) -> None:
                    from datetime import datetime

                    t = sim_now or (datetime.fromtimestamp(emit_ms / 1000, UTC) if emit_ms else None)
                    clock = f" sim {t.astimezone(scenario.tz):%Y-%m-%d %H:%M}" if t else ""
                    prog.update(
                        task,
                        completed=summary.events,
                        total=max(expected + summary.duplicates, summary.events),
                        info=f"{summary.rate:,.0f} ev/s{clock}",
                    )

                with _sigterm_as_interrupt():
                    summary = run_simulation(
                        scenario,
                        s,
                        sink=sink,
                        out=out,
                        live_speed=speed if live else None,
                        disorder_spec=spec,
                        progress=update,
                    )
            if sink is not None:
                sink.close()
                sink = None
        finally:
            if sink is not None:
                sink.abort()
    console.print(
        f"[green]done[/]: {summary.events:,} events in {summary.seconds:.1f} s "
        f"= [bold]{summary.rate:,.0f} events/s[/]"
        + (f", {summary.duplicates:,} duplicates" if summary.duplicates else "")
        + (f"; wrote {summary.out_path}" if summary.out_path else "")
    )
    t = Table("topic", "events")
    for k, v in sorted(summary.by_topic.items()):
        t.add_row(k, f"{v:,}")
    console.print(t)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (tests)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def _stop_flag(stop: dict[str, bool]) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop["flag"] = True

    try:
        olds = [(sig, signal.signal(sig, handler)) for sig in (signal.SIGINT, signal.SIGTERM)]
    except ValueError:  # not in the main thread (tests)
        yield
        return
    try:
        yield
    finally:
        for sig, old in olds:
            signal.signal(sig, old)


# ---------------------------------------------------------------------------------------
# archive
# ---------------------------------------------------------------------------------------
def archive(
    topic: list[str] = typer.Option(
        list(EVENT_TOPICS), "--topic", help="short name (dossier-events) or full name; repeatable"
    ),
    out: Path = typer.Option(..., "--out", help="archive directory (one folder per topic)"),
    from_beginning: bool = typer.Option(
        False,
        "--from-beginning",
        help="first run: start at the earliest offsets (default: the end, so only new records are archived)",
    ),
    follow: bool = typer.Option(False, "--follow", help="keep archiving new records until Ctrl-C"),
    segment_records: int = typer.Option(1_000_000, help="records per segment file at most", min=1),
    prefix: str | None = PREFIX_OPT,
    connect_timeout: float = TIMEOUT_OPT,
) -> None:
    """Archive topics to gzip JSON Lines, resumably (a manifest records the next offsets)."""
    from producers.archive import archive_topic

    s = _settings(prefix)
    if follow and len(topic) != 1:
        _fail("--follow archives one topic per process: give exactly one --topic")
    stop = {"flag": False}
    for name in topic:
        with _errors(), _progress() as prog:
            task = prog.add_task(f"archive {name}", total=None, info="")

            def update(n: int, total: int, task: TaskID = task) -> None:
                prog.update(task, completed=n, total=None if follow else max(total, n), info="")

            # --follow: Ctrl-C / SIGTERM finish the current segments and the manifest, then stop
            with _stop_flag(stop) if follow else _sigterm_as_interrupt():
                res = archive_topic(
                    s,
                    name,
                    out,
                    from_beginning=from_beginning,
                    follow=follow,
                    connect_timeout_s=connect_timeout,
                    segment_records=segment_records,
                    progress=update,
                    should_stop=lambda: stop["flag"],
                )
        tot = res.manifest.totals()
        console.print(
            f"[green]{res.topic}[/]: {res.new_records:,} new records in {len(res.new_segments)} segment(s); "
            f"archive holds {tot['records']:,} ({tot['event_time_min'] or '-'} .. "
            f"{tot['event_time_max'] or '-'}) in {res.directory}"
        )
        if res.removed_orphans:
            console.print(
                f"[yellow]removed {len(res.removed_orphans)} incomplete file(s) from an interrupted run: "
                f"{', '.join(res.removed_orphans)}[/]"
            )
        if res.started_at_end and not res.new_records:
            console.print(
                "[yellow]first run without --from-beginning: archiving starts at the current end; "
                "older records are not archived[/]"
            )
        gaps = {p: st.gaps for p, st in res.manifest.partitions.items() if st.gaps}
        if gaps:
            console.print(f"[yellow]records deleted by retention before they were archived: {gaps}[/]")


# ---------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------
def replay(
    files: list[Path] = typer.Argument(..., help="archive segments, simulator --out files, or directories"),
    speed: float | None = typer.Option(None, "--speed", help="pace at N x the records' own timing", min=1e-6),
    max_: bool = typer.Option(False, "--max", help="as fast as possible (the default)"),
    since: str | None = typer.Option(
        None, "--since", help="only records with timestamp >= T (ISO; naive = Asia/Ho_Chi_Minh)"
    ),
    until: str | None = typer.Option(None, "--until", help="only records with timestamp < T"),
    skip_invalid: Path | None = typer.Option(
        None, "--skip-invalid", metavar="REJECTS.jsonl", help="write invalid lines here and carry on (default: stop)"
    ),
    validate_only: bool = typer.Option(False, "--validate-only", help="check the files, send nothing"),
    extra_units: list[Path] = typer.Option(
        [], "--extra-units", help="unit registry file(s) the events need (like GOVPULSE_EXTRA_UNITS_FILE); repeatable"
    ),
    prefix: str | None = PREFIX_OPT,
    connect_timeout: float = TIMEOUT_OPT,
) -> None:
    """Validate and replay records into Kafka with their original keys and timestamps."""
    from zoneinfo import ZoneInfo

    from producers.replay import parse_time
    from producers.replay import replay as do_replay
    from schemas import units

    if speed and max_:
        _fail("--speed and --max exclude each other")
    s = _settings(prefix)
    sink = None
    with _errors():
        for f in extra_units:
            units.load_extra_units(f)
        tz = ZoneInfo(s.timezone)
        since_ms = parse_time(since, tz) if since else None
        until_ms = parse_time(until, tz) if until else None
        if not validate_only:
            from producers.kafka_sink import KafkaSink
            from producers.topics import EVENT_TOPICS, ensure_topics

            ensure_topics(s, names=EVENT_TOPICS, connect_timeout_s=connect_timeout)
            sink = KafkaSink(s, connect_timeout_s=connect_timeout)
        try:
            with _progress() as prog:
                task = prog.add_task("validate" if validate_only else "replay", total=1, info="")

                def update(summary: ReplaySummary, done: int, total: int) -> None:
                    prog.update(
                        task,
                        completed=done,
                        total=max(total, 1),
                        info=f"{summary.sent:,} sent, {summary.rejected:,} rejected, {summary.rate:,.0f} rec/s",
                    )

                with _sigterm_as_interrupt():
                    summary = do_replay(
                        s,
                        files,
                        sink=sink,
                        speed=speed,
                        since_ms=since_ms,
                        until_ms=until_ms,
                        rejects=skip_invalid,
                        progress=update,
                    )
            if sink is not None:
                sink.close()
                sink = None
        except Exception as e:
            from producers.replay import ReplayError

            if isinstance(e, ReplayError) and sink is not None:
                # what was queued before the bad line is delivered; re-running is safe:
                # the worker drops events whose event_id it has already seen
                try:
                    sink.close()
                    sent = sink.stats.acked
                except Exception:  # noqa: BLE001 - the original error matters more
                    sent = None
                sink = None
                if sent:
                    raise ReplayError(
                        f"{e}\n{sent:,} records before it were sent; fix the line and run "
                        "again (the worker drops duplicates by event_id)",
                        e.file,
                        e.line,
                    ) from e
            raise
        finally:
            if sink is not None:
                sink.abort()
    verb = "valid" if validate_only else "sent"
    console.print(
        f"[green]done[/]: {summary.read:,} records read from {summary.files} file(s), "
        f"{summary.sent:,} {verb}, {summary.rejected:,} rejected, {summary.filtered:,} outside "
        f"--since/--until in {summary.seconds:.1f} s ({summary.rate:,.0f} rec/s)"
    )
    if summary.rejected:
        console.print(f"[yellow]rejected lines written to {summary.rejects_path}[/]")
    if summary.rerouted:
        console.print(
            f"[yellow]{summary.rerouted:,} records came from another topic than their event type's "
            "and were sent to the event type's topic[/]"
        )
    if summary.key_mismatch:
        console.print(
            f"[yellow]{summary.key_mismatch:,} records had a key other than the event's unit "
            "(sent with their original key)[/]"
        )
    t = Table("topic", "records")
    for k, v in sorted(summary.by_topic.items()):
        t.add_row(k, f"{v:,}")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
    app.command("simulate")(simulate)
    app.command("archive")(archive)
    app.command("replay")(replay)
