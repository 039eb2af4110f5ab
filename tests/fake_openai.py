"""A scripted OpenAI-compatible chat server on 127.0.0.1, for the one part that cannot run here.

The real `ChatOpenAI` client talks to it over HTTP (streaming and not), so the code
under test uses exactly the interface a hosted model would get. `reply` builds
the answer from the request, which lets a test plant claims against the real
numbered sources it was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]]], str]


class FakeOpenAI:
    def __init__(self, reply: Reply, delay_s: float = 0.0) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                time.sleep(server.delay_s)
                text = server.reply(body["messages"])
                try:
                    if body.get("stream"):
                        self._stream(text)
                    else:
                        self._send_json(_completion(text))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test)

            def _send_json(self, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = text.split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    self.wfile.write(f"data: {json.dumps(_chunk(piece))}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(f"data: {json.dumps(_chunk('', 'stop'))}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip


def _chunk(piece: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"role": "assistant", "content": piece} if piece else {}
    return {
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip


def sources_in(messages: list[dict[str, Any]]) -> dict[int, str]:
    """The numbered passages the coach sent, parsed back out of its user message."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    block = user.split("<sources>", 1)[1].split("</sources>", 1)[0]
    out: dict[int, str] = {}
    for part in block.strip().split("\n\n"):
        if part.startswith("["):
            n, rest = part[1:].split("]", 1)
            out[int(n)] = rest.split("\n", 1)[1] if "\n" in rest else rest
    return out
