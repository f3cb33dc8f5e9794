# optout: `make run` starts the local stack, `make test` runs every test.
# Needs only python3.11+ and make; everything else goes into .venv/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check

# Runtime + dev pins, read from pyproject.toml (the project itself is not a package: app.py + chalicelib/).
define READ_PINS
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
endef
export READ_PINS

.DEFAULT_GOAL := help
.PHONY: help install run test lint publish-event bench package deploy clean

help:
	@echo "make run            start the local stack (API, embedded AWS endpoint, dispatcher)"
	@echo "make test           run the test suite"
	@echo "make lint           ruff, mypy, cfn-lint"
	@echo "make publish-event EVENT=events/<file>.json   publish to the local SES topic"
	@echo "make install        create .venv and install the pinned dependencies"
	@echo "make clean          remove caches and build output (rm -rf .venv for a full reset)"

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "optout needs Python 3.11+; try make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# Re-installs only when the pins change.
$(STAMP): pyproject.toml requirements.txt | $(BIN)/python
	$(BIN)/python -c "$$READ_PINS" > $(VENV)/pins.txt
	$(PIP) install --quiet -r $(VENV)/pins.txt
	@touch $@

run: install
	$(BIN)/python -m infra.local

test: install
	$(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy chalicelib app.py infra
	$(BIN)/cfn-lint infra/template.yaml

publish-event: install
	@test -n "$(EVENT)" || { echo "usage: make publish-event EVENT=events/<file>.json" >&2; exit 2; }
	$(BIN)/python -m infra.local.publish "$(EVENT)"

bench package deploy:
	@echo "make $@: not implemented yet" >&2
	@exit 1

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
