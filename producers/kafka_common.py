"""Shared Kafka client plumbing: bounded connection and one clear error when the broker is away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.settings import Settings

if TYPE_CHECKING:
    from kafka import KafkaAdminClient  # kafka-python has no type hints: Any to mypy

# How long a client may take to reach the cluster before we give up with a clear error.
DEFAULT_CONNECT_TIMEOUT_S = 30.0


class BrokerUnavailable(RuntimeError):
    """Kafka could not be reached (or stopped answering) within the stated bound."""


def base_config(settings: Settings, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> dict[str, Any]:
    """Connection settings every kafka-python client here shares (security from settings)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        # kafka-python 3.0: bootstrapping (broker version probe) gives up after this.
        "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
        # cap the reconnect backoff so a broker restart is noticed quickly
        "reconnect_backoff_max_ms": 5000,
        **settings.kafka_client_kwargs(),
    }


def unavailable(settings: Settings, connect_timeout_s: float, err: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"cannot reach Kafka at {settings.kafka_bootstrap_servers} within {connect_timeout_s:g} s "
        f"({type(err).__name__}: {err}). Is the broker running? Check `govpulse services status`, "
        "or GOVPULSE_KAFKA_BOOTSTRAP_SERVERS and the security settings."
    )


def admin_client(settings: Settings, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> KafkaAdminClient:
    """A KafkaAdminClient, or :class:`BrokerUnavailable` within ``connect_timeout_s``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            request_timeout_ms=int(max(connect_timeout_s, 5) * 1000), **base_config(settings, connect_timeout_s)
        )
    except KafkaError as e:
        raise unavailable(settings, connect_timeout_s, e) from e
