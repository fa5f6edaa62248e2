# Every target creates .venv and installs the project itself: nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The whole platform (opgraph dev) runs the example job on Celery, then keeps the UI up
# until Ctrl-C; `make demo ONCE=1` (or no terminal) stops right after the run.
demo: $(STAMP)
	$(BIN)/python -m examples.demo $(if $(ONCE),--once)

# The packages mypy checks.
TYPED := opgraph storage celery_executor launchers app

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --suite core

clean:
	rm -rf $(VENV) .opgraph .pytest_cache
