"""NUL characters and lone surrogates are refused in every argument (issue #13, finding 6),
also where an argument's own check would not notice them: a step key names a file (lone
surrogates), run config is free-form data, a tag value is free text. Run ids and tag keys
refuse them by their own checks as well, so they cannot show the general check at work."""

import json
from pathlib import Path

import pytest

from opgraph_app import create_app
from opgraph_storage.records import RunRecord

FIELDS = "__typename ... on InvalidArgumentError { argument expected }"
CASES = {
    "capturedLogs": f"""query($v: String!) {{
        capturedLogs(runId: "r1", stepKey: $v) {{ {FIELDS} }} }}""",
    "isRunConfigValid": f"""query($c: GenericScalar) {{
        isRunConfigValid(selector: {{locationName: "l", jobName: "j"}}, runConfigData: $c) {{
        {FIELDS} }} }}""",
    "launchRun": f"""mutation($v: String!) {{
        launchRun(executionParams: {{selector: {{locationName: "l", jobName: "j"}},
                  executionMetadata: {{tags: [{{key: "team", value: $v}}]}}}}) {{ {FIELDS} }} }}""",
}


@pytest.fixture
def client(tmp_path: Path):
    from opgraph.instance import OpgraphInstance

    (tmp_path / "instance.yaml").write_text(f"storage: {{url: 'sqlite:///{tmp_path}/db'}}\n")
    instance = OpgraphInstance.get(tmp_path)
    instance.storage.add_run(RunRecord(run_id="r1", job_name="j"))
    yield create_app(instance).test_client()
    instance.dispose()


@pytest.mark.parametrize("bad", ["a\ud800b", "a\u0000b", "\udfff"])
@pytest.mark.parametrize("field", sorted(CASES))
def test_nul_and_lone_surrogates_are_refused_in_any_argument(client, field, bad):
    variables = {"v": bad, "c": {"ops": {"a": {"config": {"path": bad}}}}}
    body = json.dumps({"query": CASES[field], "variables": variables})
    response = client.post("/graphql", data=body, content_type="application/json")
    assert response.status_code == 200
    answer = response.get_json()
    assert "errors" not in answer, answer
    refusal = answer["data"][field]
    assert refusal["__typename"] == "InvalidArgumentError", refusal
    assert refusal["expected"] == "text without NUL characters or lone surrogates", refusal
