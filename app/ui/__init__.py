"""The web UI: HTML pages served by the webserver itself.

Each page is a small HTML shell (`app/templates/ui/`) whose script (`app/static/ui/js/`)
reads everything through `/graphql` and `/runs/<id>/events` and acts only through GraphQL
mutations, exactly as any other client would. Every asset is shipped in the package:
the UI works without network access beyond the webserver. See docs/ui.md.
"""

from opgraph_app.ui.views import ui_blueprint

__all__ = ["ui_blueprint"]
