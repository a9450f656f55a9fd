"""Return codes of KVP/1 (section 5) and the exception that carries them."""
from typing import Any, Dict, Optional

COMPLETED = 0
JOB_STARTED = 4096
FAILED = 32768
ACCESS_DENIED = 32769
NOT_SUPPORTED = 32770
STATUS_UNKNOWN = 32771
TIMEOUT = 32772
INVALID_PARAMETER = 32773
SYSTEM_IN_USE = 32774
INVALID_STATE = 32775
INCORRECT_TYPE = 32776
NOT_AVAILABLE = 32777
OUT_OF_MEMORY = 32778

RC_NAMES: Dict[int, str] = {
    COMPLETED: "Completed with No Error",
    JOB_STARTED: "Method Parameters Checked - Job Started",
    FAILED: "Failed",
    ACCESS_DENIED: "Access Denied",
    NOT_SUPPORTED: "Not Supported",
    STATUS_UNKNOWN: "Status is unknown",
    TIMEOUT: "Timeout",
    INVALID_PARAMETER: "Invalid parameter",
    SYSTEM_IN_USE: "System is in use",
    INVALID_STATE: "Invalid state for this operation",
    INCORRECT_TYPE: "Incorrect data type",
    NOT_AVAILABLE: "System is not available",
    OUT_OF_MEMORY: "Out of memory",
}

#: Codes after which the same request may be sent again: the outcome is
#: unknown (32771), the worker was late (32772), busy (32774) or away
#: (32777). Item requests are resent with the same ``key``, which the
#: contract makes safe.
RETRY_CODES = frozenset({STATUS_UNKNOWN, TIMEOUT, SYSTEM_IN_USE, NOT_AVAILABLE})


def rc_name(rc: int) -> str:
    """The name of a return code ("rc N" for one the contract does not list)."""
    return RC_NAMES.get(rc, "rc %d" % rc)


class KvpError(Exception):
    """A request the cluster refused, or that got no reply in time.

    ``rc`` is the KVP/1 return code (32772 Timeout when no reply came at
    all), ``name`` its name, ``error`` the cluster's text and ``reply`` the
    whole reply map (None when there was none).
    """

    def __init__(self, rc: int, error: str = "", reply: Optional[Dict[str, Any]] = None,
                 op: str = ""):
        self.rc = rc
        self.name = rc_name(rc)
        self.error = error
        self.reply = reply
        self.op = op
        where = "%s: " % op if op else ""
        super().__init__("%s%d %s%s" % (where, rc, self.name, ": " + error if error else ""))


class NoReply(KvpError):
    """No reply came within the timeout (after every retry)."""

    def __init__(self, op: str, timeout: float):
        super().__init__(TIMEOUT, "no reply within %.3g s" % timeout, None, op)
