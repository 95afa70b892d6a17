"""The tracer as kernel patch series: the plan in ``patches/``, a real kernel tree as the
base, the in-tree rendering of each facet, the series in each posting mode, and its gates."""
