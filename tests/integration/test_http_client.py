"""The traffic slices' HTTP client against real sockets on loopback: the deadline per
operation, connection reuse, answer headers, and each transport failure named as
the ledger and the catalogue expect."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from catalogue.matching import Failure, Matcher
from catalogue.modes import load_catalogue
from chaosfleet.core.outcomes import Outcome
from chaosfleet.targets.http import HttpRequest
from chaosfleet.traffic import http_client

pytestmark = pytest.mark.integration

BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Type: application/json\r\n"
      b"Content-Length: 15\r\n\r\n{\"code\":\"busy\"}")
TRUNCATED = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":"


@contextlib.contextmanager
def server(answer: Callable[[socket.socket], None]) -> Iterator[tuple[int, list[int]]]:
    """A loopback server calling `answer` once per request on each connection;
    yields its port and the list of connections it accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while not stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                answer(conn)

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                accepted.append(1)
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def exchange(port: int, times: int = 1, timeout: float = 2.0):
    """Send `times` requests one after another; the last answer or Reply."""
    async def main() -> list[object]:
        out: list[object] = []
        client = http_client.client_for(timeout, 4)
        for _ in range(times):
            request = HttpRequest("POST", f"http://127.0.0.1:{port}/orders?token=s3cret",
                                  {"content-type": "application/json"}, b"{}")
            try:
                out.append(await http_client.send(client, request))
            except http_client.TransportError as exc:
                out.append(http_client.transport_reply(exc))
        return out

    results: list[object] = []

    async def run() -> None:
        results.extend(await main())

    http_client.run_loop(run())
    return results


def test_answers_come_back_with_case_insensitive_headers_over_one_kept_alive_connection():
    with server(lambda conn: conn.sendall(BUSY)) as (port, accepted):
        answers = exchange(port, times=5)
    assert len(accepted) == 1  # five requests, one connection
    last = answers[-1]
    assert isinstance(last, http_client.Answer)
    assert last.status == 503 and last.body == b'{"code":"busy"}'
    assert last.headers.get("retry-after") == last.headers.get("Retry-After") == "3"


def test_slices_one_after_another_share_a_connection_until_it_has_idled():
    """Each slice runs its own event loop; the process's client and its kept-alive
    connection outlive it, and an idle connection is dropped before a server with a
    short keep-alive would close it under a request."""
    with server(lambda conn: conn.sendall(BUSY)) as (port, accepted):
        exchange(port)
        exchange(port)  # the next slice: a new loop, the same connection
        assert len(accepted) == 1
        time.sleep(http_client.IDLE_SECONDS + 0.5)
        exchange(port)
        assert len(accepted) == 2


def test_a_refused_connection_is_named_with_its_cause_and_never_the_url():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens here now
    (reply,) = exchange(port)
    assert reply.outcome is Outcome.ERROR and reply.error == "ConnectError"
    assert "Connection refused" in reply.message
    assert "s3cret" not in reply.message and "127.0.0.1" not in reply.message


def test_a_hung_server_is_a_client_timeout_at_the_deadline(hung_listener):
    started = time.monotonic()
    (reply,) = exchange(hung_listener, timeout=0.5)
    assert reply.outcome is Outcome.TIMEOUT and reply.error == "client_timeout"
    assert 0.4 < time.monotonic() - started < 2.0


def test_an_answer_cut_off_mid_body_is_a_connection_reset_in_the_catalogue():
    def cut(conn: socket.socket) -> None:
        conn.sendall(TRUNCATED)
        conn.shutdown(socket.SHUT_RDWR)

    with server(cut) as (port, _):
        (reply,) = exchange(port)
    assert reply.outcome is Outcome.ERROR and reply.error == "BodyDecodeError"
    match = Matcher(load_catalogue()).match(Failure(reply.code, reply.message))
    assert match.mode is not None and match.mode.id == "connection-reset"


def test_a_connection_reset_by_the_server_is_a_connection_reset_in_the_catalogue():
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # linger 0: the close sends RST

    with server(reset) as (port, _):
        (reply,) = exchange(port)
    assert reply.outcome is Outcome.ERROR
    match = Matcher(load_catalogue()).match(Failure(reply.code, reply.message))
    assert match.mode is not None and match.mode.id == "connection-reset", (reply.code,
                                                                          reply.message)
