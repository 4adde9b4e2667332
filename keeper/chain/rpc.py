"""A small JSON-RPC client: single and batched calls, retries on transport errors only.

One HTTP request is one round trip; :attr:`RpcClient.round_trips` counts them so readers can
prove how many they need. JSON-RPC errors (a revert, a bad parameter) are never retried:
retrying cannot change their answer. Timeouts, refused or dropped connections, HTTP 5xx and
bodies that are not JSON-RPC are transport errors, retried with backoff, then raised as
:class:`~keeper.errors.TransportError`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from keeper.errors import ChainError, ChainIdMismatchError, InputError, TransportError

__all__ = ["HttpTransport", "RpcClient", "RpcError", "Transport", "redact_url"]


class RpcError(ChainError):
    """The node answered with a JSON-RPC error (not retried)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        self.method, self.code, self.rpc_message, self.data = method, code, message, data
        super().__init__(f"{method}: RPC error {code}: {message}")


class Transport(Protocol):
    """Sends one JSON body and returns the decoded JSON answer; raises TransportError on failure."""

    def send(self, payload: Any, timeout: float) -> Any: ...


def redact_url(url: str) -> str:
    """Scheme, host and port only (paths, queries and user info often carry API keys)."""
    p = urlsplit(url)
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{p.hostname}{port}" + ("/..." if p.path not in ("", "/") or p.query else "")


class HttpTransport:
    """JSON over HTTP POST with a kept-alive session. Errors name the node by its redacted URL."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError("rpc_url", f"must be an http(s) URL, got {url!r}")
        self.url = url
        self._session = requests.Session()

    def send(self, payload: Any, timeout: float) -> Any:
        try:
            resp = self._session.post(self.url, json=payload, timeout=timeout)
        except requests.Timeout as exc:
            raise TransportError(f"{redact_url(self.url)}: no answer within {timeout:g} s (is the node overloaded "
                                 "or the URL wrong? check chain.rpc_url)") from exc
        except requests.ConnectionError as exc:
            raise TransportError(f"cannot connect to {redact_url(self.url)}: is the node running and the URL right? "
                                 "(chain.rpc_url, or KEEPER_CHAIN__RPC_URL)") from exc
        except requests.RequestException as exc:
            raise TransportError(f"{redact_url(self.url)}: request failed ({type(exc).__name__})") from exc
        if resp.status_code >= 500:
            raise TransportError(f"{redact_url(self.url)}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise TransportError(f"{redact_url(self.url)}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise TransportError(f"body is not JSON: {resp.text[:80]!r}") from exc


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_s: float = 0.1
    backoff_factor: float = 2.0


class RpcClient:
    """JSON-RPC over a :class:`Transport`.

    Parameters
    ----------
    transport:
        An :class:`HttpTransport`, or an in-memory fake in unit tests.
    timeout_s:
        Per-request timeout in seconds.
    retry:
        Retries for transport errors only.
    sleep:
        Injected for tests; defaults to :func:`time.sleep`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_s <= 0:
            raise InputError("timeout_s", f"must be positive, got {timeout_s}")
        self.transport = transport
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._ids = itertools.count(1)
        self.round_trips = 0

    @classmethod
    def http(cls, url: str, **kwargs: Any) -> RpcClient:
        return cls(HttpTransport(url), **kwargs)

    def _send(self, payload: Any) -> Any:
        delay = self.retry.backoff_s
        for attempt in range(1, self.retry.attempts + 1):
            self.round_trips += 1
            try:
                return self.transport.send(payload, self.timeout_s)
            except TransportError:
                if attempt == self.retry.attempts:
                    raise
                self._sleep(delay)
                delay *= self.retry.backoff_factor
        raise AssertionError("unreachable")

    @staticmethod
    def _result(method: str, answer: Any) -> Any:
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
            raise TransportError(f"{method}: not a JSON-RPC answer: {str(answer)[:80]!r}")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
        if "result" not in answer:
            raise TransportError(f"{method}: JSON-RPC answer without result")
        return answer["result"]

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One request; returns its ``result`` or raises RpcError / TransportError."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return self._result(method, self._send(payload))

    def batch(self, requests_: Sequence[tuple[str, Sequence[Any]]]) -> list[Any | RpcError]:
        """Several requests in one round trip. Each entry is its result or its RpcError.

        A transport failure fails (and retries) the whole batch; an answer that misses an id
        or is not a list is a transport error too.
        """
        if not requests_:
            return []
        ids = [next(self._ids) for _ in requests_]
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, requests_, strict=True)
        ]
        answer = self._send(payload)
        if not isinstance(answer, list):
            raise TransportError(f"batch answer is not a list: {json.dumps(answer)[:80]}")
        by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
        out: list[Any | RpcError] = []
        for i, (method, _) in zip(ids, requests_, strict=True):
            if i not in by_id:
                raise TransportError(f"batch answer misses request id {i} ({method})")
            try:
                out.append(self._result(method, by_id[i]))
            except RpcError as exc:
                out.append(exc)
        return out

    # ----------------------------------------------------------------- conveniences
    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def check_chain_id(self, expected: int) -> None:
        """Raise ChainIdMismatchError unless the node serves ``expected``."""
        got = self.chain_id()
        if got != expected:
            raise ChainIdMismatchError(
                f"chain.chain_id: the RPC serves chain id {got}, the config expects {expected}"
            )
