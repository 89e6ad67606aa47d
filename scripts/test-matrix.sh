#!/usr/bin/env bash
# Runs the test suite on the default interpreter (.venv) and on every other CPython 3.10-3.13
# that pyenv has installed, each in its own virtualenv (.venv-3.X). Prints which versions ran.
# Fails if the default interpreter is missing or any run fails; a version pyenv lacks is
# reported as "not installed", never silently dropped.
set -euo pipefail
cd "$(dirname "$0")/.."

ran=()
missing=()
failed=()

run_suite() {  # $1: venv dir, $2: label
  local venv=$1 label=$2
  echo "=== tests on ${label}: $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])') ==="
  if "$venv/bin/python" -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}"; then
    ran+=("$label")
  else
    failed+=("$label")
  fi
}

# One pytest worker per core, a test file per worker at a time (module fixtures such as the
# Prometheus and PostgreSQL servers start once per file, and a file's tests keep their order):
# the suite waits on real scrapes and servers in places, so two workers halve its wall time.
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_ARGS=(-n "${PYTEST_WORKERS:-auto}" --dist loadfile ${PYTEST_EXTRA:-})
test -x .venv/bin/python || { echo "error: .venv is missing; run 'make test' (it creates it)"; exit 1; }
default_minor=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
run_suite .venv "default python ${default_minor}"

if command -v pyenv >/dev/null 2>&1; then
  for minor in 3.10 3.11 3.12 3.13; do
    [ "$minor" = "$default_minor" ] && continue
    prefix=$(pyenv prefix "$(pyenv versions --bare | grep -E "^${minor}\.[0-9]+$" | sort -V | tail -1)" 2>/dev/null || true)
    if [ -z "$prefix" ] || [ ! -x "$prefix/bin/python" ]; then
      missing+=("$minor"); continue
    fi
    venv=".venv-${minor}"
    if [ ! -f "$venv/.installed-dev" ] || [ pyproject.toml -nt "$venv/.installed-dev" ]; then
      "$prefix/bin/python" -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --upgrade pip
      "$venv/bin/python" -m pip install --quiet -e '.[dev]'
      touch "$venv/.installed-dev"
    fi
    run_suite "$venv" "python ${minor}"
  done
else
  echo "note: pyenv not found; only the default interpreter was tested"
fi

echo "=== matrix summary ==="
echo "ran:           ${ran[*]:-none}"
echo "failed:        ${failed[*]:-none}"
echo "not installed: ${missing[*]:-none}"
[ ${#failed[@]} -eq 0 ] && [ ${#ran[@]} -gt 0 ]
