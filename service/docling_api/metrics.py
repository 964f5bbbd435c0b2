"""Prometheus metrics of the service, in a registry of their own per application."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The service's metrics.

    Attributes:
        requests: requests by endpoint (route template), method and status code.
        request_seconds: request latency by endpoint.
        conversions: conversions by result status and input format.
        conversion_seconds: time inside a worker per conversion.
        queue_seconds: time a conversion waited for a free worker.
        pages: pages converted.
        in_flight: conversions waiting for or running in a worker.
        worker_restarts: worker replacements by reason (crash, timeout).
        workers_ready: workers that are loaded and idle or busy.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)

        self.requests = Counter(
            "docling_api_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "docling_api_request_duration_seconds",
            "HTTP request latency in seconds by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.conversions = Counter(
            "docling_api_conversions",
            "Conversions by result status and input format.",
            ["status", "input_format"],
            registry=self.registry,
        )
        self.conversion_seconds = Histogram(
            "docling_api_conversion_duration_seconds",
            "Seconds a worker spent on one conversion.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_seconds = Histogram(
            "docling_api_queue_duration_seconds",
            "Seconds a conversion waited for a free worker.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pages = Counter("docling_api_pages_converted", "Pages converted.", registry=self.registry)
        self.in_flight = Gauge(
            "docling_api_conversions_in_flight",
            "Conversions waiting for or running in a worker.",
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "docling_api_worker_restarts",
            "Worker processes replaced, by reason.",
            ["reason"],
            registry=self.registry,
        )
        # Export both series from the start, so a rate() over them works before the first restart.
        for reason in ("crash", "timeout"):
            self.worker_restarts.labels(reason=reason)

        self.workers_ready = Gauge(
            "docling_api_workers_ready",
            "Worker processes with models loaded.",
            registry=self.registry,
        )
