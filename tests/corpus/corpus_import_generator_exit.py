"""A handler module whose import raises GeneratorExit (the corpus)."""

raise GeneratorExit("closed while importing")
