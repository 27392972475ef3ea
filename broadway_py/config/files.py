"""Reads a pipeline file's text: a regular file, at most MAX_FILE_BYTES, UTF-8.

The checks run on ``os.stat`` before the file is opened, and the file is opened
without blocking, so a named pipe, a device or a directory given as the file is
refused at once instead of hanging or reading forever; a file that grows past
the cap while read is cut at the cap and refused.
"""

from __future__ import annotations

import os
import stat

from broadway_py.config.limits import MAX_FILE_BYTES
from broadway_py.config.problems import Position, Problems

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text(source: str) -> str:
    """The text of the file ``source``; raises ConfigFileError (at ``source``) when unreadable."""
    try:
        text = _read(source)
    except _Refused as refused:
        problems = Problems()
        problems.add(refused.position, refused.reason)
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    return text


class _Refused(Exception):
    def __init__(self, position: Position, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _read(source: str) -> str:
    where = Position(source)
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise _Refused(where, "no such file") from None
    except OSError as error:
        raise _Refused(where, f"cannot be read: {error.strerror or error}") from None
    _check(where, info)
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise _Refused(where, f"cannot be read: {error.strerror or error}") from None
    try:
        _check(where, os.fstat(descriptor))  # the file may have been replaced meanwhile
        data = _read_at_most(descriptor, MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _Refused(where, f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:
        raise _Refused(where, _too_big(len(data)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise _Refused(
            Position(source, line, column),
            f"the file is not UTF-8 text (byte {error.start}: {error.reason})",
        ) from None


def _check(where: Position, info: os.stat_result) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise _Refused(where, f"is {kind}, not a pipeline file (a regular file)")
    if info.st_size > MAX_FILE_BYTES:
        raise _Refused(where, _too_big(info.st_size))


def _too_big(size: int) -> str:
    return (
        f"the file is too large ({size} bytes or more); a pipeline file is at most "
        f"{MAX_FILE_BYTES} bytes (1 MiB)"
    )


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
