"""The benchmarks' environment, set before any fleet module reads its settings:
Redis database 11, the `chaosfleet_bench` database, and a fleet config whose only
targets are the benchmark's nginx (directly, and through a Toxiproxy proxy)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.nginx import PORT

PROXY_PORT = 28099
CONFIG = f"""
environment: dev
allowlist:
  targets: [bench-nginx]
  proxies: [bench-nginx-proxy]
targets:
  bench-nginx:
    kind: http
    base_url: http://127.0.0.1:{PORT}
    timeout: 5.0
    operations:
      get: {{method: GET, path: /}}
      via_proxy: {{method: GET, path: /}}
    probes:
      up: {{path: /, expect_status: 200}}
    proxies:
      bench-nginx-proxy: {{listen: "127.0.0.1:{PROXY_PORT}", upstream: "127.0.0.1:{PORT}"}}
"""
DATABASE = "postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/chaosfleet_bench"


def use_bench_environment() -> None:
    folder = Path(tempfile.gettempdir()) / "chaosfleet-bench"
    folder.mkdir(exist_ok=True)
    (folder / "fleet.yaml").write_text(CONFIG)
    os.environ.update({
        "CHAOSFLEET_REDIS_URL": "redis://127.0.0.1:6379/11",
        "CHAOSFLEET_KEY_PREFIX": "cfbench",
        "CHAOSFLEET_DATABASE_URL": DATABASE,
        "CHAOSFLEET_CONFIG_PATH": str(folder / "fleet.yaml"),
        "CHAOSFLEET_REPORTS_DIR": str(folder / "reports"),
        "CHAOSFLEET_STATE_DIR": str(folder / "state"),
        "CHAOSFLEET_JANITOR_PERIOD": "0.2",
    })
