"""A server on this machine: an I/O pool whose waits may be another process's CPU on our cores.

The constructed case: 8 tasks on 4 workers and 2 cores. Each task uses 0.01 s of its own CPU
and waits for a query that needs 0.35 s of a server's CPU on one core. Alone, a task takes
0.36 s, so the serial time is known: 8 x 0.36 = 2.88 s. Four at a time, the server runs four
queries on the two cores (less our CPU): each query takes twice as long, a task 0.72 s, two
rounds 1.44 s. The profile sees sleeping threads (I/O) and, from /proc/stat, the other
processes using 2.8 s of CPU in those 1.44 s. Σ run ÷ wall claims x4.0; the truth is x2.0.
"""

from __future__ import annotations

import jsonschema
import pytest

from tests.helpers import lanes
from tpe_insight.profiler import model as m
from tpe_insight.profiler.jsonout import SCHEMA, summary_dict
from tpe_insight.profiler.lints import check
from tpe_insight.profiler.model import local_peer, model_timeline
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import MachineWindow, PoolRecord, Span, Timeline, WorkerRecord

SERIAL = 8 * (0.01 + 0.35)
WALL = 1.44


def _queries(pool_id: int = 1) -> list[Span]:
    """The worked example's 8 queries: 0.72 s each (0.01 s of it CPU) on 4 workers."""
    return lanes(8, lanes=4, run=0.72, cpu=0.01, pool_id=pool_id, name="query")


def _timeline(
    spans: list[Span],
    window: MachineWindow | None,
    *,
    cores: int = 2,
    max_workers: int = 4,
) -> Timeline:
    lanes = sorted({s.worker_id for s in spans if s.worker_id is not None})
    return Timeline(
        pools=[PoolRecord(1, "queries", max_workers, 0.0, None)],
        workers=[WorkerRecord(w, 1, f"w_{w}", 0.0, 100 + w, 0.0) for w in lanes],
        spans=spans,
        cores=cores,
        run_queue_at_end=dict.fromkeys(lanes, 0.0),
        machine={} if window is None else {1: window},
    )


def _window(
    other: float, *, own: float = 0.08, seconds: float = WALL, cpus: int = 2
) -> MachineWindow:
    return MachineWindow(0.0, seconds, other, own, cpus, 0.01)


def _saturated() -> Timeline:
    return _timeline(_queries(), _window(2.8))


def test_unobserved_the_model_says_nothing_new() -> None:
    """Without the observation (not Linux, no /proc) the I/O claim is what it always was:
    x4.0, a point. This is the claim the observation must correct."""
    (model,) = model_timeline(_timeline(_queries(), None))
    assert model.work_type == "io"
    assert model.local_peer is None
    assert model.speedup.value == pytest.approx(4.0)


def test_a_saturated_machine_turns_the_claim_into_a_range_that_holds_the_serial_time() -> None:
    """The other processes used 1.94 of 2 cores: the waits may be a server queueing for a
    core. Serial and speedup become "cannot tell", and their ranges hold the known truth."""
    (model,) = model_timeline(_saturated())
    assert model.work_type == "io"
    peer = model.local_peer
    assert peer is not None
    assert peer.other_cores == pytest.approx(2.8 / WALL)
    assert peer.cores == 2
    assert peer.changed_claim  # a point (x4.0) became a range: the lint and the reason say so
    # Saturated the whole wall: 4 requests in flight at most, the others' CPU 2.8 s less the
    # two readings' tick error (2 x 2 CPUs x 0.01 s): 4 x 1.44 - 2.76 = 3.0 s at most.
    assert peer.excess_seconds == pytest.approx(4 * WALL - (2.8 - 0.04))
    serial = model.serial_seconds
    assert serial.value is None
    assert serial.low <= SERIAL <= serial.high
    speedup = model.speedup
    assert speedup.value is None
    assert speedup.low <= SERIAL / WALL <= speedup.high
    assert speedup.high == pytest.approx(4.0)
    assert "other processes on this machine used 1.9 of 2 core(s)" in model.reason


def test_the_what_if_says_more_workers_may_not_help() -> None:
    """With a CPU-bound server on the saturated cores, 8 workers take as long as 4 (2.88 s of
    CPU on 2 cores) and 1 worker takes the serial time: both inside the what-if's ranges."""
    (model,) = model_timeline(_saturated())
    what_if = {w.max_workers: w for w in model.what_if}
    one, eight = what_if[1], what_if[8]
    assert one.predicted_wall_seconds is None
    assert one.low <= SERIAL <= one.high
    assert eight.predicted_wall_seconds is None
    assert eight.low <= SERIAL / 2 <= eight.high
    # Without the observation, 8 workers would "help" down to half the recorded wall.
    (blind,) = model_timeline(_timeline(_queries(), None))
    assert {w.max_workers: w for w in blind.what_if}[8].low < WALL * 0.6


def test_a_quiet_machine_keeps_the_point_claim() -> None:
    """The same recording with the other processes idle (0.03 s of CPU, within the 0.04 s tick
    error of none): no server worked for these tasks, so none queued; the point claim stands."""
    (model,) = model_timeline(_timeline(_queries(), _window(0.03)))
    assert model.local_peer is not None
    # The docs' figures: E = 0.
    assert model.local_peer.excess_seconds == 0.0
    assert not model.local_peer.changed_claim
    assert "other processes" not in model.reason
    assert model.speedup.value == pytest.approx(4.0)
    assert model.speedup.low == pytest.approx((5.76 - 0.24) / WALL)
    assert model.serial_seconds.value == pytest.approx(8 * 0.72)
    assert "local-peer" not in [
        lint.code for lint in check(analyse(_timeline(_queries(), _window(0.03))))
    ]


def test_cpu_work_in_the_process_is_not_read_as_a_peer() -> None:
    """GIL-free CPU in the process (SQLite, hashlib) on a saturated machine: the rule is for
    waits, not for CPU the process can see; the claims are those without the observation."""
    spans = lanes(8, lanes=4, run=0.2, cpu=0.1, name="query")
    queue = dict.fromkeys((1, 2, 3, 4), 0.2)
    observed = _timeline(spans, _window(1.6, own=0.8, seconds=0.4))
    observed.run_queue_at_end = dict(queue)
    blind = _timeline(spans, None)
    blind.run_queue_at_end = dict(queue)
    (with_window,) = model_timeline(observed)
    (without,) = model_timeline(blind)
    assert with_window.work_type == "cpu_parallel"
    assert with_window.local_peer is None
    assert with_window.speedup == without.speedup
    assert with_window.what_if == without.what_if


def test_a_window_longer_than_the_pool_widens_the_bound() -> None:
    """The pool idled 1.56 s before its shutdown and the machine went quiet: the 2.8 s of
    other CPU may all have fallen inside the pool's 1.44 s, or not; the bound assumes the
    least inside (none), and the range still holds the truth."""
    window = _window(2.8, seconds=3.0)
    direct = local_peer(window, wall=WALL, cores=2, concurrency=4, waiting=5.44)
    tight = local_peer(_window(2.8), wall=WALL, cores=2, concurrency=4, waiting=5.44)
    assert direct.excess_seconds >= tight.excess_seconds
    (model,) = model_timeline(_timeline(_queries(), window))
    assert model.serial_seconds.low <= SERIAL


def test_others_cpu_within_the_tick_error_is_no_server() -> None:
    """Our own CPU saturated the cores (a SQLite pool) while the others used 0.02 s, within
    the readings' tick error (2 CPUs x 2 readings x 10 ms) of none: no server did these tasks'
    work, so none queued for a core for them. Just above the error, the bound is back."""
    quiet_others = local_peer(
        _window(0.02, own=2.8), wall=WALL, cores=2, concurrency=4, waiting=5.44
    )
    assert quiet_others.excess_seconds == 0.0
    measurable = local_peer(_window(0.2, own=2.8), wall=WALL, cores=2, concurrency=4, waiting=5.44)
    assert measurable.excess_seconds > 0.0


def test_many_cpus_count_only_ours_and_clamp() -> None:
    """A 64-CPU host with a server on ~2 of them: never saturated, no excess worth a range.
    A reading above the cores (tick rounding, a reading of more CPUs) is clamped to them."""
    busy_host = local_peer(
        _window(2.8, own=0.08, cpus=64), wall=WALL, cores=64, concurrency=4, waiting=5.44
    )
    assert busy_host.excess_seconds < 0.15 * 5.76
    clamped = local_peer(_window(9.0, cpus=4), wall=WALL, cores=2, concurrency=4, waiting=5.44)
    assert clamped.cores == 2
    assert clamped.other_cores == pytest.approx(2.0)
    assert clamped.other_cpu_seconds == pytest.approx(2 * WALL)


def test_lint_says_it_in_words() -> None:
    """The lint names the cores the other processes used and the speedup's range."""
    found = [lint for lint in check(analyse(_saturated())) if lint.code == "local-peer"]
    assert len(found) == 1
    (model,) = model_timeline(_saturated())
    assert found[0].message.startswith(
        "other processes on this machine used 1.9 of 2 core(s) while this pool ran; if they "
        "are what its tasks wait on (a database or server on this machine), threads gain less"
    )
    assert f"x{model.speedup.low:.2f}-x{model.speedup.high:.2f}" in found[0].message


def test_summary_json_is_null_exactly_where_the_model_cannot_tell() -> None:
    """Two pools: the saturated one (range, machine_load given) and an unobserved twin (a point,
    machine_load null); the document validates."""
    timeline = _saturated()
    timeline.pools.append(PoolRecord(2, "elsewhere", 4, 0.0, None))
    timeline.spans.extend(_queries(pool_id=2))
    document = summary_dict(timeline)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    models = {model.pool_id: model for model in model_timeline(timeline)}
    by_id = {pool["pool_id"]: pool for pool in document["pools"]}
    saturated, elsewhere = by_id[1], by_id[2]
    assert saturated["speedup"]["value"] is None
    assert saturated["speedup"]["low"] == pytest.approx(models[1].speedup.low)
    assert saturated["serial_seconds"]["value"] is None
    assert saturated["machine_load"]["other_cores"] == pytest.approx(2.8 / WALL)
    assert saturated["machine_load"]["excess_seconds"] == pytest.approx(
        models[1].local_peer.excess_seconds if models[1].local_peer else -1
    )
    assert elsewhere["machine_load"] is None
    assert elsewhere["speedup"]["value"] == pytest.approx(4.0)
    for pool in document["pools"]:
        model = models[pool["pool_id"]]
        assert (pool["speedup"]["value"] is None) == (model.speedup.value is None)
        for row, claim in zip(pool["what_if"], model.what_if, strict=True):
            assert (row["predicted_wall_seconds"] is None) == (claim.predicted_wall_seconds is None)


def test_the_window_survives_the_trace_round_trip() -> None:
    """tpe-insight report rebuilds the timeline from trace.json: the window comes back."""
    timeline = _saturated()
    assert Timeline.from_dict(timeline.to_dict()) == timeline
    old = timeline.to_dict()
    del old["machine"]  # a trace written before the field existed
    assert Timeline.from_dict(old).machine == {}


def test_local_peer_is_exported() -> None:
    assert "local_peer" in m.__all__ and "LocalPeer" in m.__all__


def test_io_threads_that_queued_for_a_core_are_not_held_to_the_pools_cpu_rate() -> None:
    """The demo's PostgreSQL pool queued a little for a core (the server filled both): its
    threads wanted 0.17 of a core and got 0.06. A lone thread in the serial run is not held to
    0.06 cores (that would make its 0.08 s of CPU take 1.4 s): it got a third of the core time
    it wanted, so a pool that wanted both cores would get a third of each (2/3 of a core, at
    least the third a lone thread needs), and the speedup's range still holds the truth."""
    timeline = _saturated()
    timeline.run_queue_at_end = dict.fromkeys((1, 2, 3, 4), 0.04)  # 0.02 s per task
    (model,) = model_timeline(timeline)
    rho = 4 * 0.01 / 0.72
    runnable = 4 * (0.01 + 0.02) / 0.72
    assert model.concurrent_cpu_rate == pytest.approx(rho)
    assert model.effective_cores == pytest.approx(2 * rho / runnable)
    assert model.speedup.value is None
    assert model.speedup.low <= SERIAL / WALL <= model.speedup.high
