"""The Jinja environment of ``templates/``: strict about undefined names, kernel-style C."""

from __future__ import annotations

import jinja2

from kscribe.codegen.cformat import c_string, wrap_statement
from kscribe.config import paths


def environment(html: bool = False) -> jinja2.Environment:
    """A fresh environment over ``templates/`` (``module/``, ``guest/``, ``upstream/``);
    ``html`` escapes what it substitutes, for pages."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.TEMPLATES), autoescape=html,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    # "{{ statement | statement }}": one tab in, wrapped the kernel way when too long
    env.filters["statement"] = lambda text, depth=1: "\n".join(wrap_statement(text,
                                                                             "\t" * depth))
    env.filters["c_string"] = c_string
    return env
