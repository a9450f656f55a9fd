"""The KVP/1 operations, written once for Client and AsyncClient.

Each method builds a request and hands it to ``self._do``: the blocking
client returns the decoded result, the asyncio client a coroutine of it.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union
import uuid

from .errors import KvpError, RETRY_CODES
from .types import (ClusterStatus, EventsPage, Item, ItemLike, ItemsPage, Job, System,
                    items_to_wire)

ITEM_OPS = ("AddKvpItems", "ModifyKvpItems", "RemoveKvpItems")
PAGE = 1000         # items a GetKvpItems page holds unless told otherwise


@dataclass
class Request:
    """One request: its body (without ``rid``), how to read the reply, and
    whether it may be resent after an unknown outcome or no reply."""

    body: Dict[str, Any]
    decode: Callable[[Dict[str, Any]], Any]
    resend: bool
    raw: bool = False           # hand the reply map back whatever its rc


def check(reply: Dict[str, Any], op: str) -> Dict[str, Any]:
    """The reply when its rc is 0 or 4096, else raise KvpError."""
    rc = reply.get("rc")
    if rc not in (0, 4096):
        raise KvpError(int(rc) if isinstance(rc, int) else -1, str(reply.get("error", "")),
                       reply, op)
    return reply


def may_retry(reply: Dict[str, Any], req: Request) -> bool:
    """Whether a reply's rc says the same request may go out again."""
    return reply.get("rc") in RETRY_CODES and req.resend


class Ops:
    """One method per KVP/1 op; subclasses provide ``_do(Request)``."""

    def _do(self, req: Request) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- systems ----------------------------------------------------------
    def define_system(self, name: str, id: Optional[str] = None) -> Any:
        """DefineSystem: make a system named ``name`` (ElementName); returns its GUID.

        Without ``id`` a random GUID is chosen here, so a caller that sends
        it again after an unknown outcome can tell: 32768 means it exists.
        (Not resent automatically: only on 32774 or 32777 would that be
        safe, and then the caller knows best.)"""
        body = {"op": "DefineSystem", "name": name, "id": id or str(uuid.uuid4())}
        return self._do(Request(body, lambda r: r["id"], resend=False))

    def destroy_system(self, target: str) -> Any:
        """DestroySystem: remove a system with its items and keys."""
        return self._do(Request({"op": "DestroySystem", "target": target},
                                lambda r: None, resend=False))

    def modify_system_settings(self, target: str, data_exchange_enabled: bool) -> Any:
        """ModifySystemSettings: turn the Data Exchange service on or off."""
        body = {"op": "ModifySystemSettings", "target": target,
                "DataExchangeEnabled": bool(data_exchange_enabled)}
        return self._do(Request(body, lambda r: None, resend=True))

    def get_system(self, target: str) -> Any:
        """GetSystem: a System (id, name, data_exchange_enabled)."""
        return self._do(Request({"op": "GetSystem", "target": target},
                                lambda r: System(r["id"], r["name"],
                                                 bool(r["DataExchangeEnabled"])),
                                resend=True))

    # --- items ------------------------------------------------------------
    def _item_op(self, op: str, target: str,
                 items: Union[ItemLike, Sequence[ItemLike]], key: Optional[str]) -> Any:
        body = {"op": op, "target": target, "items": items_to_wire(items),
                "key": key or uuid.uuid4().hex}
        return self._do(Request(body, lambda r: Job.from_wire(r["job"]), resend=True))

    def add_items(self, target: str, items: Union[ItemLike, Sequence[ItemLike]],
                  key: Optional[str] = None) -> Any:
        """AddKvpItems: returns the Job (check ``job.completed``).

        ``items``: Item objects, {"Name", "Data", "Source"} maps or CIM-XML
        strings (or one of them). ``key`` makes the request idempotent; one
        is made when absent, and retries reuse it."""
        return self._item_op("AddKvpItems", target, items, key)

    def modify_items(self, target: str, items: Union[ItemLike, Sequence[ItemLike]],
                     key: Optional[str] = None) -> Any:
        """ModifyKvpItems: as add_items; every item must exist."""
        return self._item_op("ModifyKvpItems", target, items, key)

    def remove_items(self, target: str, items: Union[ItemLike, Sequence[ItemLike]],
                     key: Optional[str] = None) -> Any:
        """RemoveKvpItems: as add_items; items are matched by (Source, Name)."""
        return self._item_op("RemoveKvpItems", target, items, key)

    def get_items_page(self, target: str, source: Optional[int] = None,
                       limit: Optional[int] = None,
                       after: Optional[Item] = None) -> Any:
        """GetKvpItems, one page: an ItemsPage of at most ``limit`` items
        (1 to 10000; None: 1000) that sort after ``after`` (an Item, such as
        the last one of the page before; None: from the first), of one
        Source if given. ``more`` says whether items follow. A page ends
        early where one more item would take the reply past 4 MiB.
        get_items and iter_items read every page for you."""
        body: Dict[str, Any] = {"op": "GetKvpItems", "target": target,
                                "limit": PAGE if limit is None else limit}
        if source is not None:
            body["Source"] = source
        if after is not None:
            body["after"] = {"Source": after.source, "Name": after.name}
        return self._do(Request(body, lambda r: ItemsPage(
            [Item.from_wire(i) for i in r.get("items", [])], bool(r.get("more"))),
            resend=True))

    # --- jobs, events, cluster ----------------------------------------------
    def get_job(self, job: str) -> Any:
        """GetJob: the Job named by its InstanceID."""
        return self._do(Request({"op": "GetJob", "job": job},
                                lambda r: Job.from_wire(r["job"]), resend=True))

    def get_events(self, partition: int, from_seq: int, limit: Optional[int] = None) -> Any:
        """GetEvents: an EventsPage of a partition's stored events from ``from_seq``."""
        body: Dict[str, Any] = {"op": "GetEvents", "partition": partition, "from": from_seq}
        if limit is not None:
            body["limit"] = limit
        return self._do(Request(body, lambda r: EventsPage(
            int(r["partition"]), list(r["events"]), int(r["next"]), int(r["first"]),
            int(r["last"])), resend=True))

    def ping(self) -> Any:
        """Ping: the broker answers itself."""
        return self._do(Request({"op": "Ping"}, lambda r: None, resend=True))

    def cluster_status(self) -> Any:
        """ClusterStatus: partitions, workers and unowned partitions."""
        return self._do(Request({"op": "ClusterStatus"}, ClusterStatus.from_wire,
                                resend=True))

    def call(self, body: Mapping[str, Any]) -> Any:
        """Send any body (a map with ``op``) and return the reply map as it is,
        whatever its rc: for ops this package does not know yet."""
        return self._do(Request(dict(body), lambda r: r, resend=False, raw=True))


def _order(item: Item) -> Any:
    """Where an item sorts: by Source, then Name bytewise (as UTF-8)."""
    return (item.source, item.name.encode("utf-8", "surrogatepass"))


def next_after(page: ItemsPage, after: Optional[Item]) -> Optional[Item]:
    """Where the page after ``page`` (asked for ``after``) starts: its last
    item, or None when it is the last page. Raises KvpError (rc -1) when
    the page breaks the paging rules (an item that does not sort after the
    one before it, ``more`` with no items), so that a reader never loops."""
    prev = after
    for item in page.items:
        if prev is not None and _order(item) <= _order(prev):
            raise KvpError(-1, "GetKvpItems: item %r does not sort after %r"
                           % (item.name, prev.name), None, "GetKvpItems")
        prev = item
    if page.more and not page.items:
        raise KvpError(-1, "GetKvpItems: a page with more but no items", None,
                       "GetKvpItems")
    return page.items[-1] if page.more else None


def decode_reply(req: Request, reply: Dict[str, Any]) -> Any:
    """Check a reply's rc and decode it (a raw request gets the map)."""
    if req.raw:
        return reply
    return req.decode(check(reply, str(req.body.get("op", ""))))
