"""Prometheus metrics of the service, in a registry of their own per application."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

# Reasons of docling_api_rejections_total: the request was refused before any conversion ran.
REJECTION_REASONS = (
    "queue_full",
    "low_memory",
    "shutting_down",
    "unauthorized",
    "upload_too_large",
    "too_many_pages",
    "image_too_large",
)

# Reasons of docling_api_worker_restarts_total. "crash" covers every abnormal exit: a signal such as
# SIGSEGV, SIGABRT or SIGKILL (what the out-of-memory killer sends), or an unexpected exit code.
RESTART_REASONS = ("crash", "timeout", "cancelled", "max_jobs", "max_rss")

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
        queue_depth: conversions waiting for a free worker.
        workers_busy: workers converting a document.
        rejections: requests refused before conversion, by reason (see ``REJECTION_REASONS``).
        timeouts: conversions stopped at their time limit.
        cancellations: conversions stopped because their request or task was cancelled or the service stopped.
        worker_restarts: worker replacements by reason (see ``RESTART_REASONS``).
        worker_rss: resident memory of each worker after its last conversion.
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
        # Export every series from the start, so a rate() over them works before the first event.
        for reason in RESTART_REASONS:
            self.worker_restarts.labels(reason=reason)

        self.queue_depth = Gauge(
            "docling_api_queue_depth",
            "Conversions waiting for a free worker.",
            registry=self.registry,
        )
        self.workers_busy = Gauge(
            "docling_api_workers_busy",
            "Worker processes converting a document.",
            registry=self.registry,
        )
        self.rejections = Counter(
            "docling_api_rejections",
            "Requests refused before conversion, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in REJECTION_REASONS:
            self.rejections.labels(reason=reason)

        self.timeouts = Counter(
            "docling_api_conversion_timeouts",
            "Conversions stopped at their time limit (their worker was replaced).",
            registry=self.registry,
        )
        self.cancellations = Counter(
            "docling_api_conversions_cancelled",
            "Conversions stopped because the client went away, the task was cancelled or the service stopped.",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("cancelled", "shutdown"):
            self.cancellations.labels(reason=reason)

        self.worker_rss = Gauge(
            "docling_api_worker_rss_bytes",
            "Resident memory of each worker process after its last conversion.",
            ["worker"],
            registry=self.registry,
        )

        self.workers_ready = Gauge(
            "docling_api_workers_ready",
            "Worker processes with models loaded.",
            registry=self.registry,
        )
