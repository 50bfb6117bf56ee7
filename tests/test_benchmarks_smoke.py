"""Smoke test of the benchmark suite at tiny sizes: shapes of what it produces, never timings.

Keeps ``benchmarks/`` from rotting as the inventory schema, the engine and the reports change.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repo root

from benchmarks import checks_bench, collection_bench, estate, report_bench  # noqa: E402
from benchmarks.__main__ import main as bench_main  # noqa: E402
from cloudaudit.engine import registry  # noqa: E402
from cloudaudit.inventory import SCHEMA, TABLES  # noqa: E402
from cloudaudit.regions import catalog  # noqa: E402

TINY = estate.Sizes().scaled(1000)   # 1,000 resources, 200 principals, 500 grants, 100 rules, 3 accounts


def test_estate_has_every_table_with_the_requested_sizes_and_realistic_mix():
    inv = estate.generate(TINY, seed=1)
    assert len(inv.resources) == TINY.resources
    assert len(inv.principals) == TINY.principals
    assert len(inv.grants) == TINY.grants
    assert len(inv.network_rules) == TINY.network_rules
    assert set(inv.tenants["provider"]) == {"aws", "azure", "gcp"}
    assert inv.tenants["account_id"].is_unique and len(inv.tenants) == TINY.accounts
    for name in TABLES:
        assert len(inv[name]) > 0, name
        assert list(inv[name].columns) == list(SCHEMA[name]), name
    res = inv.resources
    known = {code for p in ("aws", "azure", "gcp") for code in estate.region_codes(p)}
    assert set(estate.region_codes("aws")) == set(catalog()["aws"]["regions"])
    assert set(res["region"]) - known <= set(estate.UNKNOWN_REGIONS.values())
    many = estate._regions(np.random.default_rng(3), np.zeros(20_000, int))
    assert estate.UNKNOWN_REGIONS["aws"] in set(many) and (many == estate.HOME_REGION["aws"]).mean() > 0.5
    assert (res["encryption"] == "none").any() and (res["encryption"] == "customer").any()
    assert res["public_read"].fillna(False).any()
    labels = inv.tags[inv.tags["key"] == "classification"]["value"]
    assert "極秘" in set(labels)
    assert set(inv.coverage["status"]) >= {"ok"}
    again = estate.generate(TINY, seed=1)
    assert again.resources["resource_id"].equals(res["resource_id"])  # deterministic for a seed


def test_synthetic_findings_use_the_registry():
    found = estate.findings(500, seed=2)
    assert len(found) == 500
    assert set(found.df["check_id"]) <= set(registry())
    assert set(found.df["status"].astype(str)) == set(estate.STATUS_SHARE)


def test_check_benchmark_code_path_produces_its_tables():
    ids = list(registry())[:3]
    result = checks_bench.run(estate.Sizes().scaled(10_000), check_ids=ids)
    assert [c["check_id"] for c in result.per_check] == ids
    assert all(c["rows"] >= 0 and c["function_s"] >= 0 for c in result.per_check)
    assert result.findings > 0 and result.peak_mb > 0 and result.total_s > 0
    assert sum(result.statuses.values()) == result.findings
    text = result.render()
    assert "run_checks, all checks (s)" in text and ids[0] in text
    assert result.render(markdown=True).startswith("| figure |")


def test_check_benchmark_reports_the_median_of_repeated_runs():
    result = checks_bench.run(estate.Sizes().scaled(10_000), check_ids=list(registry())[:2], per_check=False,
                              repeat=3)
    assert len(result.runs_s) == 3 and result.total_s == sorted(result.runs_s)[1]
    assert "median of 3" in result.render() and "each run (s)" in result.render()
    assert 0 < result.first_peak_mb <= result.peak_mb and "of the first run alone (MB)" in result.render()


def test_no_check_raises_on_the_synthetic_estate():
    # the engine turns an exception into ERROR rows; at scale that would hide a broken check
    result = checks_bench.run(estate.Sizes().scaled(10_000), per_check=False)
    assert result.findings > 0 and result.crashed == []


def test_report_benchmark_renders_html_without_the_browser(tmp_path):
    result = report_bench.run(300, directory=tmp_path, browser=False)
    assert result.error is None
    assert result.size_mb > 0 and result.render_s > 0
    assert (tmp_path / "report-300-en.html").read_text(encoding="utf-8").count("findings-body") >= 1
    assert "not measured: browser run disabled" in result.render()


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"path": self.path, "bytes": len(self.rfile.read(length))}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def _auth(service: str, region: str = "ap-northeast-1") -> str:
    return f"AWS4-HMAC-SHA256 Credential=AKIATEST/20261125/{region}/{service}/aws4_request, Signature=x"


def test_latency_proxy_counts_operations_and_replays_its_log():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    stats = collection_bench._Stats()
    proxy = collection_bench.make_proxy(f"http://127.0.0.1:{upstream.server_address[1]}", 0.0, stats)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1], timeout=10)
        requests = [
            ("POST", "/", "Action=DescribeVolumes&Version=2016-11-15",
             {"Authorization": _auth("ec2"), "Content-Type": "application/x-www-form-urlencoded"}),
            ("POST", "/", "{}", {"Authorization": _auth("kms"), "X-Amz-Target": "TrentService.ListKeys"}),
            ("GET", "/bench-bucket?policy", "", {"Authorization": _auth("s3")}),
            ("GET", "/other-bucket?policy", "", {"Authorization": _auth("s3")}),
        ]
        for method, path, body, headers in requests:
            conn.request(method, path, body=body.encode(), headers=headers)
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read())["path"] == path
        ops = {(s, o): n for (s, o), n in stats.ops.items()}
        assert ops == {("ec2", "DescribeVolumes"): 1, ("kms", "ListKeys"): 1, ("s3", "GET /{}?policy"): 2}
        assert stats.total == 4 and sum(stats.scopes.values()) == 4
        assert {r for (_, r) in stats.scopes} == {"ap-northeast-1"}
        log = [[m, p, h, base64.b64encode(b).decode()] for m, p, h, b in stats.log]
        assert collection_bench.replay(url, log, concurrency=2) >= 0
        assert stats.total == 8   # the replay went through the proxy again
    finally:
        proxy.shutdown()
        upstream.shutdown()


def test_classify_reads_service_region_and_operation():
    key, region, service, op = collection_bench.classify(
        "GET", "/v20180820/configuration/publicAccessBlock", {"authorization": _auth("s3", "us-east-1")}, b"")
    assert (key, region, service) == ("AKIATEST", "us-east-1", "s3")
    assert op == "GET /v20180820/configuration/publicAccessBlock"
    assert collection_bench.classify("GET", "/?Action=ListUsers", {"authorization": _auth("iam")}, b"")[3] == "ListUsers"
    parsed = urllib.parse.urlsplit("/detector")
    assert collection_bench.classify("GET", parsed.path, {"authorization": _auth("guardduty")}, b"")[3] == "GET /detector"


def test_command_line_rejects_unknown_suites(capsys):
    try:
        bench_main(["nonsense"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse accepted an unknown suite")
    assert "invalid choice" in capsys.readouterr().err


def test_collection_benchmark_end_to_end_at_tiny_scale():
    """Seed a tiny estate, collect it with the real AWS adapter through the proxy, replay the floor."""
    result = collection_bench.run(scale=0.01, latency_ms=0, regions=("ap-northeast-1",))
    assert result.error is None
    assert len(result.seeded["accounts"]) == 1 + collection_bench.MEMBERS
    assert result.requests > 0 and result.records > 0
    assert sum(n for _, _, n in result.by_operation) == result.requests
    assert {acct for acct, _, _ in result.by_scope} == set(result.seeded["accounts"])
    assert {"bucket", "volume", "snapshot", "key"} <= set(result.resources)
    assert result.floor_s > 0 and result.peak_mb > 0
    assert "API requests" in result.render()


def test_partitioned_benchmark_checks_accounts_of_a_saved_estate(capsys):
    from benchmarks import partitioned

    assert partitioned.main(["--quick", "--accounts", "1"]) == 0
    out = capsys.readouterr().out
    assert "as partitioned Parquet" in out and "per account" in out
