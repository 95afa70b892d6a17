"""Building the tracer: kbuild of the modules, the guest programs, metadata.json."""
