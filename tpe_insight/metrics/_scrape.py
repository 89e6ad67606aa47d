"""Scrape-time helpers of the collector: column sums in C, samples with cached label dicts.

A scrape holds the GIL, so its cost is the application's latency spike. Two costs were ours, not
the encoder's: summing per-thread shards bucket by bucket in Python (149 fine buckets per
histogram since the per-pool histograms), and prometheus_client's ``add_metric``, which builds a
fresh label dict per sample (``dict(zip(names, values))`` plus the ``le`` label for every
bucket). Here the columns are summed with ``map(operator.add, …)`` and every exported series
keeps its label dicts from its first scrape; a scrape only creates the ``Sample`` tuples, the
same public ``prometheus_client.samples.Sample`` records ``add_metric`` appends to
``Metric.samples``. The encoder (``generate_latest``) is prometheus_client's, unchanged: the
exposition format is never written by hand.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

__all__ = [
    "SeriesLabels",
    "add_columns",
    "counter",
    "gauge",
    "histogram",
    "sum_columns",
    "summary",
]


def add_columns(total: list[int], counts: Sequence[int]) -> list[int]:
    """``total + counts`` element-wise (same length), without a Python-level loop."""
    return list(map(operator.add, total, counts))


def sum_columns(rows: Sequence[Sequence[int]]) -> list[int]:
    """The element-wise sum of ``rows`` (all of the same length, at least one) in one pass:
    ``zip`` hands ``sum`` one column at a time, both in C. Adding the rows two by two with
    :func:`add_columns` builds a list of boxed ints per row; with 3 shards per series and 50
    series per pool that was the collector's largest cost."""
    return list(map(sum, zip(*rows, strict=True)))


class SeriesLabels:
    """The label dicts of one exported series, built once and shared by all its samples.

    The dicts are handed to the encoder, which only reads them; nothing mutates them.
    """

    __slots__ = ("base", "buckets")

    def __init__(
        self, names: Sequence[str], values: Sequence[str], les: Sequence[str] = ()
    ) -> None:
        self.base = dict(zip(names, values, strict=True))
        self.buckets = tuple({**self.base, "le": le} for le in les)


def histogram(
    family: Metric, labels: SeriesLabels, cumulative: Sequence[int], total_sum: float
) -> None:
    """What ``HistogramMetricFamily.add_metric`` appends: the cumulative buckets (``+Inf``
    last), ``_count`` (= the ``+Inf`` bucket) and ``_sum``."""
    samples = family.samples
    name = family.name
    bucket = name + "_bucket"
    for bucket_labels, value in zip(labels.buckets, cumulative, strict=True):
        samples.append(Sample(bucket, bucket_labels, float(value)))
    samples.append(Sample(name + "_count", labels.base, float(cumulative[-1])))
    samples.append(Sample(name + "_sum", labels.base, total_sum))


def summary(family: Metric, labels: dict[str, str], count: float, total_sum: float) -> None:
    """What ``SummaryMetricFamily.add_metric`` appends without quantiles: ``_count`` and ``_sum``
    (prometheus_client's own ``Summary`` exports exactly these two)."""
    name = family.name
    family.samples.append(Sample(name + "_count", labels, count))
    family.samples.append(Sample(name + "_sum", labels, total_sum))


def counter(family: Metric, labels: dict[str, str], value: float) -> None:
    """What ``CounterMetricFamily.add_metric`` appends (without a ``_created`` sample)."""
    family.samples.append(Sample(family.name + "_total", labels, value))


def gauge(family: Metric, labels: dict[str, str], value: float) -> None:
    """What ``GaugeMetricFamily.add_metric`` appends."""
    family.samples.append(Sample(family.name, labels, value))
