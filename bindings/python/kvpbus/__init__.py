"""kvpbus: a client for kvpbus clusters, the Hyper-V KVP exchange API
(Msvm_VirtualSystemManagementService.AddKvpItems and its siblings) served
over ZeroMQ, speaking the KVP/1 wire contract.

    from kvpbus import Client, Item
    with Client("tcp://127.0.0.1:5555") as c:
        vm = c.define_system("web-01")
        job = c.add_items(vm, Item("role", "web"))
        print(job.completed, c.get_items(vm))

A secured cluster (KVP/1 section 11) takes ``curve=(secret_file,
broker_public_file)`` or a Curve; without it, $KVP_CURVE_SECRET and
$KVP_BROKER_PUBLIC are read when set.
"""
from .aio import AsyncClient
from .client import Client
from .curve import Cert, Curve, CurveError, read_cert
from .errors import KvpError, NoReply, RC_NAMES, RETRY_CODES, rc_name
from .subscriber import Subscriber
from .types import (ClusterStatus, Event, EventsPage, Item, ItemsPage, Job, Lost, System,
                    Worker, guid_of, items_to_wire, partition_of)

__all__ = ["AsyncClient", "Cert", "Client", "ClusterStatus", "Curve", "CurveError", "Event",
           "EventsPage", "Item", "ItemsPage", "Job", "KvpError", "Lost", "NoReply", "RC_NAMES",
           "RETRY_CODES", "Subscriber", "System", "Worker", "guid_of", "items_to_wire",
           "partition_of", "rc_name", "read_cert"]
__version__ = "0.1.0"
