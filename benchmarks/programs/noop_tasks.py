"""N no-op tasks through the stdlib ThreadPoolExecutor (what `tpe-insight run` instruments).

Used by `benchmarks/profiler_scale.py`: run plainly with `python` and under `tpe-insight run`,
the difference is the profiler's price. N comes from argv[1] (default 50,000).
"""

import concurrent.futures
import sys


def noop(x: int) -> int:
    return x


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(noop, i) for i in range(count)]
        total = sum(f.result() for f in futures)
    print(f"{count} tasks, checksum {total}")


if __name__ == "__main__":
    main()
