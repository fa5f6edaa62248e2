"""`launchpadConfig`: the launchpad's run config, scaffolded from the job's run config schema
(opgraph.config_scaffold: SCAFFOLD, ADD_MISSING, REMOVE_EXTRA; a required field without a
default is a placeholder `name:  # required: integer` that never validates), with the
placeholders still to fill in (`missing`) and the paths taken out (`removed`)."""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from opgraph.config_scaffold import ConfigAction, scaffold_run_config
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import JOB_SELECTOR_ERRORS, job_location, parse_run_config
from opgraph_app.graphql.errors import typed_errors
from opgraph_app.graphql.types import JobSelector
from opgraph_app.graphql.unions import or_error

LaunchpadConfigAction = graphene.Enum.from_enum(ConfigAction, name="LaunchpadConfigAction")


class LaunchpadConfig(graphene.ObjectType):
    yaml = graphene.String(required=True, description="The run config, as YAML text.")
    missing = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Placeholders still to fill in, as `path: what it takes`.",
    )
    removed = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Paths REMOVE_EXTRA took out (the schema does not know them).",
    )
    schema = GenericScalar(required=True, description="The job's run config JSON Schema.")


LaunchpadConfigResult = or_error(
    "LaunchpadConfigResult", LaunchpadConfig, *JOB_SELECTOR_ERRORS, e.PythonError
)


class UiConfigQuery(graphene.ObjectType):
    launchpad_config = graphene.Field(
        LaunchpadConfigResult,
        required=True,
        selector=graphene.Argument(JobSelector, required=True),
        action=graphene.Argument(LaunchpadConfigAction, required=True),
        run_config_data=GenericScalar(description="The user's config (ADD_MISSING, REMOVE_EXTRA)."),
    )

    @staticmethod
    @typed_errors
    def resolve_launchpad_config(
        _root: Any, info: Any, selector: Any, action: Any, run_config_data: Any = None
    ) -> Any:
        chosen = ConfigAction(getattr(action, "value", action))
        given = parse_run_config(run_config_data, info.context.limits.run_config)
        location = job_location(info.context.workspace, selector)
        job = location.job(selector.job_name)
        schema = job.run_config_schema
        made = scaffold_run_config(schema, chosen, given, job.default_run_config)
        header = f"# Run config of job {selector.job_name}"
        if made.missing:
            header += f": fill in the {len(made.missing)} field(s) marked required"
        return LaunchpadConfig(
            yaml=f"{header}\n{made.text}",
            missing=[f"{path}: {label}" for path, label in made.missing],
            removed=made.removed,
            schema=schema,
        )
