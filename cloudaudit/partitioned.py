"""Collect and check an organization partition by partition, on any ``concurrent.futures.Executor``.

``Inventory.save(dir, partition=True)`` writes every table partitioned by provider and
account; :func:`audit_partitioned` then runs the checks one account at a time (in a thread
pool, a process pool or on Dask workers via ``distributed.Client(...).get_executor()``), so
no process ever holds the whole organization. Only the small ``tenants`` table is read whole:
its account ids are added to the policy's ``trusted_accounts``, because a check that looks at
another account (ISL-010: a peering's remote side) must still see it as inside the organization.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .engine import run_checks
from .findings import Findings
from .inventory import Inventory
from .policy import Policy


def organization_policy(directory: str | Path, policy: Policy | None = None) -> tuple[Policy, pd.DataFrame]:
    """The policy with every account of the inventory trusted, and the (provider, account_id) list."""
    policy = policy or Policy()
    tenants = _tenants(directory)
    accounts = tuple(sorted(set(policy.trusted_accounts) | set(tenants["account_id"].astype(str))))
    return dataclasses.replace(policy, trusted_accounts=accounts), tenants[["provider", "account_id"]]


def _tenants(directory: str | Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.dataset as ds

    part = ds.partitioning(pa.schema([("provider", pa.string()), ("account_id", pa.string())]), flavor="hive")
    frame = pd.read_parquet(Path(directory) / "tenants", partitioning=part)
    return frame.astype({"provider": "string", "account_id": "string"})


def check_partition(directory: str, provider: str, account_id: str | list[str], policy: Policy,
                    run_id: str, collected_at: datetime | None = None) -> pd.DataFrame:
    """Load one account's (or a few accounts') partitions and return their findings rows (runs on a
    worker). One thread per task: the cluster already runs one task per core."""
    where = ("account_id", "in", list(account_id)) if isinstance(account_id, list) else ("account_id", "==", account_id)
    inv = Inventory.load(directory, filters=[("provider", "==", provider), where])
    return run_checks(inv, policy, run_id=run_id, collected_at=collected_at, as_of=collected_at, workers=1).df


def audit_partitioned(directory: str | Path, policy: Policy | None = None, executor: Executor | None = None,
                      run_id: str = "partitioned", chunk: int = 1, collected_at: datetime | None = None) -> Findings:
    """Run every check over a partitioned inventory, ``chunk`` accounts per task; findings of all accounts.

    Each ``run_checks`` call has a fixed cost per check (~1 s for all checks), so tasks of 25-50
    small accounts use the workers better than one task per account.
    """
    org_policy, accounts = organization_policy(directory, policy)
    # one stamp for every task of the run, and the instant every task measures ages against
    collected_at = collected_at or datetime.now(timezone.utc)
    args = []
    for provider, ids in accounts.groupby("provider", sort=True, observed=True)["account_id"]:
        ids = list(ids)
        for i in range(0, len(ids), chunk):
            part = ids[i:i + chunk]
            args.append((str(directory), str(provider), part[0] if chunk == 1 else part, org_policy, run_id,
                         collected_at))
    if executor is None:
        parts = [check_partition(*a) for a in args]
    else:
        futures = [executor.submit(check_partition, *a) for a in args]
        parts = [f.result() for f in futures]
    frames = [p for p in parts if len(p)]
    return Findings(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), policy=org_policy)


def collect_accounts(provider: str, options: dict, accounts: list[str], directory: str) -> int:
    """Collect ``accounts`` of one provider (runs on a worker) and add them to a partitioned inventory.

    The adapter is given only the account list and plain options (a worker builds its own SDK
    session from the environment), so the task is serializable; rows are kept for the task's
    own accounts only, so organization-level records read by every task are written once.
    Returns the number of resource rows written.
    """
    from .api import collect

    inv = collect([provider], options={provider: {**options, "accounts": list(accounts)}})
    mine = {name: frame[frame["account_id"].isin(list(accounts))] for name, frame in inv.tables.items()}
    Inventory(mine).save(directory, partition=True)
    return len(mine["resources"])


def collect_partitioned(provider: str, options: dict, accounts: list[str], directory: str | Path,
                        executor: Executor, chunk: int = 25) -> int:
    """Fan collection out as one task per ``chunk`` accounts; every task writes its own Parquet files."""
    chunks = [accounts[i:i + chunk] for i in range(0, len(accounts), chunk)]
    futures = [executor.submit(collect_accounts, provider, options, c, str(directory)) for c in chunks]
    return sum(f.result() for f in futures)
