"""Free TCP ports on 127.0.0.1 for what a test starts (a proxy, a private broker).

Why here: the proxy, the private brokers and the tests that point a client at
a port nobody listens on all need one, and a node that takes a range of ports
(RabbitMQ's CLI) needs them consecutive.
"""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A port the kernel says is free now (it may be taken again before it is used)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive ports that are all free now."""
    for _ in range(200):
        base = random.randrange(40000, 60000 - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found on 127.0.0.1")
