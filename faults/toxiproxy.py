"""A small Toxiproxy API client on httpx with a bound on every call.

toxiproxy-python has no request timeouts (a hung API would stall a revert or
the kill switch), keeps its server address in class attributes and depends on
the unmaintained `future` package, so the fleet talks to the API directly.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from chaosfleet.core.errors import ChaosfleetError, HarnessError


class ToxiproxyUnavailable(HarnessError):
    """The Toxiproxy API did not answer within the bound."""


class ToxiproxyError(ChaosfleetError):
    """The Toxiproxy API answered with an error."""


class ToxiproxyClient:
    """Every call is bounded by `timeout`. After a call goes unanswered, calls in
    the next `quiet` seconds fail at once instead of waiting again, so a pass over
    many leases (the janitor, the kill switch) costs one timeout, not one each."""

    def __init__(self, base_url: str, timeout: float = 2.0, quiet: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.quiet = quiet
        self._down_until = 0.0
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None
                 ) -> httpx.Response:
        if time.monotonic() < self._down_until:
            raise ToxiproxyUnavailable(
                f"toxiproxy at {self.base_url} did not answer moments ago; "
                f"{method} {path} not tried")
        try:
            return self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self._down_until = time.monotonic() + self.quiet
            raise ToxiproxyUnavailable(
                f"toxiproxy at {self.base_url} is unreachable or hung: no answer to "
                f"{method} {path} ({type(exc).__name__})"
            ) from None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._request(method, path, body)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"toxiproxy {method} {path} -> {response.status_code}: {response.text[:200]}"
            )
        return response.json() if response.content else None

    def version(self) -> str:
        return self._request("GET", "/version").text.strip()

    def proxies(self) -> dict[str, Any]:
        return self._call("GET", "/proxies") or {}

    def get_proxy(self, name: str) -> dict[str, Any] | None:
        return self._call("GET", f"/proxies/{name}")

    def ensure_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        """Create the proxy, or bring an existing one to this listen/upstream, enabled."""
        wanted = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        current = self.get_proxy(name)
        if current is None:
            return self._call("POST", "/proxies", wanted)
        if all(current.get(k) == v for k, v in wanted.items()):
            return current
        return self._call("POST", f"/proxies/{name}", wanted)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a proxy (a disabled proxy refuses connections)."""
        if self._call("POST", f"/proxies/{name}", {"enabled": enabled}) is None:
            raise ToxiproxyError(f"proxy {name!r} does not exist in toxiproxy")

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def add_toxic(
        self,
        proxy: str,
        name: str,
        toxic_type: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        result = self._call("POST", f"/proxies/{proxy}/toxics", body)
        if result is None:
            raise ToxiproxyError(f"proxy {proxy!r} does not exist in toxiproxy")
        return result

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; False when it was already gone (reverts are idempotent)."""
        response = self._request("DELETE", f"/proxies/{proxy}/toxics/{name}")
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise ToxiproxyError(f"removing {proxy}/{name} -> {response.status_code}")
        return True
