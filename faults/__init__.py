"""Fault injectors, each held under a lease that a janitor reverts.

A fault family is one module with one class behind the `Fault` protocol
(`validate`, `apply`, `revert`, `describe`); the runner never knows which it holds.
"""

from faults.base import Fault, FaultContext, FaultError
from faults.registry import build_fault

__all__ = ["Fault", "FaultContext", "FaultError", "build_fault"]
