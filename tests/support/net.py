"""Ports for child processes to bind."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A localhost port nothing listens on, for a child process to bind.

    ``bind(0)``, close, then let a child bind races: the kernel may hand that port to
    the next outgoing connection of any process before the child binds it. A port below
    the kernel's ephemeral range is never given to an outgoing connection, so only
    another listener started in between could take it (and the child then fails loudly).
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = [random.randrange(10_000, low) for _ in range(50)] if low > 11_000 else []
    for port in [*candidates, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError("no free port on 127.0.0.1")
