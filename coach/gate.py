"""What stands in front of the web app on a shared deployment: sign-in attempts throttled per client, and no
uploads at all (the app has no upload component, yet Gradio's `/gradio_api/upload` would store any file).

`Gate` is plain ASGI middleware, so the answer stream passes through it untouched.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_REFUSED = "This app takes no uploads."
DRAIN_AT_MOST = 64 * 1024 * 1024  # a refused upload's body is read and dropped up to this size, then cut off
_FORGET_AFTER = 20  # lockouts; a client quiet this long starts afresh
_MOST_CLIENTS = 10_000


@dataclass
class _Client:
    failures: int = 0
    in_flight: int = 0
    last: float = 0.0


class SignInThrottle:
    """Per client: after `max_failures` wrong passwords in a row every attempt is refused until `lockout_s`
    has passed since the last one; then one more try is allowed at a time. A right password resets the count.
    Attempts still being checked count as failures, so parallel guesses gain nothing."""

    def __init__(self, max_failures: int, lockout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def begin(self, client: str) -> float:
        """Seconds this client must wait (0: go ahead; the attempt is then in flight until `end`)."""
        with self._lock:
            now = self.clock()
            self._forget_stale(now)
            c = self._clients.setdefault(client, _Client())
            if c.failures >= self.max_failures:
                wait = c.last + self.lockout_s - now
                if wait > 0:
                    return wait
                if c.in_flight:  # after a lockout, one try at a time
                    return 1.0
            elif c.failures + c.in_flight >= self.max_failures:  # guesses sent in parallel
                return 1.0
            c.in_flight += 1
            return 0.0

    def end(self, client: str, ok: bool) -> None:
        with self._lock:
            c = self._clients.setdefault(client, _Client())
            c.in_flight = max(0, c.in_flight - 1)
            if ok:
                c.failures = 0
            else:
                c.failures += 1
                c.last = self.clock()

    def _forget_stale(self, now: float) -> None:
        if len(self._clients) < _MOST_CLIENTS:
            return
        horizon = now - _FORGET_AFTER * self.lockout_s
        self._clients = {k: c for k, c in self._clients.items() if c.in_flight or c.last >= horizon}


class Gate:
    """ASGI middleware: refuses uploads, and throttles `POST …/login` per client address when given a throttle."""

    def __init__(self, app: ASGIApp, throttle: SignInThrottle | None = None) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "")).rstrip("/")
        if path.endswith("/upload"):
            await _drain(scope, receive)
            await _reply(send, 413, UPLOAD_REFUSED)
            return
        if self.throttle is None or not path.endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        wait = self.throttle.begin(client)
        if wait > 0:
            await _drain(scope, receive)
            seconds = math.ceil(wait)
            await _reply(send, 429, f"Too many sign-in attempts. Try again in {seconds} s.", [("retry-after", str(seconds))])
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.throttle.end(client, ok=status[:1] == [200])


async def _drain(scope: Scope, receive: Receive) -> None:
    """Read and drop a request body (so the client gets the answer, not a reset connection) unless it is huge."""
    headers = dict(scope.get("headers") or [])
    try:
        if int(headers.get(b"content-length", b"0")) > DRAIN_AT_MOST:
            return
    except ValueError:
        return
    read = 0
    while read <= DRAIN_AT_MOST:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body"):
            return


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[str, str]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
