"""`/graphql`: graphql-server's Flask view with opgraph's context, limits and error shape.

Every answer is JSON: a malformed request gets 400 (413 when too large) with
`{"errors": [{"message": ...}]}`, a GraphQL error gets the usual `errors` list, and
nothing that a client sends turns into a 500 or a traceback. GET serves GraphiQL to a
browser and runs queries (never mutations, so a link cannot change anything).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, current_app, request
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
    validate,
)
from graphql.language import OperationType
from graphql_server import execute_sync
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.flask.views import FlaskHTTPRequestAdapter, GraphQLView
from graphql_server.http import GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from werkzeug.exceptions import HTTPException as WerkzeugHTTPException

from opgraph.data_bounds import DataLimitExceeded, load_json
from opgraph.instance_config import RequestLimitsConfig
from opgraph_app.extension import OpgraphExtension
from opgraph_app.graphiql_page import graphiql_page
from opgraph_app.graphql.context import GraphQLContext
from opgraph_app.graphql.dagster_schema import dagster_schema_for
from opgraph_app.graphql.errors import STATEMENT_TIMEOUT
from opgraph_app.graphql.limits import (
    LIMIT_EXCEEDED,
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_TOKENS,
    AnswerTooLarge,
    BoundedExecutionContext,
    cost_limit_rule,
    depth_limit_rule,
)
from opgraph_app.graphql.schema import schema
from opgraph_app.workspace import current_workspace
from opgraph_storage.engine import set_statement_timeout

log = logging.getLogger(__name__)

# Parsed documents kept per view, by query text: a client sends the same few queries over
# and over (launchRun, the UI's polls), and parsing plus the static validation rules cost
# 2-4 ms of the webserver's GIL per request (about 9% of its time in a 500-run launch
# burst). Small, and only for short texts: a cache of every query a client invents would
# be a way to fill the server's memory.
DOCUMENT_CACHE_SIZE = 128
DOCUMENT_CACHE_MAX_CHARS = 16_384


@dataclass(frozen=True)
class _Prepared:
    document: DocumentNode
    schema: GraphQLSchema  # opgraph's, or Dagster's for the Dagster client's documents
    rules: tuple[Any, ...]  # graphql-core's rules, which it was validated with
    valid: bool  # under `rules`; an invalid one is validated again per request (its errors)


class _DocumentCache:
    def __init__(self, size: int = DOCUMENT_CACHE_SIZE):
        self.size = size
        self._entries: OrderedDict[str, _Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str) -> _Prepared | None:
        with self._lock:
            entry = self._entries.get(query)
            if entry is not None:
                self._entries.move_to_end(query)
            return entry

    def put(self, query: str, entry: _Prepared) -> None:
        if len(query) > DOCUMENT_CACHE_MAX_CHARS:
            return
        with self._lock:
            self._entries[query] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class _RequestAdapter(FlaskHTTPRequestAdapter):
    @property
    def body(self) -> str:
        try:
            return self.request.get_data().decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, "the request body is not UTF-8 text") from None


class OpgraphGraphQLView(GraphQLView):
    request_adapter_class = _RequestAdapter
    init_every_request = False  # one view (schema, rules) serves every request

    def __init__(self, max_depth: int = MAX_DEPTH, max_tokens: int = MAX_TOKENS):
        super().__init__(schema=schema.graphql_schema, graphql_ide="graphiql")
        self.max_tokens = max_tokens
        # graphql-core's rules depend on the document alone: their outcome is cached with
        # it. The limits (limits.py) are applied on every request.
        self.validation_rules = tuple(specified_rules)
        self.depth_rule = depth_limit_rule(max_depth)
        self.documents = _DocumentCache()

    def render_graphql_ide(self, request: Any, request_data: GraphQLRequestData) -> Response:  # type: ignore[override]
        return graphiql_page()

    def get_context(self, request: Request, response: Response) -> GraphQLContext:  # type: ignore[override]
        extension: OpgraphExtension = current_app.extensions["opgraph"]
        instance = extension.instance
        _warm_up_launcher(extension)
        settings = instance.config.webserver
        _apply_process_limits(settings.limits)
        return GraphQLContext(
            instance=instance,
            load_workspace=current_workspace,
            read_only=extension.read_only or settings.read_only,
            auth_token=settings.auth_token,
            authorization=request.headers.get("Authorization"),
            limits=settings.limits,
        )

    def decode_json(self, data: str | bytes) -> object:
        # Deep nesting and huge integers are refused here (DataLimitExceeded -> 400).
        return load_json(data, _current_limits().max_json_depth)

    def encode_json(self, data: object) -> str:
        text = json.dumps(data)
        maximum = _current_limits().max_response_bytes
        if len(text) > maximum:  # ASCII (json.dumps escapes the rest): characters = bytes
            log.warning("a GraphQL answer of %d bytes was refused (limit %d)", len(text), maximum)
            return json.dumps(
                _limit_answer(
                    f"the answer is {len(text)} bytes, the limit is {maximum}; ask for less "
                    "(a smaller limit or maxBytes, fewer aliases) or set "
                    "webserver.limits.max_response_bytes",
                    "answer size in bytes",
                    maximum,
                    "webserver.limits.max_response_bytes",
                )
            )
        return text

    def process_result(self, request: Any, result: ExecutionResult, strict: bool = False) -> Any:
        # An exception escaping a resolver becomes a GraphQL error with its message: that
        # text may hold SQL, parameters or paths, so only an id goes out; the log has it.
        for error in result.errors or ():
            original = error.original_error
            if original is not None and not isinstance(original, GraphQLError):
                error_id = uuid.uuid4().hex[:12]
                log.error("GraphQL error %s", error_id, exc_info=original)
                error.message = (
                    f"unexpected server error ({type(original).__name__}); the server log "
                    f"has its details under error id {error_id}"
                )
        return super().process_result(request, result, strict)

    def get_graphql_request_data(
        self, request: Any, context: Any, data: Any, protocol: Any
    ) -> GraphQLRequestData:
        if not isinstance(data, dict):
            raise HTTPException(
                400, "expected a JSON object with query, variables and operationName"
            )
        return super().get_graphql_request_data(request, context, data, protocol)

    def execute_operation(
        self,
        request_adapter: Any,
        request_data: GraphQLRequestData,
        context: Any,
        root_value: Any,
        allowed_operation_types: set[OperationType],
    ) -> ExecutionResult:
        query = request_data.query
        if not isinstance(query, str) or not query.strip():
            raise HTTPException(400, "expected `query` to be a non-empty GraphQL document text")
        prepared = self._prepare(query)
        variables = request_data.variables
        cost_rule = cost_limit_rule(context.limits.max_query_cost, variables)
        static = () if prepared.valid else prepared.rules
        return execute_sync(
            schema=prepared.schema,
            query=prepared.document,
            root_value=root_value,
            variable_values=variables,
            context_value=context,
            operation_name=request_data.operation_name,
            allowed_operation_types=allowed_operation_types,
            validation_rules=(*static, self.depth_rule, cost_rule),
            execution_context_class=BoundedExecutionContext,  # stops at the answer cap
            validate_document=True,
        )

    def _prepare(self, query: str) -> _Prepared:
        """The parsed document, its schema and whether the static rules pass (cached)."""
        rules = self.validation_rules
        cached = self.documents.get(query)
        if cached is not None and cached.rules is rules:
            return cached
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as exc:
            raise GraphQLValidationError([exc]) from exc
        # Dagster's GraphQL client gets Dagster's schema (dagster_schema.py); the rest ours.
        schema = dagster_schema_for(document, self.schema) or self.schema
        prepared = _Prepared(document, schema, rules, not validate(schema, document, rules))
        self.documents.put(query, prepared)
        return prepared

    def dispatch_request(self) -> Any:
        try:
            return self.run(request=request)
        except HTTPException as exc:  # graphql-server's: a malformed request
            return _json_error(exc.status_code, exc.reason)
        except WerkzeugHTTPException as exc:  # e.g. 413 from MAX_CONTENT_LENGTH
            return _json_error(exc.code or 400, exc.description or exc.name)
        except DataLimitExceeded as exc:  # deep JSON, a huge integer in the body
            answer = _limit_answer(str(exc), exc.limit, exc.maximum, exc.setting or None)
            return Response(json.dumps(answer), status=400, content_type="application/json")
        except AnswerTooLarge as exc:  # the answer outgrew its cap while it was built
            log.warning("a GraphQL answer was stopped at %d bytes", exc.size)
            answer = _limit_answer(
                exc.message(), "answer size in bytes", exc.maximum,
                "webserver.limits.max_response_bytes",
            )  # fmt: skip
            return Response(json.dumps(answer), status=200, content_type="application/json")


def _current_limits() -> RequestLimitsConfig:
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    return extension.instance.config.webserver.limits


def _apply_process_limits(limits: RequestLimitsConfig) -> None:
    """Every query of this process (GraphQL, /health, live streams) gets the timeout."""
    seconds = limits.statement_timeout_seconds
    if STATEMENT_TIMEOUT["seconds"] != seconds:
        STATEMENT_TIMEOUT["seconds"] = seconds
        set_statement_timeout(seconds or None)


def _limit_answer(message: str, limit: str, maximum: float, setting: str | None) -> dict:
    extensions = {"code": LIMIT_EXCEEDED, "limit": limit, "maximum": maximum, "setting": setting}
    return {"data": None, "errors": [{"message": message, "extensions": extensions}]}


def _warm_up_launcher(extension: OpgraphExtension) -> None:
    """Let the run launcher get ready (e.g. start its zygote) before the first launch."""
    if extension.launcher_warmed:
        return
    extension.launcher_warmed = True
    instance = extension.instance

    def prepare() -> None:
        instance.run_launcher.prepare()

    threading.Thread(target=prepare, name="opgraph-launcher-warm-up", daemon=True).start()


def _json_error(status: int, message: str) -> Response:
    body = json.dumps({"errors": [{"message": message}]})
    return Response(body, status=status, content_type="application/json")


def register_graphql(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.add_url_rule(
        "/graphql", view_func=OpgraphGraphQLView.as_view("graphql"), methods=["GET", "POST"]
    )
