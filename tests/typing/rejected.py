"""A wrong argument type to ``submit`` must be rejected by ``mypy --strict`` (``make typing-api``
checks that this file FAILS to type-check), as it is with the stdlib class: typeshed types
``submit`` with a ParamSpec, and so do we."""

from __future__ import annotations

from tpe_insight import ThreadPoolExecutor


def parse(data: bytes) -> int:
    return len(data)


with ThreadPoolExecutor(1) as pool:
    pool.submit(parse, "not bytes")
