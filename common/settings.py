"""Effective configuration of govpulse, from ``GOVPULSE_*`` environment variables.

Secrets (Kafka SASL password, InfluxDB token) are never given defaults that could
reach production: they come from the environment or from a file.  For the local
development services that ``govpulse services up`` starts, the operator token is
generated at onboarding and stored with mode 0600 in the cache directory, and is
read back from there when nothing else is configured.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.calendar import LOCAL_TIMEZONE

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _default_home() -> Path:
    # Outside the repository on purpose: builds and data survive a fresh clone.
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "govpulse"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVPULSE_", extra="ignore", frozen=True)

    # --- where local builds, data, logs and PID files live ----------------
    home: Path = Field(default_factory=_default_home, description="cache + data dir for local services")

    # --- Kafka --------------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_version: str = "3.9.1"
    kafka_controller_port: int = 9093
    kafka_heap: str = "1g"
    manage_kafka: Literal["auto", "yes", "no"] = Field(
        default="auto",
        description="auto: start a local broker unless GOVPULSE_KAFKA_BOOTSTRAP_SERVERS points elsewhere",
    )

    # --- topics ---------------------------------------------------------------
    topic_prefix: str = "govpulse"
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # --- InfluxDB -------------------------------------------------------------
    influx_url: str = "http://127.0.0.1:8086"
    influx_org: str = "govpulse"
    influx_bucket: str = "govpulse"
    influx_token: SecretStr | None = None
    influx_token_file: Path | None = None
    influx_version: str = "2.7.12"
    influx_retention: str = Field(default="0", description="bucket retention for onboarding, 0 = forever")
    manage_influx: Literal["auto", "yes", "no"] = "auto"

    # --- worker -----------------------------------------------------------------
    app_id: str = "govpulse-worker"
    worker_name: str | None = Field(
        default=None,
        description="this worker's name in pipeline_health (tag worker); default host:web port "
        "(host:pid without a web server). Keep it stable across restarts.",
    )
    timezone: str = LOCAL_TIMEZONE
    allowed_lateness: timedelta = Field(
        default=timedelta(days=400), description="event-time lateness still applied to windows"
    )
    due_soon_lead_working_days: int = Field(default=1, ge=0)
    apology_grace: timedelta = Field(
        default=timedelta(days=1), description="delay after a dossier goes late before apology_missing"
    )
    emit_interval_seconds: float = Field(default=2.0, gt=0)
    alert_interval_seconds: float = Field(
        default=0.25,
        gt=0,
        description="how often due and overdue alerts are checked between batches (the alert delay's floor)",
    )
    web_bind: str = Field(default="127.0.0.1", description="address of the worker's /health and /live server")
    table_store: str = Field(default="memory://", description="faust table store: memory:// or rocksdb://")
    # --- diagnostics (off unless set; each file is opened once: common.diagnostics) ---------
    offset_trace: Path | None = Field(
        default=None, description="append every offset fetched, handled, revoked and rebuilt (debugging rebalances)"
    )
    latency_log: Path | None = Field(
        default=None, description="append each event's Kafka timestamp → in-InfluxDB latency (the benchmark reads it)"
    )
    sink_trace: Path | None = Field(
        default=None, description="append every line written to InfluxDB, with the wall time"
    )

    report_year_start: str = Field(
        default="12-15", description="MM-DD start of the annual reporting period (Decree 09/2019)"
    )
    rolling_windows: str = Field(
        default="24h,7d,30d", description="rolling windows to emit (24h is hourly: one point per unit-hour of history)"
    )
    extra_units_file: str | None = Field(
        default=None,
        description="':'-separated YAML/JSON files registering units vietnam-provinces lacks (pre-2025 "
        "districts, departments); loaded once when the govpulse command starts",
    )
    # --- the index of Decision 766 (govpulse index; README: the service index) -----------------
    index_weights_file: Path | None = Field(
        default=None,
        description="YAML of points per criterion (and full_at) for the Decision 766 index; the points the "
        "sources publish (1.2, 2.1, 5.4) apply without it",
    )
    index_figures_file: Path | None = Field(
        default=None,
        description="CSV of figures the events cannot compute (unit_code, period, criterion, numerator, "
        "denominator[, source]) for the Decision 766 index",
    )
    dead_letter_max_raw_bytes: int = Field(
        default=64 * 1024,
        ge=256,
        le=512 * 1024,
        description="raw payload kept in a dead letter; a larger one is cut to its first bytes, with its size and "
        "SHA-256, so a dead letter always fits in one Kafka request",
    )
    # A worker killed without leaving its group holds its partitions until its session expires;
    # Faust's default (60 s) stalled a restarted worker that long. The consumer heartbeats from its
    # own thread, so a busy event loop cannot make it miss this deadline.
    kafka_session_timeout: float = Field(
        default=10.0,
        ge=6.0,
        description="consumer group session timeout, seconds "
        "(the broker's group.min.session.timeout.ms is 6 s by default)",
    )
    kafka_heartbeat_interval: float = Field(default=1.0, gt=0, description="consumer heartbeat interval, seconds")

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", v):
            raise ValueError("topic_prefix may only contain letters, digits, '.', '_' and '-'")
        return v

    # --- derived -----------------------------------------------------------------
    @property
    def kafka_port(self) -> int:
        first = self.kafka_bootstrap_servers.split(",")[0]
        return int(first.rsplit(":", 1)[1]) if ":" in first else 9092

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    @property
    def influx_port(self) -> int:
        return urlparse(self.influx_url).port or 8086

    @property
    def influx_host(self) -> str:
        return urlparse(self.influx_url).hostname or "127.0.0.1"

    @property
    def kafka_is_managed(self) -> bool:
        """Whether ``services up`` should start a local broker for these settings."""
        if self.manage_kafka != "auto":
            return self.manage_kafka == "yes"
        return "," not in self.kafka_bootstrap_servers and self.kafka_host in LOCAL_HOSTS

    @property
    def influx_is_managed(self) -> bool:
        if self.manage_influx != "auto":
            return self.manage_influx == "yes"
        return self.influx_host in LOCAL_HOSTS

    @property
    def local_token_file(self) -> Path:
        return self.home / "influxdb" / f"operator-token-{self.influx_port}"

    def topic(self, name: str) -> str:
        """Full topic name, e.g. ``topic('dossier-events') -> 'govpulse.dossier-events'``."""
        return f"{self.topic_prefix}.{name}"

    def resolve_influx_token(self) -> str:
        """The InfluxDB token: env var, then token file, then the local onboarding file."""
        if self.influx_token is not None:
            return self.influx_token.get_secret_value()
        for path in (self.influx_token_file, self.local_token_file):
            if path is not None and path.exists():
                return path.read_text().strip()
        raise RuntimeError(
            "no InfluxDB token: set GOVPULSE_INFLUX_TOKEN or GOVPULSE_INFLUX_TOKEN_FILE, "
            "or run `govpulse services up` to onboard the local InfluxDB"
        )

    def kafka_client_kwargs(self) -> dict[str, str | None]:
        """Security settings shared by kafka-python and aiokafka clients."""
        kw: dict[str, str | None] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            kw["sasl_mechanism"] = self.kafka_sasl_mechanism
            kw["sasl_plain_username"] = self.kafka_sasl_username
            kw["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_ssl_cafile:
            kw["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return kw

    def masked(self) -> dict[str, str]:
        """Effective settings for display; secrets shown as ``**********``."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "**********"
            else:
                out[name] = "" if value is None else str(value)
        try:
            self.resolve_influx_token()
            out["influx_token (resolved)"] = "********** (set)"
        except RuntimeError:
            out["influx_token (resolved)"] = "(missing)"
        return out


@lru_cache
def get_settings() -> Settings:
    return Settings()
