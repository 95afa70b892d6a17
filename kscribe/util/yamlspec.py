"""Reading YAML spec files as nodes, so that every error can name its file and line."""

from __future__ import annotations

import re
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


def line(node: yaml.Node | None) -> int:
    """The 1-based line of ``node`` (1 when there is none)."""
    return node.start_mark.line + 1 if node is not None else 1


def error(path: Path, node: yaml.Node | None, msg: str) -> KscribeError:
    """An error at ``path:line`` of ``node``."""
    return KscribeError(f"{path}:{line(node)}: {msg}")


def items(path: Path, node: yaml.Node, what: str, key: re.Pattern[str] | None = None
          ) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """The (key, value) nodes of a mapping, keys scalar (matching ``key``) and unique."""
    if not isinstance(node, yaml.MappingNode):
        raise error(path, node, f"{what} must be a mapping")
    seen: set[str] = set()
    out = []
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode) or (key is not None and not key.match(k.value)):
            raise error(path, k, f"{what}: keys must be names")
        if k.value in seen:
            raise error(path, k, f"{what}: key {k.value!r} given twice")
        seen.add(k.value)
        out.append((k, v))
    return out


def scalar(path: Path, node: yaml.Node, what: str, kind: str = "value") -> str:
    """The stripped text of a non-empty scalar."""
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
        raise error(path, node, f"{what} must be a non-empty {kind}")
    return node.value.strip()
