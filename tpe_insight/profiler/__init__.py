"""The profiler's outputs, all computed from a recorded :class:`~tpe_insight.timeline.Timeline`.

``trace`` (Chrome/Perfetto JSON), ``report`` (self-contained HTML), ``summary`` (terminal text),
``whatif`` (sizing simulation), ``lints`` (misuse patterns) and ``stats`` (the shared numbers).
Nothing here runs on the per-task path: the recorder only stores spans; rendering happens here,
at report time.
"""
