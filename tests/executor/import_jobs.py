"""A job whose op reports which of the webserver's packages its process has imported."""

import sys

from opgraph import job, op

# The webserver's stack, and Alembic (only `opgraph instance migrate` and a new
# database's first process need it).
WEB_PACKAGES = ("flask", "werkzeug", "graphene", "graphql", "graphql_server", "alembic")


def web_packages_imported() -> list[str]:
    tops = {name.split(".")[0] for name in sys.modules}
    return sorted(tops & {*WEB_PACKAGES, "opgraph_app"})


@op
def report_imports():
    return web_packages_imported()


@job
def imports_job():
    report_imports()
