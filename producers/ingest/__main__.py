"""``python -m producers.ingest [--bind B] [--port P] [--tokens-file F]``: the ingest service
without the ``govpulse`` CLI (the benchmark and the tests start it this way too)."""

from __future__ import annotations

import argparse
import logging
import sys

from common.settings import get_settings
from producers.ingest.app import run
from producers.ingest.auth import TokensFileError, load_tokens
from producers.ingest.settings import IngestSettings
from schemas import units


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m producers.ingest")
    ap.add_argument("--bind")
    ap.add_argument("--port", type=int)
    ap.add_argument("--tokens-file")
    args = ap.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    ingest = IngestSettings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):  # client chatter at INFO; their warnings still show
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    if ingest.tokens_file is None:
        print("no tokens file: pass --tokens-file or set GOVPULSE_INGEST_TOKENS_FILE", file=sys.stderr)
        return 2
    try:
        tokens = load_tokens(ingest.tokens_file)
    except TokensFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:  # as the govpulse command does at start: a refused unit stops here, naming file and unit
        units.load_units_files(settings.extra_units_file)
    except (OSError, ValueError) as e:
        print(f"error: GOVPULSE_EXTRA_UNITS_FILE: {e}", file=sys.stderr)
        return 2
    run(settings, ingest, tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
