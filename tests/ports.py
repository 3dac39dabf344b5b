"""A TCP port for processes under test to bind later (a rendezvous or MASTER_PORT)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LINUX_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (IANA's 49152 elsewhere)."""
    try:
        return int(_LINUX_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def unused_port() -> int:
    """A port that is free now and below the kernel's ephemeral range.

    A port from bind(0) is itself ephemeral: once the probe closes it, any outgoing
    connection on the machine may take it as its local port before the processes under
    test bind it, and they then wait for a server that never comes (CI saw both c10d
    nodes time out after 60 s that way). Ports below the range are taken only by an
    explicit bind, so the window between this check and the real bind is safe from that.
    """
    high = _ephemeral_low()
    low = max(1024, high - 10_000)
    for port in random.Random().sample(range(low, high), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free TCP port in [{low}, {high})")
