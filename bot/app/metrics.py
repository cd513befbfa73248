"""Prometheus metrics.

Intake outcomes are counted in-process (multiprocess-safe under gunicorn when
PROMETHEUS_MULTIPROC_DIR is set). Queue depth and handler durations/failures are read from the
queue and the store at scrape time, so they are right whichever process did the work.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

disable_created_metrics()

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

DELIVERIES = Counter(
    "modelbot_deliveries_total", "Webhook deliveries received, by event and intake outcome",
    ["event", "outcome"],
)


class StoreCollector:
    """Collects figures that live in the store and the queue."""

    def __init__(self, store, queue):
        self.store, self.queue = store, queue

    def collect(self):
        depth = GaugeMetricFamily("modelbot_queue_depth", "Tasks waiting in the queue", labels=["state"])
        try:
            depth.add_metric(["pending"], self.queue.depth())
            depth.add_metric(["scheduled"], self.queue.scheduled())
        except Exception:  # noqa: BLE001 - a scrape must not fail because the queue is down
            pass
        yield depth

        status = GaugeMetricFamily("modelbot_delivery_status", "Recorded deliveries by event and status",
                                   labels=["event", "status"])
        for event, state, count in self.store.delivery_counts():
            status.add_metric([event, state], count)
        yield status

        hist = HistogramMetricFamily("modelbot_handler_duration_seconds", "Handler run time",
                                     labels=["handler"])
        failures = CounterMetricFamily("modelbot_handler_failures", "Handler runs that raised",
                                       labels=["handler"])
        for handler, count, failed, total, *cumulative in self.store.handler_stats(DURATION_BUCKETS):
            buckets = [(str(b), int(c or 0)) for b, c in zip(DURATION_BUCKETS, cumulative)]
            buckets.append(("+Inf", int(count)))
            hist.add_metric([handler], buckets, float(total or 0.0))
            failures.add_metric([handler], int(failed or 0))
        yield hist
        yield failures

        # The GitHub request budget (bot.adapters.github.pacer; its book is in the store, shared by
        # every worker). Installation 0 is the App itself (installation tokens).
        waiting = GaugeMetricFamily("modelbot_github_writes_waiting",
                                    "GitHub writes waiting for the pacer, by installation", labels=["installation"])
        sent = CounterMetricFamily("modelbot_github_writes", "GitHub writes sent, by installation",
                                   labels=["installation"])
        coalesced = CounterMetricFamily("modelbot_github_writes_coalesced",
                                        "GitHub writes not sent because a newer one replaced them",
                                        labels=["installation"])
        refused = CounterMetricFamily("modelbot_github_rate_limited",
                                      "GitHub answers refusing a request for rate limiting (403/429)",
                                      labels=["installation"])
        waited = CounterMetricFamily("modelbot_github_write_wait_seconds",
                                     "Seconds GitHub writes waited for the pacer", labels=["installation"])
        for installation, n_waiting, n_sent, n_coalesced, n_refused, seconds in self.store.pacing_stats():
            label = [str(installation)]
            waiting.add_metric(label, n_waiting)
            sent.add_metric(label, n_sent)
            coalesced.add_metric(label, n_coalesced)
            refused.add_metric(label, n_refused)
            waited.add_metric(label, seconds)
        yield from (waiting, sent, coalesced, refused, waited)


def render(store, queue) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(DELIVERIES)
    registry.register(StoreCollector(store, queue))
    return generate_latest(registry)
