"""Talking to the webserver `opgraph dev` started: health, the workspace, launching runs.

Runs are launched through `/graphql`, as the UI launches them, so `opgraph dev --once`
exercises the same path a person clicking Launch does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from opgraph.errors import OpgraphError

WORKSPACE = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name state loadError { message } jobs { name executor } } }
    ... on Error { message } } }
"""
LAUNCH = """
mutation($location: String!, $job: String!, $config: GenericScalar, $tags: [TagInput!]) {
  launchRun(executionParams: {selector: {locationName: $location, jobName: $job},
                              runConfigData: $config, executionMetadata: {tags: $tags}}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { message errors { path message } }
    ... on Error { message }
  }
}
"""


class LaunchError(OpgraphError):
    pass


@dataclass
class LocationInfo:
    name: str
    state: str
    error: str | None
    jobs: dict[str, str] = field(default_factory=dict)  # job name -> executor name


class WebClient:
    def __init__(self, url: str, token: str | None = None):
        self.url = url.rstrip("/")
        self.token = token

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url + "/graphql", body, headers)
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise OpgraphError(f"GraphQL error: {answer['errors'][0].get('message')}")
        return answer["data"]  # type: ignore[no-any-return]

    def locations(self) -> list[LocationInfo]:
        data = self.graphql(WORKSPACE)["workspaceOrError"]
        if data["__typename"] != "Workspace":
            raise OpgraphError(f"the workspace did not load: {data.get('message')}")
        return [
            LocationInfo(
                entry["name"],
                entry["state"],
                (entry.get("loadError") or {}).get("message"),
                {job["name"]: job["executor"] for job in entry["jobs"]},
            )
            for entry in data["locationEntries"]
        ]

    def launch(
        self,
        location: str,
        job: str,
        run_config: dict[str, Any] | None,
        tags: dict[str, str] | None = None,
    ) -> str:
        variables = {
            "location": location,
            "job": job,
            "config": run_config or {},
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        result = self.graphql(LAUNCH, variables)["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return str(result["run"]["runId"])
        problems = [f"{e['path']}: {e['message']}" for e in result.get("errors") or []]
        detail = "".join(f"\n  {p}" for p in problems)
        raise LaunchError(f"launching {job!r} was refused: {result.get('message')}{detail}")
