"""The GraphiQL page at `GET /graphql` (a browser's request): the project's own files.

GraphiQL, React and their CSS come from `app/static/vendor/graphiql` (pinned, see its
README), under the UI's Content-Security-Policy. The page has no inline script and shows
nothing of the request: `static/graphiql/page.js` reads `?query=` itself, as data.
"""

from __future__ import annotations

from flask import Response, render_template

from opgraph_app.ui.views import CONTENT_SECURITY_POLICY

# The UI's policy, plus the fonts GraphiQL's CSS embeds as data: URLs (a font runs nothing).
GRAPHIQL_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY + "; font-src 'self' data:"


def graphiql_page() -> Response:
    response = Response(render_template("graphiql.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = GRAPHIQL_CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response
