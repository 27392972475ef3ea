"""The stages a Pipeline is made of. Private to :mod:`broadway_py.pipeline`."""
