"""kscribe measured beside the tracers its users would otherwise run, in one guest."""
