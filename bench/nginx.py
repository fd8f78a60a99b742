"""nginx from Debian packages on 127.0.0.1, serving one static answer: a target that
is not the bottleneck, so an HTTP benchmark measures the load generator."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PORT = 8099
CONF = """
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


def nginx_binary() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        subprocess.run(["bash", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                        "apt-get install -y -qq nginx-light >/dev/null"], check=True)
    return path


def _open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@contextmanager
def serve_static(port: int = PORT, workers: int = 1) -> Iterator[str]:
    """Run nginx until the block ends; yields its base URL."""
    binary = nginx_binary()
    folder = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    conf = folder / "nginx.conf"
    conf.write_text(CONF.format(workers=workers, dir=folder, port=port))
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
