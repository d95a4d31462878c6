"""The one router of the local harness: moto's state machines and the functions' own AWS calls
come here (moto runs with MOTO_PORT and the functions with AWS_ENDPOINT_URL pointing at it).
Lambda's Invoke API goes to `cargo lambda watch`, everything else to moto, and this is also
the one fault point of the Python runs: a member role made impossible to assume (moto's STS
assumes any role). It records every invocation it passed on."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Invocation:
    """One Lambda invocation as the router saw it."""
    seconds: float
    function: str
    request: dict
    ended: float
    response: object


class Router:
    """Lambda invocations to `cargo lambda watch`, the rest to moto; AssumeRole of a denied
    role answered with AccessDenied, as AWS does for a role that does not exist."""

    def __init__(self, port: int, functions: tuple[str, ...]):
        self.port = port
        # The binaries it invokes; the state machine names them by ARN.
        self.functions = functions
        self.moto = ""
        # Free `cargo lambda watch` servers: each runs one invocation of a function at a time,
        # so a run can have as many targets in flight as there are servers.
        self.workers: queue.Queue[str] = queue.Queue()
        self.denied: set[str] = set()
        # (phase, account, region) whose invocation crashes, as a function that panics or runs
        # out of memory does: Lambda answers a function error, and nothing is written to S3.
        self.crash: set[tuple[str, str, str]] = set()
        self.invocations: list[Invocation] = []
        # The function errors answered, as Lambda reports them.
        self.errors: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/2015-03-31/functions/"):
                    self.reply(*router.invoke(self.path, body))
                    return
                if b"Action=AssumeRole" in body:
                    role = urllib.parse.parse_qs(body.decode()).get("RoleArn", [""])[0]
                    if role in router.denied:
                        xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not "
                               f"authorized to perform: sts:AssumeRole on resource: {role}</Message></Error></ErrorResponse>")
                        self.reply(403, {"content-type": "text/xml"}, xml.encode())
                        return
                self.reply(*router.forward(self.command, self.path, dict(self.headers), body))

            def reply(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, headers: dict, body: bytes, base: str | None = None) -> tuple[int, dict, bytes]:
        req = urllib.request.Request((base or self.moto) + path, data=body if body or method in ("POST", "PUT") else None,
                                     method=method, headers={k: v for k, v in headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(req, timeout=900) as res:
                return res.status, dict(res.headers), res.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def invoke(self, path: str, body: bytes) -> tuple[int, dict, bytes]:
        # The state machine names functions by ARN (`...:function:<stack>-nightly-stopper`).
        name = urllib.parse.unquote(path.split("/")[3]).split(":")[-1]
        binary = next((f for f in self.functions if name == f or name.endswith("-" + f)), name)
        request = json.loads(body or b"{}")
        target = request.get("target") if isinstance(request, dict) else None
        if target and (request.get("phase"), target.get("account_id"), target.get("region")) in self.crash:
            err = {"errorType": "Runtime.ExitError", "errorMessage": "RequestId: local Error: Runtime exited with error: signal: killed"}
            with self.lock:
                self.invocations.append(Invocation(0.0, binary, request, time.monotonic(), err))
                self.errors.append(err)
            return 200, {"content-type": "application/json", "X-Amz-Function-Error": "Unhandled"}, json.dumps(err).encode()
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        started = time.monotonic()
        status, data = 599, b""
        worker = self.workers.get()
        try:
            status, headers, data = self.forward("POST", f"/2015-03-31/functions/{binary}/invocations",
                                                 {"content-type": "application/json"}, body, worker)
        finally:
            self.workers.put(worker)
            ended = time.monotonic()
            try:
                response = json.loads(data)
            except ValueError:
                response = None
            with self.lock:
                self.in_flight -= 1
                self.invocations.append(Invocation(ended - started, binary, json.loads(body or b"{}"), ended, response))
        headers = {"content-type": "application/json", "x-amzn-RequestId": f"local-{time.monotonic_ns()}"}
        if status >= 400:
            # Lambda answers a function's error with 200 and X-Amz-Function-Error, the body
            # holding errorType and errorMessage; `cargo lambda watch` answers with an HTTP error.
            try:
                err = json.loads(data)
            except ValueError:
                err = {"errorType": "Unhandled", "errorMessage": data.decode(errors="replace")}
            if not isinstance(err, dict) or "errorType" not in err:
                err = {"errorType": "Unhandled", "errorMessage": json.dumps(err)}
            self.errors.append(err)
            return 200, {**headers, "X-Amz-Function-Error": "Unhandled"}, json.dumps(err).encode()
        return status, headers, data

    def stop(self) -> None:
        self.server.shutdown()
