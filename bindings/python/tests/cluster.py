"""A real kvpbus cluster for the tests: one broker and workers started from
$KVP_BIN (default bin/ of the tree) on 127.0.0.1 ports picked here, data in
a temporary folder removed at stop; secured (KVP/1 section 11) with keys
made by kvpctl keygen when asked. Processes are stopped by PID; waiting is
polling with a bound."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import kvpbus

# The tests say which keys each client uses; keys the environment names
# (kvpbus's default) are not theirs.
for _name in (kvpbus.curve.ENV_SECRET, kvpbus.curve.ENV_BROKER):
    os.environ.pop(_name, None)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("KVP_BIN", os.path.join(ROOT, "bin"))
LOGS = os.environ.get("KVP_TEST_LOGS", tempfile.gettempdir())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(name: str, folder: str, role: Optional[str] = None) -> str:
    """A certificate pair made by kvpctl keygen; the public file's path."""
    role_args = ["--role", role] if role else []
    subprocess.run([os.path.join(BIN, "kvpctl"), "keygen", name, "--dir", folder, *role_args],
                   check=True, stdout=subprocess.DEVNULL, timeout=30)
    return os.path.join(folder, name)


class Keys:
    """A secured cluster's certificates: the broker's, one per worker (the
    --workers-allow folder) and one client per role (--clients-allow)."""

    #: client name of each role, as the broker's 32769 errors name them
    NAMES = {"reader": "rita", "writer": "walt", "admin": "ada"}

    def __init__(self, folder: str, workers: int):
        self.clients_dir = os.path.join(folder, "clients")
        self.workers_dir = os.path.join(folder, "workers")
        self.broker = keygen("broker", os.path.join(folder, "broker"))
        self.workers = [keygen("w%d" % i, self.workers_dir) for i in range(workers)]
        self.clients: Dict[str, str] = {role: keygen(name, self.clients_dir, role)
                                        for role, name in self.NAMES.items()}

    def client(self, role: str) -> Tuple[str, str]:
        """The curve pair of the client with ``role``: (its secret file,
        the broker's public file)."""
        return self.clients[role] + "_secret", self.broker

    def broker_args(self) -> List[str]:
        return ["--curve-secret", self.broker + "_secret", "--clients-allow", self.clients_dir,
                "--workers-allow", self.workers_dir]

    def worker_args(self, i: int) -> List[str]:
        return ["--curve-secret", self.workers[i] + "_secret", "--broker-public", self.broker]


class Cluster:
    def __init__(self, workers: int = 2, worker_args: tuple = (), secured: bool = False):
        self.dir = tempfile.mkdtemp(prefix="kvppy.")
        self.clients, self.workers_ep, self.events_in, self.events = (
            "tcp://127.0.0.1:%d" % free_port() for _ in range(4))
        self.worker_args = worker_args
        self.keys = Keys(os.path.join(self.dir, "keys"), workers) if secured else None
        #: what the cluster's own checks connect with: the admin's keys, or plain
        self.curve = self.keys.client("admin") if self.keys else False
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
                                  "--events-in", self.events_in, "--events", self.events,
                                  *(self.keys.broker_args() if self.keys else ()))

    def start_worker(self, i: int) -> None:
        self.workers[i] = self._spawn("kvp-worker", "--data", "%s/w%d" % (self.dir, i),
                                      "--id", "w%d" % i, "--broker", self.workers_ep,
                                      "--events-in", self.events_in, *self.worker_args,
                                      *(self.keys.worker_args(i) if self.keys else ()))

    def start(self) -> "Cluster":
        self.start_broker()
        for i in range(len(self.workers)):
            self.start_worker(i)
        if not self.wait_alive(len(self.workers)):
            self.stop()
            raise RuntimeError("the cluster did not come up")
        return self

    def wait_alive(self, n: int, seconds: float = 20) -> bool:
        with kvpbus.Client(self.clients, curve=self.curve, timeout=0.5, retries=0) as c:
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
