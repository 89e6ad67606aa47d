# Every target that needs Python creates .venv first, so a fresh clone needs only `make demo`
# or `make test`. PYTHON picks the interpreter for .venv (default: python3 on PATH).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck typing-api cpython-suite unit matrix bench bench-memory soak clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tpe_insight.cli demo $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check tpe_insight tests $(wildcard benchmarks)

typecheck: $(STAMP)
	$(PY) -m mypy

# Ordinary user code must type-check under --strict, and a wrong argument to submit() must not.
typing-api: $(STAMP)
	$(PY) -m mypy --strict tests/typing/api.py
	@out=$$($(PY) -m mypy --strict tests/typing/rejected.py 2>&1); \
	if echo "$$out" | grep -q 'Argument 2 to "submit".*incompatible type "str"; expected "bytes"'; \
	then echo "tests/typing/rejected.py: the wrong argument to submit() is rejected, as it must be"; \
	else echo "error: mypy did not reject tests/typing/rejected.py as expected:"; echo "$$out"; exit 1; fi

# CPython's own thread-pool tests against our class and the stdlib's, on every pyenv Python that
# ships the test package (scripts/cpython_suite.py says which ran). Uses the .venv-3.X that the
# matrix made, so it runs after it.
cpython-suite: $(STAMP)
	$(PY) scripts/cpython_suite.py

unit: $(STAMP)
	$(PY) -m pytest -q

# The whole suite: lint, types, the tests on .venv's Python, then the same tests on every other
# CPython 3.10-3.13 that pyenv has (scripts/test-matrix.sh says which ran).
test: lint typecheck typing-api
	bash scripts/test-matrix.sh
	$(MAKE) cpython-suite

# The benchmark suite (several minutes): every workload for the stdlib and each configuration,
# interleaved rounds, then the table (medians, spread, ratio to the stdlib in the same run).
# Narrow it with ARGS, e.g. `make bench ARGS="-k throughput"`; sizes: benchmarks/README.md.
BENCH_JSON := .benchmarks/latest.json
bench: $(STAMP)
	@mkdir -p .benchmarks
	$(PY) -m pytest benchmarks --benchmark-only -q -p no:cacheprovider \
		--benchmark-json=$(BENCH_JSON) $(ARGS)
	$(PY) -m benchmarks.report $(BENCH_JSON)

# Memory over 1M tasks (long: tracemalloc is on): RSS and traced memory must stay flat once warm.
bench-memory: $(STAMP)
	@mkdir -p .benchmarks
	TPE_BENCH_MEMORY_TASKS=1000000 $(PY) -m pytest benchmarks/test_memory.py --benchmark-only \
		-q -p no:cacheprovider --benchmark-json=.benchmarks/memory.json $(ARGS)
	$(PY) -m benchmarks.report .benchmarks/memory.json

soak: $(STAMP)
	$(PY) -m pytest tests -q -m soak --run-soak

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache build dist
