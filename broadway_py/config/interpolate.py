"""``${VAR}`` and ``${VAR:default}`` in scalar values.

- ``${NAME}`` is replaced by the environment variable ``NAME``; it is an error
  when ``NAME`` is unset.
- ``${NAME:default}`` uses ``default`` when ``NAME`` is unset or empty (the
  default may be empty: ``${NAME:}``, and may hold ``:`` but not ``}``).
  The shell's spelling ``${NAME:-default}`` means the same (so a default that
  starts with ``-`` is written ``${NAME:--1}``, as in the shell).
- ``$${`` stands for a literal ``${``; any other ``$`` is kept as it is.

Names are letters, digits and underscores, not starting with a digit.

A problem names the variable, or the character where the bad reference starts,
never the text around it: the value may hold a password (``amqp://u:PASS@h/${VHOST``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Interpolated:
    text: str
    changed: bool = False
    problems: list[str] = field(default_factory=list)


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Replace every reference in ``text``; unresolvable ones become problems."""
    if "${" not in text:
        return Interpolated(text)
    result = Interpolated("", changed=True)
    parts: list[str] = []
    index = 0
    while True:
        start = text.find("$", index)
        if start < 0:
            parts.append(text[index:])
            break
        parts.append(text[index:start])
        if text.startswith("$${", start):
            parts.append("${")
            index = start + 3
            continue
        if not text.startswith("${", start):
            parts.append("$")
            index = start + 1
            continue
        end = text.find("}", start + 2)
        if end < 0:
            result.problems.append(
                f"unclosed '${{' at character {start + 1} of the value: write ${{NAME}} or "
                "${NAME:default} (or $${ for a literal '${')"
            )
            parts.append(text[start:])
            break
        reference = text[start + 2 : end]
        name, colon, default = reference.partition(":")
        if default.startswith("-"):
            default = default[1:]  # ${NAME:-default}, the shell's spelling
        if not _NAME.match(name):
            result.problems.append(
                f"bad variable reference at character {start + 1} of the value: a name is "
                "letters, digits and underscores, not starting with a digit"
            )
        else:
            value = env.get(name)
            if colon and not value:
                parts.append(default)
            elif value is None:
                result.problems.append(
                    f"environment variable {name} is not set "
                    f"(give it a default with ${{{name}:default}})"
                )
            else:
                parts.append(value)
        index = end + 1
    result.text = "".join(parts)
    return result
