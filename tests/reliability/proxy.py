"""A small in-process JSON-RPC proxy between the keeper and anvil that injects faults.

Faults (each drawn per request with a seeded RNG at ``rate``, from the enabled ``kinds``):

* ``timeout``    - hold the request longer than the client's timeout, then drop it;
* ``drop``       - close the connection without an answer;
* ``http5xx``    - answer HTTP 502/503;
* ``rpc_error``  - answer a JSON-RPC error (-32000 "internal error");
* ``garbage``    - answer 200 with a body that is not JSON;
* ``stale``      - a lagging node: ``eth_blockNumber`` and the ``latest`` header answer ``lag`` blocks
                   behind, and a call for a block the lagging node has not seen yet fails with
                   "header not found".

Counters record what was injected so tests can report it.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("timeout", "drop", "http5xx", "rpc_error", "garbage", "stale")


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    seed: int = 0
    timeout_hold_s: float = 1.5
    lag: int = 3
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lock = threading.Lock()

    def draw(self) -> str | None:
        with self.lock:
            if self.rate <= 0 or self.rng.random() >= self.rate:
                self.counts["ok"] += 1
                return None
            kind = self.rng.choice(self.kinds)
            self.counts[kind] += 1
            return kind


class FaultProxy:
    """``with FaultProxy(upstream_url, plan) as proxy: ... proxy.url ...``"""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.upstream = upstream
        self.plan = plan
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fault = proxy.plan.draw()
                if fault == "timeout":
                    time.sleep(proxy.plan.timeout_hold_s)
                    self._drop()
                    return
                if fault == "drop":
                    self._drop()
                    return
                if fault == "http5xx":
                    self._send(proxy.plan.rng.choice([502, 503]), b"upstream unavailable")
                    return
                if fault == "garbage":
                    self._send(200, b"<html>gateway says hi</html>")
                    return
                payload = json.loads(body)
                if fault == "rpc_error":
                    self._send(200, json.dumps(_errors(payload, -32000, "internal error")).encode())
                    return
                answer = proxy.forward(body)
                if fault == "stale":
                    answer = proxy.lagging(payload, answer)
                self._send(200, json.dumps(answer).encode())

            def _drop(self) -> None:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, body: bytes) -> Any:
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def head(self) -> int:
        out = self.forward(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber",
                                       "params": []}).encode())
        return int(out["result"], 16)

    def lagging(self, payload: Any, answer: Any) -> Any:
        """Rewrite an answer as a node ``lag`` blocks behind would give it."""
        lag_head = self.head() - self.plan.lag
        items = payload if isinstance(payload, list) else [payload]
        answers = answer if isinstance(answer, list) else [answer]
        out = []
        for req, original in zip(items, answers, strict=False):
            method, params = req.get("method"), req.get("params", [])
            ans = original
            if method == "eth_blockNumber":
                ans = {"jsonrpc": "2.0", "id": req.get("id"), "result": hex(lag_head)}
            elif method == "eth_getBlockByNumber" and params and params[0] == "latest":
                old = self.forward(json.dumps({"jsonrpc": "2.0", "id": req.get("id"), "method": method,
                                               "params": [hex(lag_head), *params[1:]]}).encode())
                ans = old
            elif method == "eth_call" and len(params) > 1 and isinstance(params[1], str) \
                    and params[1].startswith("0x") and int(params[1], 16) > lag_head:
                ans = {"jsonrpc": "2.0", "id": req.get("id"),
                       "error": {"code": -32000, "message": "header not found"}}
            out.append(ans)
        return out if isinstance(payload, list) else out[0]

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _errors(payload: Any, code: int, message: str) -> Any:
    if isinstance(payload, list):
        return [{"jsonrpc": "2.0", "id": p.get("id"), "error": {"code": code, "message": message}} for p in payload]
    return {"jsonrpc": "2.0", "id": payload.get("id"), "error": {"code": code, "message": message}}
