"""AWS adapter against a moto server over HTTP: the sample organization, faults and replay."""

from __future__ import annotations

import pandas as pd
import pytest

import cloudaudit
from cloudaudit.providers import aws
from cloudaudit.providers.aws.sample import ALLOWED_REGIONS, HOME, MANAGEMENT, OUTSIDE_ACCOUNT

from aws_fakes import FaultProxy, deny_assume_role, deny_region, moto_endpoint, sample_org, throttle  # noqa: F401

FAST = {"max_attempts": 1}   # moto answers 500 for unimplemented calls: no time spent retrying them


@pytest.fixture(scope="module")
def collection(sample_org):
    """One full collection: every account, every enabled region (as a real run would)."""
    return aws.collect(dict(FAST))


@pytest.fixture(scope="module")
def inv(collection):
    return aws.normalize(collection)


@pytest.fixture(scope="module")
def findings(inv):
    return cloudaudit.audit(inv).df


def _rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    return table[mask]


def _status(findings: pd.DataFrame, check_id: str, resource_id: str) -> set[str]:
    return set(findings[(findings.check_id == check_id) & (findings.resource_id == resource_id)].status.astype(str))


# ----------------------------------------------------------------------------- tenancy and regions

def test_tenancy_accounts_ou_paths_and_management(inv, sample_org):
    tenants = inv.tenants.set_index("account_id")
    members = sample_org["members"]
    assert set(tenants.index) == {MANAGEMENT, *members.values()}
    assert (tenants.org_id == sample_org["org_id"]).all()
    assert tenants.loc[MANAGEMENT, "is_management"] and not tenants.loc[members["prod-app"], "is_management"]
    assert tenants.loc[members["prod-app"], "parent_path"] == "Root/Workloads/Prod"
    assert tenants.loc[members["shared-services"], "parent_path"] == "Root/Workloads"
    assert tenants.loc[members["prod-app"], "name"] == "prod-app"
    assert (tenants.state == "ACTIVE").all()


def test_every_enabled_region_of_the_partition_is_scanned(inv, collection, sample_org):
    regions = inv.regions
    assert not regions.region.str.startswith(("cn-", "us-gov-")).any()  # other partitions are left out
    enabled = regions[regions.enabled]
    assert set(regions[~regions.enabled].opt_in) == {"not-opted-in"}
    assert set(enabled.opt_in) <= {"not-required", "opted-in"}
    cov = inv.coverage
    for account in inv.tenants.account_id:
        want = set(enabled[enabled.account_id == account].region)
        got = set(cov[(cov.account_id == account) & (cov.source == "ec2:DescribeSecurityGroups")].region)
        assert want and got == want, account
    # every (account, enabled region) has one coverage row per regional table and source
    keys = cov[["account_id", "region", "table", "source"]]
    assert not keys.duplicated().any()


# ----------------------------------------------------------------------------- identity

def test_principals_mfa_console_and_root(inv, sample_org):
    p = inv.principals.set_index("principal_id")
    user = f"arn:aws:iam::{MANAGEMENT}:user/"
    assert p.loc[user + "bob", "mfa"] == "none" and p.loc[user + "bob", "console_access"]
    assert p.loc[user + "carol", "mfa"] == "none"
    assert p.loc[user + "alice", "mfa"] == "virtual" and p.loc[user + "dave", "mfa"] == "virtual"
    assert not p.loc[user + "svc-deploy", "console_access"] and not p.loc[user + "svc-deploy", "human"]
    roots = inv.principals[inv.principals.kind == "root"]
    assert len(roots) == 3 and roots.top_level.all()
    # moto has no <root_account> report row: root MFA comes from the account summary, and with no
    # virtual device for root the device is a hardware one
    assert set(roots.mfa) == {"hardware"}


def test_grants_privilege_and_via(inv):
    g = inv.grants
    user = f"arn:aws:iam::{MANAGEMENT}:user/"
    carol = _rows(g, principal_id=user + "carol")
    assert list(carol.privilege) == ["admin"] and list(carol.via) == ["direct"]
    dave = _rows(g, principal_id=user + "dave")
    assert list(dave.privilege) == ["admin"] and list(dave.via) == ["group"]
    assert set(_rows(g, principal_id=user + "bob").privilege) == {"read"}
    assert set(_rows(g, principal_id=f"arn:aws:iam::{MANAGEMENT}:role/VendorAdmin").privilege) == {"admin"}


def test_old_access_key_from_credential_report(inv):
    c = inv.credentials
    key = _rows(c, principal_id=f"arn:aws:iam::{MANAGEMENT}:user/svc-deploy")
    assert len(key) == 1 and key.active.all()
    age = (pd.Timestamp.now(tz="UTC") - key.created.iloc[0]).days
    assert 399 <= age <= 401


def test_trusts_external_account_and_external_id(inv, sample_org):
    t = inv.trusts.set_index("role_id")
    vendor = t.loc[f"arn:aws:iam::{MANAGEMENT}:role/VendorAdmin"]
    assert vendor.trusted_account == OUTSIDE_ACCOUNT and vendor.external and not vendor.external_id
    assert vendor.privilege == "admin"
    partner = t.loc[f"arn:aws:iam::{MANAGEMENT}:role/PartnerRead"]
    assert partner.external and partner.external_id and partner.privilege == "read"
    # the members' OrganizationAccountAccessRole trusts the management account: inside the org
    inside = inv.trusts[inv.trusts.trusted_account == MANAGEMENT]
    assert len(inside) == 2 and not inside.external.any()


# ----------------------------------------------------------------------------- resources

def test_buckets_region_public_encryption_tls_tags(inv, sample_org):
    res = inv.resources.set_index("resource_id")
    probs = sample_org["problems"]
    public = res.loc[probs["public_bucket"]]
    assert public.region == HOME and public.public_read and not public.public_write
    outside = res.loc[probs["bucket_outside_japan"]]
    assert outside.region == "us-east-1" and not outside.public_read   # null LocationConstraint
    buckets = inv.resources[inv.resources.kind == "bucket"]
    assert len(buckets) == 6 and set(buckets.encryption) == {"provider"} and buckets.https_only.all()
    shared = buckets[buckets.account_id == sample_org["members"]["shared-services"]]
    assert sorted(shared.region) == [HOME, "ap-northeast-3"]
    copy = inv.replicas[inv.replicas.kind == "replication"]
    assert list(zip(copy.source_region, copy.target_region)) == [("ap-northeast-3", HOME)]
    labels = inv.tags[inv.tags.key == "classification"]
    assert set(buckets.resource_id) <= set(labels.resource_id)


def test_s3_buckets_carry_the_provider_enforced_tls_floor(inv, findings):
    """Every S3 endpoint refuses TLS < 1.2 (AWS, June 2023): buckets report 1.2 and pass ENC-006."""
    res = inv.resources
    buckets = res[res.kind == "bucket"]
    assert len(buckets) and set(buckets.min_tls) == {"1.2"}
    enc6 = findings[findings.check_id == "ENC-006"].set_index("resource_id")
    assert set(enc6.loc[list(buckets.resource_id), "status"].astype(str)) == {"PASS"}
    some = buckets.iloc[0]
    assert enc6.loc[some.resource_id, "reason"] == \
        f"bucket {some['name']} accepts TLS 1.2 and above (policy minimum 1.2)"


def test_rds_tls_from_the_parameter_group_default_group_stays_unknown(collection, inv, findings, sample_org):
    """orders uses a parameter group stating rds.force_ssl=1 and ssl_min_protocol_version=TLSv1.2:
    ENC-006 and ENC-008 PASS. reports uses its engine's default group, which states neither: no
    engine default is assumed, both FAIL as unknown. One read per group, not per database."""
    prod = sample_org["members"]["prod-app"]
    orders = f"arn:aws:rds:{HOME}:{prod}:db:orders"
    reports = sample_org["problems"]["database_tls_unknown"]
    db = inv.resources[inv.resources.kind == "database"].set_index("resource_id")
    assert db.loc[orders, "min_tls"] == "1.2" and db.loc[orders, "https_only"] == True  # noqa: E712
    assert pd.isna(db.loc[reports, "min_tls"]) and pd.isna(db.loc[reports, "https_only"])
    assert _status(findings, "ENC-006", orders) == {"PASS"} and _status(findings, "ENC-008", orders) == {"PASS"}
    assert _status(findings, "ENC-006", reports) == {"FAIL"} and _status(findings, "ENC-008", reports) == {"FAIL"}
    f = findings.set_index(["check_id", "resource_id"])
    assert f.loc[("ENC-006", orders), "reason"] == "database orders accepts TLS 1.2 and above (policy minimum 1.2)"
    assert "minimum TLS version is unknown" in f.loc[("ENC-006", reports), "reason"]
    assert f.loc[("ENC-008", reports), "reason"] == "database reports: whether TLS is required is unknown"
    reads = [r for r in collection.records if r.source == "rds:DescribeDBParameters" and r.account_id == prod]
    groups = sorted(r.data["DBParameterGroupName"] for r in reads)
    # orders-tls and the default groups of the mysql and Aurora instances, each read once
    assert len(groups) == len(set(groups)) == 3 and "orders-tls" in groups
    assert {p["ParameterName"] for r in reads for p in r.data["Parameters"]} == {"rds.force_ssl",
                                                                               "ssl_min_protocol_version"}
    cov = inv.coverage
    ok = cov[cov.source.isin(["rds:DescribeDBParameters", "rds:DescribeDBClusterParameters"])
             & (cov.account_id == prod)]
    assert set(ok.table) == {"resources.min_tls", "resources.https_only"} and set(ok.status) == {"ok"}
    assert set(ok.source) == {"rds:DescribeDBParameters", "rds:DescribeDBClusterParameters"}


def test_aurora_tls_from_the_cluster_parameter_group_also_for_its_instances(collection, inv, findings, sample_org):
    """The Aurora cluster's parameter group forces TLS 1.3 and above; its member instance's own
    (default) group states nothing, so the instance takes the cluster's settings."""
    prod = sample_org["members"]["prod-app"]
    cluster, member = f"arn:aws:rds:{HOME}:{prod}:cluster:ledger", f"arn:aws:rds:{HOME}:{prod}:db:ledger-1"
    db = inv.resources.set_index("resource_id")
    for rid in (cluster, member):
        assert db.loc[rid, "min_tls"] == "1.3" and db.loc[rid, "https_only"] == True, rid  # noqa: E712
        assert _status(findings, "ENC-006", rid) == {"PASS"} and _status(findings, "ENC-008", rid) == {"PASS"}, rid
    reads = [r for r in collection.records if r.source == "rds:DescribeDBClusterParameters"]
    assert [(r.account_id, r.data["DBClusterParameterGroupName"]) for r in reads] == [(prod, "ledger-tls")]


def test_a_denied_parameter_group_read_makes_only_its_databases_error(moto_endpoint, sample_org):
    """rds:DescribeDBParameters denied for one group: coverage rows naming the databases using it,
    so their ENC-006 / ENC-008 are ERROR (not an 'unknown' FAIL) while the other database keeps
    its verdict and checks that do not read the TLS columns are unaffected."""
    from aws_fakes import aws_error

    prod = sample_org["members"]["prod-app"]
    orders = f"arn:aws:rds:{HOME}:{prod}:db:orders"
    reports = sample_org["problems"]["database_tls_unknown"]

    def deny_orders_group(seen):
        if seen.action == "DescribeDBParameters" and b"orders-tls" in seen.body:
            return aws_error(seen, 403, "AccessDenied", "User is not authorized to perform: rds:DescribeDBParameters")
        return None

    with FaultProxy(moto_endpoint, [deny_orders_group]) as proxy:
        c = aws.collect({"endpoint_url": proxy.url, "accounts": [prod], "regions": [HOME], "max_attempts": 1})
    inv = aws.normalize(c)
    cov = inv.coverage
    bad = cov[(cov.source == "rds:DescribeDBParameters") & (cov.status != "ok")]
    assert set(zip(bad.table, bad.resource_id, bad.status)) == {("resources.min_tls", orders, "denied"),
                                                                ("resources.https_only", orders, "denied")}
    assert all("orders-tls" in m for m in bad.message)
    db = inv.resources.set_index("resource_id")
    assert pd.isna(db.loc[orders, "min_tls"]) and pd.isna(db.loc[orders, "https_only"])
    f = cloudaudit.audit(inv, checks=["ENC-006", "ENC-008", "ENC-002"]).df
    for check_id in ("ENC-006", "ENC-008"):
        assert _status(f, check_id, orders) == {"ERROR"}, check_id
        assert _status(f, check_id, reports) == {"FAIL"}, check_id
    assert _status(f, "ENC-002", orders) == {"PASS"}


def test_snapshot_volume_database_keys(inv, sample_org):
    res = inv.resources.set_index("resource_id")
    probs = sample_org["problems"]
    assert res.loc[probs["public_snapshot"], "public_read"]
    prod = sample_org["members"]["prod-app"]
    vols = inv.resources[(inv.resources.kind == "volume") & (inv.resources.account_id == prod)]
    assert len(vols) == 1 and vols.attached.eq(False).all() and (vols.encryption != "none").all()
    others = inv.resources[(inv.resources.kind == "volume") & (inv.resources.account_id != prod)]
    assert sorted(others.attached) == [False, True]   # the instance's root volume is attached
    db = inv.resources[inv.resources.kind == "database"]
    assert sorted(db.name) == ["ledger", "ledger-1", "orders", "reports"] and not db.network_open.any()
    assert (db.encryption == "customer").all()
    manual = inv.resources[(inv.resources.kind == "db_snapshot") & (inv.resources.name == "orders-before-migration")]
    assert len(manual) == 1 and manual.public_read.eq(False).all()
    table = inv.resources[inv.resources.kind == "table"]
    assert list(table.name) == ["sessions"] and list(table.region) == [HOME]
    assert set(table.resource_id) <= set(inv.tags[inv.tags.key == "classification"].resource_id)
    weak = res.loc[probs["key_without_rotation"]]
    assert weak.kind == "key" and weak.key_manager == "customer" and pd.isna(weak.rotation_days)
    assert weak.rotation_enabled == False  # noqa: E712 - read and off, not merely unknown
    rotated = inv.resources[(inv.resources.kind == "key") & (inv.resources.account_id == MANAGEMENT)]
    assert list(rotated.rotation_days) == [365] and list(rotated.rotation_enabled) == [True]
    assert list(table.public_read) == [False]   # the table has no resource policy: nobody outside IAM


def test_security_group_rules_and_attachment(inv, sample_org):
    sg = sample_org["problems"]["open_admin_ports"]
    rules = _rows(inv.network_rules, resource_id=sg)
    assert sorted(rules.port_from) == [22, 3389] and set(rules.source) == {"0.0.0.0/0"}
    assert set(rules.protocol) == {"tcp"} and rules.attached.all()
    web = inv.network_rules[inv.network_rules.port_from == 443]
    assert len(web) == 1 and not web.attached.any()
    peering = inv.resources.set_index("resource_id").loc[sample_org["problems"]["external_peering"]]
    assert peering.kind == "peering" and peering.peer_account == "111122223333"
    networks = inv.resources[inv.resources.kind == "network"]
    assert networks.groupby(["account_id", "region"]).is_default.sum().eq(1).all()   # one default VPC each
    groups = inv.resources[inv.resources.kind == "security_group"]
    assert groups[groups.name == "default"].is_default.all() and not groups[groups.name == "bastion"].is_default.any()


# ----------------------------------------------------------------------------- guardrails and logs

def test_guardrails_scp_region_restriction_pab_password(inv, sample_org):
    g = inv.guardrails
    region = g[g.kind == "region_restriction"].set_index("account_id")
    assert set(region.index) == {MANAGEMENT, *sample_org["members"].values()}
    for account, row in region.iterrows():
        assert sorted(row["values"]) == ALLOWED_REGIONS and row.scope == "organization root"
        assert row.effective == (account != MANAGEMENT)   # SCPs never bind the management account
    pab = g[g.kind == "public_access_block"].set_index("account_id")
    assert pab.loc[MANAGEMENT, "effective"] and not pab.loc[sample_org["members"]["prod-app"], "effective"]
    assert set(g[g.kind == "password_policy"].account_id) == {MANAGEMENT, *sample_org["members"].values()}


def test_audit_logs_trails_and_recorders(inv, sample_org):
    logs = inv.audit_logs.set_index("log_id")
    weak = logs.loc[sample_org["problems"]["single_region_trail"]]
    assert weak.enabled and not weak.multi_region and not weak.integrity and weak.management_events
    good = logs.loc[f"arn:aws:cloudtrail:{HOME}:{MANAGEMENT}:trail/audit"]
    assert good.multi_region and good.integrity and good.destination_region == HOME
    recorders = inv.audit_logs[inv.audit_logs.log_id.str.contains(":configuration-recorder/")]
    assert len(recorders) == 2 and recorders.enabled.all()


def test_unsupported_snapshot_block_state_is_a_coverage_row(inv):
    cov = inv.coverage
    rows = cov[cov.source == "ec2:GetSnapshotBlockPublicAccessState"]
    assert len(rows) and (rows.table == "guardrails.snapshot_public_block").all()
    assert (rows.status != "ok").all()   # moto answers 500: never silently "no guardrail"


def test_unreadable_snapshot_setting_fails_only_the_checks_that_read_it(findings):
    # RES-006 reads only the region restriction: it is evaluated; ISL-002 reads the snapshot setting: ERROR
    res006 = set(findings[findings["check_id"] == "RES-006"]["status"].astype(str))
    isl002 = set(findings[findings["check_id"] == "ISL-002"]["status"].astype(str))
    assert res006 and "ERROR" not in res006
    assert isl002 == {"ERROR"}


# ----------------------------------------------------------------------------- findings

def test_findings_for_the_seeded_problems(findings, sample_org):
    probs = sample_org["problems"]
    assert _status(findings, "RES-001", probs["bucket_outside_japan"]) == {"FAIL"}
    assert _status(findings, "RES-001", probs["public_bucket"]) == {"PASS"}
    assert _status(findings, "ISL-001", probs["public_bucket"]) == {"FAIL"}
    assert "FAIL" in _status(findings, "ISL-003", probs["open_admin_ports"])
    assert _status(findings, "ISL-005", probs["public_snapshot"]) == {"FAIL"}
    assert _status(findings, "AUTH-003", probs["console_user_without_mfa"]) == {"FAIL"}
    assert _status(findings, "AUTH-004", probs["admin_user_without_mfa"]) == {"FAIL"}
    assert _status(findings, "AUTH-009", probs["old_access_key"] + "#access_key_1") == {"FAIL"}
    assert "FAIL" in _status(findings, "ISL-006", probs["external_admin_role"])
    trail = probs["single_region_trail"]
    assert _status(findings, "LOG-002", trail) == {"FAIL"}
    assert _status(findings, "ENC-003", probs["key_without_rotation"]) == {"FAIL"}
    assert _status(findings, "RES-002", probs["bucket_outside_japan"]) == {"FAIL"}
    prod = sample_org["members"]["prod-app"]
    log1 = findings[(findings.check_id == "LOG-001") & (findings.account_id == prod)]
    assert "FAIL" in set(log1.status.astype(str))   # no multi-region trail in prod-app
    # nothing else is public, open or external: the well-configured resources pass
    for check_id, seeded in (("ISL-001", "public_bucket"), ("ISL-003", "open_admin_ports"),
                             ("ISL-005", "public_snapshot"), ("AUTH-004", "admin_user_without_mfa"),
                             ("ENC-003", "key_without_rotation"), ("RES-001", "bucket_outside_japan")):
        failed = set(findings[(findings.check_id == check_id) & (findings.status == "FAIL")].resource_id)
        assert failed == {probs[seeded]}, check_id
    assert _status(findings, "ISL-010", probs["external_peering"]) == {"FAIL"}
    in_use_defaults = findings[(findings.check_id == "ISL-009") & (findings.status == "FAIL")]
    assert in_use_defaults.empty   # workloads run in purpose-built networks and groups
    external = set(findings[(findings.check_id == "ISL-006") & (findings.status == "FAIL")].resource_id)
    assert probs["external_admin_role"] in external and all(":role/" in r for r in external)


# ----------------------------------------------------------------------------- faults, retry, replay

def test_denied_role_and_denied_region_become_errors_while_the_rest_completes(moto_endpoint, sample_org):
    blocked = sample_org["members"]["shared-services"]
    prod = sample_org["members"]["prod-app"]
    throttled = throttle("GetAccountAuthorizationDetails", 1)
    rules = [deny_assume_role(blocked), deny_region("ec2", "us-east-1"), throttled]
    with FaultProxy(moto_endpoint, rules) as proxy:
        collection = aws.collect({"endpoint_url": proxy.url, "regions": [HOME, "us-east-1"], "max_attempts": 3})
    inv = aws.normalize(collection)
    cov = inv.coverage
    star = cov[(cov.account_id == blocked) & (cov.table == "*")]
    assert list(star.status) == ["denied"] and "AccessDenied" in star.message.iloc[0]
    assert not (cov[(cov.account_id == blocked) & (cov.table != "*")].source.str.startswith(("iam:", "ec2:", "s3"))).any()
    denied = cov[(cov.region == "us-east-1") & cov.source.str.startswith("ec2:")]
    assert len(denied) and (denied.status == "denied").all()
    assert (cov[(cov.region == HOME) & cov.source.str.startswith("ec2:Describe")].status == "ok").all()
    # throttling was answered by the adaptive retry: the call succeeded
    assert throttled.state["hits"] == 1
    assert (cov[cov.source == "iam:GetAccountAuthorizationDetails"].status == "ok").all()

    f = cloudaudit.audit(inv, checks=["ISL-001", "ISL-003", "RES-001", "AUTH-003"]).df
    blocked_rows = f[f.account_id == blocked]
    assert len(blocked_rows) and (blocked_rows.status == "ERROR").all()
    isl3 = f[(f.check_id == "ISL-003") & (f.account_id == prod)]
    assert "ERROR" in set(isl3[isl3.region == "us-east-1"].status.astype(str))
    assert "FAIL" in set(isl3[isl3.region == HOME].status.astype(str))
    assert _status(f, "ISL-001", sample_org["problems"]["public_bucket"]) == {"FAIL"}


def test_bundle_replays_to_identical_inventory_and_findings(collection, inv, findings, tmp_path):
    from cloudaudit.bundle import write_bundle

    collection.finished = collection.finished or collection.started
    path = write_bundle([collection], tmp_path / "aws.zip")
    replayed = cloudaudit.load_bundle(path)
    for name in inv.tables:
        pd.testing.assert_frame_equal(inv[name], replayed[name], check_like=False, obj=name)
    keys = ["check_id", "account_id", "region", "resource_id", "status", "reason"]
    ours = findings[keys].sort_values(keys).reset_index(drop=True)
    theirs = cloudaudit.audit(replayed).df[keys].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs)


def test_single_account_mode_makes_no_organizations_call(moto_endpoint, sample_org):
    seen, ticks = [], []

    def record(model, **_):
        seen.append(model.service_model.service_name)

    c = aws.collect({"single_account": True, "regions": [HOME], "max_attempts": 1,
                     "client_hooks": {"before-call.*.*": record}},
                    progress=lambda done, total, label: ticks.append((done, total)))
    assert ticks and ticks[-1][0] == ticks[-1][1] and all(d <= t for d, t in ticks)
    inv = aws.normalize(c)
    assert "organizations" not in seen and "iam" in seen
    assert list(inv.tenants.account_id) == [MANAGEMENT]
    assert (inv.coverage.status[inv.coverage.table == "tenants"] == "ok").all()


def test_top_level_api_runs_the_adapter_on_a_given_executor(sample_org):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        inv = cloudaudit.collect(["aws"], options={"aws": {"regions": [HOME], "max_attempts": 1}}, executor=pool)
    assert set(inv.tenants.account_id) == {MANAGEMENT, *sample_org["members"].values()}
    assert (inv.resources.kind == "bucket").sum() == 6


def test_instances_images_and_threat_detection(inv, sample_org):
    shared = sample_org["members"]["shared-services"]
    vms = inv.resources[inv.resources.kind == "vm"]
    assert list(vms.account_id) == [shared] and list(vms.name) == ["tools"]
    assert vms.weak_settings.iloc[0] == [] and vms.attached.all()
    snaps = inv.resources[(inv.resources.kind == "snapshot") & (inv.resources.account_id == shared)]
    assert len(snaps) == 1 and snaps.public_read.eq(False).all()   # shared with nobody
    td = inv.guardrails[inv.guardrails.kind == "threat_detection"]
    assert len(td) == 3 and td.effective.all() and all(v == [HOME] for v in td["values"])


# ----------------------------------------------------------------------------- pure helpers

def test_policy_privilege_levels():
    from cloudaudit.providers.aws.normalize import privilege_of

    def doc(*statements):
        return {"Statement": list(statements)}

    allow = lambda action, resource="*": {"Effect": "Allow", "Action": action, "Resource": resource}  # noqa: E731
    assert privilege_of(doc(allow("*"))) == "admin"
    assert privilege_of(doc(allow("iam:*"))) == "admin"
    assert privilege_of(doc(allow(["iam:Put*"]))) == "admin"                 # escalation by wildcard
    assert privilege_of(doc(allow("iam:PassRole"))) == "admin"
    assert privilege_of(doc(allow("iam:PassRole", "arn:aws:iam::1:role/app"))) == "write"   # one role only
    assert privilege_of(doc(allow(["s3:Get*", "s3:List*"]))) == "read"
    assert privilege_of(doc(allow("s3:*"))) == "write"
    assert privilege_of(doc({"Effect": "Deny", "Action": "*", "Resource": "*"})) == "read"
    power_user = {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
    assert privilege_of(doc(power_user)) == "write"


def test_region_restriction_and_location_quirks():
    from cloudaudit.providers.aws.collect import bucket_region
    from cloudaudit.providers.aws.normalize import _region_restriction

    assert bucket_region(None) == "us-east-1" and bucket_region("") == "us-east-1"
    assert bucket_region("EU") == "eu-west-1" and bucket_region("ap-northeast-3") == "ap-northeast-3"
    scp = {"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
                          "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["ap-northeast-1"]}}}]}
    assert _region_restriction(scp) == {"ap-northeast-1"}
    audit_only = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                 "Condition": {"StringEquals": {"aws:RequestedRegion": ["ap-northeast-1"]}}}]}
    assert _region_restriction(audit_only) is None


def test_trust_conditions_and_wildcards():
    from cloudaudit.providers.aws.normalize import _trusts

    role = "arn:aws:iam::111111111111:role/x"
    doc = {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"}, "Action": "sts:AssumeRoleWithWebIdentity"},
    ]}
    rows = {r["trusted"]: r for r in _trusts("111111111111", role, doc, "admin", {"111111111111", "222222222222"})}
    assert rows["*"]["wildcard"] and rows["*"]["external"]
    assert rows["222222222222"]["mfa_required"] and not rows["222222222222"]["external"]
    assert not rows["ec2.amazonaws.com"]["external"]
    assert rows["accounts.google.com"]["external"]


def test_rds_tls_parameters_by_engine_only_where_stated_and_in_effect():
    """Pure: values by engine; a parameter listed without a value, a group not yet applied
    (pending-reboot), an unreadable version list or an engine without such parameters stay <NA>."""
    from cloudaudit.providers.base import Collection

    a = "111111111111"
    c = Collection("aws")
    c.add(a, "global", "sts:GetCallerIdentity", {"Account": a, "Arn": f"arn:aws:iam::{a}:user/x"})

    def db(name, engine, group, status="in-sync", **extra):
        return {"DBInstanceIdentifier": name, "DBInstanceArn": f"arn:aws:rds:{HOME}:{a}:db:{name}", "Engine": engine,
                "DBParameterGroups": [{"DBParameterGroupName": group, "ParameterApplyStatus": status}], **extra}

    c.add(a, HOME, "rds:DescribeDBInstances", {"DBInstances": [
        db("my", "mysql", "my-tls"), db("maria", "mariadb", "maria-weak"), db("pg-unset", "postgres", "pg-unset"),
        db("pg-pending", "postgres", "pg-tls", status="pending-reboot"), db("sql", "sqlserver-se", "sql-off"),
        db("ora", "oracle-ee", "ora"), db("my-bad", "mysql", "my-bad"),
        db("au-1", "aurora-mysql", "default.aurora-mysql8.0", DBClusterIdentifier="au")]})
    c.add(a, HOME, "rds:DescribeDBClusters", {"DBClusters": [{
        "DBClusterIdentifier": "au", "DBClusterArn": f"arn:aws:rds:{HOME}:{a}:cluster:au", "Engine": "aurora-mysql",
        "DBClusterParameterGroup": "au-tls",
        "DBClusterMembers": [{"DBInstanceIdentifier": "au-1", "DBClusterParameterGroupStatus": "in-sync"}]}]})

    def group(name, **values):
        params = [{"ParameterName": k.replace("__", "."), "ParameterValue": v} for k, v in values.items()]
        c.add(a, HOME, "rds:DescribeDBParameters", {"DBParameterGroupName": name, "Parameters": params})

    group("my-tls", require_secure_transport="ON", tls_version="TLSv1.3,TLSv1.2")
    group("maria-weak", require_secure_transport="OFF", tls_version="TLSv1,TLSv1.1,TLSv1.2")
    c.add(a, HOME, "rds:DescribeDBParameters", {"DBParameterGroupName": "pg-unset", "Parameters": [
        {"ParameterName": "rds.force_ssl"}, {"ParameterName": "ssl_min_protocol_version"}]})   # engine default
    group("pg-tls", rds__force_ssl="1", ssl_min_protocol_version="TLSv1.2")
    group("sql-off", rds__force_ssl="0")
    group("ora", rds__force_ssl="1")
    group("my-bad", require_secure_transport="maybe", tls_version="TLSv1.2,SSLv3")
    c.add(a, HOME, "rds:DescribeDBParameters", {"DBParameterGroupName": "default.aurora-mysql8.0", "Parameters": []})
    c.add(a, HOME, "rds:DescribeDBClusterParameters", {"DBClusterParameterGroupName": "au-tls", "Parameters": [
        {"ParameterName": "require_secure_transport", "ParameterValue": "1"},
        {"ParameterName": "tls_version", "ParameterValue": "TLSv1.2"}]})
    res = aws.normalize(c).resources.set_index("name")
    got = {name: (None if pd.isna(res.loc[name, "https_only"]) else bool(res.loc[name, "https_only"]),
                  None if pd.isna(res.loc[name, "min_tls"]) else res.loc[name, "min_tls"]) for name in res.index}
    assert got == {"my": (True, "1.2"), "maria": (False, "1.0"), "pg-unset": (None, None),
                   "pg-pending": (None, None), "sql": (False, None), "ora": (None, None), "my-bad": (None, None),
                   "au-1": (True, "1.2"), "au": (True, "1.2")}


def test_normalize_replicas_from_raw_payloads():
    """Cross-region copies in RDS, Aurora global databases, DynamoDB and multi-region keys (pure)."""
    from cloudaudit.providers.base import Collection

    a, b = "111111111111", "222222222222"
    c = Collection("aws")
    c.add(a, "global", "sts:GetCallerIdentity", {"Account": a, "Arn": f"arn:aws:iam::{a}:user/x"})
    c.add(a, HOME, "rds:DescribeDBInstances", {"DBInstances": [{
        "DBInstanceIdentifier": "db1", "DBInstanceArn": f"arn:aws:rds:{HOME}:{a}:db:db1", "StorageEncrypted": True,
        "ReadReplicaDBInstanceIdentifiers": ["db1-local", f"arn:aws:rds:us-west-2:{a}:db:db1-us"]}]})
    c.add(a, "global", "rds:DescribeGlobalClusters", {"GlobalClusters": [{
        "GlobalClusterArn": "arn:aws:rds::1:global-cluster:g", "GlobalClusterMembers": [
            {"DBClusterArn": f"arn:aws:rds:{HOME}:{a}:cluster:c1", "IsWriter": True},
            {"DBClusterArn": f"arn:aws:rds:eu-west-1:{b}:cluster:c2", "IsWriter": False}]}]})
    c.add(a, HOME, "dynamodb:DescribeTable", {"Table": {
        "TableName": "t", "TableArn": f"arn:aws:dynamodb:{HOME}:{a}:table/t",
        "Replicas": [{"RegionName": HOME}, {"RegionName": "ap-northeast-3"}]}})
    c.add(a, HOME, "kms:DescribeKey", {"KeyMetadata": {
        "KeyId": "mrk-1", "Arn": f"arn:aws:kms:{HOME}:{a}:key/mrk-1", "KeyManager": "CUSTOMER", "KeyState": "Enabled",
        "MultiRegion": True, "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY",
                                                          "ReplicaKeys": [{"Region": "us-east-1"}]}}})
    rep = aws.normalize(c).replicas
    got = set(zip(rep.kind, rep.source_region, rep.target_region, rep.target_account.astype("string").fillna("")))
    assert got == {("read_replica", HOME, "us-west-2", ""), ("global_table", HOME, "eu-west-1", b),
                   ("global_table", HOME, "ap-northeast-3", ""), ("multi_region_key", HOME, "us-east-1", "")}


def test_per_service_endpoint_variable_and_an_unreachable_service(sample_org, monkeypatch):
    """AWS_ENDPOINT_URL_<SERVICE> is honoured; a service that cannot be reached is an error row."""
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", f"http://127.0.0.1:{closed}")
    inv = aws.normalize(aws.collect({"single_account": True, "regions": [HOME], "max_attempts": 1}))
    cov = inv.coverage
    trail = cov[cov.source.str.startswith("cloudtrail:")]
    assert len(trail) and (trail.status == "error").all() and trail.message.str.contains("Could not connect").all()
    assert (cov[~cov.source.str.startswith(("cloudtrail:", "ec2:Get"))].status == "ok").all()
    assert not inv.audit_logs.log_id.str.contains(":trail/").any()
    f = cloudaudit.audit(inv, checks=["LOG-002"]).df
    assert set(f.status.astype(str)) == {"ERROR"}


def test_explicit_account_list(sample_org):
    prod = sample_org["members"]["prod-app"]
    c = aws.collect({"accounts": [prod], "regions": [HOME], "max_attempts": 1})
    assert {row.account_id for row in c.coverage} == {prod}
    inv = aws.normalize(c)
    assert set(inv.principals.account_id) == {prod}
    assert (inv.tenants.set_index("account_id").loc[prod, "parent_path"]) == "Root/Workloads/Prod"


def test_scp_on_an_ou_applies_to_the_accounts_below_it_only():
    """Region restriction attached to an OU reaches accounts in it and in its child OUs (pure)."""
    import json as _json

    from cloudaudit.providers.base import Collection

    mgmt, inside, nested, outside = "100000000000", "200000000000", "300000000000", "400000000000"
    c = Collection("aws")
    c.add(mgmt, "global", "sts:GetCallerIdentity", {"Account": mgmt, "Arn": f"arn:aws:iam::{mgmt}:user/x"})
    c.add(mgmt, "global", "organizations:DescribeOrganization", {"Organization": {"Id": "o-1", "MasterAccountId": mgmt}})
    c.add(mgmt, "global", "organizations:ListAccounts", {"Accounts": [
        {"Id": a, "Name": a, "Status": "ACTIVE"} for a in (mgmt, inside, nested, outside)]})
    c.add(mgmt, "global", "organizations:ListRoots", {"Roots": [{"Id": "r-1", "Name": "Root"}]})
    c.add(mgmt, "global", "organizations:ListOrganizationalUnitsForParent",
          {"ParentId": "r-1", "OrganizationalUnits": [{"Id": "ou-jp", "Name": "Japan"}]})
    c.add(mgmt, "global", "organizations:ListOrganizationalUnitsForParent",
          {"ParentId": "ou-jp", "OrganizationalUnits": [{"Id": "ou-dev", "Name": "Dev"}]})
    c.add(mgmt, "global", "organizations:ListAccountsForParent",
          {"ParentId": "r-1", "Accounts": [{"Id": mgmt}, {"Id": outside}]})
    c.add(mgmt, "global", "organizations:ListAccountsForParent", {"ParentId": "ou-jp", "Accounts": [{"Id": inside}]})
    c.add(mgmt, "global", "organizations:ListAccountsForParent", {"ParentId": "ou-dev", "Accounts": [{"Id": nested}]})
    scp = {"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "*", "Condition": {
        "StringNotEqualsIfExists": {"aws:RequestedRegion": ["ap-northeast-1", "ap-northeast-3"]}}}]}
    c.add(mgmt, "global", "organizations:DescribePolicy", {"Policy": {
        "PolicySummary": {"Id": "p-1", "Name": "jp"}, "Content": _json.dumps(scp)}})
    c.add(mgmt, "global", "organizations:ListTargetsForPolicy",
          {"PolicyId": "p-1", "Targets": [{"TargetId": "ou-jp", "Type": "ORGANIZATIONAL_UNIT"}]})
    inv = aws.normalize(c)
    rr = inv.guardrails[inv.guardrails.kind == "region_restriction"].set_index("account_id")
    assert set(rr.index) == {inside, nested} and (rr.scope == "OU").all() and rr.effective.all()
    assert all(sorted(v) == ["ap-northeast-1", "ap-northeast-3"] for v in rr["values"])
    paths = inv.tenants.set_index("account_id").parent_path
    assert paths[nested] == "Root/Japan/Dev" and paths[outside] == "Root"


def test_mfa_kind_is_unknown_when_the_virtual_device_list_was_not_read():
    """An active MFA is 'hardware' only when the virtual device list was read and does not name it."""
    from cloudaudit.providers.base import Collection

    a = "111111111111"
    c = Collection("aws")
    c.add(a, "global", "sts:GetCallerIdentity", {"Account": a, "Arn": f"arn:aws:iam::{a}:user/x"})
    c.add(a, "global", "iam:GetAccountSummary", {"SummaryMap": {"AccountMFAEnabled": 1}})
    assert set(aws.normalize(c).principals.mfa) == {"unknown"}
    c.add(a, "global", "iam:ListVirtualMFADevices", {"VirtualMFADevices": []})
    assert set(aws.normalize(c).principals.mfa) == {"hardware"}


def test_a_failed_lifecycle_pass_is_an_error_row_for_the_account_it_read(sample_org):
    """A crashed second-pass task is reported for its own account, not for the caller's."""
    from concurrent.futures import ThreadPoolExecutor

    from cloudaudit.providers.aws.collect import log_buckets

    def crash(*_):
        raise RuntimeError("collector bug")

    class CrashingLifecycles(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            return super().submit(crash if fn.__name__ == "_lifecycle_task" else fn, *args, **kwargs)

    with CrashingLifecycles(max_workers=4) as pool:
        c = aws.collect({"regions": [HOME], "max_attempts": 1}, executor=pool)
    failed = {row.account_id for row in c.coverage
              if row.table == "audit_logs.retention_days" and row.source == "cloudaudit:collector"
              and row.status == "error"}
    assert failed == set(log_buckets(c)) and len(failed) > 1


def test_dynamodb_public_access_comes_from_the_table_resource_policy(sample_org):
    """GetResourcePolicy is read per table: '*' allowed to read -> public; no policy -> private."""
    import json as _json

    import boto3

    region = "us-west-2"   # a region of its own: the module's other collections never see these tables
    ddb = boto3.client("dynamodb", region_name=region)
    schema = dict(KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
                  AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    opened = ddb.create_table(TableName="opened", **schema)["TableDescription"]["TableArn"]
    closed = ddb.create_table(TableName="closed", **schema)["TableDescription"]["TableArn"]
    try:
        ddb.put_resource_policy(ResourceArn=opened, Policy=_json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
             "Resource": opened}]}))
        c = aws.collect({"single_account": True, "regions": [region], "max_attempts": 1})
        inv = aws.normalize(c)
    finally:
        ddb.delete_table(TableName="opened")
        ddb.delete_table(TableName="closed")
    res = inv.resources.set_index("resource_id")
    assert res.loc[opened, "public_read"] == True and res.loc[opened, "public_write"] == False  # noqa: E712
    assert res.loc[closed, "public_read"] == False and res.loc[closed, "public_write"] == False  # noqa: E712
    cov = inv.coverage
    assert set(cov[cov.source == "dynamodb:GetResourcePolicy"].status) == {"ok"}
    f = cloudaudit.audit(inv, checks=["ISL-007"]).df
    assert _status(f, "ISL-007", opened) == {"FAIL"} and _status(f, "ISL-007", closed) == {"PASS"}


def test_dynamodb_public_access_is_unknown_when_the_resource_policy_was_not_read():
    from cloudaudit.providers.base import Collection

    a = "111111111111"
    arn = f"arn:aws:dynamodb:{HOME}:{a}:table/t"
    c = Collection("aws")
    c.add(a, "global", "sts:GetCallerIdentity", {"Account": a, "Arn": f"arn:aws:iam::{a}:user/x"})
    c.add(a, HOME, "dynamodb:DescribeTable", {"Table": {"TableName": "t", "TableArn": arn}})
    row = aws.normalize(c).resources.set_index("resource_id").loc[arn]
    assert pd.isna(row.public_read) and pd.isna(row.public_write)
    c.add(a, HOME, "dynamodb:GetResourcePolicy", {"ResourceArn": arn, "Policy": '{"Statement": [{"Effect": "Allow", '
          '"Principal": {"AWS": "*"}, "Action": "dynamodb:PutItem", "Resource": "*"}]}'})
    row = aws.normalize(c).resources.set_index("resource_id").loc[arn]
    assert row.public_read == False and row.public_write == True  # noqa: E712


def test_key_rotation_off_and_rotation_not_read_are_distinguishable():
    """rotation_days is <NA> for both; rotation_enabled says False (read, off) or <NA> (not read)."""
    from cloudaudit.providers.base import Collection

    a = "111111111111"
    c = Collection("aws")
    c.add(a, "global", "sts:GetCallerIdentity", {"Account": a, "Arn": f"arn:aws:iam::{a}:user/x"})
    meta = {"KeyManager": "CUSTOMER", "KeyState": "Enabled", "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS"}
    for kid in ("off", "unread", "on", "disabled", "imported"):
        extra = {"KeyState": "Disabled"} if kid == "disabled" else {"Origin": "EXTERNAL"} if kid == "imported" else {}
        c.add(a, HOME, "kms:DescribeKey", {"KeyMetadata": {**meta, **extra, "KeyId": kid,
                                                           "Arn": f"arn:aws:kms:{HOME}:{a}:key/{kid}"}})
    c.add(a, HOME, "kms:GetKeyRotationStatus", {"KeyId": "off", "KeyRotationEnabled": False})
    c.add(a, HOME, "kms:GetKeyRotationStatus", {"KeyId": "on", "KeyRotationEnabled": True, "RotationPeriodInDays": 90})
    keys = aws.normalize(c).resources.set_index("name")
    assert keys.loc["off", "rotation_enabled"] == False and pd.isna(keys.loc["off", "rotation_days"])  # noqa: E712
    assert pd.isna(keys.loc["unread", "rotation_enabled"]) and pd.isna(keys.loc["unread", "rotation_days"])
    assert pd.isna(keys.loc["disabled", "rotation_enabled"])
    assert keys.loc["imported", "rotation_enabled"] == False  # noqa: E712 - no automatic rotation exists
    assert keys.loc["on", "rotation_enabled"] == True and keys.loc["on", "rotation_days"] == 90  # noqa: E712


def test_log_buckets_whose_retention_cannot_be_read_make_only_their_trails_error(moto_endpoint, sample_org):
    """A trail writing to a bucket of another account, and one whose bucket (in another region)
    denies its lifecycle: coverage rows in the trails' home region, so their LOG-003 is ERROR
    while the trail in the home region keeps its verdict."""
    import boto3

    from aws_fakes import aws_error

    region, other = "us-west-2", "us-east-2"   # the trails' home regions (the module's other collections skip them)
    s3, ct = boto3.client("s3", region_name=region), boto3.client("cloudtrail", region_name=region)
    ct2 = boto3.client("cloudtrail", region_name=other)
    elsewhere, denied = f"archive-elsewhere-{MANAGEMENT}", f"logs-denied-{MANAGEMENT}"
    # moto wants a trail's bucket in the trail's account: create it, then delete it, so the account
    # no longer holds it (as when the archive belongs to another account)
    s3.create_bucket(Bucket=elsewhere, CreateBucketConfiguration={"LocationConstraint": region})
    out_arn = ct.create_trail(Name="to-other-account", S3BucketName=elsewhere)["TrailARN"]
    s3.delete_bucket(Bucket=elsewhere)
    boto3.client("s3", region_name=HOME).create_bucket(Bucket=denied,
                                                      CreateBucketConfiguration={"LocationConstraint": HOME})
    denied_arn = ct2.create_trail(Name="to-denied-bucket", S3BucketName=denied)["TrailARN"]
    # a neighbour in the same account and region as the first, with a readable bucket
    readable = f"logs-readable-{MANAGEMENT}"
    s3.create_bucket(Bucket=readable, CreateBucketConfiguration={"LocationConstraint": region})
    neighbour_arn = ct.create_trail(Name="neighbour", S3BucketName=readable)["TrailARN"]
    ct.put_event_selectors(TrailName="neighbour", EventSelectors=[{"ReadWriteType": "All",
                                                                   "IncludeManagementEvents": True}])
    ct.start_logging(Name="to-other-account")
    ct2.start_logging(Name="to-denied-bucket")
    ct.start_logging(Name="neighbour")

    def deny_lifecycle(seen):
        if seen.service == "s3" and "lifecycle" in seen.path and denied in seen.path:
            return aws_error(seen, 403, "AccessDenied", "Access Denied")
        return None

    try:
        with FaultProxy(moto_endpoint, [deny_lifecycle]) as proxy:
            c = aws.collect({"endpoint_url": proxy.url, "single_account": True, "regions": [HOME, region, other],
                             "max_attempts": 1})
    finally:
        ct.delete_trail(Name="to-other-account")
        ct.delete_trail(Name="neighbour")
        ct2.delete_trail(Name="to-denied-bucket")
        boto3.client("s3", region_name=HOME).delete_bucket(Bucket=denied)
        s3.delete_bucket(Bucket=readable)
    inv = aws.normalize(c)
    cov = inv.coverage
    rows = cov[(cov.table == "audit_logs.retention_days") & (cov.status != "ok")]
    assert set(zip(rows.account_id, rows.region, rows.status)) == {(MANAGEMENT, region, "unsupported"),
                                                                   (MANAGEMENT, other, "denied")}
    message = rows[rows.status == "unsupported"].message.iloc[0]
    assert elsewhere in message and "another account" in message
    f = cloudaudit.audit(inv, checks=["LOG-003"]).df
    assert not f[f.resource_id.isin([out_arn, denied_arn])].status.isin(["FAIL", "PASS"]).any()
    errors = f[f.status == "ERROR"]
    assert set(zip(errors.account_id, errors.region)) == {(MANAGEMENT, region), (MANAGEMENT, other)}
    assert set(errors.resource_id) == {out_arn, denied_arn}   # each gap voids its own trail only
    # same account and region, bucket readable (no lifecycle: kept forever): judged, not voided
    assert _status(f, "LOG-003", neighbour_arn) == {"PASS"}
    home = _status(f, "LOG-003", f"arn:aws:cloudtrail:{HOME}:{MANAGEMENT}:trail/audit")
    assert home and "ERROR" not in home


def test_a_trail_writing_to_another_audited_accounts_bucket_gets_its_retention_read_there(moto_endpoint, sample_org):
    """A log-archive account of the same organization (as Control Tower sets up): the trail of one
    member writes to a bucket held by another member; its lifecycle is read with the holder's
    session, so the trail's LOG-003 has a real verdict. When the holder is not audited, the
    retention stays unread: an unsupported coverage row, ERROR."""
    import boto3

    prod, shared = sample_org["members"]["prod-app"], sample_org["members"]["shared-services"]
    region = "eu-west-2"   # the trail's home region (the module's other collections do not scan it)
    sts = boto3.client("sts", region_name="us-east-1")

    def member(account_id: str, service: str):
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                                RoleSessionName="test")["Credentials"]
        return boto3.client(service, region_name=region, aws_access_key_id=creds["AccessKeyId"],
                            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])

    archive = f"org-log-archive-{shared}"
    location = {"LocationConstraint": region}
    # moto wants a trail's bucket in the trail's account: create it there, make the trail, delete
    # the bucket and create it again in the log-archive account, which then holds it.
    prod_s3, prod_ct, shared_s3 = member(prod, "s3"), member(prod, "cloudtrail"), member(shared, "s3")
    prod_s3.create_bucket(Bucket=archive, CreateBucketConfiguration=location)
    trail = prod_ct.create_trail(Name="to-log-archive", S3BucketName=archive)["TrailARN"]
    prod_ct.put_event_selectors(TrailName="to-log-archive", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True}])
    prod_s3.delete_bucket(Bucket=archive)
    shared_s3.create_bucket(Bucket=archive, CreateBucketConfiguration=location)
    shared_s3.put_bucket_lifecycle_configuration(Bucket=archive, LifecycleConfiguration={"Rules": [
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 90}}]})
    prod_ct.start_logging(Name="to-log-archive")
    try:
        both = aws.collect({"regions": [region], "accounts": [prod, shared], "max_attempts": 1})
        alone = aws.collect({"regions": [region], "accounts": [prod], "max_attempts": 1})
    finally:
        prod_ct.delete_trail(Name="to-log-archive")
        shared_s3.delete_bucket_lifecycle(Bucket=archive)
        shared_s3.delete_bucket(Bucket=archive)

    inv = aws.normalize(both)
    cov = inv.coverage
    retention = cov[cov.table == "audit_logs.retention_days"]
    assert set(retention[(retention.account_id == prod) & (retention.region == region)].status) == {"ok"}
    assert (retention.status == "ok").all()
    read = [r for r in both.records if r.source == "s3:GetBucketLifecycleConfiguration" and r.data["Bucket"] == archive]
    assert [(r.account_id, r.region) for r in read] == [(shared, region)]   # read once, by the holder
    log = inv.audit_logs.set_index("log_id").loc[trail]
    assert log.retention_days == 90 and log.destination_region == region
    f = cloudaudit.audit(inv, checks=["LOG-003"]).df
    assert _status(f, "LOG-003", trail) == {"FAIL"}
    reason = f[(f.check_id == "LOG-003") & (f.resource_id == trail)].reason.iloc[0]
    assert "90 days, less than 365 days" in reason

    inv = aws.normalize(alone)
    cov = inv.coverage
    rows = cov[(cov.table == "audit_logs.retention_days") & (cov.status != "ok")]
    assert list(zip(rows.account_id, rows.region, rows.status)) == [(prod, region, "unsupported")]
    assert archive in rows.message.iloc[0] and "another account" in rows.message.iloc[0]
    f = cloudaudit.audit(inv, checks=["LOG-003"]).df
    assert set(f[f.region == region].status.astype(str)) == {"ERROR"}
    assert _status(f, "LOG-003", trail) == {"ERROR"}   # the gap names the trail it voids
