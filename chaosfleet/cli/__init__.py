"""The `chaosfleet` command: one module per command group, built on click."""
