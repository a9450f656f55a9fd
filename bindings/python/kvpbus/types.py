"""Typed results of KVP/1 replies and events, and the item forms requests take."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union
import re
import xml.etree.ElementTree as ET

COMPLETED_STATE = 7   # CIM_ConcreteJob: Completed
EXCEPTION_STATE = 10  # CIM_ConcreteJob: Exception

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_PATH_NAME_RE = re.compile(r'Name="([0-9a-fA-F-]{36})"')


@dataclass(frozen=True)
class Item:
    """One Msvm_KvpExchangeDataItem: ``source`` 0 reaches the guest, 4 is host-only."""

    name: str
    data: str = ""
    source: int = 0

    def to_wire(self) -> Dict[str, Any]:
        """The item as the map a request carries."""
        return {"Name": self.name, "Data": self.data, "Source": self.source}

    @classmethod
    def from_wire(cls, m: Mapping[str, Any]) -> "Item":
        """An item from a reply or event map."""
        return cls(m.get("Name", ""), m.get("Data", "") or "", int(m.get("Source", 0)))

    @classmethod
    def from_cim(cls, text: str) -> "Item":
        """Parse a CIM-XML embedded instance (as PowerShell's GetText(1) writes it).

        Raises ValueError for another class, a DOCTYPE, a property given
        twice, or a missing Name or Source. The cluster parses the same
        form itself, so requests may also carry the text unchanged.
        """
        if "<!DOCTYPE" in text.upper():
            raise ValueError("CIM-XML: a DOCTYPE is not accepted")
        root = ET.fromstring(text)
        if root.tag != "INSTANCE" or root.get("CLASSNAME") != "Msvm_KvpExchangeDataItem":
            raise ValueError("CIM-XML: not an Msvm_KvpExchangeDataItem instance")
        props: Dict[str, Optional[str]] = {}
        for prop in root.findall("PROPERTY"):
            pname = prop.get("NAME", "")
            if pname in props:
                raise ValueError("CIM-XML: property %s given twice" % pname)
            value = prop.find("VALUE")
            props[pname] = None if value is None else (value.text or "")
        if props.get("Name") is None or props.get("Source") is None:
            raise ValueError("CIM-XML: Name and Source are required")
        return cls(props["Name"] or "", props.get("Data") or "", int(props["Source"] or 0))

    def to_cim(self) -> str:
        """The item as a CIM-XML embedded instance."""
        def esc(s: str) -> str:
            return (s.replace("&", "&amp;").replace("<", "&lt;")
                    .replace(">", "&gt;").replace('"', "&quot;"))
        return ('<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem">'
                '<PROPERTY NAME="Data" TYPE="string"><VALUE>%s</VALUE></PROPERTY>'
                '<PROPERTY NAME="Name" TYPE="string"><VALUE>%s</VALUE></PROPERTY>'
                '<PROPERTY NAME="Source" TYPE="uint16"><VALUE>%d</VALUE></PROPERTY>'
                '</INSTANCE>' % (esc(self.data), esc(self.name), self.source))


#: What item arguments accept: Item objects, {"Name", "Data", "Source"}
#: maps, or CIM-XML strings.
ItemLike = Union[Item, Mapping[str, Any], str]


def items_to_wire(items: Union[ItemLike, Sequence[ItemLike]]) -> List[Any]:
    """Turn item arguments into the request's ``items`` array.

    A single item may be given on its own. Maps are passed as they are
    (the cluster checks them), Item objects become maps, and CIM-XML text
    is sent as text, as the contract allows.
    """
    if isinstance(items, (Item, str)) or isinstance(items, Mapping):
        items = [items]
    out: List[Any] = []
    for it in items:
        if isinstance(it, Item):
            out.append(it.to_wire())
        elif isinstance(it, str):
            out.append(it)
        elif isinstance(it, Mapping):
            out.append(dict(it))
        else:
            raise TypeError("an item is an Item, a map or a CIM-XML string, not %r"
                            % type(it).__name__)
    return out


def guid_of(target: str) -> str:
    """The lower-case GUID of a GUID or a WMI path naming Msvm_ComputerSystem."""
    if GUID_RE.match(target):
        return target.lower()
    m = _PATH_NAME_RE.search(target)
    if m and GUID_RE.match(m.group(1)):
        return m.group(1).lower()
    raise ValueError("not a GUID or a WMI path with Name=\"GUID\": %r" % target)


def partition_of(target: str, partitions: int) -> int:
    """The partition of a system: FNV-1a-32 of its lower-case GUID, mod N."""
    h = 2166136261
    for b in guid_of(target).encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % partitions


@dataclass(frozen=True)
class Job:
    """A job (section 6): the outcome of an item operation."""

    id: str
    type: str
    target: str
    state: int
    error_code: int
    error_description: str
    time_submitted: int
    elapsed_us: int

    @property
    def completed(self) -> bool:
        """Whether the job completed (JobState 7); else it failed (10)."""
        return self.state == COMPLETED_STATE

    @classmethod
    def from_wire(cls, m: Mapping[str, Any]) -> "Job":
        return cls(m.get("InstanceID", ""), m.get("JobType", ""), m.get("TargetSystem", ""),
                   int(m.get("JobState", 0)), int(m.get("ErrorCode", 0)),
                   m.get("ErrorDescription", ""), int(m.get("TimeSubmitted", 0)),
                   int(m.get("ElapsedTime", 0)))


@dataclass(frozen=True)
class System:
    """A virtual machine as GetSystem reports it."""

    id: str
    name: str
    data_exchange_enabled: bool


@dataclass(frozen=True)
class Worker:
    """One worker in ClusterStatus."""

    id: str
    alive: bool
    partitions: List[int]
    follows: List[int] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterStatus:
    """The cluster as the broker sees it."""

    partitions: int
    workers: List[Worker]
    unowned: List[int]
    replicas: int = 1
    min_insync: int = 1

    @classmethod
    def from_wire(cls, m: Mapping[str, Any]) -> "ClusterStatus":
        workers = [Worker(w.get("id", ""), bool(w.get("alive")), list(w.get("partitions", [])),
                          list(w.get("follows", []))) for w in m.get("workers", [])]
        return cls(int(m.get("partitions", 0)), workers, list(m.get("unowned", [])),
                   int(m.get("replicas", 1)), int(m.get("min_insync", 1)))


@dataclass(frozen=True)
class ItemsPage:
    """One page of GetKvpItems: ``more`` says whether items follow the last."""

    items: List[Item]
    more: bool


@dataclass(frozen=True)
class EventsPage:
    """One page of GetEvents (section 10)."""

    partition: int
    events: List[Dict[str, Any]]
    next: int
    first: int
    last: int


@dataclass(frozen=True)
class Event:
    """A job event (section 7), handed on once, in seq order per partition."""

    partition: int
    seq: int
    job: Job
    items: List[Item]
    replayed: bool
    raw: Dict[str, Any]

    @classmethod
    def from_wire(cls, m: Mapping[str, Any], replayed: bool) -> "Event":
        return cls(int(m.get("partition", 0)), int(m.get("seq", 0)), Job.from_wire(m),
                   [Item.from_wire(i) for i in m.get("items", [])], replayed, dict(m))


@dataclass(frozen=True)
class Lost:
    """Events that can no longer be read (past retention): ``count`` events
    of ``partition`` from seq ``first`` on. Never hidden, never skipped
    silently: a consumer that mirrors state should resynchronize."""

    partition: int
    first: int
    count: int
