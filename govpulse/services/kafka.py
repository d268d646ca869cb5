"""Local Apache Kafka broker in KRaft mode (single node, no ZooKeeper).

The broker jars come from Maven Central through ``deploy/kafka/pom.xml``
(``mvn dependency:copy-dependencies``) and run on the machine's Java.
Cache: ``$GOVPULSE_HOME/kafka/<version>/libs``; data: ``$GOVPULSE_HOME/data/kafka-<port>``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from common.settings import Settings
from govpulse.services.process import ManagedProcess, ServiceError, port_in_use, require_tool, run_logged

REPO_ROOT = Path(__file__).resolve().parents[2]
POM_TEMPLATE = REPO_ROOT / "deploy" / "kafka" / "pom.xml"

LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


class KafkaService:
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.install_dir = settings.home / "kafka" / settings.kafka_version
        self.libs = self.install_dir / "libs"
        port = settings.kafka_port
        self.data_dir = settings.home / "data" / f"kafka-{port}"
        self.run_dir = settings.home / "run"
        self.proc = ManagedProcess(
            "kafka", self.run_dir / f"kafka-{port}.pid", settings.home / "logs" / f"kafka-{port}.log"
        )

    # -- install ---------------------------------------------------------------
    def installed(self) -> bool:
        return (self.install_dir / ".complete").exists()

    def install(self) -> None:
        if self.installed():
            return
        require_tool("java", "run the Kafka broker (install a JDK 17+)")
        mvn = require_tool("mvn", "fetch the Kafka broker jars from Maven Central")
        if not POM_TEMPLATE.exists():
            raise ServiceError(f"missing {POM_TEMPLATE}: run govpulse from its source checkout")
        self.install_dir.mkdir(parents=True, exist_ok=True)
        pom = self.install_dir / "pom.xml"
        pom.write_text(POM_TEMPLATE.read_text().replace("@KAFKA_VERSION@", self.s.kafka_version))
        if self.libs.exists():
            shutil.rmtree(self.libs)
        run_logged(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            self.install_dir / "install.log",
            what=f"fetching Kafka {self.s.kafka_version} jars with Maven",
        )
        (self.install_dir / "log4j.properties").write_text(LOG4J)
        (self.install_dir / ".complete").write_text(self.s.kafka_version)

    # -- configure -------------------------------------------------------------
    def _java(self) -> list[str]:
        java = require_tool("java", "run the Kafka broker (install a JDK 17+)")
        return [
            java,
            f"-Xmx{self.s.kafka_heap}",
            f"-Xms{self.s.kafka_heap}",
            f"-Dlog4j.configuration=file:{self.install_dir / 'log4j.properties'}",
            "-cp",
            str(self.libs / "*"),
        ]

    def _properties(self) -> Path:
        host, port, cport = self.s.kafka_host, self.s.kafka_port, self.s.kafka_controller_port
        props = self.data_dir.parent / f"kafka-{port}.properties"
        props.parent.mkdir(parents=True, exist_ok=True)
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{host}:{cport}",
                    f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
                    f"advertised.listeners=PLAINTEXT://{host}:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    "num.partitions=6",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    # single node: no reason to wait for other members before rebalancing
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    # development broker: keep history (replay), cap disk by size not time
                    "log.retention.hours=-1",
                    "log.retention.bytes=10737418240",
                    "",
                ]
            )
        )
        return props

    def _format_if_needed(self, props: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_logged(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)],
            self.proc.logfile,
            what="formatting Kafka KRaft storage",
        )

    # -- lifecycle -----------------------------------------------------------------
    def healthy(self) -> bool:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.s.kafka_bootstrap_servers,
            request_timeout_ms=3000,
            **self.s.kafka_client_kwargs(),
        )
        try:
            return bool(admin.describe_cluster().get("brokers"))
        finally:
            admin.close()

    def start(self, timeout: float = 90) -> str:
        if self.proc.pid() is not None:
            self.proc.wait_healthy(self.healthy, timeout, "Kafka")
            return "already running"
        for port in (self.s.kafka_port, self.s.kafka_controller_port):
            if port_in_use(self.s.kafka_host, port):
                raise ServiceError(
                    f"port {port} on {self.s.kafka_host} is already taken by another process; "
                    "stop it or set GOVPULSE_KAFKA_BOOTSTRAP_SERVERS / GOVPULSE_KAFKA_CONTROLLER_PORT"
                )
        self.install()
        props = self._properties()
        self._format_if_needed(props)
        env = dict(os.environ, KAFKA_HEAP_OPTS="")
        self.proc.start([*self._java(), "kafka.Kafka", str(props)], env=env)
        self.proc.wait_healthy(self.healthy, timeout, "Kafka")
        return "started"

    def stop(self) -> bool:
        return self.proc.stop(grace=30)

    def version(self) -> str | None:
        jar = next(iter(sorted(self.libs.glob("kafka_2.13-*.jar"))), None) if self.libs.exists() else None
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar") if jar else None


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as `random-uuid` prints)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
