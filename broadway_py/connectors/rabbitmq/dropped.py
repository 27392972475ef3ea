"""Acks that could not be sent, counted per outcome and summed per outage. Pure.

When the connection goes, every message still in the pipeline finishes on
its own time and each ack call for it finds no channel: with 4 processors
that was 16 log lines in 0.4 s, more with more. The broker redelivers all of
those messages, so one line per outage says enough: how many acks, of which
outcomes (the same ones ``MessagesAcked`` counts, hence core's counter), and
why. The producer adds up each ack call's :class:`DroppedAcks` until the lost
session's last ack came.
"""

from __future__ import annotations

from broadway_py.acknowledger import Outcomes

DroppedAcks = Outcomes
"""Dropped acks by the outcome the pipeline reported for their messages."""
