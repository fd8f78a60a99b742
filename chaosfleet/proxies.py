"""Create (or repair) the Toxiproxy proxies a target declares, allowlisted ones only."""

from __future__ import annotations

from chaosfleet.config import FleetConfig
from chaosfleet.settings import Settings
from faults.toxiproxy import ToxiproxyClient


def ensure_target_proxies(config: FleetConfig, target_name: str, settings: Settings) -> list[str]:
    """Returns the proxies made ready; raises ToxiproxyUnavailable when it is down."""
    allowed = set(config.allowlist.proxies)
    client = ToxiproxyClient(settings.toxiproxy_url, settings.toxiproxy_timeout)
    try:
        client.version()
        ready = []
        for name, proxy in config.target(target_name).proxies.items():
            if name in allowed:
                client.ensure_proxy(name, proxy.listen, proxy.upstream)
                ready.append(name)
        return ready
    finally:
        client.close()
