"""Handlers of the compose stack's pipelines (deploy/pipelines/*.yaml).

Mounted beside the pipeline file at /etc/broadway, the folder broadway-py
imports a pipeline's handler from. ``handle`` accepts every message; a message
whose JSON says ``{"fail": true}`` fails, so that retries and dead letters show
up on the dashboard.
"""

from __future__ import annotations

from typing import Any

from broadway_py import Message


class Rejected(ValueError):
    """The message asked to fail (a ``"fail": true`` field)."""


def handle(message: Message) -> Message:
    data: Any = message.data
    if isinstance(data, dict) and data.get("fail"):
        raise Rejected("the message asked to fail")
    return message
