#!/usr/bin/python3
"""KVP/1 conformance from outside: a client that knows only the spec.

Starts a real broker and two workers from $KVP_BIN (default bin/) on
127.0.0.1 ports the kernel picks, data in a temporary folder, and talks to
them with pyzmq and msgpack (Debian's python3-zmq, python3-msgpack): REQ and
DEALER clients, the documented partition function, events, return codes,
event replay (GetEvents), also past retention on a second cluster,
GetKvpItems paging through a system past 4 MiB of items, and security
(section 11) on a third: certificates written here from the section's file
format, CURVE keys from zmq.curve_keypair().
Every wait is a bounded poll; every process is stopped by its PID.
Exit status 0 when every check passed.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

BIN = os.environ.get("KVP_BIN", "bin")
LOGS = os.environ.get("KVP_TEST_LOGS", tempfile.gettempdir())
CTX = zmq.Context.instance()
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def partition(guid, n):
    """proto/KVP1.md section 2: FNV-1a-32 of the lower-case GUID, mod N."""
    h = 2166136261
    for b in guid.lower().encode():
        h = ((h ^ b) * 16777619) % 2**32
    return h % n


class Cluster:
    """A broker and workers w0, w1, ...; secured when given Keys."""

    def __init__(self, workers=2, worker_args=(), keys=None):
        self.dir = tempfile.mkdtemp(prefix="kvpconf.")
        ports = [free_port() for _ in range(4)]
        self.clients, self.workers_ep, self.events_in, self.events = (
            "tcp://127.0.0.1:%d" % p for p in ports)
        self.procs = []
        self.spawn("kvp-broker", "--data", self.dir + "/broker", "--clients", self.clients,
                   "--workers", self.workers_ep, "--events-in", self.events_in,
                   "--events", self.events, *(keys.broker_args() if keys else ()))
        for i in range(workers):
            wid = "w%d" % i
            self.spawn("kvp-worker", "--data", "%s/%s" % (self.dir, wid), "--id", wid,
                       "--broker", self.workers_ep, "--events-in", self.events_in,
                       *worker_args, *(keys.worker_args(wid) if keys else ()))

    def spawn(self, prog, *args):
        log = open(os.path.join(LOGS, "conformance-%s.log" % prog), "ab")
        self.procs.append(subprocess.Popen([os.path.join(BIN, prog), *args],
                                           stdout=log, stderr=log))

    def stop(self):
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def socket_to(kind, endpoint, curve=None):
    """A socket of `kind` connected to `endpoint`; a CURVE client when
    `curve` is (our Cert, the server's public key)."""
    s = CTX.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        cert, server = curve
        s.curve_secretkey, s.curve_publickey = cert.secret, cert.public
        s.curve_serverkey = server
    s.connect(endpoint)
    return s


def dealer(endpoint, curve=None):
    return socket_to(zmq.DEALER, endpoint, curve)


def call_sized(sock, body, timeout_ms=10000, raw=None):
    """Send one request on a DEALER; the decoded reply map and its body's
    size in bytes ((None, 0) when no reply came)."""
    frames = [b"", b"KVP1", raw if raw is not None else msgpack.packb(body)]
    sock.send_multipart(frames)
    if not sock.poll(timeout_ms):
        return None, 0
    reply = sock.recv_multipart()
    assert reply[0] == b"" and reply[1] == b"KVP1" and len(reply) == 3, reply
    return msgpack.unpackb(reply[2], raw=False), len(reply[2])


def call(sock, body, timeout_ms=10000, raw=None):
    """Send one request on a DEALER and return the decoded reply map."""
    return call_sized(sock, body, timeout_ms, raw)[0]


def wait_alive(sock, n, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        r = call(sock, {"op": "ClusterStatus"}, 500)
        if r and sum(1 for w in r["workers"] if w["alive"]) == n:
            return r
        time.sleep(0.05)
    return None


def item(name, data, source=0):
    return {"Name": name, "Data": data, "Source": source}


def main():
    cluster = Cluster()
    try:
        run(cluster)
    finally:
        cluster.stop()
    cluster = Cluster(1, ("--retention", "1"))
    try:
        run_retention(cluster)
    finally:
        cluster.stop()
    keys = Keys(["w0"], [("ann", "admin"), ("wes", "writer"), ("rae", "reader"),
                         ("carl", "writer")])
    try:
        cluster = Cluster(1, keys=keys)
        try:
            run_secured(cluster, keys)
        finally:
            cluster.stop()
        run_refusals(keys)
    finally:
        shutil.rmtree(keys.dir, ignore_errors=True)
    print("conformance: %d failed" % len(FAILED))
    return 1 if FAILED else 0


def run(cluster):
    c = dealer(cluster.clients)
    status = wait_alive(c, 2)
    check(status is not None, "two workers registered")
    n = status["partitions"]
    check(n == 64, "64 partitions by default")

    # A REQ client sends [KVP1][body]; REQ adds the delimiter.
    req = CTX.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(cluster.clients)
    req.send_multipart([b"KVP1", msgpack.packb({"op": "Ping", "rid": "r-1"})])
    check(req.poll(5000) != 0, "REQ client answered")
    frames = req.recv_multipart()
    body = msgpack.unpackb(frames[-1], raw=False)
    check(frames[0] == b"KVP1" and body == {"rid": "r-1", "rc": 0}, "REQ Ping -> rc 0, rid echoed")
    req.close()

    # DefineSystem with an id in upper case: stored and reported lower-case.
    gid = "6F1C3B7E-2A4D-4C1E-9B7A-0D5E8F2A1C34"
    r = call(c, {"op": "DefineSystem", "name": "conf01", "id": gid, "rid": 7})
    check(r["rc"] == 0 and r["id"] == gid.lower() and r["rid"] == 7, "DefineSystem with id")
    gid = gid.lower()
    check(partition(gid, n) == 27, "the documented partition function (pinned example)")

    # The system's partition is now owned by a worker, as ClusterStatus says.
    status = call(c, {"op": "ClusterStatus"})
    owners = [w["id"] for w in status["workers"] if partition(gid, n) in w["partitions"]]
    check(len(owners) == 1 and partition(gid, n) not in status["unowned"],
          "ClusterStatus lists the partition under exactly one worker")

    # Subscribe to this system's jobs, then add items (map and CIM-XML).
    sub = CTX.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, ("job/" + gid).encode())
    sub.connect(cluster.events)
    cim = ('<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem">'
           '<PROPERTY NAME="Name" TYPE="string"><VALUE>role</VALUE></PROPERTY>'
           '<PROPERTY NAME="Data" TYPE="string"><VALUE>web &amp; db</VALUE></PROPERTY>'
           '<PROPERTY NAME="Source" TYPE="uint16"><VALUE>4</VALUE></PROPERTY></INSTANCE>')
    wmi = ('\\\\HOST\\root\\virtualization\\v2:Msvm_ComputerSystem.CreationClassName='
           '"Msvm_ComputerSystem",Name="%s"' % gid.upper())
    event = None
    for attempt in range(50):       # until the subscription has come through
        r = call(c, {"op": "AddKvpItems", "target": wmi, "rid": "add-%d" % attempt,
                     "items": [item("ip%d" % attempt, "10.0.0.5")] + ([cim] if attempt == 0 else [])})
        if attempt == 0:
            check(r["rc"] == 4096, "AddKvpItems -> 4096")
            job = r["job"]
            check(set(job) == {"InstanceID", "JobType", "TargetSystem", "JobState", "ErrorCode",
                               "ErrorDescription", "TimeSubmitted", "ElapsedTime"},
                  "job map has exactly the spec's fields")
            check(job["JobState"] == 7 and job["ErrorCode"] == 0 and job["TargetSystem"] == gid,
                  "job Completed on the lower-case GUID")
        if sub.poll(200):
            topic, payload = sub.recv_multipart()
            event = msgpack.unpackb(payload, raw=False)
            check(topic == ("job/" + gid).encode(), "event topic job/<guid>")
            break
    check(event is not None and isinstance(event.get("seq"), int)
          and event.get("partition") == partition(gid, n) and "items" in event,
          "event carries partition, seq and items")

    r = call(c, {"op": "GetKvpItems", "target": gid})
    names = [(i["Source"], i["Name"]) for i in r["items"]]
    check(r["rc"] == 0 and names == sorted(names), "GetKvpItems sorted by Source, then Name")
    check({"Name": "role", "Data": "web & db", "Source": 4} in r["items"], "CIM item stored decoded")
    r = call(c, {"op": "GetJob", "job": job["InstanceID"]})
    check(r["rc"] == 0 and r["job"] == job, "GetJob returns the same job map")

    # Return codes, each with nothing changed.
    before = call(c, {"op": "GetKvpItems", "target": gid})["items"]
    cases = [
        ("not msgpack", None, b"\xc1", 32773),
        ("body not a map", None, msgpack.packb([1, 2]), 32773),
        ("op not a str", {"op": 5}, None, 32776),
        ("unknown op", {"op": "Frobnicate"}, None, 32770),
        ("target of the wrong type", {"op": "AddKvpItems", "target": 5, "items": []}, None, 32776),
        ("129 items", {"op": "AddKvpItems", "target": gid,
                       "items": [item("k%d" % i, "v") for i in range(129)]}, None, 32773),
        ("Source 1", {"op": "AddKvpItems", "target": gid, "items": [item("x", "v", 1)]}, None, 32773),
        ("duplicate item", {"op": "AddKvpItems", "target": gid,
                            "items": [item("d", "1"), item("d", "2")]}, None, 32773),
        ("Data over 2047 bytes for Source 0", {"op": "AddKvpItems", "target": gid,
                                               "items": [item("big", "x" * 2048)]}, None, 32773),
        ("unknown system", {"op": "GetSystem", "target": "00000000-0000-0000-0000-000000000001"},
         None, 32773),
        ("rid of another type", {"op": "Ping", "rid": [1]}, None, 32776),
    ]
    for what, body, raw, rc in cases:
        r = call(c, body, raw=raw)
        check(r is not None and r["rc"] == rc and "error" in r, "%s -> %d" % (what, rc))
    r = call(c, {"op": "Ping", "rid": [1]})
    check("rid" not in r, "a rid of another type is not echoed")
    check(call(c, {"op": "GetKvpItems", "target": gid})["items"] == before,
          "the refused requests changed nothing")

    # All-or-nothing with an idempotency key.
    r1 = call(c, {"op": "AddKvpItems", "target": gid, "key": "k-1",
                  "items": [item("new", "1"), item("ip0", "dup")]})
    check(r1["rc"] == 4096 and r1["job"]["JobState"] == 10 and r1["job"]["ErrorCode"] == 32768
          and "ip0" in r1["job"]["ErrorDescription"], "an existing key fails the job, naming it")
    r2 = call(c, {"op": "AddKvpItems", "target": gid, "key": "k-1",
                  "items": [item("ip0", "dup"), item("new", "1")]})
    check(r2["job"] == r1["job"], "the same key and request returns the earlier job")
    check(call(c, {"op": "GetKvpItems", "target": gid})["items"] == before,
          "the failed job changed nothing")
    r = call(c, {"op": "ModifySystemSettings", "target": gid, "DataExchangeEnabled": False})
    check(r["rc"] == 0, "ModifySystemSettings")
    r = call(c, {"op": "RemoveKvpItems", "target": gid, "items": [{"Name": "ip0", "Source": 0}]})
    check(r["rc"] == 32775, "DataExchangeEnabled false -> 32775")
    run_replay(c, n, gid, event)
    run_paging(c)
    c.close()
    sub.close()


def events_of(c, part, start, limit=None):
    body = {"op": "GetEvents", "partition": part, "from": start, "rid": "ge"}
    if limit is not None:
        body["limit"] = limit
    return call(c, body)


def run_replay(c, n, gid, event):
    """Section 10: GetEvents pages, limits and errors."""
    part = partition(gid, n)
    status = call(c, {"op": "ClusterStatus"})
    r = events_of(c, part, 1)
    evs = r["events"] if r and r.get("rc") == 0 else []
    seqs = [e["seq"] for e in evs]
    check(r["rc"] == 0 and r["rid"] == "ge" and r["partition"] == part
          and set(r) >= {"events", "next", "first", "last"}, "GetEvents -> rc 0 and its fields")
    check(seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] == r["first"]
          and seqs[-1] == r["last"] and r["next"] == r["last"] + 1,
          "events ascending without gaps from first to last, next = last + 1")
    check(all(e["partition"] == part for e in evs), "every event is of the partition asked")
    stored = [e for e in evs if e["seq"] == event["seq"]]
    check(stored == [event], "a replayed event is field for field the one published")
    check(all(e["JobState"] == 10 or "items" in e for e in evs), "completed jobs' events carry items")
    r = events_of(c, part, seqs[0], 1)
    check(r["rc"] == 0 and len(r["events"]) == 1 and r["next"] == seqs[0] + 1, "limit 1 -> one event")
    r2 = events_of(c, part, r["next"], 10000)
    check(r2["rc"] == 0 and [e["seq"] for e in r2["events"]] == seqs[1:], "the next page from next")
    r = events_of(c, part, r2["last"] + 5)
    check(r["rc"] == 0 and r["events"] == [] and r["next"] == r2["last"] + 5,
          "from past last -> rc 0, no events, next = from")
    unowned = status["unowned"][0] if status["unowned"] else None
    if unowned is not None:
        r = events_of(c, unowned, 3)
        check(r["rc"] == 0 and r["events"] == [] and r["first"] == 1 and r["last"] == 0
              and r["next"] == 3, "a never-assigned partition: no events, first 1, last 0")
        after = call(c, {"op": "ClusterStatus"})
        check(unowned in after["unowned"], "... and it stays unassigned")
    cases = [
        ("partition missing", {"from": 1}, 32773),
        ("from missing", {"partition": part}, 32773),
        ("partition = N", {"partition": n, "from": 1}, 32773),
        ("from 0", {"partition": part, "from": 0}, 32773),
        ("limit 0", {"partition": part, "from": 1, "limit": 0}, 32773),
        ("limit 10001", {"partition": part, "from": 1, "limit": 10001}, 32773),
        ("partition negative", {"partition": -1, "from": 1}, 32776),
        ("from a str", {"partition": part, "from": "1"}, 32776),
        ("limit negative", {"partition": part, "from": 1, "limit": -1}, 32776),
        ("limit a float", {"partition": part, "from": 1, "limit": 1.5}, 32776),
        ("a wrong type beats a bad value", {"partition": "x", "from": 0}, 32776),
    ]
    for what, fields, rc in cases:
        r = call(c, dict({"op": "GetEvents"}, **fields))
        check(r is not None and r["rc"] == rc and "error" in r, "GetEvents %s -> %d" % (what, rc))
    r = events_of(c, part, 1, 10000)
    check(r["rc"] == 0 and len(r["events"]) == len(seqs), "limit 10000 is allowed")


def get_page(c, gid, **fields):
    return call_sized(c, dict({"op": "GetKvpItems", "target": gid}, **fields))


def order(it):
    return (it["Source"], it["Name"].encode())


def read_all(c, gid, limit=1000, **fields):
    """Every item by pages of `limit`, each asked for after the last item
    returned; None when a page is refused or breaks the rules."""
    fields["limit"] = limit
    items, after = [], None
    for _ in range(10000):
        r, _size = get_page(c, gid, **(dict(fields, after=after) if after else fields))
        if not r or r.get("rc") != 0 or not isinstance(r.get("more"), bool):
            return None
        items += r["items"]
        if not r["more"]:
            return items
        if not r["items"]:
            return None
        after = r["items"][-1]
    return None


def run_paging(c):
    """Section 4: GetKvpItems with limit, after and more; a system past 4 MiB."""
    gid = call(c, {"op": "DefineSystem", "name": "pages"})["id"]
    small = [item(name, "v") for name in ("a", "ab", "b", "c", "d")]
    check(call(c, {"op": "AddKvpItems", "target": gid, "items": small})["rc"] == 4096,
          "items for paging added")
    big = "d" * 16000
    for r in range(5):
        batch = [item("k%03d" % (r * 60 + i), big, 4) for i in range(60)]
        check(call(c, {"op": "AddKvpItems", "target": gid, "items": batch})["rc"] == 4096,
              "60 host-only items of 16000 bytes added")
    want = sorted(small + [item("k%03d" % i, big, 4) for i in range(300)], key=order)
    r = call(c, {"op": "GetKvpItems", "target": gid, "rid": 41})
    check(r["rc"] == 32778 and "page" in r.get("error", "") and r.get("rid") == 41,
          "a system past 4 MiB, unpaged -> 32778 saying to page")
    r, size = get_page(c, gid, limit=10000)
    first = r.get("items", []) if r else []
    check(r["rc"] == 0 and r.get("more") is True and 0 < len(first) < len(want)
          and first == want[:len(first)], "a page of limit 10000 ends early, more")
    nxt = want[min(len(first), len(want) - 1)]
    check(size <= 4 * 1024 * 1024 < size + len(msgpack.packb(nxt)),
          "... only where one more item would take the body past 4 MiB")
    got = read_all(c, gid)
    check(got == want, "pages after the last item returned read every item once, in order")
    check(read_all(c, gid, limit=1, Source=0) == small, "limit 1 and the Source filter")
    r, _ = get_page(c, gid, after=small[0])
    page = r.get("items", [])
    check(r["rc"] == 0 and r.get("more") is True and page == want[1:len(page) + 1],
          "after alone pages too (the item itself as after)")
    for what, fields, items, more in (
            ("limit 1 -> one, more", {"limit": 1}, [small[0]], True),
            ("after the last item -> no items, more false",
             {"after": {"Source": 4, "Name": "k299"}}, [], False),
            ("after a name no item has -> from the next one",
             {"Source": 0, "after": {"Source": 0, "Name": "bb"}}, small[3:], False),
            ("after the last of one Source -> the next Source",
             {"limit": 2, "after": {"Source": 0, "Name": "d"}}, want[5:7], True)):
        r, _ = get_page(c, gid, **fields)
        check(r["rc"] == 0 and r.get("items") == items and r.get("more") is more, what)
    cases = [
        ("limit 0", {"limit": 0}, 32773),
        ("limit 10001", {"limit": 10001}, 32773),
        ("limit negative", {"limit": -1}, 32776),
        ("limit a str", {"limit": "5"}, 32776),
        ("after a str", {"after": "a"}, 32776),
        ("after without Name", {"after": {"Source": 0}}, 32773),
        ("after without Source", {"after": {"Name": "a"}}, 32773),
        ("after Name an int", {"after": {"Source": 0, "Name": 5}}, 32776),
        ("after Source a str", {"after": {"Source": "0", "Name": "a"}}, 32776),
        ("a wrong type beats a bad value", {"limit": 0, "after": 7}, 32776),
    ]
    for what, fields, rc in cases:
        r, _ = get_page(c, gid, **fields)
        check(r is not None and r["rc"] == rc and "error" in r, "GetKvpItems %s -> %d" % (what, rc))
    check(read_all(c, gid) == want, "the refused pages changed nothing")
    # A body over 1 MiB is 32773, and its rid comes back with it.
    body = {"op": "AddKvpItems", "target": gid, "items": [item("x%d" % i, big, 4)
                                                           for i in range(128)], "rid": 99}
    r = call(c, body)
    check(r is not None and r["rc"] == 32773 and r.get("rid") == 99,
          "a body over 1 MiB -> 32773 with its rid")


def run_retention(cluster):
    """Section 10 with --retention 1: asking before `first` is 32773 naming it."""
    c = dealer(cluster.clients)
    status = wait_alive(c, 1)
    check(status is not None, "retention cluster registered")
    n = status["partitions"]
    gid = call(c, {"op": "DefineSystem", "name": "ret"})["id"]
    part = partition(gid, n)
    for i in range(3):
        call(c, {"op": "AddKvpItems", "target": gid, "items": [item("r%d" % i, "v")]})
    r, end = None, time.time() + 20
    while time.time() < end:
        r = events_of(c, part, 1)
        if r and r["rc"] == 32773:
            break
        time.sleep(0.1)
    check(r is not None and r["rc"] == 32773 and "first" in r["error"]
          and r["first"] > 1 and r["last"] == 3, "from before first -> 32773 naming first, with first and last")
    r2 = events_of(c, part, r["first"])
    check(r2["rc"] == 0 and r2["first"] == r["first"] and r2["next"] >= r["first"],
          "from first -> rc 0")
    c.close()


# --- Section 11: security ------------------------------------------------

class Cert:
    """A CURVE key pair in the ZPL form section 11 gives: the public file
    FOLDER/NAME (`metadata` name and role, `curve` public-key) and the
    secret file FOLDER/NAME_secret (also `curve` secret-key), mode 0600."""

    def __init__(self, folder, name, role=None):
        self.name, self.role = name, role
        self.public, self.secret = zmq.curve_keypair()
        os.makedirs(folder, exist_ok=True)
        self.public_file = os.path.join(folder, name)
        self.secret_file = self.public_file + "_secret"
        self.write_public()
        self.write_secret(self.secret_file, 0o600)

    def text(self, secret):
        lines = ["metadata", '    name = "%s"' % self.name]
        if self.role:
            lines.append('    role = "%s"' % self.role)
        lines += ["curve", '    public-key = "%s"' % self.public.decode()]
        if secret:
            lines.append('    secret-key = "%s"' % self.secret.decode())
        return "\n".join(lines) + "\n"

    def write_public(self):
        with open(self.public_file, "w", encoding="ascii") as f:
            f.write(self.text(False))

    def write_secret(self, path, mode):
        """The secret file at `path` with exactly `mode`."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.text(True))
            os.fchmod(f.fileno(), mode)


class Keys:
    """A secured cluster's certificates: the broker's, the workers' (in the
    --workers-allow folder), the clients' (--clients-allow, beside their
    secret files), and a stray key that no folder holds."""

    def __init__(self, workers, clients):
        self.dir = tempfile.mkdtemp(prefix="kvpkeys.")
        self.clients_dir = os.path.join(self.dir, "clients")
        self.workers_dir = os.path.join(self.dir, "workers")
        self.broker = Cert(os.path.join(self.dir, "broker"), "broker")
        self.workers = {w: Cert(self.workers_dir, w) for w in workers}
        self.clients = {name: Cert(self.clients_dir, name, role) for name, role in clients}
        self.stray = Cert(os.path.join(self.dir, "stray"), "stray", "admin")

    def curve(self, cert):
        return (cert, self.broker.public)

    def broker_args(self, secret_file=None):
        return ("--curve-secret", secret_file or self.broker.secret_file,
                "--clients-allow", self.clients_dir, "--workers-allow", self.workers_dir)

    def worker_args(self, wid, secret_file=None):
        return ("--curve-secret", secret_file or self.workers[wid].secret_file,
                "--broker-public", self.broker.public_file)


def items_of(sock, gid):
    """A system's items, or None when the reply has none."""
    r = call(sock, {"op": "GetKvpItems", "target": gid})
    return r.get("items") if r else None


def run_secured(cluster, keys):
    """Section 11 on a running secured cluster."""
    admin = dealer(cluster.clients, keys.curve(keys.clients["ann"]))
    status = wait_alive(admin, 1, 20)
    check(status is not None, "secured: the worker registered with its key, the admin is answered")
    if status is None:
        return
    # The first write of a new cluster: "try again" codes (section 5) are
    # retried, as any client would, while the partition's owner settles.
    r = None
    for _ in range(20):
        r = call(admin, {"op": "DefineSystem", "name": "sec01"})
        if r is None or r.get("rc") not in (32771, 32772, 32774, 32777):
            break
        time.sleep(0.25)
    check(r is not None and r.get("rc") == 0, "secured: the admin defines a system (%r)" % r)
    if r is None or r.get("rc") != 0:
        return
    gid = r["id"]
    job = call(admin, {"op": "AddKvpItems", "target": gid, "items": [item("seed", "1")]})["job"]

    def state():
        return call(admin, {"op": "GetSystem", "target": gid}), items_of(admin, gid)
    before = state()
    run_shut_out(cluster, keys, gid)
    check(state() == before, "... and they changed nothing (seen by the admin)")
    run_roles(cluster, keys, admin, gid, job, status["partitions"])
    check(state()[0] == before[0], "the system is as it was after the refusals")
    run_admin(admin)
    run_secured_events(cluster, keys, admin)
    run_removal(cluster, keys)
    admin.close()


def run_shut_out(cluster, keys, gid):
    """Peers whose key is not let in get no reply at all."""
    peers = [("a client without CURVE", None), ("an unknown key", keys.curve(keys.stray)),
             ("a worker's key on the clients endpoint", keys.curve(keys.workers["w0"]))]
    poller = zmq.Poller()
    socks = []
    for _, curve in peers:
        s = dealer(cluster.clients, curve)
        for body in ({"op": "AddKvpItems", "target": gid, "items": [item("intruder", "x")]},
                     {"op": "Ping"}):
            s.send_multipart([b"", b"KVP1", msgpack.packb(body)])
        poller.register(s, zmq.POLLIN)
        socks.append(s)
    answered, end = set(), time.time() + 2
    while time.time() < end:
        for s, _ in poller.poll(100):
            answered.add(s)
            s.recv_multipart()
    for (what, _), s in zip(peers, socks):
        check(s not in answered, "secured: %s gets no reply" % what)
        s.close()


def refused(sock, who, op, fields):
    """Whether `op` is refused with 32769 and an error naming op and `who`."""
    r = call(sock, dict({"op": op}, **fields))
    return (r is not None and r.get("rc") == 32769 and op in r.get("error", "")
            and who in r.get("error", ""))


def run_roles(cluster, keys, admin, gid, job, n):
    """reader < writer < admin, each refusal 32769 naming op and client."""
    reader = dealer(cluster.clients, keys.curve(keys.clients["rae"]))
    writer = dealer(cluster.clients, keys.curve(keys.clients["wes"]))
    other = "0badc0de-0000-4000-8000-000000000001"
    reads = [("Ping", {}), ("ClusterStatus", {}), ("GetSystem", {"target": gid}),
             ("GetKvpItems", {"target": gid}), ("GetJob", {"job": job["InstanceID"]}),
             ("GetEvents", {"partition": partition(gid, n), "from": 1})]
    writes = [("AddKvpItems", {"target": gid, "items": [item("w", "1")]}),
              ("ModifyKvpItems", {"target": gid, "items": [item("seed", "2")]}),
              ("RemoveKvpItems", {"target": gid, "items": [{"Name": "seed", "Source": 0}]})]
    admins = [("DefineSystem", {"name": "nope", "id": other}),
              ("ModifySystemSettings", {"target": gid, "DataExchangeEnabled": False}),
              ("DestroySystem", {"target": gid})]
    items = items_of(admin, gid)
    for op, fields in reads:
        r = call(reader, dict({"op": op}, **fields))
        check(r is not None and r["rc"] == 0, "a reader may %s" % op)
    for op, fields in writes + admins:
        check(refused(reader, "rae", op, fields), "a reader's %s -> 32769 naming op and client" % op)
    check(items_of(admin, gid) == items,
          "the reader's refused writes changed no item")
    r = call(reader, {"op": "Frobnicate"})
    check(r["rc"] == 32770, "a reader's unknown op is still 32770 (that check comes first)")
    r = call(reader, {"op": "AddKvpItems", "target": 5})
    check(r["rc"] == 32769, "a reader's AddKvpItems with a target of the wrong type -> 32769 "
          "(right after the unknown-op check)")
    for op, fields in admins:
        check(refused(writer, "wes", op, fields), "a writer's %s -> 32769 naming op and client" % op)
    r = call(admin, {"op": "GetSystem", "target": other})
    check(r["rc"] == 32773, "the writer's refused DefineSystem made no system")
    for op, fields in writes:
        r = call(writer, dict({"op": op}, **fields))
        check(r is not None and r["rc"] == 4096 and r["job"]["JobState"] == 7,
              "a writer may %s" % op)
    check(items_of(admin, gid) == [item("w", "1")],
          "the writer's jobs did what they said")
    reader.close()
    writer.close()


def run_admin(admin):
    """An admin may do everything."""
    r = call(admin, {"op": "DefineSystem", "name": "sec02"})
    check(r["rc"] == 0, "an admin may DefineSystem")
    gid = r["id"]
    for op, fields in [("AddKvpItems", {"items": [item("a", "1")]}),
                       ("ModifyKvpItems", {"items": [item("a", "2")]}),
                       ("RemoveKvpItems", {"items": [{"Name": "a", "Source": 0}]})]:
        r = call(admin, dict({"op": op, "target": gid}, **fields))
        check(r["rc"] == 4096 and r["job"]["JobState"] == 7, "an admin may %s" % op)
    r = call(admin, {"op": "ModifySystemSettings", "target": gid, "DataExchangeEnabled": False})
    check(r["rc"] == 0 and call(admin, {"op": "GetSystem", "target": gid})["DataExchangeEnabled"]
          is False, "an admin may ModifySystemSettings")
    r = call(admin, {"op": "DestroySystem", "target": gid})
    check(r["rc"] == 0 and call(admin, {"op": "GetSystem", "target": gid})["rc"] == 32773,
          "an admin may DestroySystem")


def run_secured_events(cluster, keys, admin):
    """Only an allowed key's subscription receives events, and all of them."""
    gid = call(admin, {"op": "DefineSystem", "name": "sec03"})["id"]
    subs = {}
    for what, curve in [("no key", None), ("an unknown key", keys.curve(keys.stray)),
                        ("a worker's key", keys.curve(keys.workers["w0"])),
                        ("an allowed reader", keys.curve(keys.clients["rae"]))]:
        subs[what] = socket_to(zmq.SUB, cluster.events, curve)
        subs[what].setsockopt(zmq.SUBSCRIBE, b"job/")
    got = {what: [] for what in subs}

    def drain(wait_ms):
        for what, s in subs.items():
            while s.poll(wait_ms if what == "an allowed reader" else 0):
                got[what].append(msgpack.unpackb(s.recv_multipart()[1], raw=False))
                wait_ms = 0
    for attempt in range(50):           # until the reader's subscription is through
        call(admin, {"op": "AddKvpItems", "target": gid, "items": [item("probe%d" % attempt, "")]})
        drain(200)
        if got["an allowed reader"]:
            break
    jobs = set()
    for i in range(20):
        r = call(admin, {"op": "AddKvpItems", "target": gid, "items": [item("ev%d" % i, "")]})
        jobs.add(r["job"]["InstanceID"])
    end = time.time() + 10
    while time.time() < end and not jobs <= {e["InstanceID"] for e in got["an allowed reader"]}:
        drain(100)
    time.sleep(0.3)
    drain(0)
    mine = [e["InstanceID"] for e in got["an allowed reader"] if e["InstanceID"] in jobs]
    check(sorted(mine) == sorted(jobs), "secured: an allowed reader's subscription receives "
          "all 20 events, each once")
    for what in ("no key", "an unknown key", "a worker's key"):
        check(got[what] == [], "secured: a subscriber with %s receives no events" % what)
    for s in subs.values():
        s.close()


def answered(endpoint, curve, timeout_ms=1000):
    """Whether a new connection with `curve` gets Ping answered."""
    s = dealer(endpoint, curve)
    r = call(s, {"op": "Ping"}, timeout_ms)
    s.close()
    return r is not None and r.get("rc") == 0


def until(want, seconds):
    """Seconds after which `want()` (a new connection each time) first held, or None."""
    start = time.time()
    while time.time() - start < seconds:
        at = time.time() - start
        if want():
            return at
        time.sleep(0.1)
    return None


def run_removal(cluster, keys):
    """Removing a certificate shuts out the key's next connection; adding it lets it in."""
    cert = keys.clients["carl"]
    curve = keys.curve(cert)
    check(answered(cluster.clients, curve, 5000), "a key in --clients-allow is let in")
    os.remove(cert.public_file)
    at = until(lambda: not answered(cluster.clients, curve), 8)
    check(at is not None and at <= 5 and not answered(cluster.clients, curve),
          "removing a client's certificate shuts out its next connection within 5 s (%s s)"
          % (None if at is None else round(at, 1)))
    cert.write_public()
    at = until(lambda: answered(cluster.clients, curve), 8)
    check(at is not None and at <= 5, "adding it back lets the next connection in within 5 s "
          "(%s s)" % (None if at is None else round(at, 1)))


def exits(prog, *args, seconds=10):
    """Run a program expected to refuse to start: (exit status, output);
    (None, "") when it was still running after `seconds` (then killed)."""
    try:
        p = subprocess.run([os.path.join(BIN, prog), *args], capture_output=True,
                           timeout=seconds)
    except subprocess.TimeoutExpired:
        return None, ""
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def endpoints(clients_host="127.0.0.1"):
    ports = [free_port() for _ in range(4)]
    eps = ["tcp://127.0.0.1:%d" % p for p in ports]
    eps[0] = "tcp://%s:%d" % (clients_host, ports[0])
    return ["--clients", eps[0], "--workers", eps[1], "--events-in", eps[2],
            "--events", eps[3]], ports[0]


def run_refusals(keys):
    """Secret files open to others, and protected mode, each exit 2."""
    data = os.path.join(keys.dir, "data")
    loose = os.path.join(keys.dir, "loose")
    os.makedirs(loose)
    broker_secret = os.path.join(loose, "broker_secret")
    keys.broker.write_secret(broker_secret, 0o644)
    rc, out = exits("kvp-broker", "--data", data + "/b1", *endpoints()[0],
                    *keys.broker_args(broker_secret))
    check(rc == 2 and out.strip() != "", "a broker given a world-readable secret file exits 2, "
          "saying why (rc %s)" % rc)
    worker_secret = os.path.join(loose, "w0_secret")
    keys.workers["w0"].write_secret(worker_secret, 0o640)
    rc, out = exits("kvp-worker", "--data", data + "/w0", "--id", "w0",
                    "--broker", "tcp://127.0.0.1:%d" % free_port(),
                    *keys.worker_args("w0", worker_secret))
    check(rc == 2 and out.strip() != "", "a worker given a group-readable secret file exits 2 "
          "(rc %s)" % rc)
    for host in ("0.0.0.0", "*"):
        rc, out = exits("kvp-broker", "--data", data + "/b2", *endpoints(host)[0])
        check(rc == 2 and out.strip() != "", "protected mode: a broker binding tcp://%s without "
              "--curve-secret exits 2, saying why (rc %s)" % (host, rc))
    # --insecure lifts it. The broker binds 0.0.0.0 only inside a network
    # namespace of its own (unshare --net: nothing but a down loopback in
    # it, gone with the process), so no port opens on this host.
    if subprocess.run(["unshare", "--net", "true"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("skip: --insecure (unshare --net not allowed here)")
        return
    eps, _ = endpoints("0.0.0.0")
    broker = subprocess.Popen(["unshare", "--net", os.path.join(BIN, "kvp-broker"),
                               "--data", data + "/b3", *eps, "--insecure"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        check(broker.poll() is None, "protected mode: with --insecure the broker starts "
              "(exit %s)" % broker.poll())
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()

if __name__ == "__main__":
    sys.exit(main())
