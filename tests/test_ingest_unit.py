"""Unit tests of the ingest service's pieces (no servers): tokens, rate limiter, JSON depth, metrics line."""

from __future__ import annotations

import json

import pytest

from producers.ingest.auth import TokensFileError, hash_token, load_tokens
from producers.ingest.limits import TokenBucket, json_depth_exceeds, retry_after
from producers.ingest.metrics import IngestMetrics, percentile, render_line

SECRET = "s3cret-token-for-tests"


def _write(tmp_path, entries, suffix=".yaml"):
    import yaml

    p = tmp_path / f"tokens{suffix}"
    p.write_text(json.dumps(entries) if suffix == ".json" else yaml.safe_dump(entries))
    return p


def _entry(**kw):
    e = {"name": "dt", "sha256": hash_token(SECRET), "source_system": "motcua-dongthap", "provinces": ["82"]}
    e.update(kw)
    return e


def test_hash_is_sha256_hex_of_the_utf8_token():
    import hashlib

    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_token("khóa") == hashlib.sha256("khóa".encode()).hexdigest()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_tokens_load_from_yaml_and_json_and_authenticate(tmp_path, suffix):
    store = load_tokens(_write(tmp_path, {"tokens": [_entry(), _entry(name="vl", sha256=hash_token("x"))]}, suffix))
    assert len(store) == 2
    p = store.authenticate(f"Bearer {SECRET}")
    assert p is not None and p.name == "dt" and p.source_system == "motcua-dongthap" and p.provinces == {"82"}
    assert store.authenticate(f"bearer {SECRET}") == p  # the scheme is case-insensitive
    for header in (None, "", "Bearer", "Bearer ", f"Basic {SECRET}", "Bearer wrong", SECRET):
        assert store.authenticate(header) is None, header


def test_tokens_file_as_plain_list_with_rate_overrides(tmp_path):
    store = load_tokens(_write(tmp_path, [_entry(rate_per_second=2, rate_burst=5)]))
    p = store.authenticate(f"Bearer {SECRET}")
    assert p is not None and (p.rate_per_second, p.rate_burst) == (2.0, 5.0)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"token": SECRET}, "plain 'token'"),
        ({"sha256": "abc"}, "64 hex digits"),
        ({"provinces": []}, "non-empty list"),
        ({"provinces": [82, "8"]}, "2 digits"),
        ({"source_system": ""}, "source_system"),
        ({"name": None}, "'name'"),
        ({"rate_per_second": -1}, "non-negative"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_tokens_file_errors_name_the_entry(tmp_path, entry, message):
    with pytest.raises(TokensFileError, match=message):
        load_tokens(_write(tmp_path, [_entry(**entry)]))


def test_tokens_file_duplicate_hash_and_missing_file(tmp_path):
    with pytest.raises(TokensFileError, match="same hash"):
        load_tokens(_write(tmp_path, [_entry(), _entry(name="other")]))
    with pytest.raises(TokensFileError, match="cannot read"):
        load_tokens(tmp_path / "absent.yaml")
    with pytest.raises(TokensFileError, match="non-empty list"):
        load_tokens(_write(tmp_path, {"tokens": []}))


def test_province_codes_are_strings_so_leading_zeros_survive(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(f'- {{name: hn, sha256: {hash_token(SECRET)}, source_system: s, provinces: ["01"]}}\n')
    assert load_tokens(p).authenticate(f"Bearer {SECRET}").provinces == {"01"}


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_token_bucket_allows_the_burst_then_refills_at_the_rate():
    clock = FakeClock()
    b = TokenBucket(rate=2.0, burst=3.0, clock=clock)
    assert [b.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = b.take()
    assert wait == pytest.approx(0.5)  # one token at 2/s
    assert retry_after(wait) == 1
    clock.t += 0.5
    assert b.take() == 0.0
    assert b.take() > 0
    clock.t += 100  # refills only up to the burst
    assert [b.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take() > 0


def test_token_bucket_rate_zero_is_unlimited():
    b = TokenBucket(rate=0, burst=1, clock=FakeClock())
    assert all(b.take() == 0.0 for _ in range(10_000))


def test_retry_after_is_whole_seconds_at_least_one():
    assert [retry_after(x) for x in (0.001, 1.0, 1.2, 7.9)] == [1, 1, 2, 8]


def test_json_depth():
    assert not json_depth_exceeds({"a": 1}, 1)
    assert json_depth_exceeds({"a": {"b": 1}}, 1)
    assert not json_depth_exceeds([{"a": [1, 2]}], 3)
    assert json_depth_exceeds([{"a": [1, 2]}], 2)
    assert not json_depth_exceeds("scalar", 1)
    deep: list = []
    node = deep
    for _ in range(500):
        node.append([])
        node = node[0]
    assert json_depth_exceeds(deep, 16) and not json_depth_exceeds(deep, 501)


def test_metrics_line_is_valid_line_protocol_with_the_counters():
    from collections import Counter

    mt = IngestMetrics()
    mt.request(0.010)
    mt.request(0.030)
    mt.reject_request("unauthorized")
    mt.events(5, Counter({"invalid_event": 2, "forbidden_province": 1}))
    fields = mt.snapshot_fields()
    assert fields["requests"] == 2 and fields["events_accepted"] == 5 and fields["events_rejected"] == 3
    assert fields["rejected_invalid_event"] == 2 and fields["rejected_unauthorized"] == 1
    assert fields["latency_max_ms"] == pytest.approx(30.0) and fields["latency_p99_ms"] == pytest.approx(30.0)
    line = render_line("ingest", "host a:8080", fields, 1_700_000_000_000)
    assert line.startswith("pipeline_health,app_id=ingest,topic=ingest,worker=host\\ a:8080 ")
    assert "requests=2i" in line and "latency_p50_ms=10.0" in line and line.endswith(" 1700000000000")
    # a new interval without requests has no latency fields
    assert "latency_p99_ms" not in mt.snapshot_fields()


def test_percentile_nearest_rank():
    v = [float(i) for i in range(1, 101)]
    assert percentile(v, 0.99) == 99.0 and percentile(v, 0.5) == 50.0 and percentile([3.0], 0.99) == 3.0


def test_cli_registers_the_ingest_command_and_refuses_a_bad_tokens_file(tmp_path):
    import typer
    from typer.testing import CliRunner

    from govpulse.commands.ingest import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0 and "--tokens-file" in result.output
    bad = tmp_path / "t.yaml"
    bad.write_text(f"- {{name: x, token: {SECRET}, source_system: s, provinces: ['82']}}\n")
    result = runner.invoke(app, ["ingest", "--tokens-file", str(bad)])
    assert result.exit_code == 2 and "sha256" in result.output
