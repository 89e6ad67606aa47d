"""Root conftest: loads test plugins that must register command-line options.

``pytest_addoption`` only works in plugins and in conftest files pytest sees first; keeping the
soak switch in its own module leaves ``tests/conftest.py`` (shared fixtures) untouched. The
session's throwaway PostgreSQL server fixture lives in ``tests/postgres_fixture.py``.
"""

pytest_plugins = ["tests.conftest_soak", "tests.postgres_fixture"]
