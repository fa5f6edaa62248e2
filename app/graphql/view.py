"""`/graphql`: graphql-server's Flask view with opgraph's context, limits and error shape.

Every answer is JSON: a malformed request gets 400 (413 when too large) with
`{"errors": [{"message": ...}]}`, a GraphQL error gets the usual `errors` list, and
nothing that a client sends turns into a 500 or a traceback. GET serves GraphiQL to a
browser and runs queries (never mutations, so a link cannot change anything).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Flask, Request, Response, current_app, request
from graphql import ExecutionResult, GraphQLError, parse, specified_rules
from graphql.language import OperationType
from graphql_server import execute_sync
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.flask.views import FlaskHTTPRequestAdapter, GraphQLView
from graphql_server.http import GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from werkzeug.exceptions import HTTPException as WerkzeugHTTPException

from opgraph_app.extension import OpgraphExtension
from opgraph_app.graphql.context import GraphQLContext
from opgraph_app.graphql.limits import MAX_BODY_BYTES, MAX_DEPTH, MAX_TOKENS, depth_limit_rule
from opgraph_app.graphql.schema import schema
from opgraph_app.workspace import current_workspace


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
        self.validation_rules = (*specified_rules, depth_limit_rule(max_depth))

    def get_context(self, request: Request, response: Response) -> GraphQLContext:  # type: ignore[override]
        extension: OpgraphExtension = current_app.extensions["opgraph"]
        instance = extension.instance
        _warm_up_launcher(extension)
        settings = instance.config.webserver
        return GraphQLContext(
            instance=instance,
            load_workspace=current_workspace,
            read_only=extension.read_only or settings.read_only,
            auth_token=settings.auth_token,
            authorization=request.headers.get("Authorization"),
        )

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
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as exc:
            raise GraphQLValidationError([exc]) from exc
        return execute_sync(
            schema=self.schema,
            query=document,
            root_value=root_value,
            variable_values=request_data.variables,
            context_value=context,
            operation_name=request_data.operation_name,
            allowed_operation_types=allowed_operation_types,
            validation_rules=self.validation_rules,
            validate_document=True,
        )

    def dispatch_request(self) -> Any:
        try:
            return self.run(request=request)
        except HTTPException as exc:  # graphql-server's: a malformed request
            return _json_error(exc.status_code, exc.reason)
        except WerkzeugHTTPException as exc:  # e.g. 413 from MAX_CONTENT_LENGTH
            return _json_error(exc.code or 400, exc.description or exc.name)


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
