PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt clean bench asan

# setup.py builds the optional C extensions (src/gearshift/ingest/_scan.c, _walk.c) in place.
$(STAMP): pyproject.toml setup.py src/gearshift/ingest/_scan.c src/gearshift/ingest/_walk.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gearshift demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite, then the ingest suite again on the pure-Python parser (the fallback used
# where the C parser cannot be compiled), then the C parser's tests on an AddressSanitizer build.
test: lint
	$(BIN)/python -m pytest -q
	GEARSHIFT_PURE_PYTHON=1 $(BIN)/python -m pytest -q tests/ingest
	scripts/asan.sh

asan: $(STAMP)
	scripts/asan.sh

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build dist *.egg-info src/gearshift/ingest/*.so
