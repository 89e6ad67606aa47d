"""The profiler: recorded spans and what they tell.

One-way flow: ``recorder`` (a sink) builds a ``timeline`` (plain data); ``stats`` (with
``model``: every claim and prediction) analyses it; ``lints``, ``text`` (terminal summary),
``trace`` (Chrome/Perfetto JSON) and ``report`` (self-contained HTML) read the analysis;
``session`` (``profile()``) sits on top and starts, stops and renders. Nothing here runs on the
per-task path except the recorder's hooks, which only store tuples.
"""
