"""The local world is the real thing: Uniswap v3 from npm, a real Safe, Multicall3, live feeds."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.devnet.world import MULTICALL3_ADDRESS, contract, pool_price_usd
from keeper.errors import TransactionError
from keeper.node.dev import DevChain, dev_account
from keeper.venues.safe import SafeTx, execute_safe_tx

pytestmark = pytest.mark.anvil

FAR = 2**63


def test_swap_moves_pool_and_equals_quoter_quote(chain: Web3, manifest: Manifest) -> None:
    pool_info = manifest.pools["WETH/USDC-500"]
    pool = contract(chain, "UniswapV3Pool", pool_info.address)
    router = contract(chain, "SwapRouter", manifest.uniswap.router)
    quoter = contract(chain, "QuoterV2", manifest.uniswap.quoter)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    usdc = contract(chain, "WETH9", manifest.tokens["USDC"].address)
    actor = Web3.to_checksum_address(manifest.actor)
    amount_in = 25 * 10**18  # 25 WETH

    before = pool.functions.slot0().call()
    quote = quoter.functions.quoteExactInputSingle(
        (weth.address, usdc.address, amount_in, 500, 0)
    ).call()
    usdc_before = usdc.functions.balanceOf(actor).call()
    DevChain(chain).send(
        router.functions.exactInputSingle((weth.address, usdc.address, 500, actor, FAR, amount_in, 0, 0)), actor
    )
    after = pool.functions.slot0().call()
    received = usdc.functions.balanceOf(actor).call() - usdc_before

    assert received == quote[0] > 0
    assert after[0] == quote[1], "pool sqrtPriceX96 after the swap equals the quoter's"
    # Selling WETH (token1) for USDC (token0) raises token1-per-token0's inverse: price in USD falls.
    usd_before = pool_price_usd(before[0], False, 18, 6)
    usd_after = pool_price_usd(after[0], False, 18, 6)
    assert usd_after < usd_before
    assert received / 1e6 < 25 * usd_before  # paid the fee and the impact


def test_safe_executes_transaction_signed_by_owners(chain: Web3, manifest: Manifest) -> None:
    safe = contract(chain, "Safe", manifest.safe.address)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    recipient = dev_account(9).address
    owners = [dev_account(i) for i in manifest.owner_indexes]
    assert sorted(safe.functions.getOwners().call()) == sorted(a.address for a in owners)
    threshold = safe.functions.getThreshold().call()
    assert threshold == manifest.safe.threshold == 2
    tx = SafeTx(to=weth.address, value=0, data=bytes.fromhex(weth.encode_abi("transfer", [recipient, 10**18])[2:]))

    # One signature is below the threshold: the Safe refuses (GS020).
    with pytest.raises(TransactionError):
        execute_safe_tx(chain, safe, tx, owners[:1], sender=Web3.to_checksum_address(manifest.keeper))

    before = weth.functions.balanceOf(recipient).call()
    nonce = safe.functions.nonce().call()
    execute_safe_tx(chain, safe, tx, owners[:threshold], sender=Web3.to_checksum_address(manifest.keeper))
    assert weth.functions.balanceOf(recipient).call() - before == 10**18
    assert safe.functions.nonce().call() == nonce + 1


def test_feeds_report_the_price_the_devnet_set(chain: Web3, manifest: Manifest) -> None:
    eth_feed = contract(chain, "PriceFeed", manifest.feeds["ETH"].address)
    pool_info = manifest.pools["WETH/USDC-500"]
    sqrt_p = contract(chain, "UniswapV3Pool", pool_info.address).functions.slot0().call()[0]
    # At build, the feed was set to the pool price.
    answer = eth_feed.functions.latestRoundData().call()[1]
    assert answer == round(pool_price_usd(sqrt_p, False, 18, 6) * 1e8)

    DevChain(chain).send(eth_feed.functions.setAnswer(2_750_12345678), Web3.to_checksum_address(manifest.deployer))
    rid, answer, _, updated_at, answered_in = eth_feed.functions.latestRoundData().call()
    assert answer == 2_750_12345678
    assert updated_at == chain.eth.get_block("latest")["timestamp"]
    assert rid == answered_in
    assert eth_feed.functions.decimals().call() == 8
    for asset, info in manifest.feeds.items():
        feed = contract(chain, "PriceFeed", info.address)
        assert feed.functions.latestRoundData().call()[1] > 0, asset


def test_multicall3_answers_at_canonical_address(chain: Web3, manifest: Manifest) -> None:
    assert MULTICALL3_ADDRESS == "0xcA11bde05977b3631167028862bE2a173976CA11"
    code = chain.eth.get_code(MULTICALL3_ADDRESS)
    assert len(code) > 1000
    abi = [
        {
            "name": "aggregate3", "type": "function", "stateMutability": "payable",
            "inputs": [{"name": "calls", "type": "tuple[]", "components": [
                {"name": "target", "type": "address"}, {"name": "allowFailure", "type": "bool"},
                {"name": "callData", "type": "bytes"}]}],
            "outputs": [{"name": "returnData", "type": "tuple[]", "components": [
                {"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}]}],
        },
    ]
    mc = chain.eth.contract(address=MULTICALL3_ADDRESS, abi=abi)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    calls = [
        (weth.address, False, bytes.fromhex(weth.encode_abi("balanceOf", [manifest.safe.address])[2:])),
        # USDC has no fallback (WETH9's fallback would accept anything): this call fails, allowed.
        (manifest.tokens["USDC"].address, True, b"\xde\xad\xbe\xef"),
    ]
    results = mc.functions.aggregate3(calls).call()
    assert results[0][0] is True
    assert decode(["uint256"], results[0][1])[0] == weth.functions.balanceOf(manifest.safe.address).call()
    assert results[1][0] is False


def test_treasury_holds_three_kinds_of_lp(chain: Web3, manifest: Manifest) -> None:
    npm = contract(chain, "NonfungiblePositionManager", manifest.uniswap.position_manager)
    owned = {
        npm.functions.tokenOfOwnerByIndex(manifest.safe.address, i).call()
        for i in range(npm.functions.balanceOf(manifest.safe.address).call())
    }
    assert set(manifest.lp_token_ids.values()) <= owned
    states = {}
    for role, token_id in manifest.lp_token_ids.items():
        pos = npm.functions.positions(token_id).call()
        pool = next(p for p in manifest.pools.values() if (p.token0, p.token1, p.fee) == (pos[2], pos[3], pos[4]))
        tick = contract(chain, "UniswapV3Pool", pool.address).functions.slot0().call()[1]
        states[role] = (pos[5], pos[6], pos[5] <= tick < pos[6], pos[7])
    assert states["full_range"][2] and states["full_range"][0] <= -887000
    assert states["narrow_in_range"][2] and states["narrow_in_range"][1] - states["narrow_in_range"][0] <= 1200
    assert not states["out_of_range"][2]
    assert all(s[3] > 0 for s in states.values())


def test_pool_observations_cover_a_twap_window(chain: Web3, manifest: Manifest) -> None:
    pool = contract(chain, "UniswapV3Pool", manifest.pools["WETH/USDC-500"].address)
    slot0 = pool.functions.slot0().call()
    assert slot0[3] >= 50, "observation cardinality raised"
    ticks, _ = pool.functions.observe([1800, 0]).call()  # a 30-minute TWAP is readable
    twap_tick = (ticks[1] - ticks[0]) // 1800
    assert abs(twap_tick - slot0[1]) < 200
