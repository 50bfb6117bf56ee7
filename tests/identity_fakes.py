"""Row builders for the AUTH / LCM / LOG golden tests: the same facts for AWS, Azure and GCP."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd

from cloudaudit.engine import run_checks
from cloudaudit.policy import Policy

TODAY = datetime.now(timezone.utc).date()
NOW = pd.Timestamp.now(tz="UTC")

# One account per provider; Entra users live under the tenant, Google users under the org node.
AWS, AZ_SUB, AZ_TENANT, GCP, GCP_ORG = "111111111111", "sub-1", "tenant-1", "proj-1", "organizations/9"

TENANTS = [
    {"provider": "aws", "account_id": AWS, "org_id": "o-abc", "name": "prod"},
    {"provider": "azure", "account_id": AZ_SUB, "org_id": AZ_TENANT, "name": "prod-sub"},
    {"provider": "gcp", "account_id": GCP, "org_id": GCP_ORG, "name": "prod-project"},
]


def ago(days: float) -> pd.Timestamp:
    return NOW - pd.Timedelta(days=days)


def principal(provider: str, account: str, pid: str, name: str | None = None, kind: str = "user", **extra) -> dict:
    human = kind in ("root", "user", "guest")
    row = {"provider": provider, "account_id": account, "principal_id": pid, "name": name or pid, "kind": kind,
           "human": human, "top_level": False, "console_access": human, "mfa": "none" if human else None,
           "enabled": True, "external": False, "created": ago(400)}
    row.update(extra)
    return row


def grant(provider: str, account: str, pid: str, role: str, privilege: str = "admin", kind: str = "user",
          standing: bool | None = True, scope: str = "account", **extra) -> dict:
    row = {"provider": provider, "account_id": account, "principal_id": pid, "principal_kind": kind, "role": role,
           "privilege": privilege, "standing": standing, "scope": scope, "via": "direct", "external": False,
           "public": False}
    row.update(extra)
    return row


def admins_in_three_clouds(**principal_extra) -> tuple[list[dict], list[dict]]:
    """An AWS IAM user with AdministratorAccess, an Azure Owner and a GCP roles/owner member."""
    principals = [
        principal("aws", AWS, "arn:aws:iam::111111111111:user/alice", "alice", **principal_extra),
        principal("azure", AZ_TENANT, "obj-bob", "bob@example.jp", **principal_extra),
        principal("gcp", GCP_ORG, "user:carol@example.jp", "carol@example.jp", **principal_extra),
    ]
    grants = [
        grant("aws", AWS, "arn:aws:iam::111111111111:user/alice", "AdministratorAccess"),
        grant("azure", AZ_SUB, "obj-bob", "Owner", scope="subscription"),
        grant("gcp", GCP, "user:carol@example.jp", "roles/owner", scope="project"),
    ]
    return principals, grants


ADMIN_IDS = ("arn:aws:iam::111111111111:user/alice", "obj-bob", "user:carol@example.jp")


def run(inv, check_id: str, policy: Policy | None = None, today: date | None = None) -> pd.DataFrame:
    """Findings of one check as a plain DataFrame."""
    return run_checks(inv, policy or Policy(), checks=[check_id], today=today or TODAY).df


def statuses(df: pd.DataFrame) -> dict[str, str]:
    """resource_id -> status for rows naming a subject (each subject exactly once)."""
    rows = df[df["resource_id"].notna()]
    dup = rows["resource_id"].duplicated()
    assert not dup.any(), rows["resource_id"][dup].tolist()
    return dict(zip(rows["resource_id"], rows["status"].astype(str)))


def row(df: pd.DataFrame, resource_id: str) -> pd.Series:
    hit = df[df["resource_id"] == resource_id]
    assert len(hit) == 1, f"{len(hit)} rows for {resource_id}"
    return hit.iloc[0]


def errors(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(provider, account_id) -> reason of the ERROR rows."""
    e = df[df["status"] == "ERROR"]
    return {(p, a): r for p, a, r in zip(e["provider"], e["account_id"], e["reason"])}


def unsupported(provider: str, account: str, table: str, message: str = "no domain-wide delegation") -> dict:
    return {"provider": provider, "account_id": account, "table": table, "status": "unsupported", "message": message}


def denied(provider: str, account: str, table: str) -> dict:
    return {"provider": provider, "account_id": account, "table": table, "status": "denied",
            "message": "AccessDenied"}


def assert_family_survives_sparse_inventories(prefix: str, **sparse_tables) -> None:
    """Every check of a family runs on an empty and on a sparse inventory without crashing or ERROR."""
    from cloudaudit.engine import registry, run_checks
    from cloudaudit.testing import inventory

    ids = [c for c in registry() if c.startswith(prefix)]
    assert ids
    for inv in (inventory(tenants=TENANTS), inventory(tenants=TENANTS, **sparse_tables)):
        df = run_checks(inv, Policy(), checks=ids).df
        assert not df["reason"].str.startswith("check failed").any(), df[df["status"] == "ERROR"]["reason"].tolist()
        assert "ERROR" not in set(df["status"].astype(str))
