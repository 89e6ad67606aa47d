"""The Prometheus side: the contract (``catalogue``), per-thread storage (``shards``),
scrape-time families (``collector``), prometheus_client's multiprocess mode
(``multiprocess``), the HTTP endpoint (``server``) and reading a registry back (``readback``).

Laid out as prometheus_client separates storage (``values.py``), snapshot families
(``metrics_core.py``) and exposition. Import the submodules directly; this package module
re-exports nothing, so importing one room does not import the others.
"""
