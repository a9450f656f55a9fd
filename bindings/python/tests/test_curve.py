"""CURVE keys (kvpbus.curve) alone, and the clients on a secured cluster."""
import asyncio
import os
import shutil
import sys
import tempfile
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.dirname(__file__))

import zmq  # noqa: E402

from kvpbus import (AsyncClient, Client, Curve, CurveError, Event, Item, KvpError,  # noqa: E402
                    NoReply, Subscriber, partition_of, read_cert)
from kvpbus.curve import curve_of, parse_zpl  # noqa: E402
from cluster import Cluster, keygen  # noqa: E402

# A certificate as CZMQ writes it, with the liberties ZPL allows besides.
PUBLIC, SECRET = (k.decode() for k in zmq.curve_keypair())
CERT = '''#   ****  Generated on 2026-12-01 by CZMQ  ****
#   ZeroMQ CURVE **Secret** Certificate

metadata
    name = "ops"      # who
    role = 'writer'
    note = bare # a comment
curve
    public-key = "%s"
    secret-key = "%s"
''' % (PUBLIC, SECRET)


class KeyFileTest(unittest.TestCase):
    """Certificate files and the forms ``curve`` takes; no cluster."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvppy-keys.")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_zpl(self):
        values = parse_zpl(CERT)
        self.assertEqual(values["metadata/name"], "ops")
        self.assertEqual(values["metadata/role"], "writer")
        self.assertEqual(values["metadata/note"], "bare")
        self.assertEqual(values["curve/secret-key"], SECRET)
        self.assertEqual(parse_zpl("a\n    b\n        c = 1\n    d = 2\ne = 3\n"),
                         {"a/b/c": "1", "a/d": "2", "e": "3"})
        for bad in ('x = "open', 'x = "a" b', "two words = 1"):
            with self.assertRaises(ValueError, msg=bad):
                parse_zpl(bad)

    def test_read_secret_and_public(self):
        secret = self.write("ops_secret", CERT)
        public = self.write("ops", CERT.replace('    secret-key = "%s"\n' % SECRET, ""))
        cert = read_cert(secret, secret=True)
        self.assertEqual((cert.public_key, cert.secret_key), (PUBLIC, SECRET))
        self.assertEqual(cert.metadata, {"name": "ops", "role": "writer", "note": "bare"})
        self.assertNotIn(SECRET, repr(cert))
        self.assertIsNone(read_cert(public).secret_key)
        with self.assertRaisesRegex(CurveError, "no curve public-key and secret-key"):
            read_cert(public, secret=True)

    def test_keygen_files(self):
        path = keygen("kg", self.dir, "reader")
        curve = Curve.load(path + "_secret", path)
        self.assertEqual((curve.name, curve.role), ("kg", "reader"))
        self.assertEqual(curve.server_key, curve.public_key)
        self.assertNotIn(curve.secret_key, repr(curve))

    def test_secret_open_to_others_is_refused(self):
        for mode in (0o644, 0o640, 0o604, 0o620):
            path = self.write("open_secret", CERT, mode)
            with self.assertRaises(CurveError) as cm:
                read_cert(path, secret=True)
            self.assertIn(path, str(cm.exception))
            self.assertIn("group or others (mode %04o)" % mode, str(cm.exception))
        self.assertEqual(read_cert(self.write("closed_secret", CERT, 0o400), secret=True)
                         .secret_key, SECRET)

    def test_bad_files(self):
        missing = os.path.join(self.dir, "missing")
        cases = [(missing, "No such file"),
                 (self.write("short", CERT.replace(PUBLIC, PUBLIC[:39])), "no curve public-key"),
                 (self.write("quote", CERT.replace(PUBLIC, '"' * 40)), "not a certificate"),
                 (self.write("binary", "\x00\xff\xfe"), "not a certificate"),
                 (self.write("empty", ""), "no curve public-key")]
        for path, reason in cases:
            with self.assertRaisesRegex(CurveError, reason, msg=path):
                read_cert(path)

    def test_the_forms_of_curve(self):
        secret = self.write("ops_secret", CERT)
        curve = curve_of((secret, secret))
        self.assertEqual((curve.public_key, curve.server_key, curve.name), (PUBLIC, PUBLIC, "ops"))
        self.assertIs(curve_of(curve), curve)
        self.assertIsNone(curve_of(False))
        with self.assertRaises(TypeError):
            curve_of("just-one-file")
        env = {"KVP_CURVE_SECRET": secret, "KVP_BROKER_PUBLIC": secret}
        with mock.patch.dict(os.environ, env):
            self.assertEqual(curve_of(None), curve)
            self.assertIsNone(curve_of(False))
        with mock.patch.dict(os.environ, {"KVP_CURVE_SECRET": secret}):
            with self.assertRaisesRegex(CurveError, "KVP_BROKER_PUBLIC"):
                curve_of(None)
        self.assertIsNone(curve_of(None))           # neither set: plain
        os.chmod(secret, 0o644)
        with mock.patch.dict(os.environ, env):
            with self.assertRaisesRegex(CurveError, "group or others"):
                Client("tcp://127.0.0.1:1")


class SecuredTest(unittest.TestCase):
    """A secured C cluster: each role, 32769, keys not let in, the subscriber."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, secured=True).start()
        cls.keys = cls.cluster.keys
        cls.admin = Client(cls.cluster.clients, curve=cls.keys.client("admin"), timeout=5)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.cluster.stop()

    def client(self, role, **kw):
        c = Client(self.cluster.clients, curve=self.keys.client(role), timeout=5, **kw)
        self.addCleanup(c.close)
        return c

    def assert_denied(self, role, op, call, *args):
        """``call(*args)`` raises KvpError 32769 naming ``op`` and the client."""
        with self.assertRaises(KvpError) as cm:
            call(*args)
        err = cm.exception
        self.assertEqual((err.rc, err.name), (32769, "Access Denied"), err)
        self.assertIn(op, err.error)
        self.assertIn(self.keys.NAMES[role], err.error)
        self.assertEqual(err.reply["rc"], 32769)

    def test_admin_does_everything(self):
        vm = self.admin.define_system("sec-admin")
        self.assertTrue(self.admin.add_items(vm, Item("a", "1")).completed)
        self.assertTrue(self.admin.modify_items(vm, Item("a", "2")).completed)
        self.assertEqual(self.admin.get_items(vm), [Item("a", "2")])
        self.assertTrue(self.admin.remove_items(vm, Item("a")).completed)
        self.admin.modify_system_settings(vm, False)
        self.assertFalse(self.admin.get_system(vm).data_exchange_enabled)
        self.admin.destroy_system(vm)
        with self.assertRaises(KvpError) as cm:
            self.admin.get_system(vm)
        self.assertEqual(cm.exception.rc, 32773)

    def test_writer_writes_items_not_systems(self):
        writer = self.client("writer")
        vm = self.admin.define_system("sec-writer")
        self.assertTrue(writer.add_items(vm, Item("w", "1")).completed)
        self.assertTrue(writer.modify_items(vm, Item("w", "2")).completed)
        self.assertTrue(writer.remove_items(vm, Item("w")).completed)
        other = "0badc0de-0000-4000-8000-00000000000a"
        self.assert_denied("writer", "DefineSystem", writer.define_system, "no", other)
        self.assert_denied("writer", "DestroySystem", writer.destroy_system, vm)
        self.assert_denied("writer", "ModifySystemSettings", writer.modify_system_settings,
                           vm, False)
        self.assertEqual(self.admin.get_system(vm).data_exchange_enabled, True)
        with self.assertRaises(KvpError) as cm:
            self.admin.get_system(other)
        self.assertEqual(cm.exception.rc, 32773)

    def test_reader_reads_only(self):
        reader = self.client("reader")
        vm = self.admin.define_system("sec-reader")
        job = self.admin.add_items(vm, Item("r", "1"))
        reader.ping()
        self.assertEqual(reader.cluster_status().partitions, 64)
        self.assertEqual(reader.get_system(vm).name, "sec-reader")
        self.assertEqual(reader.get_items(vm), [Item("r", "1")])
        self.assertEqual(reader.get_job(job.id), job)
        self.assertGreaterEqual(reader.get_events(partition_of(vm, 64), 1).last, 1)
        self.assert_denied("reader", "AddKvpItems", reader.add_items, vm, Item("x"))
        self.assert_denied("reader", "ModifyKvpItems", reader.modify_items, vm, Item("r", "2"))
        self.assert_denied("reader", "RemoveKvpItems", reader.remove_items, vm, Item("r"))
        self.assert_denied("reader", "DefineSystem", reader.define_system, "no")
        self.assertEqual(self.admin.get_items(vm), [Item("r", "1")])

    def test_keys_not_let_in_get_no_reply(self):
        """No key, an unknown key, a worker's key: NoReply. Each try ends
        within its timeout, also once the refused connection is gone and a
        send has nowhere to queue."""
        stray = keygen("stray", os.path.join(self.cluster.dir, "stray"), "admin")
        unknown = (stray + "_secret", self.keys.broker)
        for curve in (False, unknown, (self.keys.workers[0] + "_secret", self.keys.broker)):
            with Client(self.cluster.clients, curve=curve, timeout=0.5, retries=0) as c:
                with self.assertRaises(NoReply, msg=str(curve)):
                    c.ping()
        start = time.monotonic()
        with Client(self.cluster.clients, curve=unknown, timeout=0.5, retries=1,
                    backoff=0.1) as c:
            for _ in range(2):
                with self.assertRaises(NoReply):
                    c.ping()
        self.assertLess(time.monotonic() - start, 2 * (2 * 0.5 + 0.1) + 1)

        async def run():
            async with AsyncClient(self.cluster.clients, curve=unknown, timeout=0.5,
                                   retries=0) as c:
                for _ in range(3):
                    with self.assertRaises(NoReply):
                        await c.ping()
        start = time.monotonic()
        asyncio.run(asyncio.wait_for(run(), 10))
        self.assertLess(time.monotonic() - start, 3 * 0.5 + 1)

    def test_curve_object_and_environment(self):
        secret, public = self.keys.client("reader")
        with Client(self.cluster.clients, curve=Curve.load(secret, public), timeout=5) as c:
            c.ping()
        with mock.patch.dict(os.environ, {"KVP_CURVE_SECRET": secret,
                                          "KVP_BROKER_PUBLIC": public}):
            with Client(self.cluster.clients, timeout=5) as c:
                self.assertEqual(c.curve.name, "rita")
                c.ping()
                self.assert_denied("reader", "AddKvpItems", c.add_items,
                                   "0badc0de-0000-4000-8000-00000000000b", Item("x"))
            with Client(self.cluster.clients, curve=False, timeout=0.5, retries=0) as c:
                with self.assertRaises(NoReply):
                    c.ping()

    def test_async_client(self):
        async def run():
            async with AsyncClient(self.cluster.clients, curve=self.keys.client("writer"),
                                   timeout=5) as c:
                vm = self.admin.define_system("sec-async")
                jobs = await asyncio.gather(*(c.add_items(vm, Item("k%d" % i, "v"))
                                              for i in range(20)))
                with self.assertRaises(KvpError) as cm:
                    await c.destroy_system(vm)
                return vm, jobs, cm.exception
        vm, jobs, err = asyncio.run(run())
        self.assertTrue(all(job.completed for job in jobs))
        self.assertEqual(len(self.admin.get_items(vm)), 20)
        self.assertEqual(err.rc, 32769)
        self.assertIn("walt", err.error)

    def test_subscriber(self):
        vm = self.admin.define_system("sec-events")
        stray = keygen("stray-sub", os.path.join(self.cluster.dir, "stray-sub"), "reader")
        subs = {what: Subscriber(self.cluster.clients, self.cluster.events, system=vm,
                                 curve=curve, timeout=1)
                for what, curve in [("reader", self.keys.client("reader")),
                                    ("plain", False),
                                    ("stray", (stray + "_secret", self.keys.broker))]}
        for sub in subs.values():
            self.addCleanup(sub.close)
        reader = subs["reader"]
        end = time.monotonic() + 20
        while not reader.ready:
            self.assertIsNone(reader.recv(0.05))
            self.assertLess(time.monotonic(), end, "the secured subscriber never started")
        writer = self.client("writer")
        live = False            # until an event comes on the (secured) live stream
        for i in range(20):
            writer.add_items(vm, Item("probe%d" % i, "v"))
            msg = reader.recv(2)
            live = isinstance(msg, Event) and not msg.replayed
            if live:
                break
        self.assertTrue(live, "no event on the secured live stream")
        while reader.recv(0.3) is not None:
            pass
        names = ["e%d" % i for i in range(10)]
        for name in names:
            writer.add_items(vm, Item(name, "v"))
        got = []
        end = time.monotonic() + 15
        while len(got) < len(names) and time.monotonic() < end:
            msg = reader.recv(0.5)
            if msg is not None:
                got.append(msg)
        self.assertTrue(all(isinstance(ev, Event) for ev in got), got)
        self.assertEqual([ev.items[0].name for ev in got], names)
        self.assertIsNone(reader.recv(0.3), "a repeat")
        for what in ("plain", "stray"):
            self.assertIsNone(subs[what].recv(1.5), what)
            self.assertFalse(subs[what].ready, what)


if __name__ == "__main__":
    unittest.main()
