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
        """GetKvpItems with paging: an ItemsPage after ``after`` (an Item)."""
        body: Dict[str, Any] = {"op": "GetKvpItems", "target": target}
        if source is not None:
            body["Source"] = source
        body["limit"] = limit or 1000
        if after is not None:
            body["after"] = {"Source": after.source, "Name": after.name}
        return self._do(Request(body, lambda r: ItemsPage(
            [Item.from_wire(i) for i in r.get("items", [])], bool(r.get("more"))),
            resend=True))

    def get_items(self, target: str, source: Optional[int] = None) -> Any:
        """GetKvpItems: every item of a system (optionally of one Source),
        sorted by Source then Name, as a list of Item (in one reply; use
        get_items_page or iter_items for a system past 4 MiB)."""
        body: Dict[str, Any] = {"op": "GetKvpItems", "target": target}
        if source is not None:
            body["Source"] = source
        return self._do(Request(body, lambda r: [Item.from_wire(i) for i in r["items"]],
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


def decode_reply(req: Request, reply: Dict[str, Any]) -> Any:
    """Check a reply's rc and decode it (a raw request gets the map)."""
    if req.raw:
        return reply
    return req.decode(check(reply, str(req.body.get("op", ""))))
