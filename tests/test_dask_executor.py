"""Scale beyond one machine: Dask distributed worker processes as the executor.

1. The AWS adapter's account/region fan-out on ``client.get_executor()`` (a LocalCluster of two
   worker processes) must give the same inventory and findings as the default thread pool.
2. An inventory saved with ``Inventory.save(partition=True)`` is checked one account per Dask
   task (``cloudaudit.partitioned``) with the same findings as one run over the whole inventory.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package (the estate) lives at the repo root

from aws_fakes import moto_endpoint, sample_org  # noqa: E402,F401

from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

from benchmarks import estate  # noqa: E402
from cloudaudit.api import collect_raw, normalize  # noqa: E402
from cloudaudit.engine import run_checks  # noqa: E402
from cloudaudit.inventory import TABLES, Inventory  # noqa: E402
from cloudaudit.partitioned import audit_partitioned, collect_partitioned, organization_policy  # noqa: E402

# One region keeps the run short: the sample's buckets are read in their own regions anyway.
AWS_OPTIONS = {"max_attempts": 1, "regions": ["ap-northeast-1"]}
FINDING_KEY = ["check_id", "provider", "account_id", "region", "resource_id", "status", "severity", "reason"]


@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster of two worker processes (one thread each), no dashboard."""
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


# moto stamps the caller's own key as used on every request, so these move between two runs.
VOLATILE = {"principals": ["last_active"], "credentials": ["last_used"]}


@pytest.fixture(scope="module")
def default_inv(moto_endpoint, sample_org):
    """The sample organization collected once with the adapter's own thread pool."""
    inv = normalize(_aws(moto_endpoint))
    assert len(inv.resources) > 0 and len(inv.principals) > 0
    return inv


def _canonical(frame: pd.DataFrame, table: str = "") -> pd.DataFrame:
    """Rows as text, sorted, so two tables compare regardless of row order (volatile columns dropped)."""
    text = frame.drop(columns=VOLATILE.get(table, [])).astype(str)
    return text.sort_values(list(text.columns)).reset_index(drop=True)


def _aws(endpoint: str, executor=None):
    import boto3

    options = {**AWS_OPTIONS, "session": boto3.Session(region_name="us-east-1"), "endpoint_url": endpoint}
    return collect_raw(["aws"], options={"aws": options}, executor=executor)


def test_aws_collection_on_dask_worker_processes_matches_thread_pool(moto_endpoint, default_inv, dask_client):
    default = default_inv
    with get_task_stream(dask_client) as stream:
        on_dask = normalize(_aws(moto_endpoint, executor=dask_client.get_executor()))
    # every account and account-region task ran in the cluster's worker processes
    assert len(stream.data) >= len(default.tenants) * 2
    assert {t["worker"] for t in stream.data} <= set(dask_client.nthreads())
    for name in TABLES:
        pd.testing.assert_frame_equal(_canonical(on_dask[name], name), _canonical(default[name], name), obj=name)
    found_default = run_checks(default, run_id="r").df
    found_dask = run_checks(on_dask, run_id="r").df
    assert (found_default["status"] == "FAIL").any()
    pd.testing.assert_frame_equal(_canonical(found_dask[FINDING_KEY]), _canonical(found_default[FINDING_KEY]))


def test_partitioned_inventory_checked_per_account_on_dask_workers(tmp_path, dask_client):
    inv = estate.generate(estate.Sizes().scaled(2000), seed=7)
    inv.save(tmp_path, partition=True)
    org_policy, accounts = organization_policy(tmp_path)
    assert len(accounts) == inv.tenants.shape[0] >= 3
    # one instant for ages in both runs: seconds apart, a key's age in whole days could differ
    when = datetime.now(timezone.utc)
    whole = run_checks(inv, org_policy, run_id="r", as_of=when).df
    with get_task_stream(dask_client) as stream:
        per_account = audit_partitioned(tmp_path, executor=dask_client.get_executor(), run_id="r",
                                        collected_at=when).df
    # One task per account, run in the cluster's worker processes.
    assert len(stream.data) == len(accounts)
    assert {t["worker"] for t in stream.data} <= set(dask_client.nthreads())
    # Several accounts per task give the same findings.
    chunked = audit_partitioned(tmp_path, executor=dask_client.get_executor(), run_id="r", chunk=2,
                                collected_at=when).df
    assert per_account["collected_at"].nunique() == 1   # one stamp for the whole run
    pd.testing.assert_frame_equal(_canonical(chunked.drop(columns="collected_at")),
                                  _canonical(per_account.drop(columns="collected_at")))
    assert set(whole["status"].astype(str)) >= {"PASS", "FAIL"}
    key = [c for c in FINDING_KEY if c != "reason"] + ["evidence", "classification"]
    pd.testing.assert_frame_equal(_canonical(per_account[key]), _canonical(whole[key]))
    # Reasons match too, except ISL-010's wording for a peer in another account: one account's
    # partition knows it only as a trusted account ("approved external"), not as an org member.
    same = [c for c in FINDING_KEY]
    pd.testing.assert_frame_equal(_canonical(per_account[per_account["check_id"] != "ISL-010"][same]),
                                  _canonical(whole[whole["check_id"] != "ISL-010"][same]))


def test_collection_in_account_chunks_on_dask_workers_matches_one_collection(moto_endpoint, default_inv, tmp_path,
                                                                             dask_client):
    """Today's way to spread collection over worker processes: one adapter run per account chunk."""
    default = default_inv
    accounts = sorted(default.tenants["account_id"].astype(str))
    assert len(accounts) == 3
    options = {**AWS_OPTIONS, "endpoint_url": moto_endpoint}
    with get_task_stream(dask_client) as stream:
        written = collect_partitioned("aws", options, accounts, tmp_path, dask_client.get_executor(), chunk=2)
    assert len(stream.data) == 2 and written == len(default.resources) > 0
    merged = Inventory.load(tmp_path)
    for name in TABLES:
        pd.testing.assert_frame_equal(_canonical(merged[name], name), _canonical(default[name], name), obj=name)
    found_default = run_checks(default, run_id="r").df
    found_chunks = run_checks(merged, run_id="r").df
    pd.testing.assert_frame_equal(_canonical(found_chunks[FINDING_KEY]), _canonical(found_default[FINDING_KEY]))
