"""`python -P -m opgraph_app ...`: the `opgraph` command line, for processes we start.

Unlike `flask --app opgraph_app`, it does not put the working directory on sys.path (Flask's
`--app` does): `opgraph dev` runs its webserver and daemon from the user's project.
"""

from opgraph_app.cli import main

main(prog_name="opgraph")
