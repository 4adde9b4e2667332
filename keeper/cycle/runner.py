"""One keeper cycle: recover, read, compute, decide, execute, journal.

``Keeper.cycle()`` is the unit the scheduler, ``keeper once`` and the tests call. Its steps:

1. resolve every open intent from the chain (before anything new is planned);
2. honour the operator's pause and the circuit breaker's halt (both journaled, so they survive restarts);
3. read the book at one block (:class:`~keeper.read.reader.BookReader`), journal it;
4. greeks per underlying (:func:`~keeper.core.book.book_risk`), policy inputs, the pure ``decide``;
5. journal the plan with its reasons; in live mode execute each order: intent first, then the
   transaction (every attempt journaled before broadcast), then the fill verified from chain state.

A failed cycle counts toward the circuit breaker; ``max_consecutive_failures`` of them halt the keeper.

With a :class:`~keeper.cycle.lease.LeaseGuard` (keepers sharing one journal), each cycle first takes or
renews the lease: the holder runs the cycle above; a follower runs it dry (read, plan, journal; no
recovery, nothing signed). A keeper that takes the lease over recovers every open intent from the chain
before it plans. Its token goes with every intent; the journal refuses a stale one before signing and
before broadcasting (:class:`~keeper.errors.FencingError`), and the keeper steps down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from keeper.chain.multicall import StateReader
from keeper.core.book import BookRisk
from keeper.core.hedge_types import Plan
from keeper.core.inputs import UnderlyingVenues
from keeper.core.lvr import cycle_marks
from keeper.core.more_venues import LoanConfig
from keeper.core.policy import PolicyConfig
from keeper.core.sizing import HedgeHistory, PastHedge
from keeper.core.snapshot import Snapshot
from keeper.core.vol import PoolHistoryVol, VolModel
from keeper.cycle.lease import LeaseGuard, LeaseTick
from keeper.cycle.plan import PlanContext, Planner, SurfaceState
from keeper.cycle.ports import BookReads, ChainReads, Clock, JournalPort, Sender, SystemClock
from keeper.errors import FencingError, HaltError, KeeperError, TransactionError
from keeper.execute.execution import Executor, PreparedTrade, VerifiedFill
from keeper.execute.fees import Fees
from keeper.execute.tx import Attempt, Mined, NonceConsumedError, TxRevertedError, TxTimeoutError
from keeper.journal import CycleStatus, RecordSigner, RunMode, TxAttempt, TxParams
from keeper.obs.logs import log_context
from keeper.read.surface_io import SurfaceFeed
from keeper.venues.hedge_module import MODULE_UNSUPPORTED

__all__ = ["CycleReport", "ExecutedHedge", "Keeper"]

ChainT = TypeVar("ChainT", bound=ChainReads)
BookT = TypeVar("BookT", bound=BookReads)
JournalT = TypeVar("JournalT", bound=JournalPort)
SenderT = TypeVar("SenderT", bound=Sender)


@dataclass(frozen=True)
class ExecutedHedge:
    intent_id: str
    trade: PreparedTrade
    fill: VerifiedFill | None
    error: str | None


@dataclass(frozen=True)
class CycleReport:
    cycle_id: int
    status: str
    snapshot: Snapshot | None
    risk: BookRisk | None
    plan: Plan | None
    hedges: tuple[ExecutedHedge, ...] = ()
    recovered: tuple[str, ...] = ()
    message: str = ""
    lease: LeaseTick | None = None
    """Who led at the start of the cycle (None without a lease)."""


@dataclass
class Keeper(Generic[ChainT, BookT, JournalT, SenderT]):
    """The composed keeper. Everything it touches is injected through the ports of
    :mod:`keeper.cycle.ports`; the CLI builds it (:func:`keeper.cycle.compose.build_keeper`), the unit
    tests give it in-memory fakes.

    The four type parameters are the concrete chain reads, book reader, journal and sender, so code
    that wires the production keeper (``compose.ChainKeeper``) still sees the RPC client, the
    reader's sources or the signer; the cycle itself only uses the ports' methods.
    """

    rpc: ChainT
    reader: BookT
    multicall: StateReader
    """Reads contract state at the fill's block and the one before (fill verification)."""
    journal: JournalT
    tx: SenderT
    executor: Executor
    policy: PolicyConfig
    venues: Mapping[str, UnderlyingVenues]
    vol_models: Mapping[str, VolModel | PoolHistoryVol]
    """Per underlying: a vol model, or one fitted on the snapshot's pool history (``PoolHistoryVol.at``)."""
    quote_token: str
    chain_id: int
    live: bool = True
    max_consecutive_failures: int = 5
    tip_wei: int = 10**9
    vol_horizon_s: float = 86_400.0
    native_asset: str = "ETH"
    window_s: int = 86_400
    log: Callable[[str], None] = field(default=lambda _m: None)
    surfaces: Mapping[str, SurfaceFeed] = field(default_factory=dict)
    """Implied-vol surfaces per underlying; options of the others take their model vol."""
    dry_run_reason: str = ""
    """Why a cycle is not live (journaled with the plan and put in the report); set by the go-live gate."""
    clock: Clock = field(default_factory=SystemClock)
    """Recovery's waits for a receipt (monotonic seconds)."""
    loan: LoanConfig = field(default_factory=LoanConfig)
    """The Aave loan venue's health-factor floor and interest horizon (``[aave]``)."""
    native_reserve_units: float = 0.5
    """Native coin a v4 pool never sells from the keeper's account (kept for gas)."""
    record_signer: RecordSigner | None = None
    """Signs each cycle's audit record (the keeper key); ``None`` (a dry run without the key): records are
    hash-chained but unsigned, and ``keeper audit verify`` says so."""
    lease: LeaseGuard | None = None
    """The leader lease when several keepers share the journal (None: this keeper is the only one)."""
    hooks: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    """Test seams, called at the named steps of a hedge: ``after_plan``, ``after_intent``, ``after_sign``
    (the signed attempt is journaled, not yet broadcast), ``after_receipt``, ``after_fill`` (the broadcast
    itself is the sender's: tests wrap ``TxManager.broadcast``)."""

    # ------------------------------------------------------------------ the cycle
    def cycle(self) -> CycleReport:
        """One cycle, then its audit record (sealed once the cycle is finished, whatever its outcome; a
        process killed mid-cycle seals nothing: the next record covers the abandoned cycle)."""
        try:
            report = self._guarded_cycle()
        except KeeperError:
            try:
                self.seal()
            except KeeperError as seal_exc:  # the cycle's own error is what the caller must see
                self.log(f"audit record not sealed: {seal_exc}")
            raise
        self.seal()
        return report

    def seal(self) -> None:
        """Append the audit record of what finished since the last one (:meth:`Journal.seal`)."""
        self.journal.seal(chain_id=self.chain_id, treasury=self.executor.account, signer=self.record_signer)

    def _guarded_cycle(self) -> CycleReport:
        state = self.journal.control_state()
        # Only a keeper that may send competes for the lease: a dry-run keeper (not activated, --dry-run)
        # holding it would keep the activated one from hedging for a TTL.
        tick = self.lease.tick() if self.lease is not None and self.live else None
        live = self.live and (tick is None or tick.leader)
        mode = RunMode.LIVE if live else RunMode.DRY_RUN
        cycle = self.journal.start_cycle(mode)
        if state.halted:
            self.journal.finish_cycle(cycle.id, CycleStatus.SKIPPED, error=f"halted: {state.halt_reason}")
            raise HaltError(f"the keeper is halted: {state.halt_reason} (clear it with `keeper resume`)")
        if tick is not None and tick.took_over:
            self.log(f"took the lease over: {tick.describe()}; recovering open intents first")
            self.tx.resync_nonce()  # the previous holder used the same signer's nonces
        try:
            recovered = (*self.check_reorgs(), *self.recover()) if live else ()
            self._keepalive()
            if state.paused:
                self.journal.finish_cycle(cycle.id, CycleStatus.SKIPPED, error=f"paused: {state.pause_reason}")
                return CycleReport(cycle.id, "skipped", None, None, None, recovered=recovered,
                                   message=f"paused by {state.paused_by}: {state.pause_reason}", lease=tick)
            with log_context(cycle_id=cycle.id):
                report = self._cycle(cycle.id, recovered, live, tick)
        except FencingError as exc:
            # Not a failure of this keeper: another one leads now. Nothing was signed or sent past the fence.
            if self.lease is not None:
                self.lease.step_down()
            self.log(f"stepping down: {exc}")
            self.journal.finish_cycle(cycle.id, CycleStatus.SKIPPED, error=f"lease lost: {exc}")
            return CycleReport(cycle.id, "skipped", None, None, None, message=f"lease lost: {exc}", lease=tick)
        except KeeperError as exc:
            self.journal.finish_cycle(cycle.id, CycleStatus.FAILED, error=str(exc))
            n = self.journal.record_failure(str(exc))
            if n >= self.max_consecutive_failures:
                self.journal.halt(f"{n} consecutive failed cycles; last: {exc}")
            raise
        if report.status == "failed":
            n = self.journal.record_failure(report.message)
            if n >= self.max_consecutive_failures:
                self.journal.halt(f"{n} consecutive failed cycles; last: {report.message}")
        else:
            self.journal.reset_failures()
        return report

    def _cycle(self, cycle_id: int, recovered: tuple[str, ...], live: bool | None = None,
               tick: LeaseTick | None = None) -> CycleReport:
        snap = self.reader.read(chain_id=self.chain_id)
        with log_context(block=snap.block_number):
            return self._decide_and_execute(cycle_id, recovered, snap, live, tick)

    def _decide_and_execute(self, cycle_id: int, recovered: tuple[str, ...], snap: Snapshot,
                            live: bool | None = None, tick: LeaseTick | None = None) -> CycleReport:
        live = self.live if live is None else live
        self.journal.set_cycle_block(cycle_id, snap.block_number)
        self.journal.record_snapshot(
            cycle_id, block_number=snap.block_number, block_timestamp=snap.block_timestamp,
            complete=snap.complete, snapshot=snap.to_record(), failures=snap.failures,
        )
        planner = self.planner()
        vols = planner.vols(snap)  # once: journaled with the greeks, and priced with
        risk, plan = planner.plan(snap, self.context(snap.block_timestamp), vols)
        why = self.dry_run_reason if not self.live else (f"follower: {tick.describe()}" if tick is not None else "")
        dry = f"dry-run, nothing sent: {why}" if not live and why else ""
        self.journal.record_plan(
            cycle_id, decisions=plan.decisions,
            reasons=[f"{d.underlying}: {r.text}" for d in plan.decisions for r in d.reasons] + ([dry] if dry else []),
            greeks=journaled_greeks(risk, vols),
        )
        lp_marks, perp_marks = cycle_marks(snap, risk.lines)  # LP fees vs LVR and funding, for the report
        self.journal.record_marks(cycle_id, lps=lp_marks, perps=perp_marks)
        self._hook("after_plan")
        hedges: list[ExecutedHedge] = []
        if live:
            for order in plan.orders:
                # An Aave order is two legs (borrow then sell, buy then repay), each its own intent, in eoa
                # mode (one intent through the HedgeVenueModule); a leg that fails stops the legs after it.
                for trade in self.executor.prepare_legs(order, snap):
                    try:
                        done = self.execute(cycle_id, trade, snap)
                    except TxRevertedError as exc:
                        # Refused in preflight: nothing was signed or sent. The other hedges still go out;
                        # the cycle reports this one as failed with the decoded reason.
                        self.log(f"hedge {trade.side} {order.size_units:.6f} {order.underlying} on {trade.venue} "
                                 f"not sent: {exc}")
                        done = ExecutedHedge("", trade, None, str(exc))
                    hedges.append(done)
                    if done.error:
                        break
        failed = [h for h in hedges if h.error]
        status = CycleStatus.FAILED if failed else CycleStatus.OK
        message = "; ".join(h.error or "" for h in failed)
        self.journal.finish_cycle(cycle_id, status, error=message or None)
        message = "; ".join(x for x in (message, dry) if x)
        return CycleReport(cycle_id, status.value, snap, risk, plan, tuple(hedges), recovered, message, tick)

    def plan(self, snap: Snapshot) -> tuple[BookRisk, Plan]:
        """Greeks and the decision for a snapshot (used by ``plan`` and dry runs): the context (hedge
        history, surfaces) is loaded first, then :meth:`Planner.plan` is pure."""
        return self.planner().plan(snap, self.context(snap.block_timestamp))

    def planner(self) -> Planner:
        # safe-module mode trades v4 pools and Aave loans through the HedgeVenueModule when one is configured
        through_venue_module = self.executor.mode == "safe-module" and bool(self.executor.venue_module)
        unsupported = (f"{MODULE_UNSUPPORTED} without a HedgeVenueModule (configure treasury.hedge_venue_module, "
                       "or eoa mode trades it)"
                       if self.executor.mode == "safe-module" and not through_venue_module else "")
        return Planner(self.policy, self.venues, self.vol_models, self.quote_token, self.executor.account,
                       self.vol_horizon_s, self.tip_wei, self.native_asset, self.loan, self.native_reserve_units,
                       unsupported, through_venue_module)

    def context(self, now: int) -> PlanContext:
        """What the plan at block time ``now`` needs besides the snapshot: journal history, surfaces."""
        surfaces = {}
        for sym, feed in self.surfaces.items():
            surface, problem = feed.try_current()
            surfaces[sym] = SurfaceState(feed.policy, surface, problem)
        return PlanContext(self.history(now), surfaces)

    def history(self, now: int) -> dict[str, HedgeHistory]:
        last = self.journal.last_hedge_times()
        out = {}
        for sym in self.venues:
            fills = self.journal.fills_between(now - self.window_s, 2**63 - 1, underlying=sym)
            out[sym] = HedgeHistory(
                last_hedge_time=float(last[sym]) if sym in last else None,
                fills=tuple(PastHedge(float(f.data.block_timestamp), f.data.notional_quote) for f in fills),
            )
        return out

    # ------------------------------------------------------------------ execution
    def execute(self, cycle_id: int, trade: PreparedTrade, snap: Snapshot) -> ExecutedHedge:
        gas_limit = self.tx.preflight(trade.request) if trade.request.gas is None else trade.request.gas
        req = trade.request.__class__(to=trade.request.to, data=trade.request.data, value=trade.request.value,
                                      gas=gas_limit)
        lease = self.lease
        intent = self.journal.create_intent(
            cycle_id, underlying=trade.order.underlying, venue=trade.venue, side=trade.side, size=trade.size_raw,
            params=TxParams(to=req.to, data="0x" + req.data.hex(), value=req.value, gas_limit=gas_limit),
            lease=lease.fence if lease is not None else None,
        )
        self._hook("after_intent")

        def record(a: Attempt) -> None:
            if lease is not None:
                lease.ensure_local()  # then record_attempt checks the token in the journal
            self.journal.record_attempt(
                intent.id, nonce=a.nonce, tx_hash=a.tx_hash, raw_tx="0x" + a.raw.hex(),
                max_fee_per_gas=a.fees.max_fee_per_gas, max_priority_fee_per_gas=a.fees.max_priority_fee_per_gas,
            )
            self._hook("after_sign")

        if lease is not None:
            lease.ensure()  # the fence before signing (and a renewal)
        try:
            mined = self.tx.send(req, record)
        except TxRevertedError as exc:
            self._fail(intent.id, str(exc))
            return ExecutedHedge(intent.id, trade, None, str(exc))
        except NonceConsumedError as exc:
            self.journal.mark_replaced(intent.id, str(exc))
            return ExecutedHedge(intent.id, trade, None, str(exc))
        except TxTimeoutError as exc:
            # The intent stays `sent`; the next cycle's recovery resolves it from the chain.
            return ExecutedHedge(intent.id, trade, None, str(exc))
        except TransactionError as exc:
            self._fail(intent.id, str(exc))
            return ExecutedHedge(intent.id, trade, None, str(exc))
        self._hook("after_receipt")
        return self._record_fill(intent.id, trade, mined, snap)

    def _keepalive(self) -> None:
        """A leader renews its lease between long steps (recovery can outlast a TTL): the same fenced
        renewal as before signing, so a leader that lost the lease stops here (FencingError)."""
        if self.lease is not None and self.lease.token is not None:
            self.lease.ensure()

    def _hook(self, step: str) -> None:
        hook = self.hooks.get(step)
        if hook is not None:
            hook()

    def _fail(self, intent_id: str, error: str) -> None:
        if self.journal.intent(intent_id).status.value in ("pending", "sent"):
            self.journal.mark_failed(intent_id, error)

    def _record_fill(self, intent_id: str, trade: PreparedTrade, mined: Mined, snap: Snapshot) -> ExecutedHedge:
        native = snap.feeds[self.native_asset].price if self.native_asset in snap.feeds else 0.0
        fill = self.executor.verify(trade, mined, self.multicall, snap, native)
        self.journal.record_fill(intent_id, fill.journal_data())
        self._hook("after_fill")
        self.log(
            f"hedge {trade.side} {fill.underlying_units:.6f} {trade.order.underlying} on {trade.venue} at "
            f"{fill.realized_price:,.2f} (oracle {fill.oracle_price:,.2f}, {fill.slippage_bps:+.1f} bps), "
            f"fee {fill.fee_quote:,.2f} USD, gas {fill.gas_cost_quote:,.4f} USD, tx {fill.tx_hash}"
        )
        return ExecutedHedge(intent_id, trade, fill, None)

    # ------------------------------------------------------------------ recovery
    def check_reorgs(self, confirmations: int = 64, lookback_s: int = 6 * 3600) -> list[str]:
        """Re-check recent fills against the chain: a hedge whose transaction left its block (a reorg)
        is reopened (``mined -> sent``) so recovery resolves it and the cycle re-plans.

        Fills older than ``confirmations`` blocks are final and not re-checked.
        """
        head = self.rpc.block_number()
        latest = int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        recent = [f for f in self.journal.fills_between(latest - lookback_s, 2**62)
                  if f.data.block_number > head - confirmations]
        if not recent:
            return []
        answers = self.rpc.batch([("eth_getTransactionReceipt", [f.data.tx_hash]) for f in recent])
        done = []
        for f, r in zip(recent, answers, strict=True):
            if isinstance(r, dict) and int(r["blockNumber"], 16) == f.data.block_number:
                continue
            where = "is in no block" if not isinstance(r, dict) else f"moved to block {int(r['blockNumber'], 16)}"
            self.journal.mark_reorged(f.intent_id, f"tx {f.data.tx_hash} of block {f.data.block_number} {where}")
            done.append(f"{f.intent_id}: reorged out of block {f.data.block_number} -> re-resolving")
            self.log(f"reorg: hedge {f.intent_id} (tx {f.data.tx_hash}) left block {f.data.block_number}")
        return done

    def recover(self, wait_s: float = 30.0) -> list[str]:
        """Resolve every pending or sent intent from the chain. Returns what was done, one line each.

        * no attempt recorded: nothing was signed, so nothing can be on chain -> failed;
        * an attempt has a receipt: mined (fill recorded from state) or reverted (failed);
        * our nonce was used by a transaction we can see and that is not ours -> replaced;
        * otherwise the nonce is still open: a cancellation (a 0-value self-transfer at the same nonce,
          with higher fees) closes it, so the old transaction can never land later; then re-check.
        """
        done: list[str] = []
        for intent in self.journal.open_intents():
            if not intent.attempts:
                self.journal.mark_failed(intent.id, "never sent: the keeper stopped before signing")
                done.append(f"{intent.id}: never sent -> failed")
                continue
            hashes = [a.tx_hash for a in intent.attempts]
            last = intent.attempts[-1]
            since = self.journal.cycle(intent.cycle_id).block_number or 0
            outcome = self._resolve(intent.id, hashes, last.nonce, wait_s, since)
            if outcome is None:
                cancellation = self.tx.cancel(last.nonce, last.max_fee_per_gas, last.max_priority_fee_per_gas, wait_s)
                outcome = self._resolve(intent.id, hashes, last.nonce, wait_s, since, cancellation=cancellation)
                if outcome is None:  # the nonce reopened (a reorg): the next cycle's recovery looks again
                    outcome = "nonce still open after its cancellation -> left open"
            done.append(f"{intent.id}: {outcome}")
            self.log(f"recovered intent {intent.id}: {outcome}")
            self._keepalive()
        return done

    def _resolve(self, intent_id: str, hashes: list[str], nonce: int, wait_s: float, since_block: int,
                 cancellation: str = "") -> str | None:
        """The intent's outcome from the chain, or None while its nonce is still open.

        A used nonce without one of our receipts is not at once proof that the hedge never landed:
        a node can show the new nonce a moment before the receipt. The intent is closed as replaced
        when the transaction that used the nonce is seen and is none of the intent's, or when our
        receipts are still missing ``wait_s`` after the nonce was found used (a lag lasts seconds).
        """
        start = self.clock.now()
        while True:
            answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            for h, r in zip(hashes, answers, strict=True):
                if not isinstance(r, dict):
                    continue
                if int(r["status"], 16) != 1:
                    self.journal.mark_failed(intent_id, f"reverted on chain (tx {h})")
                    return "reverted -> failed"
                self._recover_fill(intent_id, h, r)
                return f"mined in block {int(r['blockNumber'], 16)} -> fill recorded"
            if self.tx.chain_nonce("latest") <= nonce:
                return None
            user = self.tx.nonce_user(nonce, since_block)
            if user is not None and user == cancellation:
                self.journal.mark_replaced(intent_id, f"nonce {nonce} closed by cancellation {user}; "
                                                      "the hedge never landed")
                return "cancelled -> replaced"
            if user is not None and user not in hashes:
                self.journal.mark_replaced(intent_id, f"nonce {nonce} was used by transaction {user}, "
                                                      "not sent by this keeper")
                return "nonce used elsewhere -> replaced"
            if self.clock.now() - start >= wait_s:
                self.journal.mark_replaced(intent_id, f"nonce {nonce} was used and no receipt of this intent's "
                                                      f"transactions appeared in {wait_s:g} s")
                return "nonce used, no receipt of ours -> replaced"
            self._keepalive()
            self.clock.sleep(self.tx.poll_s)

    def _recover_fill(self, intent_id: str, tx_hash: str, receipt: dict[str, Any]) -> None:
        intent = self.journal.intent(intent_id)
        block = int(receipt["blockNumber"], 16)
        snap = self.reader.read(block=block, chain_id=self.chain_id)
        trade = self.executor.from_calldata(intent.underlying, intent.venue, intent.side.value,
                                            bytes.fromhex(intent.params.data[2:]), snap)
        attempt = next(a for a in intent.attempts if a.tx_hash == tx_hash)
        mined = Mined(receipt=receipt, attempt=Attempt(attempt.nonce, tx_hash, b"", _fees(attempt), 0),
                      attempts=())
        self._record_fill(intent_id, trade, mined, snap)


def _fees(a: TxAttempt) -> Fees:
    return Fees(a.max_fee_per_gas, a.max_priority_fee_per_gas, 0)


def journaled_greeks(risk: BookRisk, vols: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """The plan's greeks per underlying as journaled: the :class:`~keeper.core.portfolio.RiskSummary`
    and ``vol``, the flat annualized vol the underlying's options were valued at (its model vol, plus
    the fallback spread when a vol surface is stale or unavailable). ``vol`` is left out when a fresh
    surface priced the options (no single vol) or no vol model covers the underlying; ``keeper report``
    attributes vega P&L from it and shows the interval as not recorded without it."""
    out: dict[str, dict[str, Any]] = {}
    for k, v in risk.summaries.items():
        row: dict[str, Any] = asdict(v)
        smile = risk.smiles.get(k)
        if smile is not None:
            if smile.kind != "surface":
                row["vol"] = smile.fallback_vol
        elif k in vols:
            row["vol"] = vols[k]
        out[k] = row
    return out
