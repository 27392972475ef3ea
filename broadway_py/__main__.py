"""``python -m broadway_py``: the same as the ``broadway-py`` command.

``python -m`` puts the working directory first on ``sys.path``, ahead of the
installed packages, so an ``aiohttp.py`` lying there would shadow the real
one. The ``broadway-py`` script does not; neither does this: the entry is
taken off before anything else is imported. Handler modules are still found
there (the loader appends the pipeline file's folder and the working
directory after the installed packages).
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from broadway_py.cli import main  # after the sys.path fix above

raise SystemExit(main())
