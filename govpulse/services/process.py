"""Run a long-lived local server as a detached process tracked by a PID file.

``up`` records the PID (and the process start time, so a recycled PID is never
mistaken for ours); ``down`` sends SIGTERM to the whole process group, waits,
then SIGKILLs what is left, so no orphan survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import psutil


class _PidRecord(TypedDict):
    """The PID file's JSON, as :meth:`ManagedProcess.start` writes it."""

    pid: int
    create_time: float
    cmd: list[str]


class ServiceError(RuntimeError):
    """A local service could not be installed, started or checked; the message says why."""


def require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"`{name}` not found on PATH: it is needed to {why}")
    return path


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def run_logged(
    cmd: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None, what: str
) -> None:
    """Run a build step, appending its output to ``log``; fail naming the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise ServiceError(
            f"{what} failed (exit {proc.returncode}); full log: {log}\n" + "\n".join("    " + t for t in tail)
        )


@dataclass
class ManagedProcess:
    """A server process we started, remembered in ``pidfile``."""

    name: str
    pidfile: Path
    logfile: Path

    def _read(self) -> _PidRecord | None:
        try:
            rec: _PidRecord = json.loads(self.pidfile.read_text())
            return rec
        except (FileNotFoundError, ValueError):
            return None

    def pid(self) -> int | None:
        """PID of our running process, or None (stale PID files are removed)."""
        rec = self._read()
        if rec is None:
            return None
        try:
            p = psutil.Process(rec["pid"])
            if abs(p.create_time() - rec["create_time"]) > 1.0 or p.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(rec["pid"])
            return rec["pid"]
        except psutil.NoSuchProcess:
            self.pidfile.unlink(missing_ok=True)
            return None

    def start(self, cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        log = self.logfile.open("ab")
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        # start_new_session: the server gets its own process group, so it does not
        # die with the terminal that ran `up`, and `down` can signal the group.
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        create_time = psutil.Process(proc.pid).create_time()
        self.pidfile.write_text(json.dumps({"pid": proc.pid, "create_time": create_time, "cmd": cmd}))
        return proc.pid

    def wait_healthy(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last_error = "health check never answered"
        while time.monotonic() < deadline:
            if self.pid() is None:
                tail = self.logfile.read_text(errors="replace").splitlines()[-20:]
                raise ServiceError(f"{what} exited during start-up; log: {self.logfile}\n" + "\n".join(tail))
            try:
                if check():
                    return
            except Exception as e:  # noqa: BLE001 - not up yet, keep polling
                last_error = f"{type(e).__name__}: {e}"
            time.sleep(0.5)
        raise ServiceError(
            f"{what} did not become healthy within {timeout:.0f}s (last check: {last_error}); log: {self.logfile}"
        )

    def stop(self, grace: float = 30.0) -> bool:
        """Stop gracefully (SIGTERM to the group), then firmly (SIGKILL). True if something ran."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            pgid = None
        procs = [psutil.Process(pid)]
        with contextlib.suppress(psutil.NoSuchProcess):
            procs += procs[0].children(recursive=True)
        self._signal(pgid, procs, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        if alive:
            self._signal(pgid, alive, signal.SIGKILL)
            psutil.wait_procs(alive, timeout=10)
        self.pidfile.unlink(missing_ok=True)
        return True

    @staticmethod
    def _signal(pgid: int | None, procs: list[psutil.Process], sig: int) -> None:
        if pgid is not None:
            try:
                os.killpg(pgid, sig)
                return
            except ProcessLookupError:
                pass
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)
