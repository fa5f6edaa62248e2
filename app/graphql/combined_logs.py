"""`capturedLogsCombined`: a step's stdout and stderr as one sequence, in the order the step
printed them (opgraph.compute_log_order), read on by cursor while the run is live."""

from __future__ import annotations

from typing import Any

import graphene

from opgraph.compute_log_order import START, CursorError, parse_cursor, read_combined
from opgraph.compute_logs import log_paths, order_path
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import _invalid, check_id, check_limit, check_step_key
from opgraph_app.graphql.errors import typed_errors
from opgraph_app.graphql.unions import or_error

MAX_LOG_BYTES = 4 * 1024 * 1024  # as capturedLogs


class StreamText(graphene.ObjectType):
    stream = graphene.String(required=True, description='"stdout" or "stderr"')
    data = graphene.String(required=True)


class CombinedLogs(graphene.ObjectType):
    run_id = graphene.String(required=True)
    step_key = graphene.String(required=True)
    chunks = graphene.List(
        graphene.NonNull(StreamText),
        required=True,
        description="Text of either stream, in the order printed; a chunk may end mid-line.",
    )
    cursor = graphene.String(required=True, description="Where the next read goes on.")
    has_more = graphene.Boolean(required=True)


CombinedLogsOrError = or_error(
    "CombinedLogsOrError", CombinedLogs, e.RunNotFoundError, e.InvalidArgumentError, e.PythonError
)


class CombinedLogsQueries(graphene.ObjectType):
    captured_logs_combined = graphene.Field(
        CombinedLogsOrError,
        required=True,
        run_id=graphene.String(required=True),
        step_key=graphene.String(required=True),
        cursor=graphene.String(default_value=START, description="from the last answer"),
        max_bytes=graphene.Int(default_value=1024 * 1024, description=f"1 to {MAX_LOG_BYTES}"),
        description="A step's captured stdout and stderr together, in the order printed.",
    )

    @staticmethod
    @typed_errors
    def resolve_captured_logs_combined(
        _root: Any,
        info: Any,
        run_id: str,
        step_key: str,
        cursor: str = START,
        max_bytes: int = 1024 * 1024,
    ) -> Any:
        instance = info.context.instance
        check_limit("maxBytes", max_bytes, MAX_LOG_BYTES)
        check_step_key(step_key)
        check_id("runId", run_id)
        try:
            parse_cursor(cursor)
        except CursorError:
            raise _invalid(
                "cursor", cursor, f"a cursor from an earlier answer, or {START!r}"
            ) from None
        run = instance.storage.get_run(run_id)
        if run is None:
            return e.RunNotFoundError(message=f"no run with id {run_id!r}", run_id=run_id)
        base = instance.compute_logs_dir
        out, err = log_paths(base, run.run_id, step_key)
        read = read_combined(
            out,
            err,
            order_path(base, run.run_id, step_key),
            cursor,
            max_bytes,
            charge=info.context.charge_answer_bytes,
        )
        return CombinedLogs(
            run_id=run.run_id,
            step_key=step_key,
            chunks=[StreamText(stream=stream, data=data) for stream, data in read.chunks],
            cursor=read.cursor,
            has_more=read.has_more,
        )
