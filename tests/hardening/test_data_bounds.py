"""The bounded parsers: every refusal names its limit, and none of them does the work first."""

import json

import pytest
import yaml

from opgraph.data_bounds import (
    MAX_INT_DIGITS,
    DataLimitExceeded,
    DataLimits,
    DataRefused,
    check_data,
    load_json,
    load_yaml,
)

LIMITS = DataLimits()


def alias_bomb(levels: int) -> str:
    """Each level lists the one before nine times: 9**levels values from ~40 bytes each."""
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_by_its_expanded_size():
    with pytest.raises(DataLimitExceeded) as refused:
        load_yaml(alias_bomb(9), DataLimits(max_aliases=1000))
    assert refused.value.limit == "the number of values (aliases expanded)"
    assert refused.value.found > 9**9 and refused.value.maximum == 100_000
    assert "webserver.limits.run_config.max_nodes" in str(refused.value)


def test_the_alias_count_is_bounded_before_anything_is_expanded():
    with pytest.raises(DataLimitExceeded, match="the number of aliases is over 100"):
        load_yaml(alias_bomb(12), LIMITS)


def test_a_few_aliases_are_plain_yaml():
    data = load_yaml("base: &b {n: 1}\nops: {a: {config: *b}, b: {config: {<<: *b, m: 2}}}", LIMITS)
    assert data["ops"] == {"a": {"config": {"n": 1}}, "b": {"config": {"n": 1, "m": 2}}}


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)) + "  " * 200 + "v: 1\n",
    ],
)
def test_deep_yaml_is_refused_before_composition(text):
    # 1,000 levels used to overflow PyYAML's recursive composer (RecursionError).
    with pytest.raises(DataLimitExceeded, match="nesting depth is over 64"):
        load_yaml(text, LIMITS)


def test_recursive_aliases_are_refused():
    with pytest.raises(DataRefused, match="recursive YAML alias"):
        load_yaml("a: &a [1, *a]", LIMITS)


def test_plain_timestamps_stay_strings_so_the_config_is_json():
    data = load_yaml("when: 2024-01-01\nat: 2024-01-01 10:00:00", LIMITS)
    assert data == {"when": "2024-01-01", "at": "2024-01-01 10:00:00"}
    json.dumps(data)


@pytest.mark.parametrize(
    "text,tag",
    [
        ("d: !!timestamp 2024-01-01", "timestamp"),
        ("d: !!set {a, b}", "set"),
        ("d: !!binary aGVsbG8=", "binary"),
        ("d: !!omap [a: 1]", "omap"),
        ("d: !!python/object/apply:os.system [echo]", "python/object/apply:os.system"),
        ("d: !custom x", "!custom"),
    ],
)
def test_explicit_tags_beyond_plain_data_are_refused_by_name(text, tag):
    with pytest.raises(DataRefused, match="the YAML tag .*" + tag.replace("/", ".")):
        load_yaml(text, LIMITS)


def test_huge_integers_are_refused_in_yaml_and_json():
    digits = "9" * (MAX_INT_DIGITS + 1)
    with pytest.raises(DataLimitExceeded, match="digits in an integer is 4301"):
        load_yaml(f"n: {digits}", LIMITS)
    with pytest.raises(DataLimitExceeded, match="digits in an integer is 4301"):
        load_json(f'{{"n": {digits}}}', 100)
    assert load_json('{"n": 12345678901234567890}', 100) == {"n": 12345678901234567890}


def test_the_text_size_is_bounded():
    with pytest.raises(DataLimitExceeded, match="size in bytes is 2001"):
        load_yaml("a: " + "x" * 1998, DataLimits(max_bytes=2000))


@pytest.mark.parametrize("depth", [101, 500, 1000, 100_000])
def test_deep_json_is_refused_at_any_depth(depth):
    with pytest.raises(DataLimitExceeded, match="nesting depth is over 100"):
        load_json("[" * depth + "]" * depth, 100)
    assert load_json("[" * 100 + "]" * 100, 100) is not None


def test_parsed_data_is_checked_for_depth_nodes_and_integers():
    deep: list = []
    for _ in range(70):
        deep = [deep]
    with pytest.raises(DataLimitExceeded, match="nesting depth"):
        check_data({"ops": deep}, LIMITS)
    with pytest.raises(DataLimitExceeded, match="number of values"):
        check_data({"ops": list(range(200))}, DataLimits(max_nodes=100))
    with pytest.raises(DataLimitExceeded, match="digits in an integer"):
        check_data({"n": 10**5000}, LIMITS)
    check_data({"ops": {"a": {"config": {"n": [1, 2, 3]}}}}, LIMITS)


def test_malformed_yaml_is_still_a_yaml_error():
    with pytest.raises(yaml.YAMLError):
        load_yaml("ops: [x", LIMITS)
