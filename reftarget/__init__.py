"""The bundled reference target: a small real service with real recovery paths.

The fleet never imports this package; it is declared in configuration like any
user's service. Its service layer (`reftarget.service`) is importable for
`python` targets, and `reftarget.app` serves the same layer over HTTP.
"""
