"""What a kbuild log says: compiler and kbuild warnings and errors, counted."""

from __future__ import annotations

import re

_DIAG = re.compile(r"^(?P<loc>[^\s:]+:\d+(?::\d+)?): (?P<kind>warning|error|fatal error): ", re.M)
_KBUILD_WARN = re.compile(r"^WARNING: ", re.M)
_KBUILD_ERR = re.compile(r"^(?:ERROR: |make(?:\[\d+\])?: \*\*\* )", re.M)


def count_diagnostics(log_text: str) -> tuple[int, int, list[str]]:
    """(warnings, errors, first error lines) of a build log."""
    warnings = errors = 0
    first: list[str] = []
    for m in _DIAG.finditer(log_text):
        if m.group("kind") == "warning":
            warnings += 1
        else:
            errors += 1
            first.append(log_text[m.start():log_text.find("\n", m.start())])
    warnings += len(_KBUILD_WARN.findall(log_text))
    kb_errors = [log_text[m.start():log_text.find("\n", m.start())]
                 for m in _KBUILD_ERR.finditer(log_text)]
    if not errors:
        errors += len([e for e in kb_errors if not e.startswith("make")])
        first += kb_errors
    return warnings, errors, first
