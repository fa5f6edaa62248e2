"""Asset graphs and the same graphs written as ops, for benchmarks/assets.py.

OPGRAPH_BENCH_ASSETS (default 1000) sets the number of steps of each graph."""

from __future__ import annotations

import os

from opgraph import AssetIn, AssetSelection, Definitions, asset, define_asset_job, job, op

SIZE = int(os.environ.get("OPGRAPH_BENCH_ASSETS", "1000"))


def _plus_one(x: int) -> int:
    return x + 1


def _zero() -> int:
    return 0


# -- assets ------------------------------------------------------------------------------------
chain_assets = [asset(name="c0", group_name="chain")(_zero)]
for _i in range(1, SIZE):
    chain_assets.append(
        asset(name=f"c{_i}", group_name="chain", ins={"x": AssetIn(key=f"c{_i - 1}")})(_plus_one)
    )
fan_assets = [asset(name="f0", group_name="fan")(_zero)]
for _i in range(1, SIZE):
    fan_assets.append(
        asset(name=f"f{_i}", group_name="fan", ins={"x": AssetIn(key="f0")})(_plus_one)
    )


# -- the same graphs as ops ---------------------------------------------------------------------
@op
def zero() -> int:
    return 0


@op
def plus_one(x: int) -> int:
    return x + 1


@job
def op_chain():
    value = zero()
    for i in range(1, SIZE):
        value = plus_one.alias(f"c{i}")(value)


@job
def op_fan():
    root = zero()
    for i in range(1, SIZE):
        plus_one.alias(f"f{i}")(root)


defs = Definitions(
    assets=[*chain_assets, *fan_assets],
    jobs=[
        op_chain,
        op_fan,
        define_asset_job("asset_chain", AssetSelection.groups("chain")),
        define_asset_job("asset_fan", AssetSelection.groups("fan")),
    ],
)
