"""CURVE keys for a secured cluster (KVP/1 section 11).

A key is a CZMQ certificate (``zcert``) in its ZPL text form, as
``kvpctl keygen NAME --role ROLE`` writes it: the public file NAME holds
``curve/public-key`` (Z85) and ``metadata`` (``name``, ``role``); the secret
file NAME_secret also holds ``curve/secret-key``. A client needs its own
secret file and the broker's public file:

    curve = Curve.load("keys/ops_secret", "keys/broker")
    Client(endpoint, curve=curve)            # or curve=("keys/ops_secret", "keys/broker")

Without ``curve``, the clients read the files named by the environment
variables KVP_CURVE_SECRET and KVP_BROKER_PUBLIC (as kvpctl does), and speak
plain ZeroMQ when neither is set; ``curve=False`` is plain whatever the
environment says.
"""
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple, Union

import zmq

ENV_SECRET = "KVP_CURVE_SECRET"
ENV_BROKER = "KVP_BROKER_PUBLIC"
Z85_LEN = 40
_Z85 = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 ".-:+=^!/*?&<>()[]{}@%$#")
_MAX_FILE = 64 * 1024          # a certificate is a few hundred bytes
_NAME = re.compile(r"[A-Za-z0-9$\-_@.&+/]+\Z")


class CurveError(ValueError):
    """A key file that cannot be used: missing or unreadable, not a
    certificate, without the key asked for, or a secret file that group or
    others may read (refused as the C programs and ssh refuse it)."""


def parse_zpl(text: str) -> Dict[str, str]:
    """The values of a ZPL document by path: ``{"curve/public-key": ...}``.

    Enough of ZeroMQ's ZPL (RFC 4) for certificates: ``#`` comment lines,
    nesting by indentation, names of letters, digits and ``$-_@.&+/``,
    ``name = value`` with the value in double or
    single quotes or bare (up to white space; a ``#`` after it starts a
    comment). Raises ValueError naming the line for anything else.
    """
    values: Dict[str, str] = {}
    stack: list = []            # (indent, name) of the open sections
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.expandtabs(4).rstrip()
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        name, sep, rest = body.partition("=")
        name = name.strip() if sep else body.split("#", 1)[0].strip()
        if not _NAME.match(name):
            raise ValueError("line %d: not a ZPL name: %r" % (number, body))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([n for _, n in stack] + [name])
        stack.append((indent, name))
        if sep:
            values[path] = _value(rest.strip(), number)
    return values


def _value(text: str, number: int) -> str:
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise ValueError("line %d: a quoted value without its closing quote" % number)
        tail = text[end + 1:].strip()
        if tail and not tail.startswith("#"):
            raise ValueError("line %d: text after a quoted value" % number)
        return text[1:end]
    return "" if not text or text.startswith("#") else text.split()[0]


def _z85(values: Mapping[str, str], path: str) -> Optional[str]:
    key = values.get(path)
    return key if key and len(key) == Z85_LEN and set(key) <= _Z85 else None


def check_private(path: str) -> None:
    """Raise CurveError unless the file at ``path`` is closed to group and others."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise CurveError("%s: %s" % (path, err.strerror)) from None
    if mode & 0o077:
        raise CurveError("%s: a secret key readable by group or others (mode %04o); "
                         "chmod 600 it" % (path, mode & 0o7777))


@dataclass(frozen=True)
class Cert:
    """One certificate file: its Z85 keys and metadata."""

    path: str
    public_key: str
    secret_key: Optional[str] = field(default=None, repr=False)
    metadata: Dict[str, str] = field(default_factory=dict)


def read_cert(path: str, secret: bool = False) -> Cert:
    """Load a CZMQ certificate file.

    ``secret``: the file is a secret file: it must hold ``curve/secret-key``
    and be closed to group and others (mode 0600 or stricter). Raises
    CurveError with the file and the reason.
    """
    path = os.fspath(path)
    if secret:
        check_private(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(_MAX_FILE + 1)
    except (OSError, UnicodeDecodeError) as err:
        raise CurveError("%s: %s" % (path, getattr(err, "strerror", None) or err)) from None
    try:
        if len(text) > _MAX_FILE:
            raise ValueError("over %d bytes" % _MAX_FILE)
        values = parse_zpl(text)
    except ValueError as err:
        raise CurveError("%s: not a certificate (ZPL): %s" % (path, err)) from None
    public, private = _z85(values, "curve/public-key"), _z85(values, "curve/secret-key")
    if public is None or (secret and private is None):
        raise CurveError("%s: no curve %s (40 characters of Z85)"
                         % (path, "public-key and secret-key" if secret else "public-key"))
    meta = {k.split("/", 1)[1]: v for k, v in values.items()
            if k.startswith("metadata/") and k.count("/") == 1}
    return Cert(path, public, private if secret else None, meta)


@dataclass(frozen=True)
class Curve:
    """What a CURVE client needs: its own key pair and the broker's public
    key, all Z85; ``name`` and ``role`` are its certificate's metadata."""

    public_key: str
    secret_key: str = field(repr=False)
    server_key: str
    name: str = ""
    role: str = ""

    @classmethod
    def load(cls, secret_file: str, broker_public_file: str) -> "Curve":
        """From our secret certificate file and the broker's public one
        (raises CurveError)."""
        mine = read_cert(secret_file, secret=True)
        broker = read_cert(broker_public_file)
        assert mine.secret_key is not None
        return cls(mine.public_key, mine.secret_key, broker.public_key,
                   mine.metadata.get("name", ""), mine.metadata.get("role", ""))

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> Optional["Curve"]:
        """From the files named by KVP_CURVE_SECRET and KVP_BROKER_PUBLIC;
        None when neither is set, CurveError when only one is."""
        env = os.environ if environ is None else environ
        secret, broker = env.get(ENV_SECRET) or None, env.get(ENV_BROKER) or None
        if secret is None and broker is None:
            return None
        if secret is None or broker is None:
            raise CurveError("security needs both %s and %s (only %s is set)"
                             % (ENV_SECRET, ENV_BROKER, ENV_SECRET if secret else ENV_BROKER))
        return cls.load(secret, broker)

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of the broker (before it connects)."""
        if not zmq.has("curve"):
            raise CurveError("this libzmq was built without CURVE")
        sock.curve_secretkey = self.secret_key.encode()
        sock.curve_publickey = self.public_key.encode()
        sock.curve_serverkey = self.server_key.encode()


#: What the clients take as ``curve``: a Curve, a pair of files (our
#: secret certificate, the broker's public one), None for the environment
#: variables, or False for plain ZeroMQ.
CurveLike = Union[Curve, Tuple[str, str], None, bool]


def curve_of(curve: CurveLike) -> Optional[Curve]:
    """The Curve that ``curve`` stands for (None: plain)."""
    if curve is False:
        return None
    if curve is None:
        return Curve.from_env()
    if isinstance(curve, Curve):
        return curve
    if isinstance(curve, (tuple, list)) and len(curve) == 2:
        return Curve.load(curve[0], curve[1])
    raise TypeError("curve: a Curve, a (secret file, broker public file) pair, None "
                    "or False, not %r" % (curve,))
