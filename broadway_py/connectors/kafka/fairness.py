"""Which partitions the next poll takes records of, and how many. Pure.

aiokafka's ``getmany(max_records=n)`` hands out what it prefetched partition
by partition, always starting from the partition it has held longest: with a
backlog on every partition, one poll after another returns the first
partition only, until it is drained (measured: 13 s of a 10 ms handler on one
partition of 4 before the next was read). Left alone, the buffer fills with
that partition and the processors of the others wait.

So each assigned partition gets a *share* of the buffer's capacity
(``ceil(capacity / sharing)``, where ``sharing`` counts the partitions of the
source topics: the retry topic's, usually empty, would halve every share and
double the polls), measured against what it has *pending*:
delivered and not yet done, in the buffer or in the pipeline. A poll first
asks for the partitions below their share, without waiting; if none of them
has records ready (the retry topic's partitions usually have none), for
those below twice their share, then four times; then for any partition, with
the poll's usual wait. A partition with much in flight so yields to the
partitions with little, and within a few polls every partition has work in
the pipeline; the pipeline's own demand and the buffer's capacity bound the
total. The prefetched records of a partition left out stay in the client:
nothing is thrown away. Each extra ask costs a pass over what the client
prefetched, no I/O.

With one partition assigned, the poll is unrestricted; with none known yet
(the group is joining), it takes a single record, so the first partition to
come cannot take a whole poll before the others are known.

Invariants (tests/unit/connectors/kafka/test_fairness.py):

- each of ``tries`` is a non-empty, proper subset of ``assigned``, and each
  is larger than the one before;
- ``max_records`` is at least 1 and at most ``max_poll_records``; 1 when
  nothing is assigned.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from typing import NamedTuple

LEVELS = 3
"""How many partial asks a poll makes at most (below 1, 2 and 4 shares)."""


class Poll(NamedTuple):
    #: The partitions to ask for, in turn, without waiting, before asking for any.
    tries: list[list[Hashable]]
    max_records: int


def next_poll(
    assigned: Collection[Hashable],
    pending: Mapping[Hashable, int],
    capacity: int,
    max_poll_records: int,
    sharing: int | None = None,
) -> Poll:
    """The next poll, given the partitions ``assigned`` and the deliveries ``pending`` of each.

    ``sharing``: how many partitions share the capacity (default: all assigned).
    """
    if not assigned:
        return Poll([], 1)
    if len(assigned) == 1:
        return Poll([], max_poll_records)
    share = max(-(-capacity // max(sharing or len(assigned), 1)), 1)
    tries: list[list[Hashable]] = []
    threshold = share
    for _ in range(LEVELS):
        behind = [tp for tp in assigned if pending.get(tp, 0) < threshold]
        if len(behind) == len(assigned):
            break
        if behind and (not tries or len(behind) > len(tries[-1])):
            tries.append(behind)
        threshold *= 2
    return Poll(tries, max(min(max_poll_records, share), 1))
