"""The one Runtime API stand-in of the local harness, for the benchmarks: it hands a Lambda
binary its events and records when each `/next` is asked for and each response arrives (the
cold start and the run, timed from outside). It also answers EC2 DescribeInstances with given
pages, and any other operation it is given a route for (bench/kind_pages.py), so a run's reads
cost the same every time; the time it spends answering them is recorded apart (`serving`), so
the function's own time can be told from the stand-in's. The demo and the end-to-end runs use cargo
lambda's own Runtime API (`cargo lambda watch`, started by harness.py) instead."""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from kind_pages import action_of  # noqa: E402


class Stand:
    """The Runtime API and EC2 stand-in. Records when /next is asked for and responses arrive."""

    def __init__(self, events: int, event: bytes = b'{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","detail":{}}',
                 page: bytes = b"", pages: list[bytes] | None = None, routes: dict | None = None):
        self.page = page
        self.routes = routes or {}
        # (start, seconds) of each AWS request the stand answered.
        self.serving: list[tuple[float, float]] = []
        self.pages = pages or []
        self.event = event
        self.responses: list[bytes] = []
        self.events_left = events
        self.lock = threading.Condition()
        self.marks: list[tuple[str, float]] = []
        stand = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits
            # for the client's delayed ACK (some 40 ms a response on Linux), which would be
            # charged to the candidate.
            disable_nagle_algorithm = True

            def parse_request(self):
                # The request has arrived: from here until the answer is written, the time is
                # the stand's.
                self.began = time.perf_counter()
                return super().parse_request()

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.endswith("/invocation/next"):
                    with stand.lock:
                        stand.marks.append(("next", time.perf_counter()))
                        stand.lock.notify_all()
                        while stand.events_left <= 0:
                            stand.lock.wait()
                        stand.events_left -= 1
                    body = stand.event
                    self.send_response(200)
                    self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
                    self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                    self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:fleet-census")
                    self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    with stand.lock:
                        stand.marks.append(("event", time.perf_counter()))
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def do_POST(self):
                began = self.began
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "/invocation/" in self.path:
                    kind = "response" if self.path.endswith("/response") else "error"
                    with stand.lock:
                        stand.marks.append((kind, time.perf_counter()))
                        stand.responses.append(body)
                        stand.lock.notify_all()
                    if kind == "error":
                        sys.stderr.write(f"bench: function error: {body[:300]!r}\n")
                    out = b'{"status":"OK"}'
                    self.send_response(202)
                    began = None
                elif route := stand.routes.get(action_of(body, self.headers.get("X-Amz-Target"))):
                    content_type, out = route(body)
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                else:  # EC2 DescribeInstances: page N+1 when the request says NextToken=pN
                    out = stand.page
                    if stand.pages:
                        token = re.search(rb"NextToken=p(\d+)", body)
                        out = stand.pages[int(token.group(1)) if token else 0]
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml;charset=UTF-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                if began is not None:
                    with stand.lock:
                        stand.serving.append((began, time.perf_counter() - began))

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a candidate killed mid-request is expected here

        self.server = Quiet(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, kind: str, count: int, timeout: float = 60) -> None:
        deadline = time.perf_counter() + timeout
        with self.lock:
            while sum(1 for k, _ in self.marks if k == kind) < count:
                if "error" in (k for k, _ in self.marks):
                    raise RuntimeError("function reported an error")
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no {kind} #{count}; seen {[k for k, _ in self.marks]}")
                self.lock.wait(left)

    def served_between(self, start: float, end: float) -> float:
        """Seconds spent answering AWS requests that began between `start` and `end`."""
        with self.lock:
            return sum(took for began, took in self.serving if start <= began <= end)

    def close(self):
        with self.lock:
            self.events_left = 10**9
            self.lock.notify_all()
        self.server.shutdown()
