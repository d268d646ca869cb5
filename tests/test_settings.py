"""Settings come from GOVPULSE_* variables; secrets are masked and never defaulted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.settings import Settings


def test_env_variables_override_defaults(monkeypatch):
    monkeypatch.setenv("GOVPULSE_KAFKA_BOOTSTRAP_SERVERS", "10.0.0.5:9093")
    monkeypatch.setenv("GOVPULSE_TOPIC_PREFIX", "dongthap")
    monkeypatch.setenv("GOVPULSE_INFLUX_BUCKET", "rates")
    monkeypatch.setenv("GOVPULSE_TOPIC_PARTITIONS", "12")
    s = Settings()
    assert s.kafka_bootstrap_servers == "10.0.0.5:9093"
    assert s.kafka_port == 9093 and s.kafka_host == "10.0.0.5"
    assert s.topic("dossier-events") == "dongthap.dossier-events"
    assert s.influx_bucket == "rates" and s.topic_partitions == 12


def test_remote_servers_are_not_managed(monkeypatch):
    assert Settings().kafka_is_managed and Settings().influx_is_managed
    s = Settings(kafka_bootstrap_servers="kafka-1.tinh.gov.vn:9092", influx_url="https://influx.tinh.gov.vn")
    assert not s.kafka_is_managed and not s.influx_is_managed
    assert not Settings(kafka_bootstrap_servers="127.0.0.1:9092,127.0.0.1:9094").kafka_is_managed
    assert Settings(manage_kafka="yes", kafka_bootstrap_servers="kafka:9092").kafka_is_managed
    assert not Settings(manage_influx="no").influx_is_managed


def test_secrets_masked_in_display(monkeypatch):
    monkeypatch.setenv("GOVPULSE_INFLUX_TOKEN", "super-secret-token")
    monkeypatch.setenv("GOVPULSE_KAFKA_SASL_PASSWORD", "pw-123")
    s = Settings()
    shown = s.masked()
    assert "super-secret-token" not in str(shown) and "pw-123" not in str(shown)
    assert shown["influx_token"] == "**********"
    assert "super-secret-token" not in repr(s)
    assert s.resolve_influx_token() == "super-secret-token"


def test_token_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVPULSE_INFLUX_TOKEN", raising=False)
    home = tmp_path / "home"
    s = Settings(home=home)
    with pytest.raises(RuntimeError, match="GOVPULSE_INFLUX_TOKEN"):
        s.resolve_influx_token()
    s.local_token_file.parent.mkdir(parents=True)
    s.local_token_file.write_text("from-onboarding\n")
    assert s.resolve_influx_token() == "from-onboarding"
    f = tmp_path / "token"
    f.write_text("from-file")
    assert Settings(home=home, influx_token_file=f).resolve_influx_token() == "from-file"
    assert Settings(home=home, influx_token_file=f, influx_token="from-env").resolve_influx_token() == "from-env"


def test_no_secret_defaults():
    s = Settings()
    assert s.influx_token is None and s.kafka_sasl_password is None


@pytest.mark.parametrize("bad", ["has space", "semi;colon", "", "x" * 101])
def test_topic_prefix_rejected_naming_the_field(bad):
    with pytest.raises(ValidationError) as e:
        Settings(topic_prefix=bad)
    assert "topic_prefix" in str(e.value)


def test_sasl_settings_reach_kafka_clients():
    s = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="govpulse",
        kafka_sasl_password="pw",
    )
    kw = s.kafka_client_kwargs()
    assert kw == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "govpulse",
        "sasl_plain_password": "pw",
    }


def test_config_command_masks_token(monkeypatch):
    from typer.testing import CliRunner

    from common import settings as settings_mod
    from govpulse.cli import app

    monkeypatch.setenv("GOVPULSE_INFLUX_TOKEN", "tok-should-not-print")
    settings_mod.get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["config"], env={"COLUMNS": "200"})
    finally:
        settings_mod.get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "tok-should-not-print" not in out.output
    assert "GOVPULSE_INFLUX_BUCKET" in out.output
