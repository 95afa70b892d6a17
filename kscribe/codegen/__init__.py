"""C generation: the module sources of a build folder, the uapi header, kernel-style C."""
