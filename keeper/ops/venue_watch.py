"""Did a venue's admin queue a change? The venue watch run after every cycle.

Our venues' admin changes are timelocked (PerpMarket parameters and pool withdrawals, an
OptionMarket underlying's feed: 2 days), and a timelock protects only if someone looks. Each cycle
the watch reads the venues' queue events (``ParamsQueued``, ``PoolWithdrawalQueued``,
``UnderlyingUpdateQueued``) from the block after the last watched one up to the head, journals each
as a ``venue_change`` event and returns it with its effective time, for a ``venue_change`` alert:
the team has until then to act (close or move the hedge, or stop using the venue).

The cursor is the ``to_block`` of the last ``venue_watch`` event; the first run looks back
``lookback_blocks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.abi_fast import decode_values
from keeper.chain.multicall import Multicall, Ok
from keeper.chain.rpc import RpcClient
from keeper.errors import KeeperError
from keeper.journal import Journal
from keeper.ops.audit import next_block_range
from keeper.venues import erc20
from keeper.venues.perps import quote_token_call

__all__ = ["VENUE_EVENTS", "VenueChange", "VenueWatch"]

VENUE_EVENTS: Mapping[str, str] = {
    "perp_params": "ParamsQueued(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256)",
    "perp_pool_withdrawal": "PoolWithdrawalQueued(address,uint256,uint256)",
    "option_feed": "UnderlyingUpdateQueued(address,address,uint256,uint256)",
}
"""The venues' queue events (kind -> signature); checked against the contracts' ABIs by the tests."""
_TOPICS = {"0x" + keccak(text=sig).hex(): kind for kind, sig in VENUE_EVENTS.items()}


_DATA_TYPES: Mapping[str, tuple[str, ...]] = {
    "perp_params": ("uint256",) * 8,
    "perp_pool_withdrawal": ("uint256", "uint256"),
    "option_feed": ("uint256", "uint256"),
}
"""The non-indexed fields of each event (its ``data``)."""


def _addr(topic: str) -> str:
    return str(to_checksum_address("0x" + topic[-40:]))


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class VenueChange:
    """A change a venue's admin queued: what, where, and when it can take effect."""

    kind: str
    venue: str
    tx_hash: str
    block_number: int
    eta: int
    """Unix seconds from which the admin can execute it."""
    detail: str

    def line(self) -> str:
        return f"{self.venue}: {self.detail}, executable from {_utc(self.eta)} (tx {self.tx_hash})"


def _describe(kind: str, topics: Sequence[str], words: list[int], quote: tuple[str, int] | None) -> tuple[str, int]:
    if kind == "perp_params":
        fee, im, mm, reward, rate, scale, age, eta = words[:8]
        return (f"new perp parameters queued: taker fee {fee} bps, initial margin {im} bps, maintenance margin "
                f"{mm} bps, liquidation reward {reward} bps, max funding {rate / 1e16:g} %/day, skew scale "
                f"{scale / 1e18:,g} units, max feed age {age:,} s"), eta
    if kind == "perp_pool_withdrawal":
        amount, eta = words[:2]
        what = f"{amount / 10**quote[1]:,.2f} {quote[0]}" if quote else f"{amount:,} raw units of its quote token"
        return (f"withdrawal of {what} from the perp pool (which pays traders' profits) to {_addr(topics[1])} "
                "queued"), eta
    max_age, eta = words[:2]
    return (f"feed of underlying {_addr(topics[1])} to change to {_addr(topics[2])} (max age {max_age:,} s) for new "
            "series"), eta


@dataclass
class VenueWatch:
    """Finds the venues' queued admin changes, once per block range."""

    rpc: RpcClient
    journal: Journal
    venues: tuple[str, ...]
    lookback_blocks: int = 7_200

    def _quote(self, market: str) -> tuple[str, int] | None:
        """The perp market's quote token symbol and decimals, read from the chain (None if unreadable)."""
        mc = Multicall(self.rpc)
        try:
            block = self.rpc.block_number()
            [token] = mc.execute([quote_token_call(market)], block)
            if not isinstance(token, Ok):
                return None
            sym, dec = mc.execute([erc20.symbol_call(token.value[0]), erc20.decimals_call(token.value[0])], block)
        except KeeperError:
            return None
        if not (isinstance(sym, Ok) and isinstance(dec, Ok)):
            return None
        return str(sym.value[0]) or "quote units", int(dec.value[0])

    def run(self) -> list[VenueChange]:
        if not self.venues:
            return []
        start, head = next_block_range(self.rpc, self.journal, "venue_watch", self.lookback_blocks)
        if head < start:
            return []
        logs = self.rpc.call("eth_getLogs", [{"address": list(self.venues), "fromBlock": hex(start),
                                              "toBlock": hex(head), "topics": [sorted(_TOPICS)]}])
        changes = []
        for log in logs:
            kind = _TOPICS.get(str(log["topics"][0]).lower())
            if kind is None:
                continue
            quote = self._quote(log["address"]) if kind == "perp_pool_withdrawal" else None
            words = [int(w) for w in decode_values(_DATA_TYPES[kind], bytes.fromhex(str(log["data"])[2:]))]
            detail, eta = _describe(kind, log["topics"], words, quote)
            changes.append(VenueChange(kind, str(to_checksum_address(log["address"])),
                                       str(log["transactionHash"]).lower(), int(log["blockNumber"], 16), eta, detail))
        for c in changes:
            self.journal.append_event("venue_change", {"kind": c.kind, "venue": c.venue, "tx": c.tx_hash,
                                                       "block": c.block_number, "eta": c.eta, "detail": c.detail})
        self.journal.append_event("venue_watch", {"from_block": start, "to_block": head, "changes": len(changes)})
        return changes
