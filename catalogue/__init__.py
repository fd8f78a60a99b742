"""Durable results: runs now; the ledger, dead letters and failure catalogue build on it."""
