"""Settings of the ingest service (``GOVPULSE_INGEST_*``); Kafka, topics and InfluxDB come from
:class:`common.settings.Settings`."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVPULSE_INGEST_", extra="ignore", frozen=True)

    bind: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in containers, behind the TLS proxy)")
    port: int = Field(default=8080, ge=0, le=65535)
    tokens_file: Path | None = Field(default=None, description="YAML/JSON file of bearer tokens (sha256 hashes)")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="request body limit (413 beyond)")
    max_batch_events: int = Field(default=500, ge=1, description="events per JSON array (413 beyond)")
    max_json_depth: int = Field(default=16, ge=2, description="nesting of arrays/objects (400 beyond)")
    rate_per_second: float = Field(default=50.0, ge=0, description="requests per second per token; 0 = no limit")
    rate_burst: float = Field(default=200.0, ge=1, description="token bucket size, requests")
    send_timeout_seconds: float = Field(default=10.0, gt=0, description="wait for the broker's ack (503 beyond)")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, description="one attempt to start the producer")
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After of a 503")
    health_interval_seconds: float = Field(default=5.0, gt=0, description="Kafka metadata probe behind /health")
    metrics_interval_seconds: float = Field(default=10.0, gt=0, description="pipeline_health write interval")
    metrics: bool = Field(default=True, description="write pipeline_health to InfluxDB")
    app_id: str = Field(default="ingest", description="pipeline_health tag app_id")
    instance: str | None = Field(default=None, description="pipeline_health tag worker; default host:port")
    schemas_dir: Path | None = Field(default=None, description="exported JSON Schemas; default schemas/json")

    def instance_name(self) -> str:
        return self.instance or f"{socket.gethostname()}:{self.port}"

    def resolve_schemas_dir(self) -> Path:
        if self.schemas_dir is not None:
            return self.schemas_dir
        import schemas

        packaged = Path(schemas.__file__).resolve().parent / "json"
        return packaged if packaged.is_dir() else Path.cwd() / "schemas" / "json"
