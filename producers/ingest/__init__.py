"""HTTP ingest (`govpulse ingest`): systems without a Kafka client POST events, validated with the
same strict schemas as the worker, written to Kafka (acks=all, idempotent, keyed by unit) before
the answer. See :mod:`producers.ingest.app`."""
