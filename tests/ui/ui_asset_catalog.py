"""A catalog too big to draw asset by asset on the lineage (more than the page's 300):
three groups of 120, each group a chain whose root reads the previous group's last asset."""

from opgraph import Definitions, asset


def _chain_asset(group: int, index: int):
    previous = f"g{group}_a{index - 1:03d}" if index else f"g{group - 1}_a119"
    upstream = [previous] if index or group else []

    @asset(name=f"g{group}_a{index:03d}", group_name=f"group_{group}", deps=upstream)
    def _made() -> None:
        return None

    return _made


defs = Definitions(assets=[_chain_asset(g, i) for g in range(3) for i in range(120)])
