"""Prometheus metrics of one archive (A5): its own registry, no module globals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from radhub.catalog import Catalog
    from radhub.ingest import IngestResult

__all__ = ["ArchiveMetrics"]


class _CatalogCollector(Collector):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        t = self.catalog.totals()
        for key in ("patients", "studies", "series", "instances"):
            yield GaugeMetricFamily(f"radhub_{key}_stored", f"{key.capitalize()} in the catalog", value=t[key])
        yield GaugeMetricFamily("radhub_bytes_stored", "Bytes of stored instances", value=t["bytes"])
        flags = GaugeMetricFamily("radhub_instances_flagged", "Instances per ingest-check code (A8)", labels=["check"])
        for code, n in sorted(self.catalog.check_counts().items()):
            flags.add_metric([code], n)
        yield flags


class ArchiveMetrics:
    """Counters and histograms exported at ``/metrics``."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "radhub_ingest", "Objects received, by entry point and outcome", ["source", "status"], registry=self.registry
        )
        self.ingest_bytes = Counter(
            "radhub_ingest_bytes", "Bytes of objects received and stored", ["source"], registry=self.registry
        )
        self.rejects = Counter(
            "radhub_ingest_rejects", "Objects rejected, by reason code", ["reason"], registry=self.registry
        )
        self.request_latency = Histogram(
            "radhub_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.dimse_latency = Histogram(
            "radhub_dimse_request_duration_seconds",
            "DIMSE request handling latency",
            ["command", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.registry.register(_CatalogCollector(catalog))

    def on_ingest(self, source: str, result: IngestResult) -> None:
        """Ingest listener: count the outcome."""
        self.ingested.labels(source=source, status=result.status.value).inc()
        if result.status.value == "stored":
            self.ingest_bytes.labels(source=source).inc(result.size)
        if result.status.value == "rejected":
            self.rejects.labels(reason=result.code or "unknown").inc()

    def render(self) -> bytes:
        """Prometheus text exposition format."""
        return generate_latest(self.registry)
