"""Connectors: one package per broker, plus the embedded in-memory broker."""
