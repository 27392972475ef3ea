"""Ordering keys that are the same for every message of one ack group.

An ordering key (``partition_by``) is called once per message. A connector
whose key depends only on the message's ``ack_ref`` (Kafka: every message of
a fetched run of one partition shares its run's ``Delivery``, and the key is
the partition) marks the function with :func:`same_for_ack_ref`. The
processors' dispatch then calls it once per run of consecutive messages
sharing an ``ack_ref`` (:meth:`~broadway_py.topology.dispatch.ProcessorDispatch.split`).

The promise the mark makes: two messages whose ``ack_ref`` is the same object,
and not ``None``, get equal keys. A message with ``ack_ref=None`` (one built by
``Pipeline.test_message``, say) is keyed by its own call.
"""

from __future__ import annotations

from typing import TypeVar

_MARK = "__broadway_same_for_ack_ref__"

F = TypeVar("F")


def same_for_ack_ref(partition_by: F) -> F:
    """Mark ``partition_by`` as giving every message of one ``ack_ref`` the same key."""
    setattr(partition_by, _MARK, True)
    return partition_by


def is_same_for_ack_ref(partition_by: object) -> bool:
    """Whether ``partition_by`` was marked with :func:`same_for_ack_ref`."""
    return getattr(partition_by, _MARK, False) is True
