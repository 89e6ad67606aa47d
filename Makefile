# Every target that needs Python creates .venv first, so a fresh clone needs only `make demo`
# or `make test`. PYTHON picks the interpreter for .venv (default: python3 on PATH).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

# demo-postgres: on DSN=postgresql://... if given, else on a throwaway local server (initdb in a
# temp dir, 127.0.0.1, a free port; stopped and removed at the end, on Ctrl-C and on failure too).
.PHONY: demo demo-postgres bench-postgres test test-loaded lint typecheck typing-api cpython-suite unit matrix bench bench-memory bench-profiler bench-truth soak clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tpe_insight.cli demo $(ARGS)

demo-postgres: $(STAMP)
	$(PY) -m tpe_insight.cli demo $(if $(DSN),--dsn '$(DSN)',--local-server) $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) scripts/build_dashboards.py --check
	$(PY) -m ruff format --check tpe_insight tests scripts $(wildcard benchmarks)

# scripts/: the dashboard generator, on grafana-foundation-sdk (Python >= 3.11, like the SDK).
typecheck: $(STAMP)
	$(PY) -m mypy
	$(PY) -m mypy --strict --python-version 3.11 scripts

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

# The suite on .venv's Python while one CPU-hog process per core keeps the machine busy: no test
# may depend on an idle machine (timed comparisons live in benchmarks/). Narrow it with ARGS.
test-loaded: $(STAMP)
	$(PY) scripts/with_cpu_hog.py -- $(PY) -m pytest -q -p no:cacheprovider $(ARGS)

# The benchmark suite (several minutes): every workload for the stdlib and each configuration,
# interleaved rounds, then the table (medians, spread, ratio to the stdlib in the same run).
# Narrow it with ARGS, e.g. `make bench ARGS="-k throughput"`; sizes: benchmarks/README.md.
BENCH_JSON := .benchmarks/latest.json
bench: $(STAMP)
	@mkdir -p .benchmarks
	$(PY) -m pytest benchmarks --benchmark-only -q -p no:cacheprovider \
		--benchmark-json=$(BENCH_JSON) $(ARGS)
	$(PY) -m benchmarks.report $(BENCH_JSON)

# The demo's queries on a throwaway PostgreSQL server: serial vs 1/2/4/8 workers (stdlib and
# tpe_insight), and the time from the failing query to an idle pool with and without the
# server-side cancel (a few minutes).
bench-postgres: $(STAMP)
	@mkdir -p .benchmarks
	$(PY) -m pytest benchmarks/test_postgres.py --benchmark-only -q -p no:cacheprovider \
		--benchmark-json=.benchmarks/postgres.json $(ARGS)
	$(PY) -m benchmarks.report .benchmarks/postgres.json

# Memory over 1M tasks (long: tracemalloc is on): RSS and traced memory must stay flat once warm.
bench-memory: $(STAMP)
	@mkdir -p .benchmarks
	TPE_BENCH_MEMORY_TASKS=1000000 $(PY) -m pytest benchmarks/test_memory.py --benchmark-only \
		-q -p no:cacheprovider --benchmark-json=.benchmarks/memory.json $(ARGS)
	$(PY) -m benchmarks.report .benchmarks/memory.json

# The profiler's claims against measured runs (a few minutes): each corpus workload at 1, 2, 4, 8
# workers, profiled once at 4; prints predicted vs measured and saves .benchmarks/truth.json.
bench-truth: $(STAMP)
	@mkdir -p .benchmarks
	$(PY) -m benchmarks.truth --json .benchmarks/truth.json $(ARGS)

# The profiler at scale: plain vs `tpe-insight run` of 50k and 1M no-op tasks, fresh interpreters,
# alternating rounds: wall ratio, peak RSS, post-processing time, trace/report sizes.
# Narrow it with ARGS, e.g. `make bench-profiler ARGS="--tasks 50000 --rounds 5"`.
bench-profiler: $(STAMP)
	$(PY) -m benchmarks.profiler_scale $(ARGS)

soak: $(STAMP)
	$(PY) -m pytest tests -q -m soak --run-soak

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache build dist \
		.benchmarks .hypothesis tpe-insight-out
