"""The blocking KVP/1 client: one DEALER connection to a broker."""
import itertools
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import msgpack
import zmq

from ._ops import PAGE, Ops, Request, decode_reply, may_retry, next_after
from .curve import Curve, CurveLike, curve_of
from .errors import NoReply
from .types import (ClusterStatus, EventsPage, Item, ItemLike, ItemsPage, Job,
                    System)

Items = Union[ItemLike, Sequence[ItemLike]]

SIGNATURE = b"KVP1"
MAX_MSG = 8 * 1024 * 1024


def new_dealer(ctx: zmq.Context, endpoint: str, curve: Optional[Curve],
               timeout: float) -> zmq.Socket:
    """A DEALER to a broker's clients endpoint, with the client library's
    options; a CURVE client when ``curve`` is given.

    A send waits at most ``timeout`` seconds (then zmq.Again): with no
    connection to queue on, as after a refused CURVE handshake, a DEALER's
    send would otherwise block for ever."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MSG)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.SNDTIMEO, max(1, int(timeout * 1000)))
    sock.setsockopt(zmq.SNDHWM, 100000)     # pipelining: not 1000 at most
    try:
        if curve is not None:
            curve.apply(sock)
        sock.connect(endpoint)
    except BaseException:
        sock.close(0)
        raise
    return sock


def unpack_reply(frames: list) -> Optional[Dict[str, Any]]:
    """The reply map of [empty][KVP1][body], or None for anything else."""
    if len(frames) != 3 or frames[0] != b"" or frames[1] != SIGNATURE:
        return None
    try:
        body = msgpack.unpackb(frames[2], raw=False)
    except Exception:
        return None
    return body if isinstance(body, dict) else None


class Client(Ops):
    """A blocking KVP/1 client.

    ``endpoint`` is the broker's clients endpoint; ``curve`` the keys of a
    secured cluster: a Curve, or (our secret certificate file, the broker's
    public certificate file); when not given, the files named by
    $KVP_CURVE_SECRET and $KVP_BROKER_PUBLIC if set (False: plain whatever
    the environment says); bad key files raise CurveError. A key the
    broker does not let in gets no reply at all (NoReply), a role that may
    not do an op gets KvpError 32769. ``timeout`` (seconds) bounds each
    try; ``retries`` is how many more tries a request gets when no reply
    comes, or the reply is 32771, 32772, 32774 or 32777 (item requests are
    resent with the same ``key``, so a job is never made twice), with
    ``backoff`` seconds before the first, doubling up to 5 s.

    Every op method returns its typed result and raises KvpError when the
    cluster refuses (NoReply when nothing came back). One client is used
    by one thread; ``with Client(...) as c:`` closes it.
    """

    if TYPE_CHECKING:  # the results of the methods of Ops, for type checkers
        def define_system(self, name: str, id: Optional[str] = None) -> str: ...
        def destroy_system(self, target: str) -> None: ...
        def modify_system_settings(self, target: str, data_exchange_enabled: bool) -> None: ...
        def get_system(self, target: str) -> System: ...
        def add_items(self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        def modify_items(self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        def remove_items(self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        def get_items_page(
                self, target: str, source: Optional[int] = None, limit: Optional[int] = None, after: Optional[Item] = None) -> ItemsPage: ...
        def get_job(self, job: str) -> Job: ...
        def get_events(
                self, partition: int, from_seq: int, limit: Optional[int] = None) -> EventsPage: ...
        def ping(self) -> None: ...
        def cluster_status(self) -> ClusterStatus: ...
        def call(self, body: Mapping[str, Any]) -> Dict[str, Any]: ...

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", curve: CurveLike = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.1,
                 context: Optional[zmq.Context] = None):
        self.endpoint = endpoint
        self.curve = curve_of(curve)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._ctx = context or zmq.Context.instance()
        self._sock = new_dealer(self._ctx, endpoint, self.curve, timeout)
        self._rids = itertools.count(1)

    def close(self) -> None:
        """Close the connection (requests not yet sent are dropped)."""
        self._sock.close(0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _wait(self, rid: int, timeout: float) -> Optional[Dict[str, Any]]:
        """The reply to ``rid`` within ``timeout``; others (late ones) are dropped."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1):
                return None
            reply = unpack_reply(self._sock.recv_multipart())
            if reply is not None and reply.get("rid") == rid:
                return reply

    def _do(self, req: Request) -> Any:
        body = dict(req.body, rid=next(self._rids))
        frames = [b"", SIGNATURE, msgpack.packb(body, use_bin_type=True)]
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self._sock.send_multipart(frames)
            except zmq.Again:           # no connection took it within the timeout
                reply = None
            else:
                reply = self._wait(body["rid"], self.timeout)
            last = attempt == self.retries
            if reply is not None and (last or not may_retry(reply, req)):
                return decode_reply(req, reply)
            if last or (reply is None and not req.resend):
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise NoReply(str(req.body.get("op")), self.timeout)

    def iter_items(self, target: str, source: Optional[int] = None,
                   page: int = PAGE) -> Iterator[Item]:
        """Every item of a system (of one Source if given), in order of
        Source then Name, read ``page`` items at a time: any size of system."""
        after: Optional[Item] = None
        while True:
            result = self.get_items_page(target, source, page, after)
            nxt = next_after(result, after)
            yield from result.items
            if nxt is None:
                return
            after = nxt

    def get_items(self, target: str, source: Optional[int] = None,
                  page: int = PAGE) -> List[Item]:
        """GetKvpItems: every item of a system (of one Source if given) as a
        list of Item, sorted by Source then Name, read page by page."""
        return list(self.iter_items(target, source, page))
