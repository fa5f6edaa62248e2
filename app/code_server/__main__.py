"""`python -m opgraph_app.code_server ...`: what supervisors start (same options as `opgraph code-server`)."""

from opgraph_app.cli_code_server import code_server_command

if __name__ == "__main__":
    code_server_command(prog_name="python -m opgraph_app.code_server")
