"""kscribe: build, boot-test and upstream an out-of-tree kernel tracer."""

__version__ = "0.1.0"
