"""The running service: a built pipeline served with its HTTP port, logs and progress lines.

``config`` builds a :class:`~broadway_py.pipeline.Pipeline` from a file and
``metrics`` observes one; this package runs one as a process does, and so is
the one place (with the CLI) that puts config, metrics and the pipeline
together. Import rules (pyproject's import-linter contracts): ``config`` and
``metrics`` never import this package.

- :mod:`~broadway_py.service.run`: :func:`run_service`, HTTP port first, then
  the pipeline until it drains (imports aiohttp, so it is imported on its own);
- :mod:`~broadway_py.service.logs`: :func:`configure_logging`, plain or JSON
  lines with secrets masked (:mod:`~broadway_py.service.log_redaction`,
  :mod:`~broadway_py.service.log_fields`);
- :mod:`~broadway_py.service.progress`: the periodic progress line.
"""
