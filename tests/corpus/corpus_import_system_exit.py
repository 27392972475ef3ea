"""A handler module whose import raises SystemExit(3) (the corpus)."""

import sys

sys.exit(3)
