"""The AWS adapter only reads: every operation, seen by the SDK and by moto, is read-only and
allowed by the shipped least-privilege policy (docs/permissions/aws.json)."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from pathlib import Path

import pytest

from cloudaudit.providers import aws
from cloudaudit.providers.aws.client import iam_action
from cloudaudit.providers.aws.sample import HOME

from aws_fakes import moto_endpoint, moto_get, moto_post, sample_org  # noqa: F401

READ_PREFIXES = ("Describe", "List", "Get", "Search", "Lookup")
ALSO_ALLOWED = {"GenerateCredentialReport", "AssumeRole"}
POLICY = Path(__file__).resolve().parents[1] / "docs" / "permissions" / "aws.json"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_OPERATION_PATH = re.compile(r"^[a-z]+[A-Z][A-Za-z]*$")


def _policy_actions() -> set[str]:
    doc = json.loads(POLICY.read_text())
    actions: set[str] = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        actions.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return actions


def _read_only(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or operation in ALSO_ALLOWED


@pytest.fixture(scope="module")
def recorded(moto_endpoint, sample_org, tmp_path_factory):
    """Collect once with both recorders on: (client-side operations, server-side requests)."""
    from moto.moto_api import recorder

    recorder._location = str(tmp_path_factory.mktemp("recording") / "moto_recording")  # not the CWD
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(model, **_):
        with lock:
            calls.append((model.service_model.service_name, model.name))

    moto_post(moto_endpoint, "/moto-api/recorder/reset-recording")
    moto_post(moto_endpoint, "/moto-api/recorder/start-recording")
    try:
        collection = aws.collect({"regions": [HOME, "us-east-1"], "max_attempts": 1,
                                  "client_hooks": {"before-call.*.*": record}})
    finally:
        moto_post(moto_endpoint, "/moto-api/recorder/stop-recording")
    lines = moto_get(moto_endpoint, "/moto-api/recorder/download-recording").decode().splitlines()
    return calls, [json.loads(line) for line in lines if line.strip()], collection


def test_client_side_operations_are_read_only_and_in_the_policy(recorded):
    calls, _, collection = recorded
    services = {s for s, _ in calls}
    assert {"organizations", "iam", "s3", "s3control", "ec2", "rds", "kms", "cloudtrail", "config", "sts"} <= services
    mutating = sorted({f"{s}:{op}" for s, op in calls if not _read_only(op)})
    assert mutating == []
    allowed = _policy_actions()
    missing = sorted({iam_action(s, op) for s, op in calls} - allowed)
    assert missing == []
    assert len(collection.records) > 50


def _server_operation(entry: dict) -> tuple[str, str]:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    scope = _SCOPE.search(headers.get("authorization", ""))
    service = scope.group(2) if scope else "?"
    target = headers.get("x-amz-target", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = urllib.parse.parse_qs(body).get("Action", [""])[0]
    if not action:
        action = urllib.parse.parse_qs(urllib.parse.urlsplit(entry["url"]).query).get("Action", [""])[0]
    if not action:
        # REST-JSON APIs that POST every operation to a path named after it (the Account API:
        # POST /getAlternateContact): the operation is the path, judged like any other.
        segment = urllib.parse.urlsplit(entry["url"]).path.rsplit("/", 1)[-1]
        if entry["method"] == "POST" and _OPERATION_PATH.match(segment):
            action = segment[0].upper() + segment[1:]
    return service, action or f"REST {entry['method']}"


def test_server_side_requests_are_read_only(recorded):
    calls, entries, _ = recorded
    assert len(entries) >= len(calls) * 0.9   # the recorder saw the traffic (it misses requests that crash moto)
    bad = []
    for entry in entries:
        service, operation = _server_operation(entry)
        if operation.startswith("REST "):
            # S3 / S3 Control speak REST: reads are GET (or HEAD)
            if entry["method"] not in ("GET", "HEAD"):
                bad.append(f"{service} {entry['method']} {entry['url']}")
        elif not _read_only(operation):
            bad.append(f"{service}:{operation}")
    assert bad == []


def test_a_mutating_call_would_be_caught(moto_endpoint, sample_org, recorded):
    """Both recorders see writes: one write, made like the adapter's calls, is flagged on each side."""
    import boto3

    calls = []
    session = boto3.Session()
    session.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    moto_post(moto_endpoint, "/moto-api/recorder/reset-recording")
    moto_post(moto_endpoint, "/moto-api/recorder/start-recording")
    try:
        session.client("s3", region_name=HOME).put_bucket_tagging(
            Bucket=sample_org["problems"]["public_bucket"].rsplit(":", 1)[-1],
            Tagging={"TagSet": [{"Key": "classification", "Value": "internal"}]})
    finally:
        moto_post(moto_endpoint, "/moto-api/recorder/stop-recording")
    entries = [json.loads(line) for line in
               moto_get(moto_endpoint, "/moto-api/recorder/download-recording").decode().splitlines() if line]
    assert calls == ["PutBucketTagging"] and not _read_only(calls[0])
    assert [e["method"] for e in entries] == ["PUT"]


def test_policy_grants_nothing_the_adapter_does_not_use(recorded):
    calls, _, _ = recorded
    used = {iam_action(s, op) for s, op in calls}
    # GetBucketLocation is the fallback for endpoints whose ListBuckets lacks BucketRegion
    unused = sorted(_policy_actions() - used - {"s3:GetBucketLocation"})
    assert unused == []


def test_the_sample_seeder_cannot_write_to_a_real_account():
    """The seeder mutates: it takes fixed fake keys (never the ambient chain) and needs an endpoint."""
    from cloudaudit.providers.aws import sample

    creds = sample._session().get_credentials()
    assert (creds.access_key, creds.secret_key) == ("testing", "testing")
    with pytest.raises(ValueError):
        sample.seed_sample_organization("")


def test_operations_posted_to_a_path_named_after_them_are_judged_by_that_name():
    """The Account API POSTs every operation (read or write) to /<operation>: a write is still caught."""
    read = {"headers": {}, "method": "POST", "url": "http://127.0.0.1/getAlternateContact"}
    write = {"headers": {}, "method": "POST", "url": "http://127.0.0.1/putAlternateContact"}
    assert _server_operation(read)[1] == "GetAlternateContact" and _read_only("GetAlternateContact")
    assert _server_operation(write)[1] == "PutAlternateContact" and not _read_only("PutAlternateContact")
    s3_put = {"headers": {}, "method": "PUT", "url": "http://127.0.0.1/bucket?tagging"}
    assert _server_operation(s3_put)[1] == "REST PUT"


def test_no_request_is_made_twice_for_the_same_data(recorded):
    """Issue #9: requests grow with accounts x regions x resources, never with the checks; the same
    read (same caller, region, URL and body) is not sent twice in one collection. The one exception
    is IAM's documented poll: GenerateCredentialReport is repeated until the report is ready."""
    _, entries, _ = recorded
    counts: dict[tuple, int] = {}
    operation: dict[tuple, tuple[str, str]] = {}
    for entry in entries:
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        caller = re.search(r"Credential=([^/]+/\d{8}/[^/]+/[^/]+)/", headers.get("authorization", ""))
        key = (caller.group(1) if caller else None, entry["method"], entry["url"], entry.get("body") or "",
               headers.get("x-amz-target", ""))
        counts[key] = counts.get(key, 0) + 1
        operation[key] = _server_operation(entry)
    repeated = sorted({operation[k] for k, n in counts.items() if n > 1})
    assert len(counts) > 100
    assert repeated in ([], [("iam", "GenerateCredentialReport")])
