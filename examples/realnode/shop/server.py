"""The real shop's service: a small HTTP server whose errors, latency and memory are its own.

SHOP_MODE=serve (default) answers GET / on $PORT (8080) and exposes Prometheus metrics on
/metrics: http_requests_total{code} and http_request_duration_seconds (histogram), counted by
the container itself. The image's SHOP_FAULT decides how a release misbehaves:
  errors  - answers 500 to SHOP_ERROR_RATE of the requests (default 0.6)
  slow    - adds SHOP_LATENCY_MS (default 400) to every answer
  crash   - exits with status 1 at start (CrashLoopBackOff)
  unready - turns unready after SHOP_UNREADY_AFTER seconds (default 5) and stays so
Any release wedges for good (unready, as a deadlocked worker pool would) on POST /wedge.
SHOP_MEMORY_MB holds that much memory from the start (a limit below it means OOMKilled).
SHOP_MODE=load is the load generator: SHOP_RPS requests per second to each service named in
SHOP_TARGETS (service names; addresses from the service environment variables).
"""

import http.server
import os
import random
import signal
import sys
import threading
import time
import urllib.request

FAULT = os.environ.get("SHOP_FAULT", "")
ERROR_RATE = float(os.environ.get("SHOP_ERROR_RATE", "0.6"))
LATENCY = float(os.environ.get("SHOP_LATENCY_MS", "400")) / 1000 if FAULT == "slow" else 0.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STARTED = time.monotonic()
wedged = threading.Event()
lock = threading.Lock()
requests = {}
histogram = [0] * (len(BUCKETS) + 1)
duration_sum = 0.0


def observe(code, seconds):
    global duration_sum
    with lock:
        requests[code] = requests.get(code, 0) + 1
        duration_sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                histogram[i] += 1
        histogram[-1] += 1


def exposition():
    lines = ["# TYPE http_requests_total counter"]
    with lock:
        for code, n in sorted(requests.items()):
            lines.append(f'http_requests_total{{code="{code}"}} {n}')
        lines.append("# TYPE http_request_duration_seconds histogram")
        for bound, n in zip(BUCKETS, histogram, strict=False):
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {n}')
        lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {histogram[-1]}')
        lines.append(f"http_request_duration_seconds_sum {duration_sum}")
        lines.append(f"http_request_duration_seconds_count {histogram[-1]}")
    return ("\n".join(lines) + "\n").encode()


def ready():
    after = float(os.environ.get("SHOP_UNREADY_AFTER", "5"))
    return not wedged.is_set() and not (FAULT == "unready" and time.monotonic() - STARTED > after)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        if self.path == "/metrics":
            return self.answer(200, exposition(), "text/plain; version=0.0.4")
        if self.path == "/healthz":
            return self.answer(200 if ready() else 503, b"ok\n" if ready() else b"wedged\n")
        t0 = time.monotonic()
        time.sleep(LATENCY + random.uniform(0.001, 0.01))
        code = 500 if FAULT == "errors" and random.random() < ERROR_RATE else 200
        self.answer(code, b"error\n" if code == 500 else b"ok\n")
        observe(str(code), time.monotonic() - t0)

    def do_POST(self):  # noqa: N802 - the http.server API
        if self.path != "/wedge":
            return self.answer(404, b"not found\n")
        wedged.set()
        print("shop: wedged", flush=True)
        self.answer(200, b"wedged\n")

    def answer(self, code, body, kind="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    if FAULT == "crash":
        print("shop: configuration invalid, exiting", flush=True)
        sys.exit(1)
    hold = bytearray(int(os.environ.get("SHOP_MEMORY_MB", "0")) * 1024 * 1024)
    for i in range(0, len(hold), 4096):
        hold[i] = 1  # touch every page: resident, as a real cache would be
    server = http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler)
    print(f"shop: serving on {server.server_address}, fault={FAULT or 'none'}", flush=True)
    server.serve_forever()


def load():
    rps = float(os.environ.get("SHOP_RPS", "20"))
    targets = []
    for name in os.environ.get("SHOP_TARGETS", "").split(","):
        env = name.strip().upper().replace("-", "_")
        host, port = os.environ.get(f"{env}_SERVICE_HOST"), os.environ.get(f"{env}_SERVICE_PORT")
        if host and port:
            targets.append(f"http://{host}:{port}/")
    if not targets:
        print("load: no SHOP_TARGETS service found in the environment", flush=True)
        sys.exit(1)
    print(f"load: {rps} rps to each of {targets}", flush=True)

    def hit(url):
        try:
            urllib.request.urlopen(url, timeout=2).read()
        except Exception:  # noqa: BLE001 - errors are the point of the exercise
            pass

    while True:
        for url in targets:
            threading.Thread(target=hit, args=(url,), daemon=True).start()
        time.sleep(1 / rps)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    load() if os.environ.get("SHOP_MODE") == "load" else serve()
