"""AutomationCondition semantics (Dagster's): the builders, the operands and the operators,
evaluated tick after tick with the state kept between ticks as the daemon keeps it."""

from __future__ import annotations

import datetime as dt

import pytest

from opgraph import AutomationCondition as AC
from opgraph.automation.condition import condition_from_json
from opgraph.errors import DefinitionError
from tests.automation.fake_data import Driver, FakeAsset, FakeData

A = frozenset({""})
DAY = 86400.0
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


def chain(**conditions: AC) -> tuple[FakeData, Driver]:
    data = FakeData({"up": FakeAsset(), "down": FakeAsset(deps=("up",))})
    return data, Driver(data, conditions)


def test_eager_requests_a_downstream_once_per_upstream_update() -> None:
    data, driver = chain(down=AC.eager())
    data.materialize("up")
    assert driver.tick() == {}  # the first evaluation only sets the baseline
    assert driver.tick() == {}
    data.materialize("up")
    assert driver.tick() == {"down": A}
    assert driver.tick() == {}  # requested: handled, not requested again
    data.materialize("down")
    assert driver.tick() == {}
    data.materialize("up")
    assert driver.tick() == {"down": A}


def test_eager_waits_for_deps_in_progress_and_for_itself_in_progress() -> None:
    data, driver = chain(down=AC.eager())
    data.materialize("up")
    driver.tick()
    data.materialize("up")
    data.in_progress["up"] = A
    assert driver.tick() == {}
    assert "any_deps_in_progress" in driver.last["down"].reason
    data.in_progress.clear()
    data.in_progress["down"] = A
    assert driver.tick() == {}
    data.in_progress.clear()
    # The update is remembered (since_last_handled) until the asset can run.
    assert driver.tick() == {"down": A}


def test_eager_never_runs_over_a_missing_dep_unless_it_is_requested_too() -> None:
    _data, driver = chain(down=AC.eager())
    driver.tick()
    assert driver.tick() == {}
    # Both eager: a newly missing upstream is requested with its downstream.
    data2 = FakeData({"up": FakeAsset(), "down": FakeAsset(deps=("up",))})
    both = Driver(data2, {"up": AC.eager(), "down": AC.eager()})
    data2.materialize("up")
    data2.materialize("down")
    both.tick()
    assert both.tick() == {}
    data2.updates.pop("up")  # wiped: newly missing
    requested = both.tick()
    assert requested == {"up": A, "down": A}


def test_eager_does_not_request_what_was_missing_when_it_was_applied() -> None:
    data = FakeData({"a": FakeAsset()})
    driver = Driver(data, {"a": AC.eager()})
    assert driver.tick() == {}
    assert driver.tick() == {}


def test_on_missing_requests_new_partitions_once() -> None:
    data = FakeData({"a": FakeAsset(partitions=("2026-12-01",))})
    driver = Driver(data, {"a": AC.on_missing()})
    assert driver.tick() == {}  # missing when applied: left alone
    data.assets["a"].partitions = ("2026-12-01", "2026-12-02")  # a new day
    assert driver.tick() == {"a": frozenset({"2026-12-02"})}
    assert driver.tick() == {}


def test_on_cron_fires_after_a_tick_once_every_dep_updated() -> None:
    data, driver = chain(down=AC.on_cron("0 0 * * *"))
    data.materialize("up")
    noon = T0 + DAY / 2
    assert driver.tick(noon) == {}
    assert driver.tick(noon + 3600) == {}
    midnight = T0 + DAY
    assert driver.tick(midnight + 60) == {}  # the tick passed, but up has not updated since
    data.materialize("up")
    assert driver.tick(midnight + 120) == {"down": A}
    assert driver.tick(midnight + 180) == {}
    data.materialize("up")
    assert driver.tick(midnight + 240) == {}  # once per cron tick
    # The next midnight: up's update at +240 came before it, so it does not count.
    assert driver.tick(T0 + 2 * DAY + 60) == {}
    data.materialize("up")
    assert driver.tick(T0 + 2 * DAY + 120) == {"down": A}


def test_on_cron_without_deps_fires_on_each_tick() -> None:
    data = FakeData({"a": FakeAsset()})
    driver = Driver(data, {"a": AC.on_cron("0 * * * *")})
    assert driver.tick(T0 + 10) == {}
    assert driver.tick(T0 + 3599) == {}
    assert driver.tick(T0 + 3600) == {"a": A}
    assert driver.tick(T0 + 3700) == {}
    assert driver.tick(T0 + 7300) == {"a": A}


def test_combinators_and_since_and_newly_true() -> None:
    data = FakeData({"a": FakeAsset(code_version="1")})
    missing_or_new_code = AC.missing() | AC.code_version_changed()
    driver = Driver(data, {"a": missing_or_new_code & ~AC.run_in_progress()})
    assert driver.tick() == {"a": A}  # missing
    data.materialize("a")
    assert driver.tick() == {}
    data.assets["a"].code_version = "2"
    assert driver.tick() == {"a": A}
    assert driver.tick() == {}
    data.in_progress["a"] = A
    data.updates.clear()
    assert driver.tick() == {}
    newly = Driver(FakeData({"b": FakeAsset()}), {"b": AC.missing().newly_true()})
    assert newly.tick() == {"b": A}
    assert newly.tick() == {}
    since = Driver(FakeData({"c": FakeAsset()}), {"c": AC.missing().since(AC.newly_requested())})
    assert since.tick() == {"c": A}
    assert since.tick() == {}  # reset by its own request
    assert since.tick() == {"c": A}  # still missing: true again


def test_execution_failed_and_partitioned_latest_window() -> None:
    data = FakeData({"a": FakeAsset(partitions=("d1", "d2", "d3"))})
    driver = Driver(data, {"a": AC.execution_failed() & AC.in_latest_time_window()})
    data.failed["a"] = frozenset({"d1", "d3"})
    assert driver.tick() == {"a": frozenset({"d3"})}


def test_why_an_asset_was_not_requested_names_the_false_part() -> None:
    _data, driver = chain(down=AC.eager())
    driver.tick()
    driver.tick()
    reason = driver.last["down"].reason
    assert reason.startswith("not requested:"), reason
    assert "eager" in reason
    tree = driver.last["down"].tree
    assert tree["label"] == "eager" and tree["children"][0]["name"] == "in_latest_time_window"


def test_conditions_round_trip_through_json_and_keep_their_ids() -> None:
    for condition in (
        AC.eager(),
        AC.on_cron("*/5 * * * *", "Europe/Berlin"),
        AC.on_missing(),
        AC.in_latest_time_window(dt.timedelta(days=2)) & AC.execution_failed(),
        AC.all_deps_match(AC.newly_updated()) | ~AC.backfill_in_progress(),
    ):
        again = condition_from_json(condition.to_json())
        assert again == condition
        assert again.unique_id() == condition.unique_id()
    assert AC.eager().unique_id() != AC.on_missing().unique_id()
    # `a & b & c` is one AND of three, as in Dagster.
    both = AC.missing() & AC.newly_updated() & AC.run_in_progress()
    assert len(both.children) == 3


def test_bad_input_is_refused_with_a_readable_error() -> None:
    with pytest.raises(DefinitionError, match="not a cron schedule"):
        AC.on_cron("every day")
    with pytest.raises(DefinitionError, match="unknown automation condition type 'nope'"):
        condition_from_json({"type": "nope"})


def test_an_asset_whose_evaluation_raises_spares_the_others() -> None:
    from opgraph.automation.context import evaluate_assets

    class Broken(FakeData):
        def full_subset(self, key: str) -> frozenset[str]:
            if key == "bad":
                raise RuntimeError("partitions store gone")
            return super().full_subset(key)

    data = Broken({"bad": FakeAsset(), "good": FakeAsset()})
    conditions = {k: (AC.missing(), AC.missing().unique_id()) for k in ("bad", "good")}
    errors: list[str] = []
    results = evaluate_assets(
        data, conditions, ["bad", "good"], {}, 0.0, 1, lambda k, e: errors.append(f"{k}: {e}")
    )
    assert [r.key for r in results] == ["good"] and results[0].requested == A
    assert errors == ["bad: partitions store gone"]
    with pytest.raises(RuntimeError):
        evaluate_assets(data, conditions, ["bad", "good"], {}, 0.0, 1)
