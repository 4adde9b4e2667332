"""Did anyone but this keeper trade through the module? The trade audit run after every cycle.

Each cycle, the HedgeModule's trade events (``HedgeExecuted``, ``PerpHedgeExecuted``) from the block
after the last audited one up to the head are compared with the journal: every trade this keeper
makes has its signed transaction recorded *before* it is broadcast, so a module trade whose
transaction is not in the journal was sent by someone else holding the keeper's key (or by a
keeper that lost its journal). It raises an ``unknown_trade`` alert, is journaled as an event, and,
when ``KEEPER_GUARDIAN_KEY`` holds the module guardian's key, the keeper pauses the module with it
(the guardian may only pause; the owners unpause).

The audit cursor is the ``to_block`` of the last ``trade_audit`` event; the first audit looks back
``lookback_blocks``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.rpc import RpcClient
from keeper.errors import KeeperError
from keeper.journal import Journal

__all__ = ["TRADE_EVENTS", "ForeignTrade", "TradeAudit", "module_trades", "next_block_range"]

TRADE_EVENTS: Mapping[str, str] = {
    "swap": "HedgeExecuted(address,address,address,uint24,uint256,uint256,uint256,uint256,uint256)",
    "perp": "PerpHedgeExecuted(address,int256,uint256,uint256,uint256,int256)",
}
"""The module's trade events (kind -> signature); checked against the contract's ABI by the tests."""
_TOPICS = {"0x" + keccak(text=sig).hex(): kind for kind, sig in TRADE_EVENTS.items()}


@dataclass(frozen=True)
class ForeignTrade:
    """A module trade this keeper did not send."""

    kind: str
    tx_hash: str
    block_number: int
    sender: str

    def line(self) -> str:
        return f"{self.kind} trade in tx {self.tx_hash} (block {self.block_number}, sent by {self.sender})"


def module_trades(rpc: RpcClient, module: str, from_block: int, to_block: int) -> list[tuple[str, str, int]]:
    """``(kind, tx hash, block)`` of each trade event of ``module`` in ``[from_block, to_block]``."""
    if to_block < from_block:
        return []
    logs = rpc.call("eth_getLogs", [{"address": module, "fromBlock": hex(from_block), "toBlock": hex(to_block),
                                     "topics": [sorted(_TOPICS)]}])
    return [(_TOPICS[str(log["topics"][0]).lower()], str(log["transactionHash"]).lower(),
             int(log["blockNumber"], 16)) for log in logs if str(log["topics"][0]).lower() in _TOPICS]


def next_block_range(rpc: RpcClient, journal: Journal, cursor_kind: str, lookback_blocks: int) -> tuple[int, int]:
    """``(from, to)``: the blocks after the last ``cursor_kind`` event's ``to_block`` (or the last
    ``lookback_blocks`` on the first run) up to the head; empty when ``to < from``."""
    head = rpc.block_number()
    last = journal.events(kinds=[cursor_kind], limit=1)
    start = int(last[0].data["to_block"]) + 1 if last else max(0, head - lookback_blocks)
    return start, head


@dataclass
class TradeAudit:
    """Finds module trades that are not in the journal, once per block range."""

    rpc: RpcClient
    journal: Journal
    module: str
    lookback_blocks: int = 7_200
    pause: Callable[[], str] | None = None
    """Pauses the module with the guardian's key; returns the pause transaction's hash."""

    def run(self) -> list[ForeignTrade]:
        start, head = next_block_range(self.rpc, self.journal, "trade_audit", self.lookback_blocks)
        if head < start:
            return []
        trades = module_trades(self.rpc, self.module, start, head)
        ours = self.journal.own_transactions(h for _, h, _ in trades)
        foreign = []
        for kind, tx_hash, block in trades:
            if tx_hash in ours:
                continue
            tx = self.rpc.call("eth_getTransactionByHash", [tx_hash])
            sender = str(to_checksum_address(tx["from"])) if isinstance(tx, dict) else "unknown"
            foreign.append(ForeignTrade(kind, tx_hash, block, sender))
        paused = ""
        if foreign:
            self.journal.append_event("unknown_trade", {"trades": [f.__dict__ for f in foreign],
                                                        "module": self.module})
            if self.pause is not None:
                try:
                    paused = self.pause()
                except KeeperError as exc:
                    paused = f"failed: {exc}"
        self.journal.append_event("trade_audit", {"from_block": start, "to_block": head, "trades": len(trades),
                                                  "foreign": len(foreign), "paused": paused})
        self.last_pause = paused
        return foreign

    last_pause: str = ""
    """The guardian pause of the last run: a transaction hash, ``failed: ...`` or empty."""
