"""The kvpbus Python package against real clusters (and its pure parts alone)."""
import asyncio
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.dirname(__file__))

import kvpbus  # noqa: E402
from kvpbus import AsyncClient, Client, Event, Item, KvpError, Lost, Subscriber  # noqa: E402
from cluster import Cluster  # noqa: E402

CIM = ('<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem">'
       '<PROPERTY NAME="Source" TYPE="uint16"><VALUE>0</VALUE></PROPERTY>'
       '<PROPERTY NAME="Name" TYPE="string"><VALUE>a&amp;b</VALUE></PROPERTY>'
       '<PROPERTY NAME="Data" TYPE="string"><VALUE>x&lt;y</VALUE></PROPERTY>'
       '</INSTANCE>')


class PureTest(unittest.TestCase):
    """What needs no cluster: item forms, GUIDs, partitions."""

    def test_items_to_wire_takes_every_form(self):
        wire = kvpbus.items_to_wire([Item("a", "1"), {"Name": "b", "Data": "2", "Source": 4},
                                     CIM])
        self.assertEqual(wire[0], {"Name": "a", "Data": "1", "Source": 0})
        self.assertEqual(wire[1]["Source"], 4)
        self.assertEqual(wire[2], CIM)
        self.assertEqual(kvpbus.items_to_wire(Item("one")), [{"Name": "one", "Data": "",
                                                              "Source": 0}])
        with self.assertRaises(TypeError):
            kvpbus.items_to_wire([42])

    def test_cim_round_trip(self):
        self.assertEqual(Item.from_cim(CIM), Item("a&b", "x<y", 0))
        item = Item('q"<&>', "d", 4)
        self.assertEqual(Item.from_cim(item.to_cim()), item)
        with self.assertRaises(ValueError):
            Item.from_cim(CIM.replace("Msvm_KvpExchangeDataItem", "Other"))
        with self.assertRaises(ValueError):
            Item.from_cim('<!DOCTYPE x>' + CIM)

    def test_guid_and_partition(self):
        guid = "7AD76005-3C15-4074-A15F-5161482C5CF2"
        path = ('\\\\H\\root\\virtualization\\v2:Msvm_ComputerSystem.CreationClassName='
                '"Msvm_ComputerSystem",Name="%s"' % guid)
        self.assertEqual(kvpbus.guid_of(path), guid.lower())
        self.assertEqual(kvpbus.partition_of(guid, 64), 29)   # the README's example
        with self.assertRaises(ValueError):
            kvpbus.guid_of("not-a-guid")

    def test_pages_that_break_the_rules(self):
        a, b = Item("a"), Item("b")
        self.assertEqual(kvpbus._ops.next_after(kvpbus.ItemsPage([a, b], True), None), b)
        self.assertIsNone(kvpbus._ops.next_after(kvpbus.ItemsPage([b], False), a))
        self.assertEqual(kvpbus._ops.next_after(kvpbus.ItemsPage([Item("a", "", 4)], True), b),
                         Item("a", "", 4))
        for page, after in ((kvpbus.ItemsPage([b, a], True), None),
                            (kvpbus.ItemsPage([b], True), b),
                            (kvpbus.ItemsPage([], True), a)):
            with self.assertRaises(KvpError) as cm:
                kvpbus._ops.next_after(page, after)
            self.assertEqual(cm.exception.rc, -1)

    def test_error_names(self):
        err = KvpError(32777, "down")
        self.assertEqual(err.name, "System is not available")
        self.assertIn("32777", str(err))


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2).start()
        cls.c = Client(cls.cluster.clients, timeout=5)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.cluster.stop()

    def test_system_lifecycle(self):
        vm = self.c.define_system("py-vm")
        self.assertTrue(kvpbus.types.GUID_RE.match(vm))
        self.assertEqual(self.c.get_system(vm), kvpbus.System(vm, "py-vm", True))
        self.c.modify_system_settings(vm, False)
        self.assertFalse(self.c.get_system(vm).data_exchange_enabled)
        with self.assertRaises(KvpError) as cm:
            self.c.add_items(vm, Item("k", "v"))
        self.assertEqual(cm.exception.rc, 32775)
        self.c.destroy_system(vm)
        with self.assertRaises(KvpError) as cm:
            self.c.get_system(vm)
        self.assertEqual(cm.exception.rc, 32773)
        self.assertEqual(cm.exception.name, "Invalid parameter")
        self.assertTrue(cm.exception.error)

    def test_items_in_every_form(self):
        vm = self.c.define_system("items")
        job = self.c.add_items(vm, [Item("b", "2"), {"Name": "a", "Data": "1", "Source": 0},
                                    CIM, Item("h", "host", 4)])
        self.assertTrue(job.completed, job)
        self.assertEqual(job.type, "AddKvpItems")
        self.assertEqual(job.target, vm)
        self.assertEqual(self.c.get_items(vm), [Item("a", "1"), Item("a&b", "x<y"),
                                                Item("b", "2"), Item("h", "host", 4)])
        self.assertEqual(self.c.get_items(vm, source=4), [Item("h", "host", 4)])
        self.assertTrue(self.c.modify_items(vm, Item("a", "one")).completed)
        self.assertTrue(self.c.remove_items(vm, {"Name": "b", "Source": 0}).completed)
        self.assertEqual([i.data for i in self.c.get_items(vm, source=0)], ["one", "x<y"])
        failed = self.c.add_items(vm, Item("a", "again"))
        self.assertFalse(failed.completed)
        self.assertEqual(failed.error_code, 32768)
        self.assertEqual(self.c.get_job(failed.id), failed)

    def test_key_makes_a_retry_safe(self):
        vm = self.c.define_system("keys")
        first = self.c.add_items(vm, Item("k", "v"), key="once")
        again = self.c.add_items(vm, Item("k", "v"), key="once")
        self.assertTrue(first.completed)
        self.assertEqual(again.id, first.id)
        with self.assertRaises(KvpError) as cm:
            self.c.add_items(vm, Item("k", "other"), key="once")
        self.assertEqual(cm.exception.rc, 32773)

    def test_paging(self):
        vm = self.c.define_system("pages")
        self.c.add_items(vm, [Item("n%03d" % i, "d") for i in range(120)])
        page = self.c.get_items_page(vm, limit=50)
        self.assertEqual((len(page.items), page.more), (50, True))
        page = self.c.get_items_page(vm, limit=50, after=page.items[-1])
        self.assertEqual((page.items[0].name, page.more), ("n050", True))
        last = self.c.get_items_page(vm, after=Item("n119"))
        self.assertEqual((last.items, last.more), ([], False))
        names = [i.name for i in self.c.iter_items(vm, page=7)]
        self.assertEqual(names, ["n%03d" % i for i in range(120)])
        self.assertEqual(len(self.c.get_items(vm, page=1)), 120)
        for bad in (0, 10001):
            with self.assertRaises(KvpError) as cm:
                self.c.get_items_page(vm, limit=bad)
            self.assertEqual(cm.exception.rc, 32773)

    def test_system_past_4mib(self):
        vm = self.c.define_system("big")
        data = "d" * 16000
        for r in range(5):
            self.c.add_items(vm, [Item("k%03d" % (r * 60 + i), data, 4) for i in range(60)])
        whole = self.c.call({"op": "GetKvpItems", "target": vm})
        self.assertEqual(whole["rc"], 32778)
        self.assertIn("page", whole["error"])
        first = self.c.get_items_page(vm, limit=10000)
        self.assertTrue(first.more)
        self.assertLess(len(first.items), 300)
        items = self.c.get_items(vm)
        self.assertEqual([i.name for i in items], ["k%03d" % i for i in range(300)])
        self.assertTrue(all(i.data == data and i.source == 4 for i in items))

    def test_cluster_ping_raw(self):
        self.c.ping()
        status = self.c.cluster_status()
        self.assertEqual(status.partitions, 64)
        self.assertEqual(sorted(w.id for w in status.workers if w.alive), ["w0", "w1"])
        self.assertEqual(self.c.call({"op": "NoSuchOp"})["rc"], 32770)
        with self.assertRaises(KvpError) as cm:
            self.c.get_job("no-such-job")
        self.assertEqual(cm.exception.rc, 32773)

    def test_no_reply_times_out(self):
        with Client("tcp://127.0.0.1:%d" % 1, timeout=0.2, retries=1, backoff=0.05) as dead:
            start = time.monotonic()
            with self.assertRaises(kvpbus.NoReply) as cm:
                dead.ping()
            self.assertEqual(cm.exception.rc, 32772)
            self.assertLess(time.monotonic() - start, 3)


class RetryTest(unittest.TestCase):
    """32777 while the owner is away: retried with the same key until it is back."""

    def test_retry_until_the_owner_returns(self):
        cluster = Cluster(1).start()
        try:
            c = Client(cluster.clients, timeout=5, retries=0)
            vm = c.define_system("retry")
            cluster.stop_worker(0)
            deadline = time.monotonic() + 15
            while True:
                try:
                    c.get_system(vm)
                except KvpError as err:
                    if err.rc == 32777:
                        break
                self.assertLess(time.monotonic(), deadline, "owner never reported down")
                time.sleep(0.1)
            timer = threading.Timer(0.5, cluster.start_worker, (0,))
            timer.start()
            patient = Client(cluster.clients, timeout=5, retries=30, backoff=0.1)
            job = patient.add_items(vm, Item("after", "restart"), key="retry-1")
            timer.join()
            self.assertTrue(job.completed)
            self.assertEqual(patient.add_items(vm, Item("after", "restart"),
                                               key="retry-1").id, job.id)
            self.assertEqual(c.get_items(vm), [Item("after", "restart")])
            c.close()
            patient.close()
        finally:
            cluster.stop()


class AsyncTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_pipelined_replies_match_their_requests(self):
        async def run():
            async with AsyncClient(self.cluster.clients) as c:
                vms = await asyncio.gather(*(c.define_system("a%d" % i) for i in range(8)))
                jobs = await asyncio.gather(*(c.add_items(vms[i % 8], Item("k%d" % i, str(i)))
                                              for i in range(200)))
                items = await asyncio.gather(*(c.get_items(vm) for vm in vms))
                paged = [i async for i in c.iter_items(vms[1], page=3)]
                self.assertEqual(paged, items[1])
                self.assertEqual(await c.get_items(vms[1], page=1), items[1])
                with self.assertRaises(KvpError):
                    await c.get_system("00000000-0000-0000-0000-000000000000")
                return vms, jobs, items
        vms, jobs, items = asyncio.run(run())
        self.assertEqual(len(set(vms)), 8)
        for i, job in enumerate(jobs):
            self.assertTrue(job.completed)
            self.assertEqual(job.target, vms[i % 8])
        self.assertEqual(sum(len(x) for x in items), 200)
        self.assertIn(Item("k9", "9"), items[1])


class SubscriberTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2).start()
        cls.c = Client(cls.cluster.clients)
        cls.vms = [cls.c.define_system("s%d" % i) for i in range(4)]

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.cluster.stop()

    def subscriber(self, **kw):
        return Subscriber(self.cluster.clients, self.cluster.events, timeout=1, **kw)

    def ready(self, sub):
        for _ in range(200):
            if sub.ready:
                return
            self.assertIsNone(sub.recv(0.05))
        self.fail("the subscriber never learned its start")

    def collect(self, sub, want, seconds=15):
        got = []
        end = time.monotonic() + seconds
        while len(got) < want and time.monotonic() < end:
            msg = sub.recv(0.5)
            if msg is not None:
                got.append(msg)
        return got

    def check_order(self, events):
        last = {}
        for ev in events:
            self.assertIsInstance(ev, Event)
            self.assertGreater(ev.seq, last.get(ev.partition, 0))
            last[ev.partition] = ev.seq
        self.assertEqual(len({ev.job.id for ev in events}), len(events))

    def test_every_event_once_in_order(self):
        with self.subscriber() as sub:
            self.ready(sub)
            names = ["e%d" % i for i in range(40)]
            for i, name in enumerate(names):
                self.c.add_items(self.vms[i % 4], Item(name, "v"))
            got = self.collect(sub, 40)
            self.check_order(got)
            self.assertEqual(sorted(ev.items[0].name for ev in got), sorted(names))
            self.assertIsNone(sub.recv(0.3), "a repeat or a stray event")

    def test_one_system_and_resume_from_position(self):
        vm = self.vms[2]
        path = os.path.join(self.cluster.dir, "pos.txt")
        with self.subscriber(system=vm) as sub:
            self.ready(sub)
            self.c.add_items(self.vms[1], Item("other", "v"))
            self.c.add_items(vm, Item("p0", "v"))
            got = self.collect(sub, 1)
            self.assertEqual([ev.items[0].name for ev in got], ["p0"])
            sub.save(path)
        for i in range(1, 6):                 # made while nobody listens
            self.c.add_items(vm, Item("p%d" % i, "v"))
        with self.subscriber(system=vm) as sub:
            self.assertTrue(sub.load(path))
            got = self.collect(sub, 5)
            self.assertEqual([ev.items[0].name for ev in got], ["p%d" % i for i in range(1, 6)])
            self.assertTrue(all(ev.replayed for ev in got))
            self.assertTrue(all(ev.job.target == vm for ev in got))
            self.assertIsNone(sub.recv(0.3))

    def test_async_iteration(self):
        vm = self.vms[3]

        async def run():
            sub = self.subscriber(system=vm)
            self.ready(sub)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: [self.c.add_items(vm, Item("x%d" % i, "v")) for i in range(3)])
            got = []
            async for msg in sub:
                got.append(msg)
                if len(got) == 3:
                    break
            sub.close()
            return got
        got = asyncio.run(asyncio.wait_for(run(), 20))
        self.assertEqual([ev.items[0].name for ev in got], ["x0", "x1", "x2"])

    def test_broker_restart_fills_the_gap(self):
        vm = self.vms[0]
        with self.subscriber(system=vm) as sub:
            self.ready(sub)
            self.cluster.stop_broker(signal.SIGKILL)
            self.cluster.start_broker()
            self.assertTrue(self.cluster.wait_alive(2))
            for i in range(5):
                self.c.add_items(vm, Item("b%d" % i, "v"))
            got = self.collect(sub, 5, seconds=25)
            self.check_order(got)
            self.assertEqual([ev.items[0].name for ev in got], ["b%d" % i for i in range(5)])


class LostTest(unittest.TestCase):
    def test_lost_past_retention_is_said(self):
        cluster = Cluster(1, ("--retention", "1")).start()
        try:
            with Client(cluster.clients) as c:
                vm = c.define_system("lost")
                part = kvpbus.partition_of(vm, 64)
                for i in range(5):
                    c.add_items(vm, Item("r%d" % i, "v"))
                end = time.monotonic() + 20
                while True:                      # until all five are purged
                    try:
                        c.get_events(part, 1)
                    except KvpError as err:
                        if err.rc == 32773 and err.reply.get("first") == 6:
                            break
                    self.assertLess(time.monotonic(), end, "never purged")
                    time.sleep(0.1)
            with Subscriber(cluster.clients, cluster.events, system=vm, timeout=1) as sub:
                sub.position = {part: 0}
                msg = sub.recv(10)
                self.assertEqual(msg, Lost(part, 1, 5))
                self.assertEqual(sub.position[part], 5)
                self.assertIsNone(sub.recv(0.3))
        finally:
            cluster.stop()


if __name__ == "__main__":
    unittest.main()
