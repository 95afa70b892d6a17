"""What kscribe is told: settings, architectures, suites, targets, the CI matrix, paths."""
