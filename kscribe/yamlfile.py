"""Reading a YAML spec file as nodes, so that every later error can name its line."""

from __future__ import annotations

from pathlib import Path

import yaml

from kscribe.errors import KscribeError


def compose(path: Path) -> yaml.Node:
    """The root node of ``path``; syntax errors, unreadable and empty files as
    :class:`KscribeError` naming ``file:line``."""
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise KscribeError(f"{path}:{line}: YAML syntax error: "
                           f"{getattr(e, 'problem', None) or e}") from None
    except OSError as e:
        raise KscribeError(f"{path}: cannot read: {e.strerror}") from None
    if root is None:
        raise KscribeError(f"{path}:1: empty spec")
    return root
