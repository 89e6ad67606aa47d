"""The README's examples run as written: each is extracted from README.md and executed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_fail_fast_example_runs_as_written() -> None:
    blocks = [b for b in python_blocks(README.read_text(encoding="utf-8")) if "fail_fast(" in b]
    assert len(blocks) == 1, "README.md should have exactly one fail_fast example"
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["result"] == {"spend": [(1, 120.5)], "recency": [(1, 3)]}
