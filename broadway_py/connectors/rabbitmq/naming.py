"""Names of the queues the connector publishes to: delay queues and the dead-letter queue.

Pure functions of the options; no I/O.

RabbitMQ expires messages with a per-message TTL only when they reach the head
of their queue, so one delay queue holding a 60 s retry ahead of a 1 s retry
would hold the short one for a minute. With ``retry.bucketed`` (the default)
each power-of-two delay in milliseconds gets its own queue, ``orders.delay.1024ms``
for delays in (512 ms, 1024 ms]: a retry then waits at most twice its delay.
"""

from __future__ import annotations

import math

from broadway_py.connectors.rabbitmq.options import DeadLetterOptions, RetryOptions


def fill(template: str, queue: str) -> str:
    """``{queue}`` in ``template`` replaced by ``queue`` (no other placeholders)."""
    return template.replace("{queue}", queue)


def delay_ms(delay: float) -> int:
    """A retry delay in whole milliseconds, at least 1."""
    return max(1, math.ceil(delay * 1000))


def bucket_ms(milliseconds: int) -> int:
    """The smallest power of two that is at least ``milliseconds``."""
    return 1 << max(milliseconds - 1, 0).bit_length()


def delay_queue(options: RetryOptions, queue: str, milliseconds: int) -> str:
    """The delay queue a retry of ``milliseconds`` waits in."""
    base = fill(options.delay_queue, queue)
    if not options.bucketed:
        return base
    return f"{base}.{bucket_ms(milliseconds)}ms"


def dead_letter_queue(options: DeadLetterOptions, queue: str) -> str:
    return fill(options.queue, queue)
