"""Golden tests of the LCM checks: inactive accounts, unused credentials, leftover access."""

from cloudaudit.engine import registry, run_checks
from cloudaudit.policy import Policy, Thresholds
from cloudaudit.testing import inventory

from identity_fakes import (assert_family_survives_sparse_inventories, AWS, AZ_SUB, AZ_TENANT, GCP, GCP_ORG, TENANTS, ago, denied, errors, grant, principal,
                            row, run, statuses, unsupported)


def test_LCM_001_inactive_and_never_used_humans_fail_new_ones_pass():
    inv = inventory(tenants=TENANTS, principals=[
        principal("aws", AWS, "u-active", "active", last_active=ago(5)),
        principal("aws", AWS, "u-idle", "idle", last_active=ago(120)),
        principal("azure", AZ_TENANT, "u-never", "never@example.jp", last_active=None, created=ago(200)),
        principal("azure", AZ_TENANT, "u-new", "new@example.jp", last_active=None, created=ago(10)),
        principal("azure", AZ_TENANT, "u-off", "off@example.jp", last_active=ago(500), enabled=False),
        principal("gcp", GCP_ORG, "user:blank@example.jp", last_active=None, created=None),
        principal("gcp", GCP_ORG, "user:admin@example.jp", last_active=ago(300)),
        principal("gcp", GCP, "serviceAccount:sa@proj-1", kind="service_account", last_active=ago(900)),
        principal("aws", AWS, "arn:aws:iam::111111111111:root", kind="root", top_level=True, last_active=ago(900)),
    ], grants=[grant("gcp", GCP, "user:admin@example.jp", "roles/owner")])
    df = run(inv, "LCM-001")
    assert statuses(df) == {"u-active": "PASS", "u-idle": "FAIL", "u-never": "FAIL", "u-new": "PASS",
                            "user:blank@example.jp": "FAIL", "user:admin@example.jp": "FAIL"}
    assert row(df, "u-idle")["reason"].startswith("user idle has been inactive for 120 days (since ")
    assert row(df, "u-never")["reason"] == ("user never@example.jp has never signed in since it was created "
                                            "200 days ago (limit 90)")
    assert "unknown" in row(df, "user:blank@example.jp")["reason"]
    assert row(df, "user:admin@example.jp")["severity"] == "high" and row(df, "u-idle")["severity"] == "medium"
    df = run(inv, "LCM-001", Policy(thresholds=Thresholds(inactive_days=150)))
    assert statuses(df)["u-idle"] == "PASS" and statuses(df)["u-never"] == "FAIL"


def test_LCM_001_sign_in_activity_without_licence_is_error_for_that_tenant_only():
    inv = inventory(principals=[principal("aws", AWS, "u-idle", "idle", last_active=ago(120)),
                                principal("azure", AZ_TENANT, "u-x", "x@example.jp", last_active=None)],
                    gaps=[unsupported("azure", AZ_TENANT, "principals.last_active", "signInActivity needs Entra ID P1")])
    df = run(inv, "LCM-001")
    assert statuses(df) == {"u-idle": "FAIL"}
    assert "Entra ID P1" in errors(df)[("azure", AZ_TENANT)]
    # a denied principals source is an ERROR too, never a PASS
    df = run(inventory(principals=[principal("gcp", GCP_ORG, "user:a@example.jp", last_active=ago(1))],
                       gaps=[denied("gcp", GCP_ORG, "principals")]), "LCM-001")
    assert list(df["status"].astype(str)) == ["ERROR"]


def test_LCM_002_unused_keys_and_service_accounts_fail():
    creds = [
        {"provider": "aws", "account_id": AWS, "principal_id": "u1", "credential_id": "AKIAUSED", "kind": "access_key",
         "active": True, "created": ago(300), "last_used": ago(2)},
        {"provider": "aws", "account_id": AWS, "principal_id": "u1", "credential_id": "AKIAIDLE", "kind": "access_key",
         "active": True, "created": ago(300), "last_used": ago(100)},
        {"provider": "azure", "account_id": AZ_TENANT, "principal_id": "app", "credential_id": "secret-never",
         "kind": "client_secret", "active": True, "created": ago(95)},
        {"provider": "gcp", "account_id": GCP, "principal_id": "sa", "credential_id": "key-new",
         "kind": "service_account_key", "active": True, "created": ago(3)},
        {"provider": "gcp", "account_id": GCP, "principal_id": "sa", "credential_id": "key-off",
         "kind": "service_account_key", "active": False, "created": ago(900)},
    ]
    principals = [
        principal("gcp", GCP, "serviceAccount:old@proj-1", "old", kind="service_account", last_active=ago(200)),
        principal("azure", AZ_TENANT, "sp-busy", "busy", kind="service_principal", last_active=ago(1)),
        principal("aws", AWS, "arn:aws:iam::111111111111:role/ghost", "ghost", kind="role", last_active=None,
                  created=ago(365)),
        principal("aws", AWS, "u-human", "human", last_active=ago(900)),  # humans: LCM-001
    ]
    inv = inventory(tenants=TENANTS, credentials=creds, principals=principals)
    df = run(inv, "LCM-002")
    assert statuses(df) == {"AKIAUSED": "PASS", "AKIAIDLE": "FAIL", "secret-never": "FAIL", "key-new": "PASS",
                            "serviceAccount:old@proj-1": "FAIL", "sp-busy": "PASS",
                            "arn:aws:iam::111111111111:role/ghost": "FAIL"}
    assert row(df, "AKIAIDLE")["reason"].startswith("access_key AKIAIDLE (u1) has not been used for 100 days")
    assert "never been used" in row(df, "secret-never")["reason"]
    assert "service_account old has not been used for 200 days" in row(df, "serviceAccount:old@proj-1")["reason"]


def test_LCM_002_unreadable_last_used_is_error_not_pass():
    creds = [{"provider": "azure", "account_id": AZ_TENANT, "principal_id": "app", "credential_id": "s1",
              "kind": "client_secret", "active": True, "created": ago(1)},
             {"provider": "aws", "account_id": AWS, "principal_id": "u1", "credential_id": "AKIA1",
              "kind": "access_key", "active": True, "created": ago(1)}]
    inv = inventory(credentials=creds, gaps=[unsupported("azure", AZ_TENANT, "credentials.last_used", "beta API")])
    df = run(inv, "LCM-002")
    assert statuses(df) == {"AKIA1": "PASS"}
    assert ("azure", AZ_TENANT) in errors(df)


def test_LCM_003_disabled_deleted_and_orphaned_holders_fail():
    principals = [
        principal("azure", AZ_TENANT, "obj-left", "left@example.jp", enabled=False),
        principal("azure", AZ_TENANT, "obj-here", "here@example.jp"),
        principal("gcp", GCP_ORG, "user:suspended@example.jp", enabled=False),
        principal("aws", AWS, "arn:aws:iam::111111111111:user/unknown", "maybe", enabled=None),
    ]
    grants = [
        grant("azure", AZ_SUB, "obj-left", "Owner"),
        grant("azure", AZ_SUB, "obj-left", "Reader", privilege="read"),
        grant("azure", AZ_SUB, "obj-here", "Contributor", privilege="write"),
        grant("azure", AZ_SUB, "obj-gone", "Reader", privilege="read"),  # object id that no longer resolves
        grant("gcp", GCP, "deleted:user:bob@example.jp?uid=123", "roles/editor", privilege="write"),
        grant("gcp", GCP, "user:suspended@example.jp", "roles/viewer", privilege="read"),
        grant("gcp", GCP, "user:partner@other.example", "roles/viewer", privilege="read", external=True),
        grant("gcp", GCP, "allUsers", "roles/storage.objectViewer", privilege="read", public=True),
        grant("aws", AWS, "arn:aws:iam::111111111111:user/unknown", "ReadOnlyAccess", privilege="read"),
    ]
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    df = run(inv, "LCM-003")
    assert statuses(df) == {"obj-left": "FAIL", "obj-here": "PASS", "obj-gone": "FAIL",
                            "deleted:user:bob@example.jp?uid=123": "FAIL", "user:suspended@example.jp": "FAIL",
                            "user:partner@other.example": "WARN", "arn:aws:iam::111111111111:user/unknown": "WARN"}
    assert row(df, "obj-left")["reason"] == "user left@example.jp is disabled but still holds Owner, Reader in sub-1"
    assert "orphaned" in row(df, "obj-gone")["reason"]
    assert row(df, "deleted:user:bob@example.jp?uid=123")["reason"].startswith("deleted identity ")
    assert "unknown" in row(df, "arn:aws:iam::111111111111:user/unknown")["reason"]


def test_LCM_003_denied_grants_source_is_error_for_that_account():
    principals = [principal("azure", AZ_TENANT, "obj-left", enabled=False),
                  principal("gcp", GCP_ORG, "user:s@example.jp", enabled=False)]
    grants = [grant("azure", AZ_SUB, "obj-left", "Owner"), grant("gcp", GCP, "user:s@example.jp", "roles/owner")]
    inv = inventory(principals=principals, grants=grants, gaps=[denied("gcp", GCP, "grants")])
    df = run(inv, "LCM-003")
    assert statuses(df) == {"obj-left": "FAIL"}
    assert ("gcp", GCP) in errors(df)


def test_LCM_checks_evaluate_empty_and_sparse_inventories_without_crashing():
    assert_family_survives_sparse_inventories(
        "LCM-", principals=[{"provider": "aws", "account_id": AWS, "principal_id": "p"}],
        grants=[{"provider": "gcp", "account_id": GCP, "principal_id": "g"}],
        credentials=[{"provider": "azure", "account_id": AZ_TENANT, "principal_id": "x", "credential_id": "c"}])
