"""A handler module whose import raises KeyboardInterrupt (the corpus)."""

raise KeyboardInterrupt
