"""Create (or repair) the Toxiproxy proxies a target declares, allowlisted ones only."""

from __future__ import annotations

from chaosfleet.core.config import FleetConfig, HttpTarget, PythonTarget
from chaosfleet.core.settings import Settings
from faults.toxiproxy import ToxiproxyClient


def ensure_proxies(client: ToxiproxyClient, target: HttpTarget | PythonTarget,
                   allowed: list[str]) -> list[str]:
    """Returns the proxies made ready; raises ToxiproxyUnavailable when it is down,
    before anything is touched."""
    client.version()
    ready = []
    for name, proxy in target.proxies.items():
        if name in allowed:
            client.ensure_proxy(name, proxy.listen, proxy.upstream)
            ready.append(name)
    return ready


def ensure_target_proxies(config: FleetConfig, target_name: str, settings: Settings) -> list[str]:
    client = ToxiproxyClient(settings.toxiproxy_url, settings.toxiproxy_timeout)
    try:
        return ensure_proxies(client, config.target(target_name), config.allowlist.proxies)
    finally:
        client.close()
