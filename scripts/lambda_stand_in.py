"""What API Gateway (HTTP API, payload 2.0) and Lambda do for scripts/aws-local, for function
binaries built beforehand: nothing is compiled on a request.

- Each function runs as `instances` processes of its binary, each asking a Runtime API served
  here for its next event (`GET .../runtime/invocation/next`, a long poll) and posting the answer
  back, as on Lambda; an instance handles one event at a time.
- `invoke(function, event)` queues an event for the function's instances and waits for the
  answer (Lambda's Invoke API; the queue and stream bridges use it, over HTTP as
  `POST /2015-03-31/functions/{name}/invocations`).
- HTTP requests are routed to a function by CargoLambda.toml's `[watch.router]` (the table
  `cargo lambda watch` reads, which mirrors template.yaml's routes), turned into the event API
  Gateway sends (its `sourceIp` the caller's address) and answered from the function's answer.

`cargo lambda watch` stays the loop for editing a function (it rebuilds on a change); this is
what runs the built ones, with no compile on a first request and no answer lost between the
two halves of the Runtime API.
"""
import base64
import http.server
import json
import os
import queue
import subprocess
import threading
import time
import tomllib
import urllib.parse
import uuid

RUNTIME = "/2018-06-01/runtime"


class Invocation:
    def __init__(self, event: bytes):
        self.id = str(uuid.uuid4())
        self.event = event
        self.done = threading.Event()
        self.status = None  # "response" or "error"
        self.body = b""


class LambdaStandIn:
    def __init__(self, binaries, functions, env, log_dir, instances=2, timeout=300):
        self.binaries = binaries
        self.functions = functions
        self.env = env
        self.log_dir = log_dir
        self.instances = instances
        self.timeout = timeout
        self.waiting = {name: queue.Queue() for name in functions}
        self.running = {}
        self.lock = threading.Lock()
        self.processes = []
        self.runtime = http.server.ThreadingHTTPServer(("127.0.0.1", 0), runtime_handler(self))
        self.runtime.daemon_threads = True

    def start(self):
        threading.Thread(target=self.runtime.serve_forever, daemon=True).start()
        address = f"127.0.0.1:{self.runtime.server_address[1]}"
        for name in self.functions:
            binary = os.path.join(self.binaries, name)
            if not os.access(binary, os.X_OK):
                raise SystemExit(f"aws-local: {binary} is not built (scripts/build builds it)")
            log = open(os.path.join(self.log_dir, f"{name}.log"), "a")
            for instance in range(self.instances):
                env = dict(self.env, AWS_LAMBDA_RUNTIME_API=f"http://{address}/{name}", AWS_LAMBDA_FUNCTION_NAME=name,
                           AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
                           AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
                           AWS_LAMBDA_LOG_STREAM_NAME=f"local/{instance}")
                self.processes.append(subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT,
                                                       start_new_session=True))

    def invoke(self, function, event: bytes, timeout=None):
        """The function's answer to one event: ("response" | "error" | "timeout", bytes)."""
        invocation = Invocation(event)
        with self.lock:
            self.running[invocation.id] = invocation
        self.waiting[function].put(invocation)
        try:
            if not invocation.done.wait(timeout or self.timeout):
                return "timeout", b""
            return invocation.status, invocation.body
        finally:
            with self.lock:
                self.running.pop(invocation.id, None)

    def answer(self, request_id, status, body):
        with self.lock:
            invocation = self.running.get(request_id)
        if invocation is None:
            return False
        invocation.status, invocation.body = status, body
        invocation.done.set()
        return True


def read_body(handler):
    """A request's body, sent with a length or in chunks."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def runtime_handler(stand_in):
    class Runtime(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            function, _, rest = self.path.lstrip("/").partition("/")
            if "/" + rest != f"{RUNTIME}/invocation/next" or function not in stand_in.waiting:
                return self.reply(404)
            invocation = stand_in.waiting[function].get()
            deadline = int(time.time() * 1000) + stand_in.timeout * 1000
            try:
                self.reply(200, invocation.event, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", invocation.id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     f"arn:aws:lambda:us-east-1:123456789012:function:{function}"),
                    ("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"),
                ])
            except OSError:
                # The instance went away while it waited: the event goes to the next one.
                stand_in.waiting[function].put(invocation)
                raise

        def do_POST(self):
            body = read_body(self)
            function, _, rest = self.path.lstrip("/").partition("/")
            parts = ("/" + rest).removeprefix(RUNTIME + "/").split("/")
            if parts[:1] == ["init"]:
                print(f"aws-local: {function} failed to start: {body.decode(errors='replace')}", flush=True)
                return self.reply(202)
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                known = stand_in.answer(parts[1], parts[2], body)
                return self.reply(202 if known else 410)
            return self.reply(404)

        def log_message(self, *args):
            pass

    return Runtime


class Router:
    """CargoLambda.toml's `[watch.router]`: a path to the function that serves it. A literal
    segment wins over `{name}`, which wins over the catch-all `{*name}`."""

    def __init__(self, cargo_lambda_toml):
        with open(cargo_lambda_toml, "rb") as f:
            table = tomllib.load(f)["watch"]["router"]
        self.routes = [(pattern.strip("/").split("/"), function) for pattern, function in table.items()]

    def functions(self):
        return {function for _, function in self.routes}

    def function(self, path):
        segments = path.strip("/").split("/")
        best = None
        for pattern, function in self.routes:
            rank = self.rank(pattern, segments)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, function)
        return best[1] if best else None

    @staticmethod
    def rank(pattern, segments):
        score = []
        for i, part in enumerate(pattern):
            if part.startswith("{*"):
                return (*score, -1)
            if i >= len(segments):
                return None
            if part.startswith("{"):
                score.append(0)
            elif part == segments[i]:
                score.append(1)
            else:
                return None
        return tuple(score) if len(pattern) == len(segments) else None


def gateway_handler(stand_in, router):
    class Gateway(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            body = read_body(self)
            url = urllib.parse.urlsplit(self.path)
            if url.path.startswith("/2015-03-31/functions/") and url.path.endswith("/invocations"):
                return self.invoke(url.path.split("/")[3], body)
            function = router.function(url.path)
            if function is None:
                return self.reply(404, b'{"message":"Not Found"}', [("Content-Type", "application/json")])
            status, answer = stand_in.invoke(function, self.event(url, body), timeout=60)
            if status == "timeout":
                return self.reply(504, b'{"message":"Service Unavailable"}', [("Content-Type", "application/json")])
            if status != "response":
                print(f"aws-local: {function} failed: {answer.decode(errors='replace')}", flush=True)
                return self.reply(502, b'{"message":"Internal Server Error"}', [("Content-Type", "application/json")])
            self.respond(json.loads(answer))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

        def invoke(self, function, body):
            if function not in stand_in.waiting:
                return self.reply(404, b'{"Message":"Function not found"}', [("Content-Type", "application/json")])
            status, answer = stand_in.invoke(function, body)
            if status == "response":
                return self.reply(200, answer, [("Content-Type", "application/json")])
            # Lambda answers 200 with X-Amz-Function-Error; the bridges here treat any other
            # status as a failed invocation, which is what it is.
            return self.reply(502 if status == "error" else 504, answer, [("Content-Type", "application/json")])

        def event(self, url, body):
            """The event API Gateway's HTTP API sends (payload format 2.0)."""
            headers, cookies = {}, []
            for name, value in self.headers.items():
                if name.lower() == "cookie":
                    cookies += [c.strip() for c in value.split(";") if c.strip()]
                    continue
                key = name.lower()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
            query = {}
            for name, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
                query[name] = f"{query[name]},{value}" if name in query else value
            now = time.time()
            event = {
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": url.path,
                "rawQueryString": url.query,
                "headers": headers,
                "requestContext": {
                    "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", "localhost"),
                    "domainPrefix": "local",
                    "http": {"method": self.command, "path": url.path, "protocol": self.request_version,
                             "sourceIp": self.client_address[0], "userAgent": headers.get("user-agent", "")},
                    "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
                    "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                    "timeEpoch": int(now * 1000),
                },
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
            if cookies:
                event["cookies"] = cookies
            if query:
                event["queryStringParameters"] = query
            return json.dumps(event).encode()

        def respond(self, answer):
            body = answer.get("body") or ""
            body = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
            headers = []
            for name, value in (answer.get("headers") or {}).items():
                headers.append((name, value))
            named = {name.lower() for name, _ in headers}
            for name, values in (answer.get("multiValueHeaders") or {}).items():
                if name.lower() not in named:
                    headers += [(name, value) for value in values]
            headers += [("Set-Cookie", cookie) for cookie in answer.get("cookies") or []]
            self.reply(int(answer.get("statusCode", 200)), body, headers)

        def reply(self, status, body, headers):
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Gateway


def serve_gateway(stand_in, router, port):
    """API Gateway and the Invoke API on 127.0.0.1:`port`, in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), gateway_handler(stand_in, router))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
