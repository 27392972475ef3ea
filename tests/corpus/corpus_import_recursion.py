"""A handler module whose import recurses without end (the corpus)."""


def forever(depth: int) -> int:
    return forever(depth + 1)


forever(0)
