"""pytest fixtures for the AWS adapter: a moto server on 127.0.0.1 and a fault-injecting proxy.

The seeding itself lives in ``cloudaudit.providers.aws.sample`` so the demo can reuse it.
The proxy sits between boto3 and moto and answers chosen requests with real AWS error
responses (AccessDenied, Throttling) over HTTP, so fault cases use the real SDK on the wire.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def moto_post(endpoint: str, path: str) -> bytes:
    """POST to moto's control API (reset, recorder)."""
    request = urllib.request.Request(endpoint + path, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def moto_get(endpoint: str, path: str) -> bytes:
    with urllib.request.urlopen(endpoint + path, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """One moto server per test module, with a clean environment pointing boto3 at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    mp = pytest.MonkeyPatch()
    for key, value in ENV.items():
        mp.setenv(key, value)
    mp.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "recording"))
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key == "AWS_PROFILE":
            mp.delenv(key, raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    moto_post(endpoint, "/moto-api/reset")
    try:
        yield endpoint
    finally:
        server.stop()
        mp.undo()


@pytest.fixture(scope="module")
def sample_org(moto_endpoint: str) -> dict:
    """The sample organization, seeded once per module on a freshly reset server."""
    from cloudaudit.providers.aws.sample import seed_sample_organization

    moto_post(moto_endpoint, "/moto-api/reset")
    return seed_sample_organization(moto_endpoint)


# ----------------------------------------------------------------------------- fault proxy

@dataclass
class Seen:
    """What the proxy could tell about one request."""

    method: str
    path: str
    service: str
    region: str
    action: str
    body: bytes


Rule = Callable[[Seen], "tuple[int, bytes] | None"]


def aws_error(seen: Seen, status: int, code: str, message: str) -> tuple[int, bytes]:
    """An error body in the wire protocol of the request's service."""
    if seen.service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>fault-proxy</RequestID></Response>")
    elif seen.service in ("s3",):
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
    elif seen.action and seen.service in ("kms", "dynamodb", "cloudtrail", "config", "organizations"):
        return status, json.dumps({"__type": code, "message": message}).encode()
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>fault-proxy</RequestId></ErrorResponse>")
    return status, body.encode()


def deny_assume_role(account_id: str) -> Rule:
    """sts:AssumeRole into any role of ``account_id`` answers AccessDenied (the role does not trust us)."""
    def rule(seen: Seen):
        if seen.action == "AssumeRole" and f"%3A%3A{account_id}%3Arole" in seen.body.decode("latin-1"):
            return aws_error(seen, 403, "AccessDenied", f"User is not authorized to perform: sts:AssumeRole on "
                                                        f"resource: arn:aws:iam::{account_id}:role/...")
        return None
    return rule


def deny_region(service: str, region: str) -> Rule:
    """Every call to ``service`` in ``region`` answers 403 (an SCP or a permission boundary denies it)."""
    def rule(seen: Seen):
        if seen.service == service and seen.region == region:
            code = "UnauthorizedOperation" if service == "ec2" else "AccessDeniedException"
            return aws_error(seen, 403, code, f"You are not authorized to perform this operation in {region}")
        return None
    return rule


def throttle(action: str, times: int) -> Rule:
    """The first ``times`` calls of ``action`` answer Throttling (then pass through)."""
    state = {"left": times, "hits": 0}

    def rule(seen: Seen):
        if seen.action == action and state["left"] > 0:
            state["left"] -= 1
            state["hits"] += 1
            return aws_error(seen, 400, "Throttling", "Rate exceeded")
        return None
    rule.state = state  # type: ignore[attr-defined]
    return rule


class FaultProxy:
    """A local HTTP proxy to moto that answers requests matching a rule with an AWS error."""

    def __init__(self, upstream: str, rules: list[Rule]):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules = rules
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                scope = _SCOPE.search(self.headers.get("Authorization", ""))
                region, service = (scope.group(1), scope.group(2)) if scope else ("", "")
                target = self.headers.get("X-Amz-Target", "")
                action = target.rsplit(".", 1)[-1] if target else ""
                if not action and body.startswith(b"Action="):
                    action = urllib.parse.parse_qs(body.decode("latin-1")).get("Action", [""])[0]
                seen = Seen(self.command, self.path, service, region, action, body)
                for rule in proxy.rules:
                    answer = rule(seen)
                    if answer is not None:
                        status, payload = answer
                        self.send_response(status)
                        self.send_header("Content-Type", "application/x-amz-json-1.1" if payload.startswith(b"{")
                                         else "text/xml")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
