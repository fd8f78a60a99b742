"""Target kinds: how the fleet talks to a system under test (one module per kind)."""
