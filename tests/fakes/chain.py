"""An in-memory chain for whole-cycle unit tests: one Safe holding WETH and USDC, one WETH/USDC pool,
a Chainlink-style ETH/USD feed, a HedgeModule that swaps for the Safe, and a keeper signer.

It is every read port of the cycle at once (:mod:`keeper.cycle.ports`): the book reader
(``read`` builds a real :class:`~keeper.core.snapshot.Snapshot` from its state at a block), the state
reader fill verification uses (``execute`` answers ``balanceOf`` and the block timestamp at any past
block), and the raw chain reads of the reorg check and recovery (head block, receipts). Transactions
reach it through :class:`tests.fakes.sender.FakeSender`: a broadcast puts one in the mempool; a block
mines the mempool in nonce order, running each hedge against the state (a ``hedgeSwap`` at the feed
price less the pool fee, ``+ price_move`` for the swap's output; a revert when the output is under the
order's minimum, the deadline passed or the Safe lacks the tokens), and keeps every block's state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode, encode

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import MULTICALL3, Call, Failed, Ok, Result, selector
from keeper.chain.rpc import RpcError
from keeper.core.snapshot import FeedReading, PoolState, Snapshot, TokenMeta, TwapReading
from keeper.errors import ChainIdMismatchError


def _addr(byte: int) -> str:
    return checksum("0x" + f"{byte:02x}" * 20)


USDC, WETH = _addr(0x1B), _addr(0x2C)  # USDC sorts first: the pool's token0
POOL, SAFE, MODULE, ROUTER = _addr(0x3D), _addr(0xAA), _addr(0x4E), _addr(0x5F)
FEED_ETH, FEED_USDC = _addr(0xFE), _addr(0xFD)
KEEPER = _addr(0x6A)
"""The keeper's signer."""
CHAIN_ID = 31_337
POOL_FEE = 500
GAS_USED = 150_000
START_TS = 1_700_000_000
BLOCK_S = 12

_HEDGE_SWAP = "hedgeSwap(address,address,uint24,uint256,uint256,uint256)"
_ERROR_STRING = selector("Error(string)")


def revert_data(message: str) -> bytes:
    """A Solidity ``require`` revert: ``Error(string)``."""
    return _ERROR_STRING + encode(["string"], [message])


@dataclass
class BlockState:
    number: int
    timestamp: int
    balances: dict[tuple[str, str], int]
    """(owner, token) -> raw balance."""
    eth_answer: int
    """ETH/USD feed answer, 8 decimals."""
    eth_updated_at: int
    transactions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PendingTx:
    tx_hash: str
    sender: str
    nonce: int
    to: str
    data: bytes
    max_fee_per_gas: int
    tip: int


@dataclass
class MemoryChain:
    """See the module docstring. ``automine``: a broadcast mines a block at once (else call :meth:`mine`)."""

    weth: float = 40.0
    usdc: float = 1_000_000.0
    eth_price: float = 3_000.0
    automine: bool = True
    price_move: float = 0.0
    """Where swaps fill against the feed (-0.02: 2 % worse than the feed's price, for either side)."""
    move_in_next_block: float = 0.0
    """A one-off move in the next mined block only (the pool moved between a preflight and inclusion)."""
    base_fee_wei: int = 10**9
    blocks: list[BlockState] = field(default_factory=list)
    mempool: dict[int, PendingTx] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    revert_reasons: dict[str, bytes] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    """Mined transactions per sender (the ``latest`` nonce)."""
    address: str = MULTICALL3
    """The Multicall3 its state reads answer as (its own calls, such as the block timestamp, go to it)."""

    def __post_init__(self) -> None:
        if not self.blocks:
            answer = round(self.eth_price * 1e8)
            self.blocks.append(BlockState(
                number=100, timestamp=START_TS, eth_answer=answer, eth_updated_at=START_TS - 60,
                balances={(SAFE, WETH): round(self.weth * 1e18), (SAFE, USDC): round(self.usdc * 1e6)},
            ))

    # ------------------------------------------------------------------ state
    @property
    def head(self) -> BlockState:
        return self.blocks[-1]

    def at(self, block: int) -> BlockState:
        first = self.blocks[0].number
        if not first <= block <= self.head.number:
            raise RpcError("eth_call", -32000, f"block {block} is not in this chain ({first}..{self.head.number})")
        return self.blocks[block - first]

    def balance(self, owner: str, token: str, block: int | None = None) -> int:
        state = self.head if block is None else self.at(block)
        return state.balances.get((owner, token), 0)

    def nonce(self, sender: str) -> int:
        return self.nonces.get(sender, 0)

    def mine(self, seconds: int = BLOCK_S) -> BlockState:
        """One block ``seconds`` after the head, with every pending transaction in nonce order."""
        prev = self.head
        state = BlockState(prev.number + 1, prev.timestamp + seconds, dict(prev.balances), prev.eth_answer,
                           prev.eth_updated_at)
        self.blocks.append(state)
        move, self.move_in_next_block = self.price_move + self.move_in_next_block, 0.0
        for nonce in sorted(self.mempool):
            tx = self.mempool.pop(nonce)
            self._execute(state, tx, move)
        return state

    def estimate(self, tx: PendingTx) -> str | None:
        """``eth_estimateGas``: run ``tx`` on a copy of the next block; its revert message, or None."""
        state = copy.deepcopy(self.head)
        state.number, state.timestamp = state.number + 1, state.timestamp + BLOCK_S
        return self._apply(state, tx, self.price_move) if tx.data else None

    def advance(self, seconds: int) -> BlockState:
        """Let time pass: one empty block ``seconds`` later (the feed is not updated)."""
        return self.mine(seconds)

    def set_eth_price(self, price: float) -> None:
        """A new feed round at the head block."""
        self.head.eth_answer, self.head.eth_updated_at = round(price * 1e8), self.head.timestamp

    # ------------------------------------------------------------------ transactions
    def broadcast(self, tx: PendingTx) -> None:
        """Into the mempool: replaces a pending transaction of the same nonce (the caller bumped the fees).
        A used nonce is refused like a node does (``nonce too low``)."""
        if tx.nonce < self.nonce(tx.sender):
            raise RpcError("eth_sendRawTransaction", -32000, "nonce too low")
        pending = self.mempool.get(tx.nonce)
        if pending is not None and (tx.max_fee_per_gas <= pending.max_fee_per_gas or tx.tip <= pending.tip):
            raise RpcError("eth_sendRawTransaction", -32000, "replacement transaction underpriced")
        self.mempool[tx.nonce] = tx
        if self.automine:
            self.mine()

    def _execute(self, state: BlockState, tx: PendingTx, move: float) -> None:
        self.nonces[tx.sender] = tx.nonce + 1
        error = self._apply(state, tx, move) if tx.data else None
        if error is not None:
            self.revert_reasons[tx.tx_hash] = revert_data(error)
        state.transactions.append({"hash": tx.tx_hash, "from": tx.sender, "nonce": hex(tx.nonce), "to": tx.to})
        self.receipts[tx.tx_hash] = {
            "transactionHash": tx.tx_hash, "blockNumber": hex(state.number), "status": "0x0" if error else "0x1",
            "gasUsed": hex(GAS_USED if tx.data else 21_000),
            "effectiveGasPrice": hex(min(tx.max_fee_per_gas, self.base_fee_wei + tx.tip)),
        }

    def _apply(self, state: BlockState, tx: PendingTx, move: float) -> str | None:
        """Run a HedgeModule swap for the Safe; the revert message, or None when it succeeded."""
        if tx.to != MODULE or tx.data[:4] != selector(_HEDGE_SWAP):
            return "the memory chain runs HedgeModule.hedgeSwap only"
        if tx.sender != KEEPER:
            return "HedgeModule: caller is not the keeper"
        t_in, t_out, fee, amount_in, min_out, deadline = decode(
            ["address", "address", "uint24", "uint256", "uint256", "uint256"], tx.data[4:])
        t_in, t_out = checksum(t_in), checksum(t_out)
        if state.timestamp > deadline:
            return "Transaction too old"
        if fee != POOL_FEE or {t_in, t_out} != {USDC, WETH}:
            return "no such pool"
        price = state.eth_answer / 1e8 * (1 + (move if t_in == WETH else -move))  # USDC per WETH
        gross = amount_in / 1e18 * price * 1e6 if t_in == WETH else amount_in / 1e6 / price * 1e18
        out = math.floor(gross * (1 - fee / 1e6))
        if out < min_out:
            return "Too little received"
        if state.balances.get((SAFE, t_in), 0) < amount_in:
            return "STF"
        state.balances[(SAFE, t_in)] = state.balances.get((SAFE, t_in), 0) - amount_in
        state.balances[(SAFE, t_out)] = state.balances.get((SAFE, t_out), 0) + out
        return None

    # ------------------------------------------------------------------ ports: book reads
    def read(self, block: int | None = None, chain_id: int | None = None) -> Snapshot:
        if chain_id is not None and chain_id != CHAIN_ID:
            raise ChainIdMismatchError(f"the memory chain is chain {CHAIN_ID}, not {chain_id}")
        s = self.head if block is None else self.at(block)
        price = s.eth_answer / 1e8
        # token1 (WETH) per token0 (USDC) in raw units; the pool and its TWAP sit at the feed's price.
        raw = 1e18 / (price * 1e6)
        tick = math.floor(math.log(raw) / math.log(1.0001))
        pool = PoolState(POOL, USDC, WETH, POOL_FEE, int(math.sqrt(raw) * 2**96), tick, 10**22, 0, 0, 100)
        return Snapshot(
            chain_id=CHAIN_ID, block_number=s.number, block_timestamp=s.timestamp, owners=(SAFE,),
            tokens={USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18)},
            pools={POOL: pool}, lps=(), options=(), perp_markets={}, perps=(),
            feeds={"ETH": FeedReading("ETH", FEED_ETH, s.eth_answer, 8, s.eth_updated_at, 1),
                   "USDC": FeedReading("USDC", FEED_USDC, 10**8, 8, s.eth_updated_at, 1)},
            twaps={POOL: TwapReading(POOL, 1800, tick)},
            balances={k: v for k, v in s.balances.items() if k[0] == SAFE}, base_fee_wei=self.base_fee_wei,
        )

    # ------------------------------------------------------------------ ports: state reads (fill verification)
    def execute(self, calls: Sequence[Call], block: int, /) -> list[Result]:
        s = self.at(block)
        out: list[Result] = []
        for c in calls:
            if c.signature == "balanceOf(address)":
                out.append(Ok((s.balances.get((checksum(c.args[0]), checksum(c.target)), 0),)))
            elif c.signature == "getCurrentBlockTimestamp()" and c.target == self.address:
                out.append(Ok((s.timestamp,)))
            else:
                out.append(Failed(f"the memory chain does not model {c.signature} on {c.target}"))
        return out

    # ------------------------------------------------------------------ ports: raw chain reads
    def block_number(self) -> int:
        return self.head.number

    def call(self, method: str, params: Sequence[Any] = (), /) -> Any:
        if method == "eth_getBlockByNumber" and list(params)[:1] == ["latest"]:
            return {"number": hex(self.head.number), "timestamp": hex(self.head.timestamp)}
        raise RpcError(method, -32601, "the memory chain does not model this method")

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]], /) -> list[Any]:
        out: list[Any] = []
        for method, params in requests:
            if method != "eth_getTransactionReceipt":
                out.append(RpcError(method, -32601, "the memory chain does not model this method"))
            else:
                receipt = self.receipts.get(str(params[0]))
                out.append(copy.deepcopy(receipt))
        return out

    def hedges(self, sender: str = KEEPER) -> list[str]:
        """The hashes of every successful hedge transaction ``sender`` got mined, oldest first."""
        return [t["hash"] for b in self.blocks for t in b.transactions
                if t["from"] == sender and t["to"] == MODULE and self.receipts[t["hash"]]["status"] == "0x1"]
