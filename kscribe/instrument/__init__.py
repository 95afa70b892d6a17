"""What the tracer records, resolved against one target: tracepoint events and syscalls."""
