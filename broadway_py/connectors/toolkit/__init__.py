"""The producer toolkit: small pieces every connector composes, written once.

Not a connector: no broker client, no connector package (an import contract
checks it). A producer holds these as attributes, never as base classes:

- :mod:`.waiting`: :func:`resolve` a future unless done, and the :class:`Waiter`
  a pending ``fetch`` sleeps on;
- :mod:`.demand`: the :class:`DemandBuffer` of received messages the pipeline
  has not asked for yet, with its waiter, ``stop`` and ``take``;
- :mod:`.stop`: the :class:`Stop` signal that ends a producer's sleeps early;
- :mod:`.reconnect`: :class:`ReconnectOptions` (the one ``reconnect:`` spelling),
  the :class:`Link` that logs one line per failed attempt and reports
  ``ProducerConnected``, and :func:`keep_trying`, the loop that uses them.
"""

from __future__ import annotations

from broadway_py.connectors.toolkit.demand import DemandBuffer
from broadway_py.connectors.toolkit.reconnect import Link, ReconnectOptions, keep_trying
from broadway_py.connectors.toolkit.stop import Stop
from broadway_py.connectors.toolkit.waiting import Waiter
from broadway_py.futures import resolve

__all__ = ["DemandBuffer", "Link", "ReconnectOptions", "Stop", "Waiter", "keep_trying", "resolve"]
