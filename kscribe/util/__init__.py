"""Helpers every layer uses: atomic writes, locks, the process runner, logging, C text."""
