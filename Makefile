# The two commands that matter: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint bench install browser clean

install: $(STAMP)

# (Re)install the project into .venv when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[local,test,lint]"
	@touch $(STAMP)

# Headless Chromium and its WebDriver (Debian's packages) for the browser tests: the report's
# and the Locust web UI's (Selenium drives /usr/bin/chromedriver).
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium and chromium-driver for the browser tests"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { echo "chromium or chromium-driver could not be installed; the browser tests need them"; exit 1; }

# Starts the local stack, creates 50 test users, runs the burst scenario (~1 min),
# writes reports/<run-id>/ and prints its path.
demo: $(STAMP)
	$(BIN)/harness run scenarios/burst.toml --local

# The suite mostly waits (on servers, on runs), so it runs several pytest-xdist workers per CPU,
# the tests sharing a module's stack on one worker (--dist loadgroup). Then the `timing` tests,
# which judge a release or a recovery to the millisecond, on a machine that is otherwise idle:
# two at a time (each uses well under one CPU). Both phases run; either failing fails.
TEST_JOBS   ?= $(shell echo $$(( $$(nproc) * 3 )))
TIMING_JOBS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? n : 2 )))
# The timing phase collects only the files that mark a test `pytest.mark.timing` (tests/conftest.py
# refuses a timing test marked any other way, which this would miss).
TIMING_FILES = $(shell grep -rl --include='test_*.py' 'pytest.mark.timing' tests)
# pytest keeps the test modules it has rewritten (assertions) in __pycache__, unless told not to
# write bytecode (PYTHONDONTWRITEBYTECODE): then every worker rewrites all of them, every run.
PYTEST      := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q

test: $(STAMP) browser
	@status=0; \
	$(PYTEST) -n $(TEST_JOBS) --dist loadgroup -m "not timing" || status=$$?; \
	$(PYTEST) -n $(TIMING_JOBS) --dist loadgroup -m timing $(TIMING_FILES) || status=$$?; \
	exit $$status

# The inner loop: the tests that need no server, subprocess, browser or clock (under a minute).
test-fast: $(STAMP)
	$(PYTEST) -n $(TEST_JOBS) --dist loadgroup -m "not integration and not browser and not timing"

# ruff (lint, then the format check) and mypy, configured in pyproject.toml; all three must be clean.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .harness
