"""Golden tests of the AUTH checks: tiny inventories in, expected statuses and reasons out."""

from datetime import timedelta

from cloudaudit.engine import registry, run_checks
from cloudaudit.policy import Policy, RiskAcceptance, Thresholds
from cloudaudit.testing import inventory

from identity_fakes import (assert_family_survives_sparse_inventories, ADMIN_IDS, AWS, AZ_SUB, AZ_TENANT, GCP, GCP_ORG, TENANTS, TODAY, admins_in_three_clouds,
                            ago, denied, errors, grant, principal, row, run, statuses, unsupported)

ROOT = "arn:aws:iam::111111111111:root"


def test_AUTH_001_top_level_without_mfa_fails_and_unknown_mfa_is_not_mfa():
    inv = inventory(tenants=TENANTS, principals=[
        principal("aws", AWS, ROOT, "root", kind="root", top_level=True, mfa="none"),
        principal("azure", AZ_TENANT, "obj-ga", "ga@example.jp", top_level=True, mfa="virtual"),
        principal("gcp", GCP_ORG, "user:super@example.jp", "super@example.jp", top_level=True, mfa="unknown"),
        principal("gcp", GCP_ORG, "user:nobody@example.jp", top_level=True, mfa=None),
        principal("aws", AWS, "arn:aws:iam::111111111111:user/dev", "dev", mfa="none"),  # not top-level
    ])
    df = run(inv, "AUTH-001")
    assert statuses(df) == {ROOT: "FAIL", "obj-ga": "PASS", "user:super@example.jp": "FAIL",
                            "user:nobody@example.jp": "FAIL"}
    assert row(df, ROOT)["reason"] == "top-level root root has no MFA"
    assert "MFA state unknown" in row(df, "user:super@example.jp")["reason"]
    assert "MFA state unknown" in row(df, "user:nobody@example.jp")["reason"]
    assert "多要素認証" in row(df, ROOT)["reason_ja"]
    assert set(df["severity"].astype(str)) == {"critical"}


def test_AUTH_002_top_level_needs_hardware_or_phishing_resistant_mfa():
    inv = inventory(tenants=TENANTS, principals=[
        principal("aws", AWS, ROOT, "root", kind="root", top_level=True, mfa="virtual"),
        principal("azure", AZ_TENANT, "obj-ga", "ga@example.jp", top_level=True, mfa="phishing_resistant"),
        principal("gcp", GCP_ORG, "user:super@example.jp", top_level=True, mfa="hardware"),
        principal("azure", AZ_TENANT, "obj-ga2", "ga2@example.jp", top_level=True, mfa="none"),
    ])
    df = run(inv, "AUTH-002")
    assert statuses(df) == {ROOT: "FAIL", "obj-ga": "PASS", "user:super@example.jp": "PASS", "obj-ga2": "FAIL"}
    assert "virtual MFA" in row(df, ROOT)["reason"]
    assert row(df, "obj-ga2")["reason"].endswith("has no MFA")


def test_AUTH_003_console_users_without_mfa_fail_workloads_and_disabled_users_are_not_evaluated():
    inv = inventory(tenants=TENANTS, principals=[
        principal("aws", AWS, "u-none", "none-user", mfa="none"),
        principal("aws", AWS, "u-virtual", "ok-user", mfa="virtual"),
        principal("aws", AWS, "u-api", "api-only", mfa="none", console_access=False),
        principal("azure", AZ_TENANT, "u-off", "gone", mfa="none", enabled=False),
        principal("azure", AZ_TENANT, "u-unknown", "who", mfa="unknown"),
        principal("gcp", GCP, "serviceAccount:sa@proj-1", kind="service_account"),
        principal("aws", AWS, ROOT, "root", kind="root", top_level=True, mfa="none"),  # AUTH-001's subject
    ])
    df = run(inv, "AUTH-003")
    assert statuses(df) == {"u-none": "FAIL", "u-virtual": "PASS", "u-unknown": "FAIL"}
    assert row(df, "u-none")["reason"] == "user none-user can sign in with a password and has no MFA"
    assert "MFA state unknown" in row(df, "u-unknown")["reason"]


def test_AUTH_004_admin_without_mfa_fails_for_aws_azure_and_gcp():
    principals, grants = admins_in_three_clouds(mfa="none")
    # An external guest holding Owner whose MFA the tenant cannot see, and a reader without MFA.
    principals += [principal("azure", AZ_TENANT, "obj-guest", "vendor#EXT#", kind="guest", external=True,
                             mfa="unknown"),
                   principal("gcp", GCP_ORG, "user:reader@example.jp", mfa="none"),
                   principal("aws", AWS, "arn:aws:iam::111111111111:user/mfa-admin", "mfa-admin", mfa="hardware")]
    grants += [grant("azure", AZ_SUB, "obj-guest", "Owner", kind="guest", external=True),
               grant("gcp", GCP, "user:reader@example.jp", "roles/viewer", privilege="read"),
               grant("aws", AWS, "arn:aws:iam::111111111111:user/mfa-admin", "AdministratorAccess")]
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    df = run(inv, "AUTH-004")
    assert statuses(df) == {**{pid: "FAIL" for pid in ADMIN_IDS}, "obj-guest": "FAIL",
                            "arn:aws:iam::111111111111:user/mfa-admin": "PASS"}
    assert row(df, "arn:aws:iam::111111111111:user/alice")["reason"] == \
        "privileged user alice (AdministratorAccess on 111111111111) has no MFA"
    assert row(df, "obj-bob")["reason"] == "privileged user bob@example.jp (Owner on sub-1) has no MFA"
    assert row(df, "user:carol@example.jp")["reason"] == \
        "privileged user carol@example.jp (roles/owner on proj-1) has no MFA"
    assert "MFA state unknown" in row(df, "obj-guest")["reason"]
    assert '"external":true' in row(df, "obj-guest")["evidence"]


def test_AUTH_004_grant_holder_missing_from_principals_is_unknown_mfa_not_pass():
    inv = inventory(tenants=TENANTS, grants=[grant("gcp", GCP, "user:partner@other.example", "roles/owner")])
    df = run(inv, "AUTH-004")
    assert statuses(df) == {"user:partner@other.example": "FAIL"}
    assert "MFA state unknown" in df["reason"].iloc[0]


def test_AUTH_004_grant_of_unknown_privilege_is_judged_not_skipped():
    # an adapter that could not classify a role must not make its holder look unprivileged
    inv = inventory(tenants=TENANTS, principals=[principal("azure", AZ_TENANT, "u-1", "bob")],
                    grants=[grant("azure", AZ_SUB, "u-1", "Custom Ops Role", privilege=None)])
    df = run(inv, "AUTH-004")
    assert statuses(df) == {"u-1": "FAIL"}
    assert "privilege unknown" in df["reason"].iloc[0]


def test_AUTH_004_active_risk_acceptance_suppresses_and_expired_one_does_not():
    principals, grants = admins_in_three_clouds(mfa="none")
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    policy = Policy(acceptances=(
        RiskAcceptance("AUTH-004", "obj-bob", "break-glass, hardware key ordered", "ciso", TODAY + timedelta(days=30)),
        RiskAcceptance("AUTH-004", "user:carol@example.jp", "migration", "ciso", TODAY - timedelta(days=1)),
    ))
    findings = run_checks(inv, policy, checks=["AUTH-004"], today=TODAY)
    got = statuses(findings.df)
    assert got["obj-bob"] == "SUPPRESSED" and got["user:carol@example.jp"] == "FAIL"
    assert got["arn:aws:iam::111111111111:user/alice"] == "FAIL"
    assert [e["resource"] for e in findings.expired_acceptances] == ["user:carol@example.jp"]


def test_AUTH_004_unsupported_mfa_column_is_error_for_that_account_only():
    principals = [principal("aws", AWS, "arn:aws:iam::111111111111:user/alice", "alice", mfa="none"),
                  principal("gcp", GCP, "user:carol@example.jp", mfa="none")]
    grants = [grant("aws", AWS, "arn:aws:iam::111111111111:user/alice", "AdministratorAccess"),
              grant("gcp", GCP, "user:carol@example.jp", "roles/owner")]
    inv = inventory(principals=principals, grants=grants, gaps=[unsupported("gcp", GCP, "principals.mfa")])
    df = run(inv, "AUTH-004")
    assert statuses(df) == {"arn:aws:iam::111111111111:user/alice": "FAIL"}
    assert set(df["status"].astype(str)) == {"FAIL", "ERROR"}
    assert "no domain-wide delegation" in errors(df)[("gcp", GCP)]
    # A check that does not read the MFA column still evaluates that account.
    assert "ERROR" not in set(run(inv, "AUTH-006", Policy())["status"].astype(str))
    # A denied grants source fails AUTH-004 closed for that account as well.
    inv = inventory(principals=principals, grants=grants, gaps=[denied("aws", AWS, "grants")])
    df = run(inv, "AUTH-004")
    assert ("aws", AWS) in errors(df) and "PASS" not in set(df["status"].astype(str))


def test_AUTH_005_enforced_mfa_policy_per_account_with_organization_inheritance():
    inv = inventory(tenants=TENANTS + [{"provider": "aws", "account_id": "222222222222", "org_id": "o-abc"}],
                    guardrails=[
                        {"provider": "azure", "account_id": AZ_TENANT, "scope": "tenant", "kind": "mfa_required",
                         "effective": True},
                        {"provider": "gcp", "account_id": GCP, "scope": "project", "kind": "mfa_required",
                         "effective": False},
                        {"provider": "aws", "account_id": "222222222222", "scope": "account",
                         "kind": "public_access_block", "effective": True},
                    ])
    df = run(inv, "AUTH-005")
    assert statuses(df) == {AWS: "FAIL", "222222222222": "FAIL", AZ_SUB: "PASS", GCP: "WARN"}
    assert row(df, AZ_SUB)["reason"] == "account sub-1: MFA is enforced by tenant tenant-1"
    assert "not enforced" in row(df, GCP)["reason"]


def test_AUTH_006_admin_count_bounds_treat_aws_azure_and_gcp_alike():
    principals, grants = admins_in_three_clouds(mfa="virtual")
    extra = [("aws", AWS, "arn:aws:iam::111111111111:user/"), ("azure", AZ_SUB, "obj-"), ("gcp", GCP, "user:x")]
    for provider, account, prefix in extra:  # three more admins each: four in every account
        for i in range(3):
            role = {"aws": "AdministratorAccess", "azure": "Owner", "gcp": "roles/owner"}[provider]
            grants.append(grant(provider, account, f"{prefix}{i}", role))
    # A group whose members are not expanded counts as one holder; root does not count.
    grants.append(grant("aws", "222222222222", "arn:aws:iam::222222222222:group/admins", "AdministratorAccess",
                        kind="group"))
    tenants = TENANTS + [{"provider": "aws", "account_id": a, "org_id": "o-abc"} for a in ("222222222222", "333333333333")]
    principals.append(principal("aws", "333333333333", "arn:aws:iam::333333333333:root", kind="root", top_level=True))
    inv = inventory(tenants=tenants, principals=principals, grants=grants)
    df = run(inv, "AUTH-006", Policy(thresholds=Thresholds(max_admins=3, min_admins=1)))
    assert statuses(df) == {AWS: "FAIL", AZ_SUB: "FAIL", GCP: "FAIL", "222222222222": "PASS", "333333333333": "FAIL"}
    assert row(df, AWS)["reason"].startswith("account 111111111111 has 4 administrator(s), more than 3: ")
    assert "alice" in row(df, AWS)["reason"] and "carol@example.jp" in row(df, GCP)["reason"]
    assert row(df, "333333333333")["reason"] == "account 333333333333 has 0 administrator(s), fewer than 1"
    df = run(inv, "AUTH-006", Policy(thresholds=Thresholds(max_admins=4, min_admins=0)))
    assert set(statuses(df).values()) == {"PASS"}


def test_AUTH_006_grants_of_unknown_privilege_make_the_count_unknown_not_pass():
    # one known admin each; allowed 1-2. Unknown-privilege grants could push the count past a bound.
    principals, grants = admins_in_three_clouds(mfa="virtual")
    grants += [grant("aws", AWS, f"arn:aws:iam::111111111111:user/u{i}", "CustomOps", privilege=None) for i in range(2)]
    grants += [grant("azure", AZ_SUB, "obj-maybe", "Custom Role", privilege=None)]  # 1 + 1 <= 2: cannot change it
    tenants = TENANTS + [{"provider": "aws", "account_id": "222222222222", "org_id": "o-abc"}]
    grants += [grant("aws", "222222222222", "arn:aws:iam::222222222222:user/x", "Custom", privilege=None)]
    inv = inventory(tenants=tenants, principals=principals, grants=grants)
    df = run(inv, "AUTH-006", Policy(thresholds=Thresholds(max_admins=2, min_admins=1)))
    # AWS: 1 known + 2 unknown may exceed 2; 222...: 0 known + 1 unknown may be below 1.
    assert statuses(df) == {AWS: "FAIL", AZ_SUB: "PASS", GCP: "PASS", "222222222222": "FAIL"}
    assert "privilege is unknown" in row(df, AWS)["reason"] and "u0" in row(df, AWS)["reason"]
    assert "privilege is unknown" in row(df, "222222222222")["reason"]
    assert "fewer than" not in row(df, "222222222222")["reason"]
    assert "不明" in row(df, AWS)["reason_ja"]
    # Enough known admins to decide either way: the unknown ones cannot change the verdict.
    df = run(inv, "AUTH-006", Policy(thresholds=Thresholds(max_admins=0, min_admins=0)))
    assert statuses(df)[AWS] == "FAIL" and "more than 0" in row(df, AWS)["reason"]


def test_AUTH_006_azure_group_grant_and_its_expanded_members_count_once_each():
    principals = [principal("azure", AZ_TENANT, f"obj-{n}", f"{n}@example.jp") for n in ("ann", "ben")]
    principals.append(principal("azure", AZ_TENANT, "grp-admins", "admins", kind="group"))
    scope = "/subscriptions/sub-1"
    grants = [grant("azure", AZ_SUB, "grp-admins", "Owner", kind="group", scope=scope)]
    # the adapter repeats the group's grant for each transitive member (via = group)
    grants += [grant("azure", AZ_SUB, f"obj-{n}", "Owner", scope=scope, via="group") for n in ("ann", "ben")]
    # a group whose members were not expanded still counts as one holder
    grants.append(grant("azure", AZ_SUB, "grp-other", "User Access Administrator", kind="group", scope=scope))
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    df = run(inv, "AUTH-006", Policy(thresholds=Thresholds(max_admins=3, min_admins=1)))
    assert row(df, AZ_SUB)["status"] == "PASS"
    assert row(df, AZ_SUB)["reason"].startswith("account sub-1 has 3 administrator(s)")
    assert "admins" not in row(df, AZ_SUB)["reason"].split(": ", 1)[1].split(", ")


def test_AUTH_007_standing_admin_access_fails_alike_and_just_in_time_passes():
    principals, grants = admins_in_three_clouds(mfa="hardware")
    principals += [principal("azure", AZ_TENANT, "obj-pim", "pim@example.jp"),
                   principal("gcp", GCP_ORG, "user:maybe@example.jp"),
                   principal("gcp", GCP, "serviceAccount:ci@proj-1", kind="service_account")]
    grants += [grant("azure", AZ_SUB, "obj-pim", "Owner", standing=False),
               grant("gcp", GCP, "user:maybe@example.jp", "roles/owner", standing=None),
               grant("gcp", GCP, "serviceAccount:ci@proj-1", "roles/owner", kind="service_account")]
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    df = run(inv, "AUTH-007")
    assert statuses(df) == {**{pid: "FAIL" for pid in ADMIN_IDS}, "obj-pim": "PASS", "user:maybe@example.jp": "FAIL"}
    assert row(df, "obj-bob")["reason"] == "user bob@example.jp holds standing admin access in sub-1: Owner"
    assert row(df, "obj-bob")["account_id"] == AZ_SUB
    assert "unknown" in row(df, "user:maybe@example.jp")["reason"]
    assert "just-in-time" in row(df, "obj-pim")["reason"]


def test_AUTH_007_standing_unknown_column_is_error_not_pass():
    principals, grants = admins_in_three_clouds()
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants,
                    gaps=[unsupported("aws", AWS, "grants.standing", "Identity Center not readable")])
    df = run(inv, "AUTH-007")
    assert ("aws", AWS) in errors(df)
    assert "arn:aws:iam::111111111111:user/alice" not in statuses(df)


def test_AUTH_008_active_long_lived_keys_warn_and_fail_on_privileged_owners():
    principals, grants = admins_in_three_clouds(mfa="virtual")
    principals.append(principal("gcp", GCP, "serviceAccount:etl@proj-1", "etl", kind="service_account"))
    creds = [
        {"provider": "aws", "account_id": AWS, "principal_id": "arn:aws:iam::111111111111:user/alice",
         "credential_id": "AKIAADMIN", "kind": "access_key", "active": True, "created": ago(10)},
        {"provider": "gcp", "account_id": GCP, "principal_id": "serviceAccount:etl@proj-1", "credential_id": "k-etl",
         "kind": "service_account_key", "active": True, "created": ago(10)},
        {"provider": "gcp", "account_id": GCP, "principal_id": "serviceAccount:etl@proj-1", "credential_id": "k-old",
         "kind": "service_account_key", "active": False, "created": ago(500)},
    ]
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants, credentials=creds)
    df = run(inv, "AUTH-008")
    assert statuses(df) == {"AKIAADMIN": "FAIL", "k-etl": "WARN", "k-old": "PASS"}
    assert row(df, "AKIAADMIN")["reason"] == ("access_key AKIAADMIN of privileged alice (AdministratorAccess on "
                                              "111111111111) is an active long-lived secret")
    assert row(df, "AKIAADMIN")["severity"] == "high" and row(df, "k-etl")["severity"] == "medium"


def test_AUTH_009_old_keys_and_missing_expiry_fail():
    creds = [
        {"provider": "aws", "account_id": AWS, "principal_id": "u1", "credential_id": "AKIAOLD", "kind": "access_key",
         "active": True, "created": ago(400), "last_rotated": ago(120)},
        {"provider": "aws", "account_id": AWS, "principal_id": "u1", "credential_id": "AKIANEW", "kind": "access_key",
         "active": True, "created": ago(30)},
        {"provider": "azure", "account_id": AZ_TENANT, "principal_id": "app1", "credential_id": "secret-1",
         "kind": "client_secret", "active": True, "created": ago(10), "expires": None},
        {"provider": "azure", "account_id": AZ_TENANT, "principal_id": "app1", "credential_id": "secret-2",
         "kind": "client_secret", "active": True, "created": ago(10), "expires": ago(-60)},
        {"provider": "gcp", "account_id": GCP, "principal_id": "sa", "credential_id": "key-x",
         "kind": "service_account_key", "active": True},
        {"provider": "gcp", "account_id": GCP, "principal_id": "sa", "credential_id": "key-off",
         "kind": "service_account_key", "active": False, "created": ago(900)},
    ]
    inv = inventory(tenants=TENANTS, credentials=creds)
    df = run(inv, "AUTH-009")
    assert statuses(df) == {"AKIAOLD": "FAIL", "AKIANEW": "PASS", "secret-1": "FAIL", "secret-2": "PASS",
                            "key-x": "FAIL"}
    assert row(df, "AKIAOLD")["reason"] == "access_key AKIAOLD of u1 is 120 days old, more than 90"
    assert row(df, "secret-1")["reason"] == "client_secret secret-1 of app1 has no expiry"
    assert "age unknown" in row(df, "key-x")["reason"]
    df = run(inv, "AUTH-009", Policy(thresholds=Thresholds(key_max_age_days=200)))
    assert statuses(df)["AKIAOLD"] == "PASS"


def test_AUTH_010_root_access_keys_and_recent_root_use_fail_on_aws_only():
    roots = [principal("aws", a, f"arn:aws:iam::{a}:root", "root", kind="root", top_level=True, mfa="hardware",
                       last_active=last)
             for a, last in (("111111111111", ago(200)), ("222222222222", ago(3)), ("333333333333", None),
                             ("444444444444", ago(3)))]
    creds = [{"provider": "aws", "account_id": "444444444444", "principal_id": "arn:aws:iam::444444444444:root",
              "credential_id": "AKIAROOT", "kind": "access_key", "active": True, "created": ago(900)},
             {"provider": "aws", "account_id": "111111111111", "principal_id": "arn:aws:iam::111111111111:root",
              "credential_id": "AKIAGONE", "kind": "access_key", "active": False, "created": ago(900)}]
    ga = principal("azure", AZ_TENANT, "obj-ga", top_level=True, last_active=ago(1))
    inv = inventory(principals=roots + [ga], credentials=creds)
    df = run(inv, "AUTH-010")
    assert statuses(df) == {"arn:aws:iam::111111111111:root": "PASS", "arn:aws:iam::222222222222:root": "FAIL",
                            "arn:aws:iam::333333333333:root": "PASS", "arn:aws:iam::444444444444:root": "FAIL"}
    used = row(df, "arn:aws:iam::222222222222:root")
    assert "used recently" in used["reason"] and used["severity"] == "high"
    keys = row(df, "arn:aws:iam::444444444444:root")
    assert keys["reason"] == "root of 444444444444 has active access keys: AKIAROOT" and keys["severity"] == "critical"
    assert set(df["provider"]) == {"aws"}
    assert row(df, "arn:aws:iam::333333333333:root")["reason"].endswith("(last use: never recorded)")


def test_AUTH_011_workloads_with_admin_fail_alike_in_three_clouds():
    principals = [
        principal("aws", AWS, "arn:aws:iam::111111111111:role/app", "app", kind="role"),
        principal("azure", AZ_TENANT, "sp-deploy", "deploy", kind="service_principal"),
        principal("gcp", GCP, "serviceAccount:123-compute@developer.gserviceaccount.com", "compute-default",
                  kind="service_account"),
        principal("gcp", GCP, "serviceAccount:reader@proj-1", "reader", kind="service_account"),
        principal("aws", AWS, "arn:aws:iam::111111111111:user/alice", "alice"),
    ]
    grants = [
        grant("aws", AWS, "arn:aws:iam::111111111111:role/app", "AdministratorAccess", kind="role"),
        grant("azure", AZ_SUB, "sp-deploy", "Owner", kind="service_principal", scope="subscription"),
        grant("gcp", GCP, "serviceAccount:sa-x@other.iam.gserviceaccount.com", "roles/owner", kind="service_account"),
        grant("gcp", GCP, "serviceAccount:123-compute@developer.gserviceaccount.com", "roles/editor",
              privilege="write", kind="service_account", scope="project"),
        grant("gcp", GCP, "serviceAccount:reader@proj-1", "roles/storage.objectAdmin", privilege="write",
              kind="service_account", scope="resource"),
        grant("aws", AWS, "arn:aws:iam::111111111111:user/alice", "AdministratorAccess"),
    ]
    inv = inventory(tenants=TENANTS, principals=principals, grants=grants)
    df = run(inv, "AUTH-011")
    assert statuses(df) == {"arn:aws:iam::111111111111:role/app": "FAIL", "sp-deploy": "FAIL",
                            "serviceAccount:sa-x@other.iam.gserviceaccount.com": "FAIL",
                            "serviceAccount:123-compute@developer.gserviceaccount.com": "WARN",
                            "serviceAccount:reader@proj-1": "PASS"}
    assert row(df, "sp-deploy")["reason"] == "workload service_principal deploy holds admin roles: Owner on sub-1"
    assert "roles/editor on proj-1" in row(df, "serviceAccount:123-compute@developer.gserviceaccount.com")["reason"]


def test_AUTH_checks_declare_column_level_needs():
    reg = registry()
    assert "principals.mfa" in reg["AUTH-004"].needs and "grants" in reg["AUTH-004"].needs
    assert "grants.standing" in reg["AUTH-007"].needs
    assert reg["AUTH-010"].providers == ("aws",)
    assert all(reg[f"AUTH-{i:03d}"].severity in ("critical", "high", "medium") for i in range(1, 12))


def test_AUTH_checks_evaluate_empty_and_sparse_inventories_without_crashing():
    assert_family_survives_sparse_inventories(
        "AUTH-", principals=[{"provider": "aws", "account_id": AWS, "principal_id": "p"}],
        grants=[{"provider": "gcp", "account_id": GCP, "principal_id": "g"}],
        credentials=[{"provider": "azure", "account_id": AZ_TENANT, "principal_id": "x", "credential_id": "c"}])


def test_AUTH_012_aws_password_policy_strength_per_account():
    import json

    def policy_row(account, doc, effective=True):
        return {"provider": "aws", "account_id": account, "scope": "account", "kind": "password_policy",
                "effective": effective, "detail": json.dumps(doc)}

    tenants = TENANTS + [{"provider": "aws", "account_id": a, "org_id": "o-abc"} for a in ("222222222222", "333333333333")]
    inv = inventory(tenants=tenants, guardrails=[
        policy_row(AWS, {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}),
        policy_row("222222222222", {"MinimumPasswordLength": 8}),
        policy_row("333333333333", {"absent": True}, effective=False),
    ])
    df = run(inv, "AUTH-012")
    assert statuses(df) == {AWS: "PASS", "222222222222": "FAIL", "333333333333": "FAIL"}
    assert row(df, "222222222222")["reason"] == ("account 222222222222: password policy is weak (minimum length 8, "
                                                 "reuse prevention unknown; required 14 and 24)")
    assert "no password policy" in row(df, "333333333333")["reason"]
    assert set(df["provider"]) == {"aws"} and registry()["AUTH-012"].tier == "extended"
