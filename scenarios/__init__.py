"""Declarative scenarios: typed models, a YAML loader, and the built-in library."""

from scenarios.loader import list_library, load_scenario, load_suite
from scenarios.model import Scenario, Suite

__all__ = ["Scenario", "Suite", "list_library", "load_scenario", "load_suite"]
