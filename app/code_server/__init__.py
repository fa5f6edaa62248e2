"""The code server: one process per code location, answering over HTTP/JSON.

`http.py` is the Flask app (routes of `opgraph.workspace.protocol`), `serve.py` binds it,
loads the code and watches the parent; `python -m opgraph_app.code_server` and
`opgraph code-server` both start it.
"""
