"""The venue module on the world's real Safe 1.4.1 beside its HedgeModule: the owners enable and configure it with
the adapter's own transactions, the adapter's params() parsing and hash equal the chain's, and the keeper key is
refused (in preflight, decoded by name) everything the owners did not allow. The v4 and Aave trades themselves run
in forge against the real PoolManager / UniversalRouter / Permit2 (contracts/test/HedgeVenue*.t.sol)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from web3 import Web3

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.tx import ErrorDecoder, TxManager, TxRequest, TxRevertedError
from keeper.node.dev import DevChain, dev_account
from keeper.onboarding.txbuilder import multisend_tx
from keeper.onboarding.verify import VENUE_MODULE_FINGERPRINT, ModuleFingerprint, VerificationError, verify_module_code
from keeper.venues import hedge_venue_module as hv
from keeper.venues.safe import execute_safe_tx

pytestmark = pytest.mark.anvil

KEEPER = dev_account(5)
ZERO = "0x" + "00" * 20
HOOKS = "0x1111111111111111111111111111111111110080"
ROUTER = "0x66a9893cC07D91D95644AEDD05D03f95e1dBA8Af"  # placeholders: no v4 in this world yet
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"


def _deploy(chain: Web3, m: Manifest) -> tuple[str, hv.VenueParams]:
    venue = DevChain(chain).deploy(forge_artifact("HedgeVenueModule"), Web3.to_checksum_address(m.hedge_module),
                                   Web3.to_checksum_address(m.tokens["WETH"].address),
                                   sender=dev_account(0).address)
    usdc, weth = m.tokens["USDC"].address, m.tokens["WETH"].address
    a, b = sorted([usdc, weth], key=lambda x: int(x, 16))
    p = hv.VenueParams(universal_router=ROUTER, permit2=PERMIT2,
                       pool_keys=(hv.PoolKey(ZERO, usdc, 500, 10), hv.PoolKey(a, b, 3000, 60, HOOKS)),
                       hooks=(HOOKS,), min_health_factor=Decimal("1.6"))
    txs = hv.setup_txs(m.safe.address, str(venue.address), p)
    safe = contract(chain, "Safe", m.safe.address)
    owners = [dev_account(i) for i in m.owner_indexes[:m.safe.threshold]]
    execute_safe_tx(chain, safe, multisend_tx(m.safe.multisend_call_only, txs), owners, dev_account(0).address)
    return str(venue.address), p


def _keeper_sends(world: World, to: str, data: bytes) -> str:
    errors = ErrorDecoder([forge_artifact("HedgeVenueModule").abi, forge_artifact("HedgeModule").abi])
    tx = TxManager(RpcClient.http(world.url), KEEPER, 31337, errors=errors, poll_s=0.05)
    with pytest.raises(TxRevertedError) as err:
        tx.send(TxRequest(to=to, data=data), lambda a: None)
    assert err.value.preflight, "refused before anything is sent"
    return err.value.error_name or err.value.reason


def test_the_adapters_params_and_hash_are_the_chains(chain: Web3, world: World, manifest: Manifest) -> None:
    venue, p = _deploy(chain, manifest)
    c = contract(chain, "HedgeVenueModule", venue)
    raw: Any = c.functions.params().call()
    on = hv.parse_params(tuple(raw))
    assert on.params_hash() == bytes(c.functions.paramsHash().call())
    assert on.version == Web3.keccak(text=hv.PARAMS_VERSION_TEXT)
    assert (on.safe, on.hedge_module) == (Web3.to_checksum_address(manifest.safe.address),
                                          Web3.to_checksum_address(manifest.hedge_module))
    assert on.min_health_factor_wad == 16 * 10**17
    assert set(on.pool_keys) == set(p.pool_keys)
    for key in p.pool_keys:
        assert key.pool_id() == bytes(c.functions.poolId(key.as_tuple()).call())
    assert [k.pool_id() for k in on.pool_keys] == sorted(k.pool_id() for k in on.pool_keys)
    assert on.hooks == (Web3.to_checksum_address(HOOKS),)
    assert contract(chain, "Safe", manifest.safe.address).functions.isModuleEnabled(venue).call()


def test_the_keeper_is_refused_what_the_owners_did_not_allow(chain: Web3, world: World,
                                                             manifest: Manifest) -> None:
    venue, p = _deploy(chain, manifest)
    deadline = chain.eth.get_block("latest")["timestamp"] + 600
    usdc = manifest.tokens["USDC"].address
    attacker_hooks = hv.PoolKey(ZERO, usdc, 500, 10, "0x" + "66" * 20)
    assert _keeper_sends(world, venue, hv.hedge_v4_swap(
        hv.V4SwapArgs(attacker_hooks, True, 10**18, 1, deadline))) == "PoolKeyNotAllowed"
    assert _keeper_sends(world, venue, hv.aave_call(
        hv.AaveArgs(hv.AaveAction.BORROW, manifest.tokens["WETH"].address, 10**18))) == "AavePoolNotSet"
    # the keeper cannot book into (or free) the shared budget itself: only the Safe may
    book = Web3.keccak(text="bookVenueTrade(uint256,uint256)")[:4] + bytes(64)
    assert _keeper_sends(world, manifest.hedge_module, book) == "NotSafe"
    assert _keeper_sends(world, venue, hv.setup_txs(manifest.safe.address, venue, p, enable=False)[-1].data) \
        == "NotSafe"


def test_a_deployed_venue_module_matches_the_shipped_fingerprint(chain: Web3, world: World,
                                                                 manifest: Manifest) -> None:
    venue, _ = _deploy(chain, manifest)
    rpc = RpcClient.http(world.url)
    assert verify_module_code(rpc, venue, ModuleFingerprint.load(VENUE_MODULE_FINGERPRINT)) \
        == ModuleFingerprint.load(VENUE_MODULE_FINGERPRINT).code_hash
    with pytest.raises(VerificationError, match="is not the keeper's HedgeModule"):
        verify_module_code(rpc, venue)  # the HedgeModule's fingerprint does not pass the venue module
