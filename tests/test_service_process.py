"""Process management of local servers, exercised on real child processes (no servers needed)."""

from __future__ import annotations

import socket
import sys
import time

import psutil
import pytest

from govpulse.services.process import ManagedProcess, ServiceError, port_in_use, require_tool, run_logged


def _proc(tmp_path, name="svc") -> ManagedProcess:
    return ManagedProcess(name, tmp_path / "run" / f"{name}.pid", tmp_path / "logs" / f"{name}.log")


def test_start_records_pid_and_stop_is_graceful(tmp_path):
    mp = _proc(tmp_path)
    pid = mp.start([sys.executable, "-c", "import time; time.sleep(60)"])
    assert mp.pid() == pid and psutil.pid_exists(pid)
    assert mp.stop(grace=10) is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert mp.pid() is None and not mp.pidfile.exists()
    assert mp.stop() is False  # nothing left to stop


def test_stop_kills_a_process_that_ignores_sigterm_and_its_children(tmp_path):
    mp = _proc(tmp_path)
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen([sys.executable, '-c', 'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
        "time.sleep(60)"
    )
    pid = mp.start([sys.executable, "-c", code])
    time.sleep(1.0)
    children = psutil.Process(pid).children(recursive=True)
    assert children, "the test process should have a child"
    t0 = time.monotonic()
    assert mp.stop(grace=1.0)
    assert time.monotonic() - t0 < 15
    for p in [pid] + [c.pid for c in children]:
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE


def test_stale_pidfile_is_not_mistaken_for_a_running_server(tmp_path):
    mp = _proc(tmp_path)
    mp.pidfile.parent.mkdir(parents=True)
    # our own PID but a different start time: a recycled PID, not our server
    mp.pidfile.write_text(f'{{"pid": {psutil.Process().pid}, "create_time": 1.0, "cmd": []}}')
    assert mp.pid() is None
    assert not mp.pidfile.exists()


def test_health_wait_reports_a_server_that_exits(tmp_path):
    mp = _proc(tmp_path)
    mp.start([sys.executable, "-c", "print('bad config: port'); raise SystemExit(3)"])
    with pytest.raises(ServiceError, match="exited during start-up") as e:
        mp.wait_healthy(lambda: False, timeout=10, what="Demo")
    assert "bad config" in str(e.value) and str(mp.logfile) in str(e.value)


def test_health_wait_times_out_with_the_last_error(tmp_path):
    mp = _proc(tmp_path)
    mp.start([sys.executable, "-c", "import time; time.sleep(30)"])
    try:

        def check():
            raise ConnectionRefusedError("nobody home")

        with pytest.raises(ServiceError, match=r"did not become healthy within 2s.*nobody home"):
            mp.wait_healthy(check, timeout=2, what="Demo")
    finally:
        mp.stop(grace=2)


def test_port_in_use_detected():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)


def test_missing_tool_named_in_error():
    with pytest.raises(ServiceError, match="`no-such-tool-xyz` not found on PATH: it is needed to build"):
        require_tool("no-such-tool-xyz", "build things")


def test_failed_build_step_names_its_log(tmp_path):
    log = tmp_path / "build.log"
    with pytest.raises(ServiceError) as e:
        run_logged([sys.executable, "-c", "import sys; print('cargo exploded'); sys.exit(101)"], log, what="building X")
    assert "building X failed (exit 101)" in str(e.value)
    assert str(log) in str(e.value) and "cargo exploded" in str(e.value)


@pytest.mark.parametrize("service", ["kafka", "influxdb"])
def test_start_refuses_a_taken_port(tmp_path, service):
    from common.settings import Settings
    from govpulse.services import InfluxService, KafkaService

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        if service == "kafka":
            svc = KafkaService(Settings(home=tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{port}"))
        else:
            svc = InfluxService(Settings(home=tmp_path, influx_url=f"http://127.0.0.1:{port}"))
        with pytest.raises(ServiceError, match=f"port {port} on 127.0.0.1 is already taken"):
            svc.start(timeout=5)


def test_influx_build_without_go_is_a_clear_error(tmp_path, monkeypatch):
    from common.settings import Settings
    from govpulse.services.influxdb import InfluxService

    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no cargo
    svc = InfluxService(Settings(home=tmp_path, influx_version="9.9.9"))
    with pytest.raises(ServiceError, match="`go` not found on PATH"):
        svc.install()
