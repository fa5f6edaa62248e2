# Every target creates .venv and installs the project itself: nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean lock

$(STAMP): pyproject.toml setup.cfg constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[dev]'
	$(MAKE) --no-print-directory $(IMPORT_NAMES)
	touch $(STAMP)

# mypy cannot follow the editable install's import hook (setup.cfg maps storage/ to
# opgraph_storage and so on): it reads the same folders through links under their
# installed names.
IMPORT_NAMES := $(VENV)/import-names
$(IMPORT_NAMES):
	mkdir -p $@
	ln -sfn ../../storage $@/opgraph_storage
	ln -sfn ../../launchers $@/opgraph_launchers
	ln -sfn ../../celery_executor $@/opgraph_celery
	ln -sfn ../../app $@/opgraph_app

install: $(STAMP)

# The editable install leaves the project's own modules uncompiled, and with
# PYTHONDONTWRITEBYTECODE set (as on the CI machine) Python never caches them: every process
# the tests, the demo and the benchmarks start (a Celery worker, a run worker, a code
# server) would compile them again, about 0.3 CPU-seconds a start. `pip install` of the
# wheel (deploy/Dockerfile) compiles them at install; this does the same, skipping what is
# fresh.
SOURCES := opgraph celery_executor storage app launchers examples benchmarks
BYTECODE := $(BIN)/python -m compileall -q -j 0 $(SOURCES)

# The whole platform (opgraph dev) runs the example job on Celery, then keeps the UI up
# until Ctrl-C; `make demo ONCE=1` (or no terminal) stops right after the run.
demo: $(STAMP)
	$(BYTECODE)
	$(BIN)/python -m examples.demo $(if $(ONCE),--once)

# The packages mypy checks.
TYPED := -p opgraph -p opgraph_storage -p opgraph_celery -p opgraph_launchers -p opgraph_app

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=$(IMPORT_NAMES) $(BIN)/mypy $(TYPED)
	$(BYTECODE)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=$(IMPORT_NAMES) $(BIN)/mypy $(TYPED)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BYTECODE)
	$(BIN)/python benchmarks/run.py --suite core

# constraints.txt: every dependency pinned from a clean resolve of setup.cfg (with the dev
# extra) in a throwaway virtualenv. Run it on purpose, then the tests, then commit the diff.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet '.[dev]'
	$(LOCK_VENV)/bin/pip check
	{ sed -n '/^#/p' constraints.txt; $(LOCK_VENV)/bin/pip freeze --exclude opgraph; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV) build
	-git diff --stat -- constraints.txt

clean:
	rm -rf $(VENV) .opgraph .pytest_cache
