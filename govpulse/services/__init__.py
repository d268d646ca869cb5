"""Local development servers (Kafka KRaft broker, InfluxDB 2.7) that govpulse installs, starts and stops itself."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from common.settings import Settings
from govpulse.services.influxdb import InfluxService
from govpulse.services.kafka import KafkaService
from govpulse.services.process import ServiceError

__all__ = ["InfluxService", "KafkaService", "ServiceError", "ServiceStatus", "all_services", "status"]


def all_services(settings: Settings) -> list[tuple[KafkaService | InfluxService, bool]]:
    """Each local service with whether govpulse manages it for these settings."""
    return [(KafkaService(settings), settings.kafka_is_managed), (InfluxService(settings), settings.influx_is_managed)]


@dataclass
class ServiceStatus:
    name: str
    managed: bool
    address: str
    version: str | None
    pid: int | None
    healthy: bool
    detail: str = ""


def status(settings: Settings) -> list[ServiceStatus]:
    rows = []
    for svc, managed in all_services(settings):
        address = settings.kafka_bootstrap_servers if svc.name == "kafka" else settings.influx_url
        try:
            ok = svc.healthy()
            detail = ""
        except Exception as e:  # noqa: BLE001 - status reports, never raises
            ok, detail = False, f"{type(e).__name__}: {e}"[:120]
        version = svc.version() if managed else None
        if isinstance(svc, InfluxService) and ok and not managed:
            # a remote server's version is shown when it answers, never required
            with contextlib.suppress(Exception):
                version = svc._get("/health").get("version")
        rows.append(ServiceStatus(svc.name, managed, address, version, svc.proc.pid() if managed else None, ok, detail))
    return rows
