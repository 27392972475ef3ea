"""The decode step moved to core: :mod:`broadway_py.decoding` (one definition for YAML and Python).

Re-exported here for older imports only.
"""

from __future__ import annotations

from broadway_py.decoding import decode_json, decode_text

__all__ = ["decode_json", "decode_text"]
