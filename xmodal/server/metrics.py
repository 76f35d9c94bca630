"""Request counts, errors and recent latency percentiles, kept in memory for GET /v1/metrics."""
from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np


class Metrics:
    """Thread-safe counters; latencies are a sliding window so percentiles reflect recent load."""

    def __init__(self, window: int):
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.latencies: dict[str, deque[float]] = {}
        self.window = window
        self.indexed_files = 0

    def record(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[route] += 1
            self.statuses[status] += 1
            self.latencies.setdefault(route, deque(maxlen=self.window)).append(seconds)

    def add_indexed(self, n: int) -> None:
        with self._lock:
            self.indexed_files += n

    def snapshot(self) -> dict:
        with self._lock:
            routes = {}
            for route, lat in self.latencies.items():
                arr = np.fromiter(lat, dtype=np.float64)
                routes[route] = {"count": self.requests[route],
                                 "p50_ms": round(float(np.percentile(arr, 50)) * 1000, 2),
                                 "p99_ms": round(float(np.percentile(arr, 99)) * 1000, 2)}
            total = sum(self.statuses.values())
            return {"uptime_s": round(time.time() - self.started, 1), "requests": total,
                    "errors_4xx": sum(v for k, v in self.statuses.items() if 400 <= k < 500),
                    "errors_5xx": sum(v for k, v in self.statuses.items() if k >= 500),
                    "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                    "indexed_files": self.indexed_files, "routes": routes}


class MetricsMiddleware:
    """Times every HTTP request by its route template (bounded label set, not raw URLs)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = f"{scope['method']} {getattr(route, 'path', None) or 'unmatched'}"
            self.metrics.record(label, status, time.perf_counter() - t0)


def to_prometheus(snapshot: dict) -> str:
    """The snapshot in Prometheus' text exposition format, for scrapers."""
    lines = ["# TYPE xmodal_uptime_seconds gauge", f"xmodal_uptime_seconds {snapshot['uptime_s']}",
             "# TYPE xmodal_requests_total counter"]
    for status, n in snapshot["statuses"].items():
        lines.append(f'xmodal_requests_total{{status="{status}"}} {n}')
    lines += ["# TYPE xmodal_indexed_files_total counter", f"xmodal_indexed_files_total {snapshot['indexed_files']}",
              "# TYPE xmodal_request_latency_ms gauge"]
    for route, r in snapshot["routes"].items():
        label = route.replace("\\", "\\\\").replace('"', '\\"')
        for q, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
            lines.append(f'xmodal_request_latency_ms{{route="{label}",quantile="{q}"}} {r[key]}')
    return "\n".join(lines) + "\n"
