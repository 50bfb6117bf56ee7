"""Collection over a slow wire: the real AWS adapter against moto behind a latency proxy.

A child process runs moto's ``ThreadedMotoServer`` and, in front of it, a loopback reverse
proxy (stdlib ``ThreadingHTTPServer`` forwarding with ``http.client``) that adds a fixed
latency to every request (default 40 ms, a real cloud API round trip) and counts requests per
service, operation and account-region. The estate (1 management + 3 member accounts x 4
regions, ~1,250 resources at SCALE 1) is seeded straight into moto with boto3; then
``cloudaudit.api.collect_raw(["aws"], ...)`` collects it through the proxy. The floor is the
same run's request list replayed through the proxy with the same concurrency.

Targets: <= 2,000 requests, <= 250 MB peak RSS, wall time <= 1.3x the floor.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import multiprocessing
import os
import re
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._common import measure, table, verdict

TARGET_REQUESTS = 2000
TARGET_MB = 250.0
TARGET_RATIO = 1.3
REGIONS = ("ap-northeast-1", "ap-northeast-3", "us-east-1", "eu-west-1")
MEMBERS = 3
# The estate at SCALE 1 (whole organization).
ESTATE = {"buckets": 164, "users": 240, "roles": 120, "security_groups": 200, "volumes": 80, "snapshots": 80,
          "keys": 80}
FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
CONTROL = "/__bench__/"
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
        "transfer-encoding", "upgrade", "content-length"}
_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


# ----------------------------------------------------------------------------- the proxy

def classify(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, str, str, str]:
    """(access key, region, service, operation) of one signed AWS request."""
    found = _SCOPE.search(headers.get("authorization", ""))
    key, region, service = found.groups() if found else ("", "?", "?")
    target = headers.get("x-amz-target")
    if target:
        return key, region, service, target.rsplit(".", 1)[-1]
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    action = query.get("Action")
    if not action and body and "x-www-form-urlencoded" in headers.get("content-type", ""):
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return key, region, service, action[0]
    # REST APIs (S3, S3 Control): method + path shape + sub-resource keys.
    parts = [p for p in parsed.path.split("/") if p]
    # S3: the first segment is the bucket; elsewhere keep word segments (detector, configuration).
    shape = "/" + "/".join("{}" if (service == "s3" and i == 0 and not p.startswith("v2018"))
                           or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", p) else p for i, p in enumerate(parts))
    keys = "&".join(sorted(k for k in query if not k.startswith("X-Amz")))
    return key, region, service, f"{method} {shape}" + (f"?{keys}" if keys else "")


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.ops: Counter = Counter()
            self.scopes: Counter = Counter()
            self.log: list[tuple[str, str, list, bytes]] = []
            self.inflight = 0
            self.max_inflight = 0
            self.total = 0
            self.busy = 0.0  # sum of request durations: busy / wall = mean requests in flight


def _account_of(key: str) -> str:
    try:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(key)
    except Exception:  # noqa: BLE001 - counting only
        return "?"


def make_proxy(upstream: str, latency_s: float, stats: _Stats, record: bool = True) -> ThreadingHTTPServer:
    """A reverse proxy on 127.0.0.1 (free port) adding ``latency_s`` to every request to ``upstream``."""
    target = urllib.parse.urlsplit(upstream)
    local = threading.local()
    accounts: dict[str, str] = {}

    def connection() -> http.client.HTTPConnection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
        return conn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _control(self) -> None:
            name = self.path[len(CONTROL):]
            if name == "reset":
                stats.reset()
                payload: Any = {"ok": True}
            elif name == "stats":
                with stats.lock:
                    payload = {"total": stats.total, "max_inflight": stats.max_inflight, "busy": stats.busy,
                               "ops": [[s, o, n] for (s, o), n in stats.ops.most_common()],
                               "scopes": [[a, r, n] for (a, r), n in stats.scopes.most_common()]}
            elif name == "log":
                with stats.lock:
                    payload = [[m, p, h, base64.b64encode(b).decode()] for m, p, h, b in stats.log]
            else:
                payload = {"error": name}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _forward(self) -> None:
            if self.path.startswith(CONTROL):
                return self._control()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
            lower = {k.lower(): v for k, v in headers}
            key, region, service, op = classify(self.command, self.path, lower, body)
            account = accounts.get(key) or accounts.setdefault(key, _account_of(key))
            started = time.perf_counter()
            with stats.lock:
                stats.inflight += 1
                stats.max_inflight = max(stats.max_inflight, stats.inflight)
            try:
                time.sleep(latency_s)
                conn = connection()
                try:
                    conn.request(self.command, self.path, body=body, headers=dict(headers))
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    conn.close()  # a stale keep-alive connection: one retry on a fresh one
                    conn.connect()
                    conn.request(self.command, self.path, body=body, headers=dict(headers))
                    resp = conn.getresponse()
                data = resp.read()
            finally:
                with stats.lock:
                    stats.inflight -= 1
                    stats.busy += time.perf_counter() - started
                    stats.total += 1
                    stats.ops[(service, op)] += 1
                    stats.scopes[(account, region)] += 1
                    if record:
                        stats.log.append((self.command, self.path, headers, body))
            self.send_response(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in _HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _serve(conn: Any, latency_s: float) -> None:
    """Child process: moto + the proxy; sends (moto_url, proxy_url), then waits for 'stop'."""
    os.environ.update(MOTO_ENV)
    for name in ("werkzeug", "moto", "flask", "flask_cors"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    proxy = make_proxy(moto_url, latency_s, _Stats())
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    conn.send((moto_url, f"http://127.0.0.1:{proxy.server_address[1]}"))
    conn.recv()
    proxy.shutdown()
    moto.stop()


class Servers:
    """moto + latency proxy in a child process (so this process's RSS and CPU are the collector's)."""

    def __init__(self, latency_ms: float = 40.0):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, latency_ms / 1000), daemon=True)

    def __enter__(self) -> "Servers":
        self._process.start()
        if not self._conn.poll(120):
            raise RuntimeError("moto server did not start within 120 s")
        self.moto_url, self.proxy_url = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()

    def control(self, name: str) -> Any:
        """Read a proxy control endpoint (stats, log, reset)."""
        parsed = urllib.parse.urlsplit(self.proxy_url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        conn.request("GET", CONTROL + name)
        data = conn.getresponse().read()
        conn.close()
        return json.loads(data)


# ----------------------------------------------------------------------------- the estate

def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def seed_estate(moto_url: str, scale: float = 1.0, workers: int = 16) -> dict[str, Any]:
    """Seed the organization (management + 3 members x 4 regions) into moto; return what was made."""
    import boto3

    counts = {k: max(1, round(v * scale)) for k, v in ESTATE.items()}
    mgmt = boto3.Session(**FAKE_KEYS, region_name="us-east-1")
    org = mgmt.client("organizations", endpoint_url=moto_url)
    org.create_organization(FeatureSet="ALL")
    ids = [org.create_account(Email=f"member{i}@example.co.jp", AccountName=f"member-{i}")
           ["CreateAccountStatus"]["AccountId"] for i in range(MEMBERS)]
    sts = mgmt.client("sts", endpoint_url=moto_url)
    sessions = [mgmt]
    for account_id in ids:
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                                RoleSessionName="seed")["Credentials"]
        sessions.append(boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                      aws_secret_access_key=creds["SecretAccessKey"],
                                      aws_session_token=creds["SessionToken"], region_name="us-east-1"))
    labels = ("極秘", "部外秘", "グループ外秘", "公開")
    jobs: list[tuple] = []
    n_acc = len(sessions)
    for a in range(n_acc):
        for kind in ("users", "roles"):
            jobs += [(a, kind, None, i) for i in range(_share(counts[kind], n_acc, a))]
        for r, region in enumerate(REGIONS):
            slot = a * len(REGIONS) + r
            for kind in ("buckets", "security_groups", "volumes", "keys"):
                jobs += [(a, kind, region, i) for i in range(_share(counts[kind], n_acc * len(REGIONS), slot))]
    local = threading.local()

    def client(a: int, service: str, region: str = "us-east-1") -> Any:
        cache = local.__dict__.setdefault("clients", {})
        key = (a, service, region)
        if key not in cache:
            cache[key] = sessions[a].client(service, region_name=region, endpoint_url=moto_url)
        return cache[key]

    snapshots_left = [counts["snapshots"]]
    lock = threading.Lock()

    def make(job: tuple) -> None:
        a, kind, region, i = job
        tag = labels[i % len(labels)]
        if kind == "users":
            iam = client(a, "iam")
            name = f"user-{a}-{i}"
            iam.create_user(UserName=name, Tags=[{"Key": "classification", "Value": tag}])
            if i % 3 == 0:
                iam.create_login_profile(UserName=name, Password="Bench-Passw0rd!")
            if i % 4 == 0:
                iam.create_access_key(UserName=name)
        elif kind == "roles":
            iam = client(a, "iam")
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                     "Principal": {"AWS": f"arn:aws:iam::{'999988887777' if i % 10 == 0 else '123456789012'}:root"}}]}
            iam.create_role(RoleName=f"role-{a}-{i}", AssumeRolePolicyDocument=json.dumps(trust))
            if i % 2 == 0:
                action = "*" if i % 20 == 0 else ["s3:Get*", "s3:List*"]
                iam.put_role_policy(RoleName=f"role-{a}-{i}", PolicyName="access", PolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))
        elif kind == "buckets":
            s3 = client(a, "s3", region)
            name = f"bench-{a}-{region}-{i}"
            kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=name, **kw)
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "classification", "Value": tag}]})
            if i % 2 == 0:
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
        elif kind == "security_groups":
            ec2 = client(a, "ec2", region)
            group = ec2.create_security_group(GroupName=f"sg-{a}-{i}", Description="bench")["GroupId"]
            if i % 5 == 0:
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
                    "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        elif kind == "volumes":
            ec2 = client(a, "ec2", region)
            volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8, Encrypted=i % 3 != 0,
                                       TagSpecifications=[{"ResourceType": "volume", "Tags": [
                                           {"Key": "classification", "Value": tag}]}])["VolumeId"]
            with lock:
                take = snapshots_left[0] > 0
                snapshots_left[0] -= 1
            if take:
                ec2.create_snapshot(VolumeId=volume)
        elif kind == "keys":
            kms = client(a, "kms", region)
            key = kms.create_key(Description=f"bench {i}")["KeyMetadata"]["KeyId"]
            if i % 2 == 0:
                kms.enable_key_rotation(KeyId=key)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(make, jobs))
    return {"accounts": ["123456789012", *ids], "regions": list(REGIONS), "counts": counts}


# ----------------------------------------------------------------------------- the run

def replay(proxy_url: str, log: list, concurrency: int) -> float:
    """Fire a recorded request list through the proxy with ``concurrency`` threads; seconds taken."""
    parsed = urllib.parse.urlsplit(proxy_url)
    local = threading.local()

    def send(item: list) -> int:
        method, path, headers, body = item
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
        conn.request(method, path, body=base64.b64decode(body), headers=dict(headers))
        response = conn.getresponse()
        response.read()
        return response.status

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, log))
    return time.perf_counter() - start


@dataclass
class CollectionResult:
    """Figures of one collection benchmark run."""

    scale: float
    latency_ms: float
    workers: int
    seeded: dict[str, Any] = field(default_factory=dict)
    seed_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    requests: int = 0
    max_inflight: int = 0
    mean_inflight: float = 0.0
    by_operation: list[list[Any]] = field(default_factory=list)
    by_scope: list[list[Any]] = field(default_factory=list)
    floor_s: float = 0.0
    bound_s: float = 0.0
    records: int = 0
    coverage_not_ok: int = 0
    not_ok_sources: dict[str, int] = field(default_factory=dict)
    start_mb: float = 0.0
    resources: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def rows(self) -> list[list[Any]]:
        ratio = self.wall_s / self.floor_s if self.floor_s else float("nan")
        counts = self.seeded.get("counts", {})
        return [
            ["estate", f"1 mgmt + {MEMBERS} members x {len(REGIONS)} regions, SCALE {self.scale}: "
                       + ", ".join(f"{v} {k}" for k, v in counts.items()), "", ""],
            ["latency per request (ms)", self.latency_ms, "", ""],
            ["adapter workers (max_workers)", self.workers, "", ""],
            ["seed estate (s)", self.seed_s, "", ""],
            ["collect wall time (s)", self.wall_s, "", ""],
            ["  CPU time, collector process (s)", self.cpu_s, "", ""],
            ["API requests", self.requests, TARGET_REQUESTS, verdict(self.requests, TARGET_REQUESTS)],
            ["  max requests in flight", self.max_inflight, "", ""],
            ["  mean requests in flight (busy time / wall time)", self.mean_inflight, "", ""],
            ["peak RSS, collector process (MB)", self.peak_mb, TARGET_MB, verdict(self.peak_mb, TARGET_MB)],
            ["  RSS before collecting (imports) (MB)", self.start_mb, "", ""],
            ["floor: replay of the same requests (s)", self.floor_s, "", ""],
            ["wall / floor", ratio, TARGET_RATIO, verdict(ratio, TARGET_RATIO) if self.floor_s else ""],
            ["latency bound: requests x latency / concurrency (s)", self.bound_s, "", ""],
            ["records kept / coverage rows not ok", f"{self.records} / {self.coverage_not_ok}", "", ""],
            ["coverage not ok, by source", ", ".join(f"{k}: {v}" for k, v in self.not_ok_sources.items()), "", ""],
            ["inventory resources by kind", ", ".join(f"{k} {v}" for k, v in self.resources.items()), "", ""],
        ]

    def render(self, markdown: bool = False) -> str:
        out = [table(self.rows(), ["figure", "value", "target", "verdict"], markdown)]
        if self.by_scope:
            out += ["", table(self.by_scope, ["account", "region (signing scope)", "requests"], markdown)]
        if self.by_operation:
            out += ["", table(self.by_operation, ["service", "operation", "requests"], markdown)]
        if self.error:
            out += ["", f"error: {self.error}"]
        return "\n".join(out)


def run(scale: float = 1.0, latency_ms: float = 40.0, workers: int | None = None,
        regions: tuple[str, ...] | None = REGIONS) -> CollectionResult:
    """Seed, collect through the proxy, replay for the floor; return the figures."""
    import boto3

    from cloudaudit.api import collect_raw, normalize

    workers = workers or 8  # the adapter's default pool size
    result = CollectionResult(scale=scale, latency_ms=latency_ms, workers=workers)
    saved = {k: os.environ.get(k) for k in MOTO_ENV}
    os.environ.update({k: v for k, v in MOTO_ENV.items() if not k.startswith("AWS_ACCESS") and "SECRET" not in k})
    try:
        with Servers(latency_ms) as servers:
            start = time.perf_counter()
            # Seeding runs in its own process: its boto3 clients must not count in the collector's RSS.
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                result.seeded = pool.apply(seed_estate, (servers.moto_url, scale))
            result.seed_s = time.perf_counter() - start
            servers.control("reset")
            session = boto3.Session(**FAKE_KEYS, region_name="us-east-1")
            options: dict[str, Any] = {"session": session, "endpoint_url": servers.proxy_url, "max_workers": workers}
            if regions:
                options["regions"] = list(regions)
            with measure() as m:
                collection = collect_raw(["aws"], options={"aws": options})[0]
            result.wall_s, result.cpu_s, result.peak_mb, result.start_mb = m.wall, m.cpu, m.peak_mb, m.start_mb
            stats = servers.control("stats")
            log = servers.control("log")
            result.requests, result.max_inflight = stats["total"], stats["max_inflight"]
            result.mean_inflight = stats.get("busy", 0.0) / result.wall_s if result.wall_s else 0.0
            result.by_operation = stats["ops"]
            result.by_scope = stats["scopes"]
            result.bound_s = result.requests * latency_ms / 1000 / workers
            result.records = len(getattr(collection, "records", []) or [])
            try:
                inv = normalize([collection])
                cov = inv.coverage
                bad = cov[cov["status"] != "ok"]
                result.coverage_not_ok = len(bad)
                result.not_ok_sources = {f"{src} ({st})": int(n) for (src, st), n in
                                         bad.groupby(["source", "status"]).size().items()}
                result.resources = {str(k): int(v) for k, v in inv.resources["kind"].value_counts().items()}
            except Exception as exc:  # noqa: BLE001 - normalization problems are reported, not fatal
                result.error = f"normalize failed: {type(exc).__name__}: {exc}"
            result.floor_s = replay(servers.proxy_url, log, workers)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return result


def main(quick: bool = False, latency_ms: float = 40.0, scale: float | None = None,
         workers: int | None = None) -> CollectionResult:
    """Run at SCALE 1 (or 0.1 with --quick) and print the tables."""
    result = run(scale if scale is not None else (0.1 if quick else 1.0), latency_ms, workers)
    print("== collection over a slow wire ==")
    print(result.render())
    return result
