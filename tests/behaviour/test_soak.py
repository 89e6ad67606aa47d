"""Soak: exact books under load, with /metrics scraped over HTTP all the time.

Eight long-lived pools of different sizes take a mix of fast, slow, failing and cancelled tasks
from several submitting threads, while another thread creates and shuts down short-lived pools
(one of them sharing a label with a live pool) and another scrapes ``/metrics`` over HTTP every
couple of milliseconds. Every scrape must parse, show no negative gauge and no counter going
backwards. At quiescence every label's books must balance *exactly* against what the futures
themselves reported: submitted, finished by outcome, exceptions, and all gauges back to zero.

``make test`` runs a short version; ``make soak`` runs one million tasks and reports RSS.
"""

from __future__ import annotations

import gc
import random
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tpe_insight import ThreadPoolExecutor, start_metrics_server

SIZES = (1, 2, 3, 4, 5, 6, 8, 16)
LABELS = tuple(f"soak-{i}" for i in range(len(SIZES)))
SHARED = LABELS[3]  # churn pools also use this label while its long-lived pool is alive
CHURN = "soak-churn"
GAUGES = ("tpe_tasks_queued", "tpe_tasks_running", "tpe_workers", "tpe_workers_max")


class Boom(Exception):
    pass


def fast(n: int) -> int:
    return n * n


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def failing(n: int) -> None:
    raise Boom(n)


@dataclass
class Tally:
    """What the futures themselves said, per pool label and outcome."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, label: str, futures: list[Future[Any]]) -> None:
        local: Counter[tuple[str, str]] = Counter()
        for future in futures:
            if future.cancelled():
                local[(label, "cancelled")] += 1
            elif future.exception() is not None:
                assert isinstance(future.exception(), Boom)
                local[(label, "error")] += 1
            else:
                local[(label, "success")] += 1
        with self.lock:
            self.counts.update(local)

    def total(self, label: str) -> int:
        return sum(n for (lab, _), n in self.counts.items() if lab == label)


def submit_mix(pool: ThreadPoolExecutor, rng: random.Random, n: int) -> list[Future[Any]]:
    futures: list[Future[Any]] = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.70:
            futures.append(pool.submit(fast, i))
        elif kind < 0.80:
            futures.append(pool.submit(slow, 0.0002))
        elif kind < 0.92:
            futures.append(pool.submit(failing, i))
        else:
            future = pool.submit(slow, 0.0002)
            future.cancel()  # succeeds only while queued; either way the tally knows
            futures.append(future)
    return futures


class Scraper(threading.Thread):
    """Scrapes over HTTP until stopped; checks every scrape; keeps the failures it saw."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(name="scraper", daemon=True)
        self.url = url
        self.interval = interval
        self.stop = threading.Event()
        self.scrapes = 0
        self.problems: list[str] = []
        self.last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def scrape_once(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(self.url, timeout=30) as response:
            text = response.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def check(self, samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
        for (name, labels), value in samples.items():
            if name in GAUGES and value < 0:
                self.problems.append(f"negative {name}{labels} = {value}")
            if name.endswith(("_total", "_count", "_bucket", "_sum")) and name.startswith("tpe_"):
                before = self.last.get((name, labels), 0.0)
                if value < before:
                    self.problems.append(f"{name}{labels} went back {before} -> {value}")
        self.last = samples

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.check(self.scrape_once())
                self.scrapes += 1
            except Exception as exc:  # every failure is a finding
                self.problems.append(f"scrape failed: {exc!r}")
            self.stop.wait(self.interval)


def churn(reg: CollectorRegistry, stop: threading.Event, tally: Tally, seed: int) -> int:
    """Create and shut down short-lived pools until stopped; returns how many it made."""
    rng = random.Random(seed)
    made = 0
    while not stop.is_set():
        label = SHARED if made % 3 == 0 else CHURN
        pool = ThreadPoolExecutor(rng.choice((1, 2, 4)), name=label, registry=reg)
        futures = submit_mix(pool, rng, 40)
        pool.shutdown(wait=True, cancel_futures=rng.random() < 0.5)
        tally.record(label, futures)
        made += 1
    return made


def run_soak(total_tasks: int, submitters: int, batch: int) -> dict[str, Any]:
    reg = CollectorRegistry()
    server, _ = start_metrics_server(0, registry=reg)
    scraper = Scraper(f"http://127.0.0.1:{server.server_port}/metrics", interval=0.002)
    pools = {
        label: ThreadPoolExecutor(size, name=label, registry=reg)
        for label, size in zip(LABELS, SIZES, strict=True)
    }
    tally = Tally()
    stop_churn = threading.Event()
    churned: list[int] = []
    errors: list[BaseException] = []

    def submitter(index: int) -> None:
        try:
            rng = random.Random(index)
            for _ in range(total_tasks // submitters // batch):
                label = rng.choice(LABELS)
                futures = submit_mix(pools[label], rng, batch)
                wait([f for f in futures if not f.cancelled()])
                tally.record(label, futures)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def churner() -> None:
        churned.append(churn(reg, stop_churn, tally, seed=99))

    rss_before = rss_kib()
    started = time.perf_counter()
    scraper.start()
    churn_thread = threading.Thread(target=churner, name="churn")
    churn_thread.start()
    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(submitters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop_churn.set()
    churn_thread.join()
    for pool in pools.values():
        pool.shutdown()
    scraper.stop.set()
    scraper.join()
    gc.collect()  # worker exits are counted when their thread-local state is freed
    final = scraper.scrape_once()
    scraper.check(final)
    server.shutdown()
    server.server_close()
    assert not errors, errors
    return {
        "reg": reg,
        "tally": tally,
        "final": final,
        "scrapes": scraper.scrapes,
        "problems": scraper.problems,
        "churned": churned[0],
        "rss_before": rss_before,
        "rss_after": rss_kib(),
        "seconds": time.perf_counter() - started,
    }


def rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def check_books(result: dict[str, Any]) -> None:
    """At quiescence, every label balances exactly against the futures' own outcomes."""
    reg: CollectorRegistry = result["reg"]
    tally: Tally = result["tally"]
    assert result["problems"] == []
    assert result["scrapes"] > 0
    for label in (*LABELS, CHURN):

        def g(name: str, label: str = label, **labels: str) -> float:
            return reg.get_sample_value(name, {"pool": label, **labels}) or 0.0

        finished = Counter[str]()
        exceptions = 0.0
        for family in reg.collect():
            for s in family.samples:
                if s.labels.get("pool") != label:
                    continue
                if s.name == "tpe_tasks_finished_total":
                    finished[s.labels["outcome"]] += int(s.value)
                if s.name == "tpe_task_exceptions_total":
                    assert s.labels["exception"] == f"{__name__}.Boom"
                    exceptions += s.value
        expected = {o: tally.counts[(label, o)] for o in ("success", "error", "cancelled")}
        assert {o: finished[o] for o in expected} == expected, label
        submitted = g("tpe_tasks_submitted_total")
        assert submitted == tally.total(label), label
        assert submitted == sum(finished.values()) + g("tpe_tasks_queued") + g("tpe_tasks_running")
        assert exceptions == expected["error"]
        for gauge in GAUGES:
            assert g(gauge) == 0, (label, gauge)


@pytest.mark.timeout(120)
def test_short_soak() -> None:
    result = run_soak(total_tasks=40_000, submitters=4, batch=100)
    check_books(result)
    assert result["churned"] > 0
    assert result["tally"].counts[(SHARED, "success")] > 0


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_long_soak_one_million_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    # Warm up first (code paths, shards, allocator arenas), then measure a million tasks.
    run_soak(total_tasks=20_000, submitters=4, batch=200)
    gc.collect()
    result = run_soak(total_tasks=1_000_000, submitters=4, batch=200)
    check_books(result)
    tally: Tally = result["tally"]
    by_outcome = Counter[str]()
    for (_, outcome), n in tally.counts.items():
        by_outcome[outcome] += n
    with capsys.disabled():
        print(
            f"\nsoak: {sum(tally.counts.values())} tasks {dict(by_outcome)} over"
            f" {len(LABELS)} long-lived pools and {result['churned']} churn pools;"
            f" {result['scrapes']} HTTP scrapes in {result['seconds']:.0f} s;"
            f" RSS {result['rss_before']} KiB -> {result['rss_after']} KiB"
        )
    # Flat once warm: a million tasks may not keep memory (generous bound for allocator noise).
    assert result["rss_after"] - result["rss_before"] < 64 * 1024
