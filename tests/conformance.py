#!/usr/bin/python3
"""KVP/1 conformance from outside: a client that knows only the spec.

Starts a real broker and two workers from $KVP_BIN (default bin/) on
127.0.0.1 ports the kernel picks, data in a temporary folder, and talks to
them with pyzmq and msgpack (Debian's python3-zmq, python3-msgpack): REQ and
DEALER clients, the documented partition function, events, return codes, and
event replay (GetEvents), also past retention on a second cluster, and
GetKvpItems paging through a system past 4 MiB of items.
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
    def __init__(self, workers=2, worker_args=()):
        self.dir = tempfile.mkdtemp(prefix="kvpconf.")
        ports = [free_port() for _ in range(4)]
        self.clients, self.workers_ep, self.events_in, self.events = (
            "tcp://127.0.0.1:%d" % p for p in ports)
        self.procs = []
        self.spawn("kvp-broker", "--data", self.dir + "/broker", "--clients", self.clients,
                   "--workers", self.workers_ep, "--events-in", self.events_in,
                   "--events", self.events)
        for i in range(workers):
            self.spawn("kvp-worker", "--data", "%s/w%d" % (self.dir, i), "--id", "w%d" % i,
                       "--broker", self.workers_ep, "--events-in", self.events_in,
                       *worker_args)

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


def dealer(endpoint):
    s = CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


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


if __name__ == "__main__":
    sys.exit(main())
