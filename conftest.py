"""Root conftest: loads test plugins that must register command-line options.

``pytest_addoption`` only works in plugins and in conftest files pytest sees first; keeping the
soak switch in its own module leaves ``tests/conftest.py`` (shared fixtures) untouched.
"""

pytest_plugins = ["tests.conftest_soak"]
