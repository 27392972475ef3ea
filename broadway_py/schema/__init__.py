"""Pydantic building blocks shared by the pipeline file's schema and the connectors' options.

Core knows nothing of pydantic; connectors may not import the config layer.
This package sits between: it imports core and pydantic only, and both the
config layer and every connector may use it, so a bound or a field shape is
written once (``fields.py``) and a section of the pipeline file is derived
from its core option object (``sections.py``).
"""
