# Two commands set everything up on a fresh clone:
#   make serve   - create .venv, install, run the reference service on the embedded defaults
#   make test    - create .venv, install, run the whole test suite
# Both are idempotent: the install step re-runs only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: setup serve mock test browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(PY) -m reference_service --host $(HOST) --port $(PORT)

mock: $(STAMP)
	$(PY) -m mock_llm --port 9000

# CI installs Debian's Chromium for the one browser test; elsewhere that test skips
# with its reason when no browser is installed (or run `make browser` as root).
test: $(STAMP)
	@if [ -n "$$CI" ]; then $(MAKE) --no-print-directory browser; fi
	$(PY) -m pytest $(PYTEST_ARGS)

browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "no chromium and cannot install it here: the browser test will skip"; fi

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
