"""GCP adapter: the real google-cloud clients (REST transport) against a local fake of the
Resource Manager v3, Cloud Asset v1, Org Policy v2, Access Approval v1, Security Center Management v1
and Directory APIs on 127.0.0.1."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials

import cloudaudit
from cloudaudit.bundle import read_bundle, write_bundle
from cloudaudit.engine import run_checks
from cloudaudit.providers import gcp
from cloudaudit.providers.gcp import collector, normalizer as norm
from gcp_fake import DENIED_PROJECT, ORGANIZATION, FakeGoogleCloud, paged_paths, writes

PROJECTS = {"prod-jp-app", "prod-jp-web", "shared-data", "sandbox-dev"}
# The catalog ids these tests assert on (running only them keeps the module fast).
CHECKS = ["RES-001", "RES-002", "RES-003", "RES-005", "RES-006", "RES-008", "ISL-001", "ISL-002", "ISL-003",
          "ISL-004", "ISL-006", "ISL-007", "ISL-009", "ISL-012", "AUTH-001", "AUTH-002", "AUTH-005", "AUTH-007", "AUTH-008", "AUTH-009",
          "ENC-003", "ENC-006", "ENC-008", "LCM-001", "LCM-003", "LOG-001", "LOG-002", "LOG-003", "LOG-005", "LOG-007", "LOG-008", "CSP-001"]


@pytest.fixture(scope="module")
def org():
    """One collection of the whole sample organization (page size 1: every list pages)."""
    with FakeGoogleCloud(page_size=1) as fake:
        collection = gcp.collect(fake.options(max_workers=4))
        requests = list(fake.requests)
    inventory = gcp.normalize(collection)
    return {"collection": collection, "inventory": inventory, "requests": requests,
            "findings": run_checks(inventory, checks=CHECKS).df}


def _one(frame: pd.DataFrame, **where) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    rows = frame[mask]
    assert len(rows) == 1, f"expected one row for {where}, got {len(rows)}"
    return rows.iloc[0]


def _statuses(findings: pd.DataFrame, check_id: str) -> pd.DataFrame:
    return findings[findings["check_id"] == check_id]


# ----------------------------------------------------------------------------- wire behaviour

def test_only_read_requests_reach_the_api(org):
    assert writes(org["requests"]) == []
    methods = Counter(r["method"] for r in org["requests"])
    assert set(methods) <= {"GET", "POST"} and methods["GET"] > 0
    posts = {r["path"].rsplit(":", 1)[-1] for r in org["requests"] if r["method"] == "POST"}
    assert posts == {"getIamPolicy"}


def test_the_write_detector_catches_a_write():
    with FakeGoogleCloud() as fake:
        from google.cloud import resourcemanager_v3
        from google.api_core.client_options import ClientOptions

        client = resourcemanager_v3.ProjectsClient(credentials=AnonymousCredentials(), transport="rest",
                                                   client_options=ClientOptions(api_endpoint=fake.endpoint))
        with pytest.raises(Exception):
            client.set_iam_policy(request={"resource": "projects/prod-jp-app", "policy": {}})
        assert writes(fake.requests) == ["POST /v3/projects/prod-jp-app:setIamPolicy"]


def test_every_paged_source_follows_next_page_token(org):
    paged = paged_paths(org["requests"])
    expected = {"/v3/organizations:search", "/v3/folders", "/v3/projects",
                f"/v1/{ORGANIZATION}:searchAllResources", f"/v1/{ORGANIZATION}/assets",
                f"/v1/{ORGANIZATION}:searchAllIamPolicies"}
    assert expected <= paged
    # Every page became a record: all 4 projects and every asset entry are there.
    assert set(org["inventory"].tenants["account_id"]) == PROJECTS | {ORGANIZATION}
    assets = [a for r in org["collection"].find(collector.SRC_LIST_ASSETS) for a in r.data["assets"]]
    assert len(assets) == len({a["name"] for a in assets}) >= 30


def test_throttled_page_is_retried(org):
    iam_pages = [r for r in org["requests"] if r["path"].endswith(":searchAllIamPolicies")]
    tokens = Counter(r["query"].get("pageToken", [""])[0] for r in iam_pages)
    assert max(tokens.values()) == 2          # the 429 page was asked for twice (google-api-core retry)
    ok = [row for row in org["collection"].coverage if row.source == collector.SRC_SEARCH_IAM]
    assert ok and all(row.status == "ok" for row in ok)


def test_requests_use_rest_json_and_org_scope(org):
    searches = [r for r in org["requests"] if r["path"].endswith(":searchAllResources")]
    assert searches and all(r["query"]["$alt"] == ["json;enum-encoding=int"] for r in searches)
    assert set(searches[0]["query"]["assetTypes"]) == set(collector.SEARCH_ASSET_TYPES)
    assets = [r for r in org["requests"] if r["path"].endswith("/assets")]
    assert assets[0]["query"]["contentType"] == ["1"]   # RESOURCE


# ----------------------------------------------------------------------------- inventory rows

def test_tenants_with_folder_path_and_state(org):
    t = org["inventory"].tenants
    app = _one(t, account_id="prod-jp-app")
    assert app["parent_path"] == "example.co.jp/Production/Japan"
    assert app["org_id"] == ORGANIZATION and app["state"] == "ACTIVE" and not app["is_management"]
    assert _one(t, account_id="sandbox-dev")["parent_path"] == "example.co.jp/Sandbox"
    assert bool(_one(t, account_id=ORGANIZATION)["is_management"])
    assert "organizations/987654321" not in set(t["account_id"])   # another visible org is out of scope


def test_resources_locations_and_configuration(org):
    r = org["inventory"].resources
    assert set(r["provider"]) == {"gcp"}
    archive = _one(r, name="jp-app-archive")
    assert (archive["region"], archive["kind"], archive["account_id"]) == ("asia", "bucket", "prod-jp-app")
    assert _one(r, name="jp-dr")["region"] == "asia1"
    custom = _one(r, name="jp-custom-dr")
    assert custom["region"] == "asia-northeast1"
    data = _one(r, name="jp-app-data")
    assert data["encryption"] == "customer" and data["public_read"] == False  # noqa: E712
    public = _one(r, name="public-assets")
    assert public["public_read"] == True and public["public_write"] == False  # noqa: E712
    sql = _one(r, name="orders-db")
    assert (sql["kind"], sql["region"], sql["https_only"], sql["network_open"]) == \
        ("database", "asia-northeast1", True, False)
    key = _one(r, kind="key")
    assert key["rotation_days"] == 90 and key["key_manager"] == "customer" and not key["data_bearing"]
    assert key["rotation_enabled"] == True  # noqa: E712
    assert _one(r, name="app-disk")["region"] == "asia-northeast1-a"
    assert _one(r, name="app-disk-nightly")["region"] == "asia-northeast1"
    assert _one(r, name="orders", kind="topic")["region"] == "asia-northeast1"
    assert _one(r, name="analytics")["kind"] == "dataset"
    vm = _one(r, name="app-vm")
    assert (vm["kind"], vm["region"], list(vm["weak_settings"]), vm["attached"]) == \
        ("vm", "asia-northeast1-a", [], True)     # Shielded VM on; OS Login from project metadata
    assert set(r.loc[r["kind"] == "log_store", "region"]) == {"asia-northeast1"}
    assert bool(data["data_access_logging"])     # org-level audit config DATA_READ + DATA_WRITE
    tags = org["inventory"].tags
    assert _one(tags, resource_id="//storage.googleapis.com/jp-app-data", key="classification")["value"] == "confidential"


def test_replicas_backup_default_multi_region_and_dual_region(org):
    rep = org["inventory"].replicas
    backup = _one(rep, resource_id="//cloudsql.googleapis.com/projects/prod-jp-app/instances/orders-db")
    assert (backup["kind"], backup["source_region"], backup["target_region"]) == ("backup", "asia-northeast1", "asia")
    pinned = _one(rep, resource_id="//cloudsql.googleapis.com/projects/shared-data/instances/reports-db")
    assert pinned["target_region"] == "asia-northeast1"
    dual = _one(rep, resource_id="//storage.googleapis.com/jp-custom-dr")
    assert (dual["kind"], dual["target_region"]) == ("replication", "asia-northeast2")


def test_grants_privilege_public_and_external(org):
    g = org["inventory"].grants
    gmail = _one(g, principal_id="user:contractor@gmail.com")
    assert (gmail["account_id"], gmail["role"], gmail["privilege"]) == ("shared-data", "roles/owner", "admin")
    assert gmail["external"] == True and gmail["public"] == False  # noqa: E712
    anyone = _one(g, principal_id="allUsers")
    assert anyone["public"] == True and anyone["scope"].endswith("//storage.googleapis.com/public-assets")  # noqa: E712
    vendor = _one(g, principal_id="serviceAccount:reader@vendor-analytics-prod.iam.gserviceaccount.com")
    assert vendor["external"] == True and vendor["privilege"] == "read"  # noqa: E712
    own_sa = g[g["principal_id"] == "serviceAccount:deployer@prod-jp-app.iam.gserviceaccount.com"]
    assert not own_sa["external"].any()
    assert _one(g, principal_id="user:alice@example.co.jp")["external"] == False  # noqa: E712
    assert _one(g, principal_id="deleted:user:bob@example.co.jp?uid=123456789")["role"] == "roles/viewer"
    assert _one(g, principal_id="user:carol@example.co.jp")["standing"] == False  # noqa: E712 - time-bound
    # Folder / organization bindings: once at the organization, and inherited by every project below.
    editors = g[g["principal_id"] == "group:prod-engineers@example.co.jp"].set_index("account_id")["via"].to_dict()
    assert editors == {ORGANIZATION: "direct", "prod-jp-app": "inherited", "prod-jp-web": "inherited",
                       "shared-data": "inherited"}
    admins = g[g["principal_id"] == "group:gcp-admins@example.co.jp"]
    assert set(admins["account_id"]) == PROJECTS | {ORGANIZATION} and set(admins["privilege"]) == {"admin"}


def test_principals_and_service_account_keys(org):
    p = org["inventory"].principals
    assert _one(p, principal_id="user:alice@example.co.jp")["mfa"] == "unknown"
    assert _one(p, principal_id="user:contractor@gmail.com")["external"] == True  # noqa: E712
    sa = _one(p, principal_id="serviceAccount:deployer@prod-jp-app.iam.gserviceaccount.com")
    assert (sa["kind"], sa["human"], sa["account_id"]) == ("service_account", False, "prod-jp-app")
    creds = org["inventory"].credentials
    key = _one(creds, credential_id="0a1b2c3d4e5f")   # the system-managed key is not listed
    assert len(creds) == 1 and key["kind"] == "service_account_key"
    assert key["created"] == pd.Timestamp("2023-01-15T09:00:00Z") and pd.isna(key["expires"])


def test_firewall_rules(org):
    n = org["inventory"].network_rules
    ssh = _one(n, account_id="sandbox-dev", protocol="tcp")
    assert (ssh["source"], ssh["port_from"], ssh["port_to"], ssh["direction"], ssh["action"]) == \
        ("0.0.0.0/0", 22, 22, "ingress", "allow")
    assert pd.isna(_one(n, account_id="sandbox-dev", protocol="icmp")["port_from"])


def test_guardrails_from_effective_org_policies(org):
    gr = org["inventory"].guardrails
    region = _one(gr, account_id="prod-jp-app", kind="region_restriction")
    assert region["effective"] == True and list(region["values"]) == ["asia-northeast1", "asia-northeast2"]  # noqa: E712
    assert gr[(gr["account_id"] == "shared-data") & (gr["kind"] == "region_restriction")].empty
    kinds = set(gr.loc[gr["account_id"] == "prod-jp-app", "kind"])
    assert {"domain_restriction", "public_access_block", "public_ip_block", "default_network_block",
            "security_alerting"} <= kinds
    assert "key_creation_block" not in kinds          # enforce: false
    contact = _one(gr, kind="security_contact")
    assert contact["account_id"] == ORGANIZATION and contact["effective"] == True  # noqa: E712


def test_audit_logs_from_audit_configs_and_log_buckets(org):
    a = org["inventory"].audit_logs
    cfg = _one(a, log_id="projects/prod-jp-app/auditConfigs")
    assert cfg["data_events"] == True and cfg["destination_region"] == "asia-northeast1"  # noqa: E712
    assert cfg["retention_days"] == 400
    req = _one(a, log_id="projects/prod-jp-app/locations/asia-northeast1/buckets/_Required")
    assert req["integrity"] == True and req["region"] == "asia-northeast1"  # noqa: E712
    sink = _one(a, log_id="organizations/1234567890/sinks/org-audit-archive")   # org sink to a locked bucket
    assert (sink["account_id"], sink["scope"], sink["destination_region"], sink["retention_days"]) == \
        (ORGANIZATION, "organization", "asia-northeast1", 400)
    assert sink["integrity"] == True and sink["management_events"] == True  # noqa: E712


def test_normalize_sink_to_a_destination_outside_scope_has_unknown_location():
    sink = {"name": "//logging.googleapis.com/projects/p1/sinks/out", "assetType": "logging.googleapis.com/LogSink",
            "ancestors": ["projects/11", ORGANIZATION],
            "resource": {"data": {"name": "projects/p1/sinks/out", "destination": "storage.googleapis.com/elsewhere"}}}
    inv = gcp.normalize(_collection([PROJECT, ("o", collector.SRC_LIST_ASSETS, {"assets": [sink]})]))
    row = _one(inv.audit_logs, log_id="projects/p1/sinks/out")
    assert row["account_id"] == "p1" and pd.isna(row["destination_region"]) and row["data_events"] == True  # noqa: E712


def test_coverage_for_every_project_and_source(org):
    cov = org["inventory"].coverage
    for project in PROJECTS:
        mine = cov[cov["account_id"] == project]
        assert {"tenants", "resources", "grants", "guardrails", "audit_logs", "credentials",
                "network_rules", "principals.mfa"} <= set(mine["table"]), project
    denied = cov[(cov["account_id"] == DENIED_PROJECT) & (cov["status"] == "denied")]
    kinds = {f"guardrails.{k}" for k in collector.CONSTRAINTS.values()}
    # resources.min_tls: buckets' TLS floor is the project's gcp.restrictTLSVersion policy
    assert set(denied["table"]) == {"guardrails", "audit_logs", "resources.min_tls",
                                    "guardrails.provider_access_approval", "guardrails.threat_detection"} | kinds
    assert denied["message"].str.contains("403").all()
    assert not denied["message"].str.contains("http://").any()     # short, one-line messages
    unsupported = {"principals.mfa", "principals.last_active", "guardrails.mfa_required"}
    for table in unsupported:
        rows = cov[cov["table"] == table]
        assert set(rows["status"]) == {"unsupported"} and set(rows["account_id"]) == PROJECTS | {ORGANIZATION}
    # Event Threat Detection is read per project; the organization node's own setting is not read.
    org_threat = (cov["account_id"] == ORGANIZATION) & (cov["table"] == "guardrails.threat_detection")
    assert list(cov.loc[org_threat, "status"]) == ["unsupported"]
    others = cov[(cov["account_id"] != DENIED_PROJECT) & ~cov["table"].isin(unsupported) & ~org_threat]
    assert set(others["status"]) == {"ok"}
    # A kind-level need fails only where that kind was unreadable.
    assert set(cov.loc[(cov["table"] == "guardrails.security_contact"), "status"]) == {"ok"}


# ----------------------------------------------------------------------------- findings

def _failing(findings: pd.DataFrame, check_id: str) -> set[tuple[str, str]]:
    rows = findings[(findings["check_id"] == check_id) & (findings["status"] == "FAIL")]
    return set(zip(rows["account_id"], rows["resource_id"]))


def test_seeded_residency_findings(org):
    f = org["findings"]
    archive = ("prod-jp-app", "//storage.googleapis.com/jp-app-archive")
    assert _failing(f, "RES-001") == {archive}
    assert _failing(f, "RES-002") == {archive}
    assert _failing(f, "RES-005") == {("prod-jp-app", "//cloudsql.googleapis.com/projects/prod-jp-app/instances/orders-db")}
    assert _failing(f, "RES-003") == set()           # the dual-region copies stay in Japan
    res006 = _statuses(f, "RES-006").set_index("account_id")["status"]
    assert res006["shared-data"] == "FAIL" and res006["prod-jp-app"] == "PASS" and res006[DENIED_PROJECT] == "ERROR"


def test_seeded_isolation_and_identity_findings(org):
    f = org["findings"]
    assert _failing(f, "ISL-001") == {("shared-data", "//storage.googleapis.com/public-assets")}
    assert {a for a, _ in _failing(f, "ISL-003")} == {"sandbox-dev"}
    assert ("shared-data", "user:contractor@gmail.com") in _failing(f, "ISL-006")
    assert ("prod-jp-app", "0a1b2c3d4e5f") in _failing(f, "AUTH-009")
    assert ("shared-data", "user:contractor@gmail.com") in _failing(f, "AUTH-007")


def test_more_catalog_findings(org):
    f = org["findings"]
    status = f.set_index(["check_id", "account_id", "resource_id"])["status"]
    assert _failing(f, "ISL-002") == {("shared-data", "shared-data")}      # no PAP / domain restriction
    assert _failing(f, "ISL-007") == set()      # the public bucket is ISL-001's; nothing else is anonymous
    assert status[("AUTH-008", "prod-jp-app", "0a1b2c3d4e5f")] == "WARN"
    assert ("prod-jp-app", "deleted:user:bob@example.co.jp?uid=123456789") in _failing(f, "LCM-003")
    key = "//cloudkms.googleapis.com/projects/prod-jp-app/locations/asia-northeast1/keyRings/app/cryptoKeys/data"
    assert status[("ENC-003", "prod-jp-app", key)] == "PASS"                  # 90-day rotation
    for check_id in ("ENC-008", "ISL-004", "ISL-009", "ISL-012"):
        rows = f[f["check_id"] == check_id]
        assert len(rows) and set(rows["status"]) == {"PASS"}, check_id
    for check_id in ("LOG-002", "LOG-003", "LOG-008"):                      # locked 400-day buckets, org contact
        rows = f[(f["check_id"] == check_id) & (f["account_id"] != DENIED_PROJECT)]
        assert len(rows) and set(rows["status"]) == {"PASS"}, check_id
    assert status[("LOG-007", "prod-jp-app", "prod-jp-app")] == "PASS"      # alert policy on SetIamPolicy


def test_bucket_tls_floor_from_the_projects_restrict_tls_version_policy(org):
    """GCS is served on storage.googleapis.com, which accepts TLS 1.0 and 1.1 unless the project's
    effective gcp.restrictTLSVersion denies them: prod-jp-app denies both, shared-data sets nothing."""
    res = org["inventory"].resources
    buckets = res[res["kind"] == "bucket"]
    assert set(buckets.loc[buckets["account_id"] == "prod-jp-app", "min_tls"]) == {"1.2"}
    assert set(buckets.loc[buckets["account_id"] == "shared-data", "min_tls"]) == {"1.0"}
    assert res.loc[res["kind"] == "database", "min_tls"].isna().all()     # Cloud SQL: not a Google API FQDN
    f = org["findings"]
    enc6 = f[f["check_id"] == "ENC-006"].set_index("resource_id")
    data, public = "//storage.googleapis.com/jp-app-data", "//storage.googleapis.com/public-assets"
    assert enc6.loc[data, "status"] == "PASS"
    assert enc6.loc[data, "reason"] == "bucket jp-app-data accepts TLS 1.2 and above (policy minimum 1.2)"
    assert enc6.loc[public, "status"] == "FAIL"
    assert enc6.loc[public, "reason"] == "bucket public-assets accepts TLS 1.0, below the policy minimum 1.2"
    # sandbox-dev's policies are unreadable: ERROR there, with the read's own message
    sandbox = f[(f["check_id"] == "ENC-006") & (f["account_id"] == DENIED_PROJECT)]
    assert len(sandbox) and set(sandbox["status"]) == {"ERROR"}
    assert sandbox["reason"].str.contains("gcp.restrictTLSVersion").all()
    gr = _one(org["inventory"].guardrails, account_id="prod-jp-app", kind="tls_version_restriction")
    assert gr["effective"] == True and list(gr["values"]) == ["TLS_VERSION_1", "TLS_VERSION_1_1"]  # noqa: E712
    assert org["inventory"].guardrails.query("account_id == 'shared-data' and kind == 'tls_version_restriction'").empty


def test_unreadable_tls_policy_makes_enc006_error_not_fail():
    tls = "projects/prod-jp-app/policies/gcp.restrictTLSVersion:getEffectivePolicy"
    with FakeGoogleCloud(deny_paths=(tls,)) as fake:
        inv = gcp.normalize(gcp.collect(fake.options()))
    res = inv.resources
    app = res[(res["kind"] == "bucket") & (res["account_id"] == "prod-jp-app")]
    assert len(app) and app["min_tls"].isna().all()
    cov = _one(inv.coverage, account_id="prod-jp-app", table="resources.min_tls")
    assert cov["status"] == "denied" and "403" in cov["message"]
    f = run_checks(inv, checks=["ENC-006", "ENC-001"]).df
    enc6 = f[f["check_id"] == "ENC-006"]
    assert set(enc6.loc[enc6["account_id"] == "prod-jp-app", "status"]) == {"ERROR"}
    assert set(enc6.loc[enc6["resource_id"].isin(app["resource_id"]), "status"]) <= {"ERROR"}
    # only the TLS floor is unknown: the neighbour project keeps its verdict, other checks theirs
    assert set(enc6.loc[enc6["account_id"] == "shared-data", "status"]) == {"FAIL"}
    assert "ERROR" not in set(f.loc[(f["check_id"] == "ENC-001") & (f["account_id"] == "prod-jp-app"), "status"])


def test_conditional_tls_policy_is_unsupported_coverage_not_a_guess():
    with FakeGoogleCloud() as fake:
        fake.effective["projects/shared-data/policies/gcp.restrictTLSVersion"] = {"spec": {"rules": [
            {"values": {"deniedValues": ["TLS_VERSION_1"]}, "condition": {"expression": "resource.matchTag('o/env', 'prod')"}}]}}
        inv = gcp.normalize(gcp.collect(fake.options()))
    cov = _one(inv.coverage, account_id="shared-data", table="resources.min_tls")
    assert cov["status"] == "unsupported" and "conditional rules" in cov["message"]
    enc6 = run_checks(inv, checks=["ENC-006"]).df
    assert set(enc6.loc[enc6["account_id"] == "shared-data", "status"]) == {"ERROR"}
    app_buckets = (enc6["account_id"] == "prod-jp-app") & enc6["resource_id"].str.startswith("//storage.")
    assert app_buckets.any() and set(enc6.loc[app_buckets, "status"]) == {"PASS"}


def test_normalize_restrict_tls_version_specs():
    def eff(spec):
        return ("p1", collector.SRC_EFFECTIVE_POLICY, {"node": "projects/p1", "constraint": "gcp.restrictTLSVersion",
                                                       "policy": {"spec": spec}})
    bucket = _asset("//storage.googleapis.com/b", "storage.googleapis.com/Bucket", {"name": "b", "location": "ASIA"})
    assets = ("o", collector.SRC_LIST_ASSETS, {"assets": [bucket]})

    def floor(spec):
        inv = gcp.normalize(_collection([PROJECT, assets] + ([eff(spec)] if spec is not None else [])))
        value = _one(inv.resources, name="b")["min_tls"]
        return None if pd.isna(value) else value, inv.guardrails

    both = {"rules": [{"values": {"deniedValues": ["is:TLS_VERSION_1", "TLS_VERSION_1_1"]}}]}
    assert floor(both)[0] == "1.2"
    only_10 = {"rules": [{"values": {"deniedValues": ["TLS_VERSION_1"]}}]}
    value, g = floor(only_10)
    assert value == "1.1" and _one(g, kind="tls_version_restriction")["effective"] == False  # noqa: E712
    assert floor({})[0] == "1.0" and floor({"rules": [{"allowAll": True}]})[0] == "1.0"
    assert floor(None)[0] is None                                       # not read: unknown
    conditional = {"rules": [{"values": {"deniedValues": ["TLS_VERSION_1", "TLS_VERSION_1_1"]},
                              "condition": {"expression": "resource.matchTag('o/env', 'prod')"}}]}
    value, g = floor(conditional)
    assert value is None and _one(g, kind="tls_version_restriction")["effective"] == False  # noqa: E712
    assert collector.tls_floor(conditional)[1] and collector.tls_floor({"rules": [{"denyAll": True}]}) [0] is None


def test_denied_project_gives_error_not_pass(org):
    f = org["findings"]
    sandbox = f[(f["account_id"] == DENIED_PROJECT) & f["check_id"].isin(["RES-006", "ISL-002", "LOG-001", "RES-008"])]
    assert set(sandbox["check_id"]) == {"RES-006", "ISL-002", "LOG-001", "RES-008"}
    assert set(sandbox["status"]) == {"ERROR"}
    assert sandbox["reason"].str.contains("denied").all()


def test_mfa_checks_error_without_directory(org):
    f = org["findings"]
    mfa = f[f["check_id"].isin(["AUTH-001", "AUTH-002", "AUTH-005"])]
    assert set(mfa["check_id"]) == {"AUTH-001", "AUTH-002", "AUTH-005"}
    assert set(mfa["status"]) == {"ERROR"}
    assert mfa["reason"].str.contains("domain-wide delegation").all()


def test_inactivity_checks_error_without_directory(org):
    # without sign-in times "never signed in" and "unknown" look alike: ERROR, never a guess
    f = org["findings"]
    inactive = f[f["check_id"] == "LCM-001"]
    assert len(inactive) and set(inactive["status"]) == {"ERROR"}
    assert inactive["reason"].str.contains("sign-in times").all()


# ----------------------------------------------------------------------------- Security Command Center (LOG-005)

ETD = "locations/global/securityCenterServices/event-threat-detection"


def test_event_threat_detection_is_read_per_project(org):
    paths = {r["path"] for r in org["requests"] if r["method"] == "GET"}
    assert {f"/v1/projects/{p}/{ETD}" for p in PROJECTS} <= paths
    assert not any("securityCenterServices" in p and not p.startswith("/v1/projects/") for p in paths)
    gr = org["inventory"].guardrails
    threat = gr[gr["kind"] == "threat_detection"]
    assert set(threat["account_id"]) == {"prod-jp-app"}        # DISABLED gives no row; the denied one none either
    row = _one(threat, account_id="prod-jp-app")
    assert row["effective"] == True and list(row["values"]) == ["*"] and row["scope"] == "scc"  # noqa: E712
    assert json.loads(row["detail"]) == {"service": f"projects/prod-jp-app/{ETD}",
                                         "effectiveEnablementState": "ENABLED", "intendedEnablementState": "ENABLED"}
    cov = org["inventory"].coverage
    cov = cov[cov["table"] == "guardrails.threat_detection"].set_index("account_id")
    assert set(cov.index) == PROJECTS | {ORGANIZATION}
    assert cov.loc[DENIED_PROJECT, "status"] == "denied"
    assert "securitycentermanagement.securityCenterServices.get" in cov.loc[DENIED_PROJECT, "message"]
    assert set(cov.loc[sorted(PROJECTS - {DENIED_PROJECT}), "status"]) == {"ok"}
    assert cov.loc[ORGANIZATION, "status"] == "unsupported"


def test_log005_verdicts_from_event_threat_detection(org):
    f = _statuses(org["findings"], "LOG-005").set_index("account_id")
    assert set(f.index) == PROJECTS | {ORGANIZATION}
    assert f.loc["prod-jp-app", "status"] == "PASS" and "scc prod-jp-app" in f.loc["prod-jp-app", "reason"]
    for project in ("prod-jp-web", "shared-data"):          # effective state DISABLED
        assert f.loc[project, "status"] == "FAIL" and "no threat detection" in f.loc[project, "reason"], project
    # sandbox-dev is ENABLED in the sample, but its read is denied: ERROR, never PASS
    assert f.loc[DENIED_PROJECT, "status"] == "ERROR"
    assert "securitycentermanagement:getSecurityCenterService" in f.loc[DENIED_PROJECT, "reason"]
    assert f.loc[ORGANIZATION, "status"] == "ERROR"
    assert not f["reason"].str.contains("not collected by the GCP adapter").any()


def _collected_with_denied(path: str, kind: str, check_id: str):
    """Collect the sample with every request to ``path`` answered 403: (the coverage rows of
    guardrail ``kind``, ``check_id``'s findings by account). No guardrail of that kind
    may be recorded from an unread source."""
    with FakeGoogleCloud(denied_projects=(), deny_paths=(path,)) as fake:
        inv = gcp.normalize(gcp.collect(fake.options()))
    assert inv.guardrails[inv.guardrails["kind"] == kind].empty
    cov = inv.coverage[inv.coverage["table"] == f"guardrails.{kind}"]
    return cov, run_checks(inv, checks=[check_id]).df.set_index("account_id")


def test_denied_threat_detection_read_is_error_not_pass():
    cov, f = _collected_with_denied("/securityCenterServices/event-threat-detection", "threat_detection", "LOG-005")
    assert set(cov.loc[cov["account_id"] != ORGANIZATION, "status"]) == {"denied"}
    # prod-jp-app is enabled, but unread
    assert set(f.index) == PROJECTS | {ORGANIZATION} and set(f["status"]) == {"ERROR"}
    assert f.drop(ORGANIZATION)["reason"].str.contains("denied").all()


def test_threat_detection_not_found_is_error_not_a_verdict():
    with FakeGoogleCloud(denied_projects=()) as fake:
        del fake.scc_services[f"projects/prod-jp-app/{ETD}"]
        del fake.scc_services[f"projects/shared-data/{ETD}"]
        inv = gcp.normalize(gcp.collect(fake.options()))
    cov = inv.coverage[inv.coverage["table"] == "guardrails.threat_detection"].set_index("account_id")
    for project in ("prod-jp-app", "shared-data"):
        assert cov.loc[project, "status"] == "error" and "NOT_FOUND" in cov.loc[project, "message"], project
    f = run_checks(inv, checks=["LOG-005"]).df.set_index("account_id")
    assert f.loc["prod-jp-app", "status"] == "ERROR" and f.loc["shared-data", "status"] == "ERROR"
    assert f.loc["prod-jp-web", "status"] == "FAIL" and f.loc["sandbox-dev", "status"] == "PASS"


def test_normalize_threat_detection_states():
    src = collector.SRC_SCC_SERVICE

    def service(project, effective, intended="INHERITED"):
        return (project, src, {"node": f"projects/{project}", "service": {
            "name": f"projects/{project}/{ETD}", "effectiveEnablementState": effective,
            "intendedEnablementState": intended}})

    collection = _collection([service("p-on", "ENABLED"), service("p-off", "DISABLED", "DISABLED"),
                              service("p-ingest", "INGEST_ONLY"), service("p-odd", "INHERITED")])
    gr = norm.normalize(collection).guardrails
    assert set(gr["account_id"]) == {"p-on", "p-ingest"}
    assert _one(gr, account_id="p-on")["effective"] == True            # noqa: E712
    ingest = _one(gr, account_id="p-ingest")                           # configured, not detecting: WARN
    assert ingest["effective"] == False and list(ingest["values"]) == ["*"]   # noqa: E712
    assert json.loads(ingest["detail"])["effectiveEnablementState"] == "INGEST_ONLY"


def test_unexpected_effective_state_is_unsupported_coverage():
    with FakeGoogleCloud(denied_projects=()) as fake:
        fake.scc_services[f"projects/prod-jp-app/{ETD}"]["effectiveEnablementState"] = "INHERITED"
        inv = gcp.normalize(gcp.collect(fake.options()))
    cov = _one(inv.coverage, account_id="prod-jp-app", table="guardrails.threat_detection")
    assert cov["status"] == "unsupported" and "INHERITED" in cov["message"]
    f = run_checks(inv, checks=["LOG-005"]).df.set_index("account_id")
    assert f.loc["prod-jp-app", "status"] == "ERROR"


# ----------------------------------------------------------------------------- Access Approval (CSP-001)

def test_access_approval_settings_are_read_per_project_and_org(org):
    paths = {r["path"] for r in org["requests"] if r["method"] == "GET"}
    assert {f"/v1/projects/{p}/accessApprovalSettings" for p in PROJECTS} <= paths
    assert f"/v1/{ORGANIZATION}/accessApprovalSettings" in paths
    gr = org["inventory"].guardrails
    approval = gr[gr["kind"] == "provider_access_approval"]
    row = _one(approval, account_id="prod-jp-app")
    assert row["effective"] == True and list(row["values"]) == ["all"] and row["scope"] == "project"  # noqa: E712
    assert json.loads(row["detail"])["enrolledServices"] == [{"cloudProduct": "all", "enrollmentLevel": "BLOCK_ALL"}]
    # prod-jp-web: settings that enroll nothing; shared-data and the org: NOT_FOUND (never configured)
    assert set(approval["account_id"]) == {"prod-jp-app"}
    cov = org["inventory"].coverage
    cov = cov[cov["table"] == "guardrails.provider_access_approval"].set_index("account_id")
    assert set(cov.index) == PROJECTS | {ORGANIZATION}
    assert cov.loc[DENIED_PROJECT, "status"] == "denied" and "accessapproval.settings.get" in cov.loc[DENIED_PROJECT, "message"]
    assert set(cov.drop(DENIED_PROJECT)["status"]) == {"ok"}
    assert "NOT_FOUND" in cov.loc["shared-data", "message"]


def test_csp001_verdicts_from_access_approval(org):
    f = _statuses(org["findings"], "CSP-001").set_index("account_id")
    assert set(f.index) == PROJECTS
    assert f.loc["prod-jp-app", "status"] == "PASS" and "enforced" in f.loc["prod-jp-app", "reason"]
    for project in ("prod-jp-web", "shared-data"):      # classified data, not enrolled
        assert f.loc[project, "status"] == "FAIL" and "not configured" in f.loc[project, "reason"], project
    assert f.loc[DENIED_PROJECT, "status"] == "ERROR"
    assert "accessapproval:getAccessApprovalSettings" in f.loc[DENIED_PROJECT, "reason"]
    assert not f["reason"].str.contains("not collected by the GCP adapter").any()


def test_denied_access_approval_read_is_error_not_pass():
    cov, f = _collected_with_denied("/accessApprovalSettings", "provider_access_approval", "CSP-001")
    assert set(cov["status"]) == {"denied"} and set(cov["account_id"]) == PROJECTS | {ORGANIZATION}
    # prod-jp-app is enrolled, but unread; the organization node's unread settings are an ERROR there too
    assert set(f.index) == PROJECTS | {ORGANIZATION} and set(f["status"]) == {"ERROR"}
    assert f["reason"].str.contains("denied").all()


def test_normalize_access_approval_ancestor_and_organization():
    src = collector.SRC_ACCESS_APPROVAL
    collection = _collection([
        ("p-inherit", src, {"node": "projects/p-inherit", "found": True,
                            "settings": {"name": "projects/p-inherit/accessApprovalSettings", "enrolledAncestor": True}}),
        ("p-none", src, {"node": "projects/p-none", "found": True,
                         "settings": {"name": "projects/p-none/accessApprovalSettings", "enrolledAncestor": False}}),
        ("p-never", src, {"node": "projects/p-never", "found": False, "settings": {}}),
        (ORGANIZATION, src, {"node": ORGANIZATION, "found": True, "settings": {
            "name": f"{ORGANIZATION}/accessApprovalSettings",
            "enrolledServices": [{"cloudProduct": "BigQuery"}, {"cloudProduct": "Cloud Storage"}]}}),
    ], organization=ORGANIZATION)
    gr = norm.normalize(collection).guardrails
    assert set(gr["account_id"]) == {"p-inherit", ORGANIZATION}
    inherit = _one(gr, account_id="p-inherit")
    assert inherit["effective"] == True and list(inherit["values"]) == [] and inherit["scope"] == "project"  # noqa: E712
    assert json.loads(inherit["detail"])["enrolledAncestor"] is True
    org_row = _one(gr, account_id=ORGANIZATION)
    assert org_row["scope"] == "organization" and list(org_row["values"]) == ["BigQuery", "Cloud Storage"]


# ----------------------------------------------------------------------------- replay, scope, options

def test_bundle_replays_to_the_same_inventory(org, tmp_path):
    path = write_bundle([org["collection"]], tmp_path / "gcp.zip")
    _, collections = read_bundle(path)
    replayed = gcp.normalize(collections[0])
    for name, table in org["inventory"].tables.items():
        pd.testing.assert_frame_equal(replayed[name], table, check_like=False, obj=name)
    assert len(cloudaudit.load_bundle(path).resources) == len(org["inventory"].resources)


def test_directory_gives_two_step_verification():
    with FakeGoogleCloud(page_size=2) as fake:
        collection = gcp.collect(fake.options(directory={"customer": "my_customer"}))
        directory_calls = [r for r in fake.requests if r["path"] == "/admin/directory/v1/users"]
    inv = gcp.normalize(collection)
    assert len(directory_calls) == 2 and directory_calls[0]["query"]["customer"] == ["my_customer"]
    p = inv.principals
    assert _one(p, principal_id="user:alice@example.co.jp")["mfa"] == "virtual"
    assert _one(p, principal_id="user:alice@example.co.jp")["top_level"] == True  # noqa: E712
    dev = _one(p, principal_id="user:dev@example.co.jp")
    assert dev["mfa"] == "none" and pd.isna(dev["last_active"])
    assert _one(p, principal_id="user:contractor@gmail.com")["mfa"] == "unknown"
    mfa = inv.coverage[inv.coverage["table"] == "principals.mfa"]
    assert set(mfa["status"]) == {"ok"}
    required = _one(inv.guardrails, kind="mfa_required")
    assert required["effective"] == False and "dev@example.co.jp" in required["detail"]  # noqa: E712


def test_single_project_scope():
    with FakeGoogleCloud() as fake:
        options = fake.options(project="prod-jp-app")
        options.pop("organization")
        collection = gcp.collect(options)
        paths = {r["path"] for r in fake.requests}
    inv = gcp.normalize(collection)
    assert "/v1/projects/prod-jp-app:searchAllResources" in paths
    assert not any(p.startswith("/v3/folders") for p in paths)
    assert set(inv.resources["account_id"]) == {"prod-jp-app"}
    assert set(inv.tenants["account_id"]) == {"prod-jp-app"}


def test_folder_scope():
    with FakeGoogleCloud() as fake:
        options = fake.options(folder="folders/100")
        options.pop("organization")
        collection = gcp.collect(options)
        paths = {r["path"] for r in fake.requests}
    inv = gcp.normalize(collection)
    assert "/v1/folders/100:searchAllResources" in paths and "/v3/organizations:search" not in paths
    assert set(inv.tenants["account_id"]) == {"prod-jp-app", "prod-jp-web", "shared-data"}
    app = _one(inv.tenants, account_id="prod-jp-app")
    assert app["parent_path"] == "organizations/1234567890/Production/Japan" and app["org_id"] == ORGANIZATION
    assert set(inv.resources["account_id"]) == {"prod-jp-app", "prod-jp-web", "shared-data"}
    assert set(inv.coverage["account_id"]) == {"prod-jp-app", "prod-jp-web", "shared-data"}
    assert not any(p.startswith(f"/v2/{ORGANIZATION}") for p in paths)   # the org node is out of scope
    assert f"/v1/{ORGANIZATION}/accessApprovalSettings" not in paths
    assert "/v1/projects/prod-jp-app/accessApprovalSettings" in paths


def test_org_wide_source_denied_is_error_in_every_project():
    with FakeGoogleCloud(deny_paths=(":searchAllIamPolicies",)) as fake:
        collection = gcp.collect(fake.options())
    inv = gcp.normalize(collection)
    cov = inv.coverage[inv.coverage["source"] == collector.SRC_SEARCH_IAM]
    assert set(cov["status"]) == {"denied"} and set(cov["account_id"]) == PROJECTS | {ORGANIZATION}
    assert inv.grants.empty
    res = inv.resources.set_index("name")["public_read"]
    assert pd.isna(res["public-assets"]) and pd.isna(res["orders"])   # unknown, never "not public"
    assert res["jp-app-data"] == False  # noqa: E712 - public access prevention enforced: known without IAM
    f = run_checks(inv, checks=["ISL-006", "AUTH-007"]).df
    assert set(f["status"]) == {"ERROR"} and set(f["account_id"]) >= PROJECTS


def test_caller_executor_and_progress():
    from concurrent.futures import ThreadPoolExecutor

    seen = []
    with FakeGoogleCloud() as fake, ThreadPoolExecutor(max_workers=2) as pool:
        collection = gcp.collect(fake.options(), executor=pool,
                                 progress=lambda done, total, label: seen.append((label, done, total)))
        assert pool.submit(lambda: 41 + 1).result() == 42     # the caller's pool is not shut down
    labels = {label for label, _, _ in seen}
    assert {"gcp folders", "gcp asset inventory", "gcp IAM policies", "gcp org policies", "gcp access approval",
            "gcp threat detection"} <= labels
    assert ("gcp org policies", 5, 5) in seen                 # the organization and its 4 projects
    assert len(gcp.normalize(collection).resources) > 20


def test_public_api_collect_with_options():
    with FakeGoogleCloud() as fake:
        inv = cloudaudit.collect("gcp", options={"gcp": fake.options(allowed_domains=["example.co.jp"])})
    assert "gcp" in inv.providers and len(inv.resources) > 20


def test_unreachable_org_search_is_coverage_not_crash():
    with FakeGoogleCloud() as fake:
        options = fake.options(organization="organizations/555")
        collection = gcp.collect(options)
    rows = [r for r in collection.coverage if r.account_id == "organizations/555"]
    assert rows and rows[0].status == "denied" and "not visible" in rows[0].message


def test_cli_scan_against_the_fake(tmp_path, capsys):
    from cloudaudit import cli

    report = tmp_path / "gcp.json"
    with FakeGoogleCloud() as fake:
        endpoints = json.dumps({api: fake.endpoint for api in ("cloudresourcemanager", "cloudasset", "orgpolicy",
                                                               "accessapproval", "securitycentermanagement")})
        rc = cli.main(["scan", "--provider", "gcp", "--check", "RES-001", "--check", "RES-005",
                       "--option", "gcp.credentials=anonymous", "--option", f"gcp.organization={ORGANIZATION}",
                       "--option", f"gcp.endpoints={endpoints}", "--format", "json", "--output", str(report)])
    assert rc == 0, capsys.readouterr().err
    rows = json.loads(report.read_text())
    failed = {(r["check_id"], r["resource_id"]) for r in rows if r["status"] == "FAIL"}
    assert failed == {("RES-001", "//storage.googleapis.com/jp-app-archive"),
                      ("RES-005", "//cloudsql.googleapis.com/projects/prod-jp-app/instances/orders-db")}
    assert {r["status"] for r in rows} == {"PASS", "FAIL"}


# ----------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("value, expected", [
    ("in:asia-northeast1-locations", ["asia-northeast1"]),
    ("is:asia-northeast2", ["asia-northeast2"]),
    ("asia-northeast1", ["asia-northeast1"]),
    ("in:mars-locations", ["in:mars-locations"]),
])
def test_expand_location_value(value, expected):
    assert norm.expand_location_value(value) == expected


def test_expand_multi_region_group_includes_its_regions():
    values = norm.expand_location_value("in:asia-locations")
    assert values[0] == "asia" and "asia-northeast1" in values and "asia-south1" in values
    assert not any(v.startswith("europe-") for v in values)


@pytest.mark.parametrize("region, multi", [("asia-northeast1", "asia"), ("europe-west1", "eu"),
                                            ("us-central1", "us"), ("mars-north1", None)])
def test_nearest_multi_region(region, multi):
    assert norm.nearest_multi_region(region) == multi


@pytest.mark.parametrize("role, privilege", [
    ("roles/owner", "admin"), ("roles/editor", "write"), ("roles/viewer", "read"),
    ("roles/storage.admin", "admin"), ("roles/iam.serviceAccountTokenCreator", "admin"),
    ("roles/storage.objectViewer", "read"), ("roles/cloudsql.client", "write"),
    ("organizations/1/roles/customAuditor", "write"),
])
def test_privilege_of(role, privilege):
    assert norm.privilege_of(role) == privilege


def test_key_age_fixture_is_old_and_recent_key_is_recent():
    # Guards the sample: the seeded key must stay older than the 90-day threshold whatever the date.
    from cloudaudit.providers.gcp.sample import load_sample

    assets = {a["name"]: a for a in load_sample("assets")["assets"]}
    old = [a for a in assets.values() if a["assetType"].endswith("ServiceAccountKey")
           and a["resource"]["data"]["keyType"] == "USER_MANAGED"]
    created = pd.Timestamp(old[0]["resource"]["data"]["validAfterTime"])
    assert datetime.now(timezone.utc) - created > timedelta(days=365)


# ----------------------------------------------------------------------------- normalize branches (pure)

def _collection(records: list[tuple[str, str, dict]], coverage_ok: tuple[str, ...] = (), **meta):
    from cloudaudit.providers.base import Collection

    c = Collection("gcp", meta={"organization": ORGANIZATION, **meta})
    for account, source, data in records:
        c.add(account, "global", source, data)
    for source in coverage_ok:
        c.cover("p1", None, "grants", source, "ok")
    c.cover("p1", None, "audit_logs", collector.SRC_IAM_POLICY, "ok")
    return c


PROJECT = ("x", collector.SRC_PROJECTS, {"parent": ORGANIZATION, "projects": [
    {"name": "projects/11", "projectId": "p1", "parent": ORGANIZATION, "state": "ACTIVE"}]})


def _asset(name: str, atype: str, data: dict, location: str = "asia-northeast1") -> dict:
    return {"name": name, "assetType": atype, "ancestors": ["projects/11", ORGANIZATION],
            "resource": {"location": location, "data": data}}


def test_normalize_sql_public_ip_open_network_and_replica():
    assets = [
        _asset("//cloudsql.googleapis.com/projects/p1/instances/db", "sqladmin.googleapis.com/Instance",
               {"name": "db", "project": "p1", "region": "europe-west1",
                "settings": {"backupConfiguration": {"enabled": False},
                             "ipConfiguration": {"ipv4Enabled": True, "authorizedNetworks": [{"value": "0.0.0.0/0"}]}}}),
        _asset("//cloudsql.googleapis.com/projects/p1/instances/db-replica", "sqladmin.googleapis.com/Instance",
               {"name": "db-replica", "project": "p1", "region": "us-east1", "masterInstanceName": "p1:db",
                "settings": {"ipConfiguration": {"ipv4Enabled": False}}}),
    ]
    c = _collection([PROJECT, ("o", collector.SRC_LIST_ASSETS, {"assets": assets})])
    inv = gcp.normalize(c)
    db = _one(inv.resources, name="db")
    assert db["network_open"] == True and db["https_only"] == False and db["region"] == "europe-west1"  # noqa: E712
    rep = _one(inv.replicas, resource_id="//cloudsql.googleapis.com/projects/p1/instances/db")
    assert (rep["kind"], rep["target_region"]) == ("read_replica", "us-east1")   # no backup row: backups are off


def test_normalize_vm_hardening_weaknesses():
    vm = _asset("//compute.googleapis.com/projects/p1/zones/asia-northeast1-a/instances/vm", "compute.googleapis.com/Instance",
                {"name": "vm", "zone": "zones/asia-northeast1-a", "status": "TERMINATED",
                 "shieldedInstanceConfig": {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True},
                 "metadata": {"items": [{"key": "serial-port-enable", "value": "1"},
                                        {"key": "enable-oslogin", "value": "FALSE"}]}})
    project = _asset("//compute.googleapis.com/projects/p1", "compute.googleapis.com/Project",
                     {"name": "p1", "commonInstanceMetadata": {"items": [{"key": "enable-oslogin", "value": "TRUE"}]}})
    inv = gcp.normalize(_collection([PROJECT, ("o", collector.SRC_LIST_ASSETS, {"assets": [vm, project]})]))
    row = _one(inv.resources, name="vm")
    # The instance's enable-oslogin=FALSE overrides the project's TRUE.
    assert list(row["weak_settings"]) == ["no_secure_boot", "serial_port", "no_os_login", "project_ssh_keys"]
    assert row["attached"] == False  # noqa: E712


def test_normalize_bucket_acl_public_and_unknown_without_iam():
    bucket = _asset("//storage.googleapis.com/legacy", "storage.googleapis.com/Bucket",
                    {"name": "legacy", "location": "US", "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": False}},
                     "acl": [{"entity": "allUsers", "role": "READER"}]})
    with_iam = gcp.normalize(_collection([PROJECT, ("o", collector.SRC_LIST_ASSETS, {"assets": [bucket]})],
                                         coverage_ok=(collector.SRC_SEARCH_IAM,)))
    assert _one(with_iam.resources, name="legacy")["public_read"] == True  # noqa: E712
    without = gcp.normalize(_collection([PROJECT, ("o", collector.SRC_LIST_ASSETS, {"assets": [bucket]})]))
    assert pd.isna(_one(without.resources, name="legacy")["public_read"])   # IAM unread: unknown, not False


def test_normalize_org_policy_dry_run_and_conditional_rules():
    def eff(constraint, spec=None, dry=None):
        return ("p1", collector.SRC_EFFECTIVE_POLICY, {"node": "projects/p1", "constraint": constraint,
                                                       "policy": {"spec": spec or {}, "dryRunSpec": dry or {}}})
    c = _collection([PROJECT,
                     eff("gcp.resourceLocations", dry={"rules": [{"values": {"allowedValues": ["in:asia-northeast1-locations"]}}]}),
                     eff("storage.publicAccessPrevention", spec={"rules": [{"enforce": True, "condition": {"expression": "x"}}]}),
                     eff("sql.restrictPublicIp", spec={"rules": [{"enforce": False}]}),
                     eff("iam.allowedPolicyMemberDomains", spec={"rules": [{"allowAll": True}]})])
    g = gcp.normalize(c).guardrails
    region = _one(g, kind="region_restriction")
    assert region["effective"] == False and list(region["values"]) == ["asia-northeast1"]  # noqa: E712 - dry run
    assert _one(g, kind="public_access_block")["effective"] == False   # noqa: E712 - conditional
    assert set(g["kind"]) == {"region_restriction", "public_access_block"}


def test_normalize_external_members_against_allowed_domains():
    iam = {"results": [{"resource": "//cloudresourcemanager.googleapis.com/projects/11",
                        "assetType": "cloudresourcemanager.googleapis.com/Project", "project": "projects/11",
                        "policy": {"bindings": [{"role": "roles/editor", "members": [
                            "user:a@corp.example", "user:b@sub.corp.example", "user:c@partner.example",
                            "group:g@partner.example", "serviceAccount:x@p1.iam.gserviceaccount.com",
                            "serviceAccount:service-11@gcp-sa-pubsub.iam.gserviceaccount.com",
                            "serviceAccount:99-compute@developer.gserviceaccount.com",
                            "allAuthenticatedUsers", "domain:corp.example"]}]}}]}
    c = _collection([PROJECT, ("o", collector.SRC_SEARCH_IAM, iam)], allowed_domains=["corp.example"])
    g = gcp.normalize(c).grants.set_index("principal_id")
    external = g["external"].astype(object).to_dict()
    assert external == {"user:a@corp.example": False, "user:b@sub.corp.example": False,
                        "user:c@partner.example": True, "group:g@partner.example": True,
                        "serviceAccount:x@p1.iam.gserviceaccount.com": False,
                        "serviceAccount:service-11@gcp-sa-pubsub.iam.gserviceaccount.com": False,
                        "serviceAccount:99-compute@developer.gserviceaccount.com": True,
                        "allAuthenticatedUsers": True, "domain:corp.example": False}
    assert g.loc["allAuthenticatedUsers", "public"] == True  # noqa: E712


def test_normalize_unknown_domain_without_allowed_list_is_unknown():
    iam = {"results": [{"resource": "//cloudresourcemanager.googleapis.com/projects/11",
                        "assetType": "cloudresourcemanager.googleapis.com/Project", "project": "projects/11",
                        "policy": {"bindings": [{"role": "roles/viewer", "members": ["user:z@somewhere.example",
                                                                                     "user:y@gmail.com"]}]}}]}
    g = gcp.normalize(_collection([PROJECT, ("o", collector.SRC_SEARCH_IAM, iam)])).grants.set_index("principal_id")
    assert pd.isna(g.loc["user:z@somewhere.example", "external"])
    assert g.loc["user:y@gmail.com", "external"] == True  # noqa: E712


def test_no_visible_organization_is_denied_coverage_not_an_empty_audit():
    with FakeGoogleCloud() as fake:
        fake.hierarchy["organizations"] = []
        options = fake.options()
        options.pop("organization")
        collection = gcp.collect(options)
    rows = [r for r in collection.coverage if r.source == collector.SRC_ORGS]
    assert [(r.account_id, r.table, r.status) for r in rows] == [("organizations/unknown", "tenants", "denied")]
