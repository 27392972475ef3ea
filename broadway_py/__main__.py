"""``python -m broadway_py``: the same as the ``broadway-py`` command."""

from broadway_py.cli import main

raise SystemExit(main())
