"""Assets of the code location the asset pages' browser tests use (`assets`)."""

from opgraph import AssetCheckResult, Definitions, MaterializeResult, asset, asset_check

COUNTER = {"n": 0}


@asset(group_name="raw", kinds={"python"}, owners=["team:data"], description="Orders as they came")
def orders() -> MaterializeResult:
    COUNTER["n"] += 1
    return MaterializeResult(metadata={"rows": 10 * COUNTER["n"]})


@asset(group_name="clean", deps=[orders], kinds={"sql"})
def clean_orders() -> MaterializeResult:
    return MaterializeResult(metadata={"rows": 7})


@asset_check(asset=clean_orders)
def clean_orders_not_empty() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


defs = Definitions(assets=[orders, clean_orders], asset_checks=[clean_orders_not_empty])
