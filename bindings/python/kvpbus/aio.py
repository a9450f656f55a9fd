"""The asyncio KVP/1 client: many requests in flight on one connection."""
import asyncio
import itertools
from typing import (TYPE_CHECKING, Any, AsyncIterator, Dict, List, Mapping, Optional,
                    Sequence, Union)

import msgpack
import zmq
import zmq.asyncio

from ._ops import PAGE, Ops, Request, decode_reply, may_retry, next_after
from .client import SIGNATURE, new_dealer, unpack_reply
from .curve import CurveLike, curve_of
from .errors import NoReply
from .types import (ClusterStatus, EventsPage, Item, ItemLike, ItemsPage, Job,
                    System)

Items = Union[ItemLike, Sequence[ItemLike]]


class AsyncClient(Ops):
    """An asyncio KVP/1 client: every op method is a coroutine.

    Requests are pipelined on one DEALER; one reader task hands each reply
    to the request with its ``rid``, whatever order they come back in.
    ``curve``, ``timeout``, ``retries`` and ``backoff`` are as for Client. Use it from
    one event loop; ``async with AsyncClient(...) as c:`` closes it.

        async with AsyncClient(ep) as c:
            jobs = await asyncio.gather(*(c.add_items(id, Item("k%d" % i, "v"))
                                          for i in range(64)))
    """

    if TYPE_CHECKING:  # the results of the methods of Ops, for type checkers
        async def define_system(self, name: str, id: Optional[str] = None) -> str: ...
        async def destroy_system(self, target: str) -> None: ...
        async def modify_system_settings(
                self, target: str, data_exchange_enabled: bool) -> None: ...
        async def get_system(self, target: str) -> System: ...
        async def add_items(self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        async def modify_items(
                self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        async def remove_items(
                self, target: str, items: Items, key: Optional[str] = None) -> Job: ...
        async def get_items_page(
                self, target: str, source: Optional[int] = None, limit: Optional[int] = None, after: Optional[Item] = None) -> ItemsPage: ...
        async def get_job(self, job: str) -> Job: ...
        async def get_events(
                self, partition: int, from_seq: int, limit: Optional[int] = None) -> EventsPage: ...
        async def ping(self) -> None: ...
        async def cluster_status(self) -> ClusterStatus: ...
        async def call(self, body: Mapping[str, Any]) -> Dict[str, Any]: ...

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", curve: CurveLike = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.1,
                 context: Optional[zmq.asyncio.Context] = None):
        self.endpoint = endpoint
        self.curve = curve_of(curve)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._ctx = context or zmq.asyncio.Context.instance()
        self._sock = new_dealer(self._ctx, endpoint, self.curve, timeout)
        self._rids = itertools.count(1)
        self._waiting: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self._reader: Optional["asyncio.Task[None]"] = None

    async def close(self) -> None:
        """Stop the reader and close the connection; pending requests fail."""
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()
        self._waiting.clear()
        self._sock.close(0)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _read(self) -> None:
        while True:
            reply = unpack_reply(await self._sock.recv_multipart())
            if reply is None:
                continue
            fut = self._waiting.pop(reply.get("rid"), None)  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(reply)

    async def _try(self, rid: int, frames: list) -> Optional[Dict[str, Any]]:
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        fut: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            await self._sock.send_multipart(frames)
            return await asyncio.wait_for(fut, self.timeout)
        except (asyncio.TimeoutError, zmq.Again):   # Again: no connection took it
            return None
        finally:
            self._waiting.pop(rid, None)

    async def _do(self, req: Request) -> Any:
        body = dict(req.body, rid=next(self._rids))
        frames = [b"", SIGNATURE, msgpack.packb(body, use_bin_type=True)]
        delay = self.backoff
        for attempt in range(self.retries + 1):
            reply = await self._try(body["rid"], frames)
            last = attempt == self.retries
            if reply is not None and (last or not may_retry(reply, req)):
                return decode_reply(req, reply)
            if last or (reply is None and not req.resend):
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise NoReply(str(req.body.get("op")), self.timeout)

    async def iter_items(self, target: str, source: Optional[int] = None,
                         page: int = PAGE) -> AsyncIterator[Item]:
        """Every item of a system (of one Source if given), in order of
        Source then Name, read ``page`` items at a time: any size of system."""
        after: Optional[Item] = None
        while True:
            result = await self.get_items_page(target, source, page, after)
            nxt = next_after(result, after)
            for item in result.items:
                yield item
            if nxt is None:
                return
            after = nxt

    async def get_items(self, target: str, source: Optional[int] = None,
                        page: int = PAGE) -> List[Item]:
        """GetKvpItems: every item of a system (of one Source if given) as a
        list of Item, sorted by Source then Name, read page by page."""
        return [item async for item in self.iter_items(target, source, page)]
