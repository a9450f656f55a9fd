"""The gap-free subscriber (KVP/1 sections 7 and 10): every job event once,
in seq order per partition, with losses past retention reported."""
import asyncio
import collections
import os
import time
from typing import Any, Deque, Dict, Iterator, Optional, Union

import msgpack
import zmq

from .client import Client
from .curve import CurveLike, curve_of
from .errors import KvpError, INVALID_PARAMETER
from .types import Event, Lost, guid_of, partition_of

Message = Union[Event, Lost]
POLL_MIN, POLL_MAX = 1.0, 16.0       # quiet partitions are asked this often
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0  # while the broker or an owner is away


class _Part:
    """What the subscriber knows of one partition."""

    def __init__(self) -> None:
        self.pos: Optional[int] = None          # last seq handed on; None: unknown
        self.held: Dict[int, Dict[str, Any]] = {}   # live events ahead of a gap
        self.due = 0.0                          # when to ask GetEvents next
        self.interval = POLL_MIN


class Subscriber:
    """Follow a cluster's job events without gaps: an iterator (and async
    iterator) of Event and Lost.

    It subscribes to the live stream at ``events`` and reads the stored log
    back with GetEvents through ``broker`` wherever the stream has a gap
    (joined late, queue full, broker restarted) and, now and then, for
    partitions that have been quiet. Repeats are dropped. Events that can
    no longer be read are never skipped silently: a Lost takes their place.

    ``system``: only that system's events (a GUID or WMI path). A partition
    without a saved position starts from now (``from_start``: from the
    first event kept). ``position``/``load``/``save`` keep the place
    between runs, in the file format ``kvpctl watch --position`` uses.
    ``curve`` (as for Client, the environment's keys when not given) is
    used for both connections; on a secured cluster any role may subscribe,
    and a key not let in receives nothing.
    """

    def __init__(self, broker: str, events: str, system: Optional[str] = None,
                 from_start: bool = False, curve: CurveLike = None,
                 timeout: float = 3.0, limit: int = 1000,
                 context: Optional[zmq.Context] = None):
        self.system = guid_of(system) if system else None
        self.from_start = from_start
        self.limit = limit
        keys = curve_of(curve)
        self._client = Client(broker, curve=keys or False, timeout=timeout, retries=0,
                              context=context)
        self._sub = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 100000)
        if keys is not None:
            keys.apply(self._sub)
        self._sub.setsockopt(zmq.SUBSCRIBE, ("job/" + (self.system or "")).encode())
        self._sub.connect(events)
        self._parts: Dict[int, _Part] = {}
        self._saved: Dict[int, int] = {}        # loaded positions
        self._n = 0
        self._out: Deque[Message] = collections.deque()
        self._status_due = 0.0
        self._backoff = BACKOFF_MIN
        self.started = False

    # --- position ----------------------------------------------------------
    @property
    def position(self) -> Dict[int, int]:
        """Partition -> last seq handed on (loaded ones not followed included)."""
        pos = dict(self._saved)
        pos.update({p: s.pos for p, s in self._parts.items() if s.pos is not None})
        return pos

    @position.setter
    def position(self, pos: Dict[int, int]) -> None:
        if self.started:
            raise RuntimeError("the position is set before the first event")
        self._saved = {int(p): int(s) for p, s in pos.items()}

    def load(self, path: str) -> bool:
        """Resume from a position file; False (and no change) if there is none."""
        try:
            with open(path, encoding="ascii") as f:
                text = f.read()
        except FileNotFoundError:
            return False
        pos: Dict[int, int] = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                part, seq = line.split()
                pos[int(part)] = int(seq)
        self.position = pos
        return True

    def save(self, path: str) -> None:
        """Write the position to ``path`` at once (a new file renamed over it)."""
        tmp = "%s.tmp.%d" % (path, os.getpid())
        with open(tmp, "w", encoding="ascii") as f:
            for part, seq in sorted(self.position.items()):
                f.write("%d %d\n" % (part, seq))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @property
    def ready(self) -> bool:
        """Whether every followed partition has a position: events made from
        now on are all handed on."""
        return self._n > 0 and all(s.pos is not None for s in self._parts.values())

    # --- the loop ----------------------------------------------------------
    def recv(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next Event or Lost within ``timeout`` seconds (None: for ever);
        None when nothing came in time."""
        self.started = True
        end = None if timeout is None else time.monotonic() + timeout
        while not self._out:
            now = time.monotonic()
            if end is not None and now >= end:
                return None
            self._tick(now)
            if self._out:
                break
            wait = self._next_due() - time.monotonic()
            if end is not None:
                wait = min(wait, end - time.monotonic())
            if self._sub.poll(max(1, int(wait * 1000))):
                self._live()
        return self._out.popleft()

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        msg = self.recv(None)
        assert msg is not None
        return msg

    def __aiter__(self) -> "Subscriber":
        return self

    async def __anext__(self) -> Message:
        """The next message, waited for in a worker thread so the loop runs on."""
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, self.recv, 0.5)
            if msg is not None:
                return msg

    def close(self) -> None:
        """Close both connections."""
        self._sub.close(0)
        self._client.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- internals -----------------------------------------------------------
    def _next_due(self) -> float:
        if not self._n:
            return self._status_due
        return min(s.due for s in self._parts.values())

    def _tick(self, now: float) -> None:
        if not self._n:
            if now >= self._status_due:
                self._learn_n()
            return
        for part, state in self._parts.items():
            if now >= state.due:
                self._fill(part, state)

    def _learn_n(self) -> None:
        try:
            n = self._client.cluster_status().partitions
        except KvpError:
            self._status_due = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            return
        self._n = n
        follow = [partition_of(self.system, n)] if self.system else range(n)
        for part in follow:
            state = self._parts[part] = _Part()
            state.pos = self._saved.get(part)

    def _fill(self, part: int, state: _Part) -> None:
        """Ask GetEvents for what follows the position, then hand on held events."""
        try:
            if state.pos is None:
                self._learn_start(part, state)
            while state.pos is not None:
                page = self._client.get_events(part, state.pos + 1, self.limit)
                for ev in page.events:
                    self._take(part, state, ev, True)
                if not page.events or state.pos >= page.last:
                    break
        except KvpError as err:
            if not self._lost(part, state, err):
                state.due = time.monotonic() + state.interval
                state.interval = min(state.interval * 2, BACKOFF_MAX)
                return
            return self._fill(part, state)
        self._drain(part, state)
        state.due = time.monotonic() + state.interval
        state.interval = min(state.interval * 2, POLL_MAX)

    def _learn_start(self, part: int, state: _Part) -> None:
        try:
            page = self._client.get_events(part, 1, 1)
            first, last = page.first, page.last
        except KvpError as err:
            if err.rc != INVALID_PARAMETER or not err.reply or "first" not in err.reply:
                raise
            first, last = int(err.reply["first"]), int(err.reply["last"])
        state.pos = first - 1 if self.from_start else last

    def _lost(self, part: int, state: _Part, err: KvpError) -> bool:
        """A 32773 naming ``first`` past the position: report the loss, skip it."""
        if err.rc != INVALID_PARAMETER or not err.reply or "first" not in err.reply:
            return False
        first = int(err.reply["first"])
        if state.pos is None or first <= state.pos + 1:
            return False
        self._out.append(Lost(part, state.pos + 1, first - state.pos - 1))
        state.pos = first - 1
        return True

    def _take(self, part: int, state: _Part, ev: Dict[str, Any], replayed: bool) -> None:
        seq = int(ev.get("seq", 0))
        if state.pos is None or seq != state.pos + 1:
            return
        state.pos = seq
        if self.system is None or ev.get("TargetSystem") == self.system:
            self._out.append(Event.from_wire(ev, replayed))

    def _drain(self, part: int, state: _Part) -> None:
        if state.pos is None:
            return
        for seq in sorted(state.held):
            if seq <= state.pos:
                del state.held[seq]
            elif seq == state.pos + 1:
                self._take(part, state, state.held.pop(seq), False)

    def _live(self) -> None:
        """Read what the live stream holds now."""
        while True:
            try:
                frames = self._sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                continue
            try:
                ev = msgpack.unpackb(frames[1], raw=False)
                part, seq = int(ev["partition"]), int(ev["seq"])
            except Exception:
                continue
            state = self._parts.get(part)
            if state is None:
                continue
            state.interval = POLL_MIN
            if state.pos is not None and seq == state.pos + 1:
                self._take(part, state, ev, False)
                self._drain(part, state)
            elif state.pos is None or seq > state.pos:
                state.held[seq] = ev
                if state.pos is not None:
                    state.due = 0.0     # a gap: read it back now
