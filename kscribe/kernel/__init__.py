"""A target kernel's tree: its configuration, tracepoint headers, preprocessor, checkpatch."""
