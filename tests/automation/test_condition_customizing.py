"""Customizing a condition tree as Dagster documents it: `.allow()` / `.ignore()` of deps by
AssetSelection, `.without()` an operand, `.replace()` a node (by value or label), and what
the snapshot carries (selections resolved to asset keys) surviving a JSON round trip."""

from __future__ import annotations

from typing import Any

import pytest

from opgraph import AssetSelection, Definitions, asset
from opgraph import AutomationCondition as AC
from opgraph.automation.condition import condition_from_json
from opgraph.errors import DefinitionError
from tests.automation.fake_data import Driver, FakeAsset, FakeData

A = frozenset({""})


@asset
def noisy() -> int:
    return 1


@asset
def steady() -> int:
    return 2


@asset
def report(noisy: int, steady: int) -> int:
    return noisy + steady


def graph() -> Any:
    return Definitions(assets=[noisy, steady, report]).asset_repo.graph


def fan_in(condition: AC) -> tuple[FakeData, Driver]:
    data = FakeData(
        {"noisy": FakeAsset(), "steady": FakeAsset(), "report": FakeAsset(deps=("noisy", "steady"))}
    )
    for key in ("noisy", "steady", "report"):
        data.materialize(key)
    driver = Driver(data, {"report": condition.resolved(graph())})
    driver.tick()  # the baseline
    return data, driver


def test_eager_ignoring_a_dep_neither_triggers_on_it_nor_waits_for_it() -> None:
    data, driver = fan_in(AC.eager().ignore(AssetSelection.keys("noisy")))
    data.materialize("noisy")
    assert driver.tick() == {}  # its update does not count
    data.in_progress["noisy"] = A
    data.materialize("steady")
    assert driver.tick() == {"report": A}  # nor does its run in progress


def test_plain_eager_waits_for_the_same_dep_in_progress() -> None:
    data, driver = fan_in(AC.eager())
    data.in_progress["noisy"] = A
    data.materialize("steady")
    assert driver.tick() == {}
    assert "any_deps_in_progress" in driver.last["report"].reason


def test_eager_allowing_one_dep_only_counts_that_dep() -> None:
    data, driver = fan_in(AC.eager().allow(AssetSelection.keys("steady")))
    data.materialize("noisy")
    assert driver.tick() == {}
    data.materialize("steady")
    assert driver.tick() == {"report": A}


def test_without_drops_an_operand_compared_by_value() -> None:
    relaxed = AC.eager().without(~AC.any_deps_missing())
    assert relaxed.label == "eager"
    assert ~AC.any_deps_missing() not in relaxed.children
    assert len(relaxed.children) == len(AC.eager().children) - 1
    with pytest.raises(DefinitionError, match="has no operand"):
        AC.eager().without(AC.on_cron("0 * * * *"))


def test_without_any_deps_missing_runs_over_a_missing_dep() -> None:
    data = FakeData(
        {"never": FakeAsset(), "up": FakeAsset(), "down": FakeAsset(deps=("never", "up"))}
    )
    relaxed = Driver(data, {"down": AC.eager().without(~AC.any_deps_missing())})
    strict = Driver(data, {"down": AC.eager()})
    relaxed.tick(), strict.tick()  # the baseline
    data.materialize("up")  # "never" stays missing
    assert strict.tick() == {}
    assert "any_deps_missing" in strict.last["down"].reason
    assert relaxed.tick() == {"down": A}


def test_replace_swaps_a_node_by_label_or_by_value() -> None:
    cron = AC.on_cron("0 * * * *")
    by_label = AC.eager().replace("any_deps_in_progress", cron)
    assert "any_deps_in_progress" not in {c.label for c in _nodes(by_label)}
    assert cron in list(_nodes(by_label))
    by_value = AC.eager().replace(AC.in_progress(), AC.execution_failed())
    assert AC.in_progress() not in list(_nodes(by_value))
    assert AC.execution_failed() in list(_nodes(by_value))


def test_the_snapshot_form_keeps_resolved_keys_through_json() -> None:
    condition = AC.eager().ignore(AssetSelection.keys("noisy")).resolved(graph())
    again = condition_from_json(condition.to_json())
    assert again.to_json() == condition.to_json()
    deps = [n for n in _nodes(again) if getattr(n, "ignore_keys", None) is not None]
    assert deps and all(n.ignore_keys == ("noisy",) for n in deps)
    assert all(n.counts("steady") and not n.counts("noisy") for n in deps)


def test_an_unresolved_selection_is_not_serialized_silently() -> None:
    with pytest.raises(DefinitionError, match="resolved against the asset graph"):
        AC.eager().ignore(AssetSelection.keys("noisy")).to_json()


def _nodes(condition: AC) -> Any:
    yield condition
    for child in condition.children:
        yield from _nodes(child)
