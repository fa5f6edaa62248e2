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

# The whole platform (opgraph dev) runs the example job on Celery, then keeps the UI up
# until Ctrl-C; `make demo ONCE=1` (or no terminal) stops right after the run.
demo: $(STAMP)
	$(BIN)/python -m examples.demo $(if $(ONCE),--once)

# The packages mypy checks.
TYPED := -p opgraph -p opgraph_storage -p opgraph_celery -p opgraph_launchers -p opgraph_app

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=$(IMPORT_NAMES) $(BIN)/mypy $(TYPED)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=$(IMPORT_NAMES) $(BIN)/mypy $(TYPED)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
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
