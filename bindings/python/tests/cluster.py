"""A real kvpbus cluster for the tests: one broker and workers started from
$KVP_BIN (default bin/ of the tree) on 127.0.0.1 ports picked here, data in
a temporary folder removed at stop. Processes are stopped by PID; waiting
is polling with a bound."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

import kvpbus

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("KVP_BIN", os.path.join(ROOT, "bin"))
LOGS = os.environ.get("KVP_TEST_LOGS", tempfile.gettempdir())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, workers: int = 2, worker_args: tuple = ()):
        self.dir = tempfile.mkdtemp(prefix="kvppy.")
        self.clients, self.workers_ep, self.events_in, self.events = (
            "tcp://127.0.0.1:%d" % free_port() for _ in range(4))
        self.worker_args = worker_args
        self.broker: Optional[subprocess.Popen] = None
        self.workers: List[Optional[subprocess.Popen]] = [None] * workers

    def _spawn(self, prog: str, *args: str) -> subprocess.Popen:
        log = open(os.path.join(LOGS, "python-%s.log" % prog), "ab")
        try:
            return subprocess.Popen([os.path.join(BIN, prog), *args], stdout=log, stderr=log)
        finally:
            log.close()

    def start_broker(self) -> None:
        self.broker = self._spawn("kvp-broker", "--data", self.dir + "/broker",
                                  "--clients", self.clients, "--workers", self.workers_ep,
                                  "--events-in", self.events_in, "--events", self.events)

    def start_worker(self, i: int) -> None:
        self.workers[i] = self._spawn("kvp-worker", "--data", "%s/w%d" % (self.dir, i),
                                      "--id", "w%d" % i, "--broker", self.workers_ep,
                                      "--events-in", self.events_in, *self.worker_args)

    def start(self) -> "Cluster":
        self.start_broker()
        for i in range(len(self.workers)):
            self.start_worker(i)
        if not self.wait_alive(len(self.workers)):
            self.stop()
            raise RuntimeError("the cluster did not come up")
        return self

    def wait_alive(self, n: int, seconds: float = 20) -> bool:
        with kvpbus.Client(self.clients, timeout=0.5, retries=0) as c:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    if sum(w.alive for w in c.cluster_status().workers) == n:
                        return True
                except kvpbus.KvpError:
                    pass
                time.sleep(0.05)
        return False

    @staticmethod
    def halt(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_worker(self, i: int, sig: int = signal.SIGTERM) -> None:
        self.halt(self.workers[i], sig)
        self.workers[i] = None

    def stop_broker(self, sig: int = signal.SIGTERM) -> None:
        self.halt(self.broker, sig)
        self.broker = None

    def stop(self) -> None:
        for i in range(len(self.workers)):
            self.stop_worker(i)
        self.stop_broker()
        shutil.rmtree(self.dir, ignore_errors=True)
