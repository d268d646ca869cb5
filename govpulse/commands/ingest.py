"""`govpulse ingest`: the HTTP ingest service (producers/ingest/)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def ingest(
    bind: str | None = typer.Option(None, help="listen address (default GOVPULSE_INGEST_BIND, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="listen port (default GOVPULSE_INGEST_PORT, 8080)"),
    tokens_file: Path | None = typer.Option(
        None, help="YAML/JSON bearer tokens, SHA-256 hashed (default GOVPULSE_INGEST_TOKENS_FILE)"
    ),
    create_topics: bool = typer.Option(True, help="create missing topics at start (skipped if Kafka is down)"),
    loglevel: str = typer.Option("info", help="debug, info, warning, error"),
) -> None:
    """Accept events over HTTP (POST /v1/events), validate them, write them to Kafka before answering."""
    from common.settings import get_settings
    from producers.ingest.app import run
    from producers.ingest.auth import TokensFileError, load_tokens
    from producers.ingest.settings import IngestSettings

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):  # client chatter at INFO; their warnings still show
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    overrides = {k: v for k, v in {"bind": bind, "port": port, "tokens_file": tokens_file}.items() if v is not None}
    settings_ingest = IngestSettings(**overrides)  # type: ignore[arg-type]
    if settings_ingest.tokens_file is None:
        console.print("[red]no tokens file: pass --tokens-file or set GOVPULSE_INGEST_TOKENS_FILE[/]")
        raise typer.Exit(2)
    try:
        tokens = load_tokens(settings_ingest.tokens_file)
    except TokensFileError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    settings = get_settings()
    if create_topics:
        from producers.kafka_common import BrokerUnavailable
        from producers.topics import ensure_topics

        try:
            ensure_topics(settings, connect_timeout_s=5)
        except BrokerUnavailable as e:
            console.print(f"[yellow]topics not checked: {e}[/]")
    run(settings, settings_ingest, tokens)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
