"""The traffic slices' HTTP client: pyreqwest (Rust's reqwest and hyper) on uvloop.

Chosen by measurement, side by side (`python -m bench.clients`, bench/RESULTS.md):
on one process with 32 requests in flight it served 2.5 to 4 times aiohttp's
requests per second in three runs, with a third of its p99 or less, because parsing
and the connection pool run in Rust outside the GIL. This module is the only one that knows the
client: it keeps one per process and slice shape (its connection pool is the
connection reuse), sends one `HttpRequest` within the fleet's per-operation deadline, and
turns the client's transport errors into the ledger's error classes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from typing import Any, NamedTuple

import uvloop
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import PyreqwestError

from chaosfleet.core.outcomes import Outcome
from chaosfleet.targets.http import HttpRequest, Reply, timeout_reply

TransportError = PyreqwestError  # what `send` raises for a failure of the exchange itself


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive, like any HTTP header lookup


IDLE_SECONDS = 1.5  # an idle connection is dropped before a server's keep-alive ends it

_clients: dict[tuple[int, float, int], Client] = {}


def client_for(timeout: float, connections: int) -> Client:
    """This process's client for slices with this deadline and concurrency: at most
    `connections` open, kept alive between requests and between slices; `timeout`
    bounds each request from connect to the last byte of its answer. Built once per
    process (a build costs about 6 ms, more than the rest of a slice's fixed cost);
    idle connections are dropped after `IDLE_SECONDS`, before servers with short
    keep-alives (gunicorn 2 s, uvicorn 5 s) close them under a request."""
    key = (os.getpid(), timeout, connections)  # a forked child builds its own
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = (
            ClientBuilder().max_connections(connections).timeout(timedelta(seconds=timeout))
            .pool_idle_timeout(timedelta(seconds=IDLE_SECONDS)).build())
    return client


async def send(client: Client, request: HttpRequest) -> Answer:
    builder = client.request(request.method, request.url).headers(request.headers)
    if request.body is not None:
        builder = builder.body_bytes(request.body)
    response = await builder.build().send()
    body = await response.bytes()
    return Answer(response.status, body.to_bytes(), response.headers)


def transport_reply(exc: PyreqwestError) -> Reply:
    """A failed exchange as the ledger records it: a timeout (the fleet's deadline)
    is `client_timeout`; anything else is its error class, with the causes the
    client gives (never the URL, which may carry a token in its query)."""
    if isinstance(exc, TimeoutError):
        return timeout_reply(exc)
    name = type(exc).__name__
    return Reply(Outcome.ERROR, name, name, describe_transport_error(exc)[:300])


def describe_transport_error(exc: PyreqwestError) -> str:
    """'connection error: tcp connect error: Connection refused (os error 111)'."""
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    causes = [str(c.get("message", "")) for c in details.get("causes") or []]
    said = [c for c in causes if c and not c.startswith("error sending request for url")]
    return ": ".join([str(exc.args[0]) if exc.args else type(exc).__name__, *said])


_here = threading.local()


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a slice's coroutine on this thread's uvloop, kept between slices (a new
    loop and its thread pool cost a slice more than half a millisecond). Whatever
    the slice left running is cancelled before the next one. An exception raised by
    a signal handler (Celery's soft time limit) is raised here, as asyncio's own
    loop would: uvloop would log it as a failed callback and carry on to the hard
    limit."""
    loop = _this_threads_loop()
    try:
        loop.run_until_complete(_raising_signal_errors(main))
    finally:
        _cancel_leftovers(loop)


def _this_threads_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_here, "loop", None)
    if loop is None or loop.is_closed() or _here.pid != os.getpid():  # a forked child
        loop = _here.loop = uvloop.new_event_loop()                  # makes its own
        _here.pid = os.getpid()
    return loop


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


async def _raising_signal_errors(main: Coroutine[Any, Any, None]) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    from_signal: list[Exception] = []

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, Exception) and "handle" in context and "future" not in context:
            from_signal.append(exc)
            task.cancel()
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(on_error)
    try:
        await task
    except asyncio.CancelledError:
        if from_signal:
            raise from_signal[0] from None
        raise
    if from_signal:  # arrived as the slice was ending
        raise from_signal[0]
