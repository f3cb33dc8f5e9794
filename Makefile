# optout: `make run` starts the local stack, `make test` runs every test.
# Needs only python3.11+ and make; everything else goes into .venv/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check

# Bytecode caches go under build/, never beside the sources: a chalicelib/__pycache__ would be zipped
# by `chalice package` with timestamp pycs that a cold Lambda instance revalidates and recompiles.
PYTHONPYCACHEPREFIX ?= $(CURDIR)/build/pycache
export PYTHONPYCACHEPREFIX

# Runtime + dev pins, read from pyproject.toml (the project itself is not a package: app.py + chalicelib/).
define READ_PINS
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
endef
export READ_PINS

.DEFAULT_GOAL := help
.PHONY: help install run test unit lint publish-event post-webhook bench package deploy backfill clean openapi fuzz browser-test

help:
	@echo "make run            start the local stack (API, embedded AWS endpoint, dispatcher)"
	@echo "make test           run the test suite"
	@echo "make unit           the unit tests only (seconds; the inner loop)"
	@echo "make lint           ruff check, ruff format --check, mypy, cfn-lint"
	@echo "make openapi        regenerate docs/openapi.json from chalicelib/openapi.py"
	@echo "make fuzz           schemathesis against a local stack (every route of /openapi.json)"
	@echo "make browser-test   the unsubscribe page in Debian's chromium via Playwright"
	@echo "make bench          benchmarks as ratios to the raw DynamoDB/SQS floor (bench/results.json)"
	@echo "make publish-event EVENT=events/<file>.json   publish to the local SES topic"
	@echo "make post-webhook PROVIDER=sendgrid|mailgun|postmark EVENT=events/<file>.json   sign + post to the local stack"
	@echo "make package [STAGE=dev]    chalice package into build/package/<stage> + cfn-lint (no AWS account needed)"
	@echo "make deploy STAGE=dev|prod  deploy the data stack, then the Chalice app (needs AWS credentials)"
	@echo "make backfill STAGE=dev|prod  once, after upgrading a stage from the first release: index its old DND/audit entries"
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
	$(BIN)/python -m pytest -q -n auto tests $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

openapi: install
	$(BIN)/python -m chalicelib.openapi > docs/openapi.json.tmp && mv docs/openapi.json.tmp docs/openapi.json

# Both start their own local stack on free ports; kept out of `make test` (see pytest addopts).
fuzz: install
	$(BIN)/python -m pytest -q -m fuzz tests/fuzz $(PYTEST_ARGS)

# Debian's chromium (tests/e2e/test_browser.py; OPTOUT_CHROMIUM names another binary): installed here
# with apt-get when missing and we are root (CI); otherwise a message says what to run.
CHROMIUM := $(or $(OPTOUT_CHROMIUM),/usr/bin/chromium)
browser-test: install
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "$(CHROMIUM) missing: installing Debian's chromium (apt-get install chromium)"; \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null || exit 1; \
	  else \
	    echo "make browser-test needs Chromium at $(CHROMIUM): run 'sudo apt-get install -y chromium'" \
	      "(Debian/Ubuntu), or set OPTOUT_CHROMIUM to a Chromium binary" >&2; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/python -m pytest -q -m browser tests/e2e/test_browser.py $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chalicelib app.py infra
	$(BIN)/cfn-lint infra/template.yaml

publish-event: install
	@test -n "$(EVENT)" || { echo "usage: make publish-event EVENT=events/<file>.json" >&2; exit 2; }
	$(BIN)/python -m infra.local.publish "$(EVENT)"

# Signed as the provider signs, with the development secrets the local stack sets on workspace default.
post-webhook: install
	@test -n "$(PROVIDER)" -a -n "$(EVENT)" || { echo "usage: make post-webhook PROVIDER=sendgrid|mailgun|postmark EVENT=events/<file>.json" >&2; exit 2; }
	$(BIN)/python -m infra.local.webhooks "$(PROVIDER)" "$(EVENT)" $(if $(WORKSPACE),--workspace "$(WORKSPACE)")

# Ratios to the physical floor (README, Performance): prints a table, writes bench/results.json.
# Starts its own local stack on spare ports; ~5 minutes on 2 cores. BENCH_ARGS=--quick for a smoke run.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# `chalice package` needs no AWS account: no credentials, no AWS calls (event-source ARNs are
# Fn::Sub). Dependencies are downloaded once per requirements.txt into .chalice/deployments/.
# OPTOUT_STAGE must match --stage: app.py names the SNS topic / SQS queues with deployed_name().
# infra.bytecode then adds unchecked-hash pycs to both zips (no compiling on a cold start; README, Deploy).
package: PKG_STAGE = $(or $(STAGE),dev)
package: install
	rm -rf build/package/$(PKG_STAGE)
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	  AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true OPTOUT_STAGE=$(PKG_STAGE) \
	  $(BIN)/chalice package --stage $(PKG_STAGE) build/package/$(PKG_STAGE)
	$(BIN)/python -m infra.bytecode build/package/$(PKG_STAGE)/deployment.zip build/package/$(PKG_STAGE)/layer-deployment.zip
	$(BIN)/cfn-lint build/package/$(PKG_STAGE)/sam.json infra/template.yaml

# Data stack (infra/template.yaml as stack optout-<stage>), its outputs into the Chalice stage, then
# `chalice deploy`. Needs AWS credentials and the stage's SSM parameters (README, Deploy).
deploy: install
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod" >&2; exit 2; }
	$(BIN)/python -m infra.deploy --stage $(STAGE)

# One-off, after `make deploy` upgraded a stage from the first release (README, Deploy): puts its older
# DND and audit entries into the R18 indexes. Resumable (build/backfill/<stage>.json), idempotent.
# Needs the operator permissions of `python -m infra.backfill --stage <stage> --print-policy`.
backfill: install
	@test -n "$(STAGE)" || { echo "usage: make backfill STAGE=dev|prod [BACKFILL_ARGS=--segments 8]" >&2; exit 2; }
	$(BIN)/python -m infra.backfill --stage $(STAGE) $(BACKFILL_ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
