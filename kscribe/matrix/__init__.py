"""The CI matrix beyond one machine: exported to CI services, and reported."""
