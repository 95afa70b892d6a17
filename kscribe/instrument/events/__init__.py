"""Tracepoint events: specs (instrumentation/events) joined with the target's prototypes."""
