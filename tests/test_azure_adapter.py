"""Azure adapter: real azure SDK clients and azure-core pipelines over HTTPS (trustme CA) against
the sample tenant fake on 127.0.0.1 (ARM, Resource Graph, Microsoft Graph, token endpoint)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

import cloudaudit
from cloudaudit.bundle import write_bundle
from cloudaudit.engine import run_checks
from cloudaudit.errors import ProviderError
from cloudaudit.inventory import TABLES
from cloudaudit.providers.azure import collect, normalize
from cloudaudit.providers.azure.clients import Clients
from cloudaudit.providers.azure.collector import FAMILIES

from azure_fake import (ARG_PATH, DEV, LAB, PROD, TENANT, AzureSampleTenant, CountingToken, StaticToken,
                        non_read_requests, sample_data)


# The catalog ids these tests assert on (running only them keeps the module fast).
CHECKS = ["AUTH-001", "AUTH-004", "AUTH-005", "AUTH-007", "CSP-001", "LCM-003", "ENC-003", "ISL-001", "ISL-003", "ISL-004", "ISL-006", "ISL-008", "ISL-012",
          "RES-001", "RES-003", "RES-006"]


@pytest.fixture(scope="module")
def tenant():
    credential = CountingToken()
    with AzureSampleTenant() as fake:  # licences P1 + P2; the first userRegistrationDetails call gets a 429
        collection = collect(fake.options(credential=credential, max_workers=4))
        inventory = normalize(collection)
        yield SimpleNamespace(fake=fake, collection=collection, inventory=inventory, credential=credential,
                              findings=run_checks(inventory, checks=CHECKS).df)


def _name(resource_id: pd.Series) -> pd.Series:
    return resource_id.fillna("").str.rsplit("/", n=1).str[-1]


def _rows(frame: pd.DataFrame, **equal) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in equal.items():
        mask &= frame[column] == value
    return frame[mask.fillna(False)]


# ----------------------------------------------------------------------------- inventory rows

def test_tenancy_management_group_paths_and_states(tenant):
    t = tenant.inventory.tenants.set_index("account_id")
    assert set(t.index) == {TENANT, PROD, DEV, LAB}
    assert t.loc[TENANT, "name"] == "Contoso JP" and bool(t.loc[TENANT, "is_management"])
    assert t.loc[PROD, "parent_path"] == "Tenant Root Group/Production"
    assert t.loc[LAB, "parent_path"] == "Tenant Root Group/Development"
    assert (t.loc[[PROD, DEV, LAB], "org_id"] == TENANT).all()
    assert (t.loc[[PROD, DEV, LAB], "state"] == "Enabled").all()
    tags = tenant.inventory.tags
    assert len(_rows(tags, resource_id=f"/subscriptions/{PROD}", key="env", value="prod")) == 1


def test_locations_are_physical_regions_per_readable_subscription(tenant):
    regions = tenant.inventory.regions
    assert set(regions["account_id"]) == {PROD, DEV}
    assert set(_rows(regions, account_id=PROD)["region"]) == {"japaneast", "japanwest", "eastasia", "southeastasia",
                                                               "westus", "eastus"}  # 'asia' is logical


def test_resources_carry_the_properties_checks_need(tenant):
    res = tenant.inventory.resources.assign(short=lambda f: _name(f["resource_id"])).set_index("short")
    assert res.loc["stpublicweb", "kind"] == "bucket" and bool(res.loc["stpublicweb", "public_read"])
    assert bool(res.loc["stpublicweb", "network_open"])
    assert res.loc["stjpdata01", "encryption"] == "customer" and not bool(res.loc["stjpdata01", "public_read"])
    assert res.loc["stjpdata01", "min_tls"] == "1.2" and bool(res.loc["stjpdata01", "https_only"])
    assert res.loc["stgrshk", "region"] == "eastasia"
    # "Allow Azure services" (0.0.0.0-0.0.0.0) admits every Azure tenant: the server and its database are open.
    assert bool(res.loc["sql-dev01", "network_open"]) and bool(res.loc["appdb", "network_open"])
    assert res.loc["appdb", "encryption"] == "provider" and res.loc["sql-dev01", "min_tls"] == "1.2"  # TDE on, service key
    assert res.loc["vm-jp01_OsDisk_1", "encryption"] == "customer" and bool(res.loc["vm-jp01_OsDisk_1", "attached"])
    assert res.loc["snap-dev01", "kind"] == "snapshot" and not bool(res.loc["snap-dev01", "network_open"])
    assert res.loc["vm-us01", "region"] == "westus" and res.loc["vm-us01", "kind"] == "vm"
    assert sorted(res.loc["vm-us01", "weak_settings"]) == ["no_secure_boot", "no_vtpm", "password_login"]
    assert res.loc["vm-jp01", "weak_settings"] == []
    assert bool(res.loc["stjpdata01", "data_access_logging"]) and not bool(res.loc["stpublicweb", "data_access_logging"])
    assert not bool(res.loc["appdb", "data_access_logging"])   # SQL audit category present but disabled
    assert bool(res.loc["kv-jp01", "data_access_logging"])       # categoryGroup 'audit'
    assert res.loc["nsg-jp01", "kind"] == "security_group" and not bool(res.loc["nsg-jp01", "data_bearing"])
    assert res.loc["cosmos-jp", "kind"] == "database" and res.loc["kv-jp01", "kind"] == "secret"
    assert "alert-security-changes" not in res.index  # activity-log alerts are guardrails
    keys = res[res["kind"] == "key"]
    assert keys["rotation_days"].fillna(-1).to_dict() == {"stjpdata01-cmk": 365, "cosmos-cmk": 90, "rsv-cmk": -1}
    assert keys["rotation_enabled"].to_dict() == {"stjpdata01-cmk": True, "cosmos-cmk": True, "rsv-cmk": False}
    assert (keys["key_manager"] == "customer").all() and not keys["data_bearing"].astype(bool).any()
    assert LAB not in set(res["account_id"])
    labelled = set(_rows(tenant.inventory.tags, key="classification")["resource_id"])
    assert set(res[res["data_bearing"].astype(bool)]["resource_id"]) <= labelled   # the sample labels its data


def test_replicas_follow_geo_pairs_and_cosmos_locations(tenant):
    rep = tenant.inventory.replicas.assign(short=lambda f: _name(f["resource_id"]))
    pairs = {(r.short, r.kind): (r.source_region, r.target_region) for r in rep.itertuples()}
    assert pairs[("stgrshk", "geo_pair")] == ("eastasia", "southeastasia")
    assert pairs[("stjpdata01", "geo_pair")] == ("japaneast", "japanwest")
    assert pairs[("cosmos-jp", "replication")] == ("japaneast", "japanwest")
    assert pairs[("rsv-jp01", "backup")] == ("japaneast", "japanwest")   # paired region from the locations API
    assert ("stpublicweb", "geo_pair") not in pairs                      # LRS keeps no copy elsewhere


def test_principals_mfa_guests_and_global_admins(tenant):
    p = tenant.inventory.principals.set_index("name")
    assert p.loc["aiko.admin@contoso.co.jp", "mfa"] == "phishing_resistant"
    assert p.loc["kenji.admin@contoso.co.jp", "mfa"] == "none"
    assert bool(p.loc["kenji.admin@contoso.co.jp", "top_level"]) and bool(p.loc["aiko.admin@contoso.co.jp", "top_level"])
    assert p.loc["taro.yamada@contoso.co.jp", "mfa"] == "virtual" and not bool(p.loc["taro.yamada@contoso.co.jp", "top_level"])
    guest = p.loc["pat_fabrikam.com#EXT#@contosojp.onmicrosoft.com"]
    assert guest["kind"] == "guest" and bool(guest["external"]) and bool(guest["human"])
    assert not bool(p.loc["hanako.former@contoso.co.jp", "enabled"])
    assert p.loc["app-deployer", "kind"] == "service_principal" and not bool(p.loc["app-deployer", "human"])
    assert p.loc["platform-admins", "kind"] == "group"
    assert pd.notna(p.loc["aiko.admin@contoso.co.jp", "last_active"])   # P1: sign-in activity was readable
    assert set(p["account_id"]) == {TENANT}


def test_grants_map_rbac_and_directory_roles(tenant):
    g = tenant.inventory.grants
    guest_owner = _rows(g, account_id=DEV, principal_id="5e000000-0000-4000-8000-000000000004").iloc[0]
    assert (guest_owner["role"], guest_owner["privilege"], guest_owner["principal_kind"]) == ("Owner", "admin", "guest")
    assert bool(guest_owner["external"]) and guest_owner["via"] == "direct"
    root_owner = _rows(g, account_id=PROD, principal_id="5e000000-0000-4000-8000-000000000001").iloc[0]
    assert root_owner["via"] == "inherited" and root_owner["privilege"] == "admin"
    uaa = _rows(g, account_id=PROD, role="User Access Administrator").iloc[0]
    assert uaa["privilege"] == "admin" and uaa["principal_kind"] == "group"
    contributor = _rows(g, account_id=PROD, role="Contributor").iloc[0]
    assert contributor["privilege"] == "write" and contributor["principal_kind"] == "service_principal"
    foreign = _rows(g, account_id=PROD, principal_id="8f000000-0000-4000-8000-000000000001").iloc[0]
    assert bool(foreign["external"]) and foreign["privilege"] == "read"
    ga = _rows(g, account_id=TENANT, role="Global Administrator")
    assert set(ga["principal_id"]) == {"5e000000-0000-4000-8000-000000000001", "5e000000-0000-4000-8000-000000000002"}
    assert (ga["privilege"] == "admin").all() and ga["standing"].astype(bool).all()
    assert _rows(g, account_id=TENANT, role="Global Reader")["privilege"].tolist() == ["read"]
    # The group holding User Access Administrator is expanded to its (transitive) members.
    via_group = _rows(g, account_id=PROD, via="group")
    assert set(via_group["principal_id"]) == {"5e000000-0000-4000-8000-000000000003", "5e000000-0000-4000-8000-000000000005"}
    assert set(via_group["role"]) == {"User Access Administrator"} and set(via_group["principal_kind"]) == {"user"}
    members = _rows(tenant.inventory.coverage, source="graph:groupMembers")
    assert members[["account_id", "table", "status"]].values.tolist() == [[PROD, "grants", "ok"]]


def test_lighthouse_delegations_are_external_trusts(tenant):
    trusts = tenant.inventory.trusts
    assert len(trusts) == 1
    t = trusts.iloc[0]
    assert (t["account_id"], t["trusted_account"], t["privilege"]) == (DEV, "22222222-3333-4444-8555-666666666666", "read")
    assert bool(t["external"]) and not bool(t["wildcard"]) and "registrationDefinitions" in t["role_id"]


def test_network_rules_expand_nsg_prefixes_and_ports(tenant):
    rules = tenant.inventory.network_rules
    rdp = _rows(rules, rule_id="allow-rdp-internet").iloc[0]
    assert (rdp["direction"], rdp["source"], rdp["protocol"], rdp["port_from"], rdp["port_to"], rdp["action"]) == \
        ("ingress", "Internet", "tcp", 3389, 3389, "allow")
    assert bool(rdp["attached"])
    assert len(_rows(rules, rule_id="allow-https-corp")) == 4    # 2 prefixes x 2 port ranges
    out = _rows(rules, rule_id="deny-all-out").iloc[0]
    assert out["direction"] == "egress" and pd.isna(out["port_from"]) and out["protocol"] == "all"
    azure_services = _rows(rules, rule_id="AllowAllWindowsAzureIps").iloc[0]
    assert azure_services["source"] == "AzureCloud" and azure_services["port_from"] == 1433


def test_guardrails_from_policy_defender_contacts_alerts_and_conditional_access(tenant):
    g = tenant.inventory.guardrails
    region = _rows(g, kind="region_restriction")
    assert region["account_id"].tolist() == [PROD, PROD]   # DEV has no allowed-locations assignment
    assert region.iloc[0]["values"] == ["japaneast", "japanwest"] and bool(region.iloc[0]["effective"])
    assert region.iloc[0]["scope"].endswith("/managementGroups/mg-prod")
    custom = region.iloc[1]   # custom location policy whose effect parameter is Audit: present, not preventive
    assert custom["values"] == ["japaneast", "japanwest"] and not bool(custom["effective"])
    assert _rows(tenant.inventory.coverage, source="arm:policyDefinitions")["account_id"].tolist() == [PROD]
    assert set(_rows(g, kind="public_access_block")["account_id"]) == {PROD, DEV}
    for kind in ("threat_detection", "security_contact", "security_alerting"):
        rows = _rows(g, kind=kind)
        assert set(rows["account_id"]) == {PROD, DEV} and rows["effective"].astype(bool).all(), kind
    lockbox = _rows(g, kind="provider_access_approval").iloc[0]
    assert lockbox["account_id"] == TENANT and bool(lockbox["effective"])
    mirrored = _rows(tenant.inventory.coverage, table="guardrails.mfa_required", source="graph:conditionalAccessPolicies")
    assert set(mirrored["account_id"]) == {TENANT, PROD, DEV, LAB} and (mirrored["status"] == "ok").all()
    mfa = _rows(g, kind="mfa_required", account_id=TENANT)
    assert sorted(mfa["effective"].astype(bool).tolist()) == [False, True]   # security defaults off, CA policy on
    assert "62e90394-69f5-4237-9190-012177145e10" in mfa[mfa["effective"].astype(bool)].iloc[0]["values"]


def test_audit_logs_resolve_destination_workspace(tenant):
    logs = tenant.inventory.audit_logs.set_index("account_id")
    assert set(logs.index) == {PROD, DEV, TENANT}
    assert bool(logs.loc[PROD, "management_events"]) and bool(logs.loc[PROD, "enabled"])
    assert logs.loc[PROD, "destination_region"] == "japaneast" and logs.loc[PROD, "retention_days"] == 400
    assert logs.loc[TENANT, "scope"] == "organization"


def test_credentials_from_app_registrations_and_storage_keys(tenant):
    creds = tenant.inventory.credentials.set_index("credential_id")
    secret = creds.loc["d0000000-0000-4000-8000-000000000001"]
    assert secret["kind"] == "client_secret" and secret["principal_id"] == "7c000000-0000-4000-8000-000000000001"
    assert secret["account_id"] == TENANT and not bool(secret["active"])   # expired before the collection
    assert creds.loc["d0000000-0000-4000-8000-000000000002", "kind"] == "certificate"
    keys = creds[creds["kind"] == "storage_account_key"]
    active = {i.split("/")[-1]: bool(a) for i, a in keys["active"].items()}
    assert active == {"stjpdata01#key1": False, "stjpdata01#key2": False, "stpublicweb#key1": True,
                      "stpublicweb#key2": True, "stgrshk#key1": False, "stgrshk#key2": False}   # shared-key access off
    # Nothing reports when these were last used: checks that need it must say ERROR, not "never used".
    last_use = _rows(tenant.inventory.coverage, table="credentials.last_used")
    assert set(last_use["account_id"]) == {TENANT, PROD, DEV, LAB} and (last_use["status"] == "unsupported").all()


# ----------------------------------------------------------------------------- coverage and fail-closed

def test_every_account_has_coverage_for_every_table(tenant):
    cov = tenant.inventory.coverage
    for account in (TENANT, PROD, DEV, LAB):
        tables = set(cov[cov["account_id"] == account]["table"].str.partition(".")[0])
        assert tables >= set(TABLES) - {"coverage"}, (account, set(TABLES) - tables)


def test_forbidden_subscription_is_denied_everywhere_it_was_tried(tenant):
    cov = tenant.inventory.coverage
    lab = cov[cov["account_id"] == LAB]
    tenant_wide = ("graph:", "arm:subscriptions", "arm:managementGroups", "arm:customerLockbox", "azure:credential-last-use")
    subscription_sources = lab[~lab["source"].str.startswith(tenant_wide)]
    assert len(subscription_sources) > 20
    assert (subscription_sources["status"] == "denied").all()
    assert _rows(lab, table="resources", source="arg:storage")["message"].str.contains("no read access").all()
    ok_elsewhere = cov[cov["account_id"].isin([PROD, DEV]) & (cov["table"] == "resources")]
    assert (ok_elsewhere["status"] == "ok").all()


def test_denied_subscription_yields_error_findings_never_pass(tenant):
    f = tenant.findings
    lab = f[f["account_id"] == LAB]
    assert not lab.empty and set(lab["status"]) == {"ERROR"}
    for check_id in ("RES-001", "ISL-003", "RES-006", "ISL-001"):
        rows = lab[lab["check_id"] == check_id]
        assert len(rows) == 1 and "denied" in rows.iloc[0]["reason"], check_id


def test_missing_p2_licence_makes_standing_access_unsupported_and_checks_error():
    with AzureSampleTenant(licences=("p1",), throttle=False) as fake:
        inventory = normalize(collect(fake.options(data_access_logging=False)))
    cov = inventory.coverage
    pim = _rows(cov, account_id=TENANT, table="grants.standing", source="graph:roleEligibilitySchedules").iloc[0]
    assert pim["status"] == "unsupported" and "license" in pim["message"]
    arm_pim = _rows(cov, account_id=PROD, source="arm:roleAssignmentScheduleInstances").iloc[0]
    assert arm_pim["status"] == "unsupported"
    findings = run_checks(inventory, checks=["AUTH-007", "AUTH-004"]).df
    readable = findings[findings["account_id"].isin([TENANT, PROD, DEV])]
    standing = readable[readable["check_id"] == "AUTH-007"]
    assert set(standing["status"]) == {"ERROR"} and {TENANT, PROD, DEV} == set(standing["account_id"])
    assert standing["reason"].str.contains("license").all()
    # only the check that reads grants.standing is blocked; MFA of admins is still judged
    mfa = readable[readable["check_id"] == "AUTH-004"]
    assert len(mfa) and "ERROR" not in set(mfa["status"]) and "FAIL" in set(mfa["status"])


def test_missing_p1_licence_keeps_users_and_marks_columns_unsupported():
    with AzureSampleTenant(licences=(), throttle=False) as fake:
        inventory = normalize(collect(fake.options()))
    cov = inventory.coverage
    sign_in = _rows(cov, account_id=TENANT, table="principals.last_active").iloc[0]
    assert sign_in["status"] == "unsupported"
    assert _rows(cov, account_id=TENANT, table="principals", source="graph:users").iloc[0]["status"] == "ok"
    # The fake answers conditional access with 403 AccessDenied (a licence message, no licence error
    # code): denied, like any 403 that is not a licence error code; still a gap, never a pass.
    ca = _rows(cov, account_id=TENANT, source="graph:conditionalAccessPolicies").iloc[0]
    assert ca["status"] == "denied" and "premium license" in ca["message"]
    principals = inventory.principals
    assert len(principals[principals["kind"].isin(["user", "guest"])]) == 5 and principals["last_active"].isna().all()
    # The tenant-wide gap is mirrored onto each subscription so per-subscription checks fail closed too.
    assert _rows(cov, account_id=PROD, table="principals.last_active").iloc[0]["status"] == "unsupported"
    findings = run_checks(inventory, checks=["ISL-008", "AUTH-005"]).df
    isl8 = findings[findings["check_id"] == "ISL-008"]
    assert set(isl8["status"]) == {"ERROR"}
    # Conditional access is tenant-wide: its gap reaches every subscription, so AUTH-005 never passes on
    # security defaults alone.
    auth5 = findings[findings["check_id"] == "AUTH-005"]
    assert set(auth5["status"]) == {"ERROR"} and {TENANT, PROD, DEV} <= set(auth5["account_id"])


def test_p2_licence_reads_pim_eligibility_and_activations(tenant):
    g = tenant.inventory.grants
    eligible = _rows(g, account_id=TENANT, role="Privileged Role Administrator").iloc[0]
    assert not bool(eligible["standing"]) and eligible["privilege"] == "admin"
    activated = _rows(g, account_id=DEV, principal_id="5e000000-0000-4000-8000-000000000003").iloc[0]
    assert not bool(activated["standing"])
    standing = _rows(tenant.inventory.coverage, table="grants.standing")
    assert set(standing[standing["account_id"] != LAB]["status"]) == {"ok"}


# ----------------------------------------------------------------------------- findings by catalog id

def test_seeded_problems_are_found_with_catalog_ids(tenant):
    f = tenant.findings.assign(short=lambda d: _name(d["resource_id"]))
    failed = set(zip(f[f["status"] == "FAIL"]["check_id"], f[f["status"] == "FAIL"]["short"]))
    expected = {
        ("AUTH-001", "5e000000-0000-4000-8000-000000000002"),   # Global Administrator without MFA
        ("AUTH-004", "5e000000-0000-4000-8000-000000000002"),
        ("ISL-006", "5e000000-0000-4000-8000-000000000004"),    # guest Owner
        ("ISL-006", "4d000000-0000-4000-8000-000000000001"),    # Lighthouse delegation to another tenant
        ("ISL-001", "stpublicweb"),                             # blob public access allowed
        ("RES-003", "stgrshk"),                                 # GRS copy in southeastasia (SG)
        ("RES-001", "stgrshk"),
        ("RES-001", "vm-us01_OsDisk_1"),                        # VM (and its disk) in westus
        ("ISL-012", "vm-us01"),
        ("ISL-003", "nsg-jp01"),                                # RDP open to the Internet
        ("RES-006", DEV),                                       # no allowed-locations assignment
        ("ISL-004", "sql-dev01"),                               # open to all Azure tenants
        ("LCM-003", "5e000000-0000-4000-8000-000000000005"),    # disabled user in an admin group
        ("ENC-003", "rsv-cmk"),                                 # customer-managed key without rotation
    }
    assert expected <= failed, expected - failed
    passed = set(zip(f[f["status"] == "PASS"]["check_id"], f[f["status"] == "PASS"]["short"]))
    assert {("AUTH-005", PROD), ("AUTH-005", DEV), ("CSP-001", PROD)} <= passed   # CA policy, Customer Lockbox
    assert {("RES-001", "stjpdata01"), ("ISL-001", "stjpdata01"), ("RES-006", PROD),
            ("AUTH-001", "5e000000-0000-4000-8000-000000000001"), ("RES-003", "stjpdata01")} <= passed
    assert ("AUTH-007", "5e000000-0000-4000-8000-000000000002") in failed        # standing Global Administrator
    assert ("AUTH-007", "5e000000-0000-4000-8000-000000000003") in passed        # PIM-eligible only
    # Nothing the identity could read turned into ERROR: only the forbidden subscription errs.
    errors = f[f["status"] == "ERROR"]
    assert set(errors["account_id"]) == {LAB}


# ----------------------------------------------------------------------------- wire behaviour

def test_only_reads_reach_the_wire(tenant):
    assert non_read_requests(tenant.fake) == []
    assert any(r[0] == "POST" and r[1] == ARG_PATH for r in tenant.fake.requests)


def test_write_detector_catches_a_write():
    with AzureSampleTenant(throttle=False) as fake:
        from azure.core.rest import HttpRequest

        clients = Clients.from_options(fake.options())
        pipeline = clients._pipeline(clients.arm)
        response = pipeline.send_request(HttpRequest("PUT", pipeline.format_url(f"/subscriptions/{PROD}/resourcegroups/x")))
        assert response.status_code == 405
        assert [r[:2] for r in non_read_requests(fake)] == [("PUT", f"/subscriptions/{PROD}/resourcegroups/x")]


def test_every_paged_source_was_followed(tenant):
    paged = {path for method, path, query in tenant.fake.requests if "skiptoken" in query.lower()}
    for path in ("/subscriptions", f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleAssignments",
                 f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleDefinitions",
                 "/v1.0/users", "/v1.0/reports/authenticationMethods/userRegistrationDetails",
                 "/v1.0/roleManagement/directory/roleAssignments", "/v1.0/roleManagement/directory/roleDefinitions"):
        assert path in paged, path
    # Resource Graph: one query per family (+ the visibility probe), one more POST per extra $skipToken page.
    data = sample_data()
    readable = {PROD, DEV}
    pages = max(1, math.ceil(len(readable) / 2))   # the visibility probe
    for types, _ in FAMILIES.values():
        n = sum(1 for r in data["resources"]["rows"] if r["type"] in types and r["subscriptionId"] in readable)
        pages += max(1, math.ceil(n / 2))
    posts = [r for r in tenant.fake.requests if r[0] == "POST" and r[1] == ARG_PATH]
    assert len(posts) == pages
    storage = tenant.collection.find("arg:storage")[0].data["rows"]
    assert len(storage) == 3   # page size 2: only reachable through $skipToken


def test_throttled_call_is_retried_after_retry_after(tenant):
    route = "/reports/authenticationMethods/userRegistrationDetails"
    assert tenant.fake.throttled == [route]
    first_pages = [r for r in tenant.fake.requests if r[1] == "/v1.0" + route and "skiptoken" not in r[2].lower()]
    assert len(first_pages) == 2
    mfa = _rows(tenant.inventory.coverage, account_id=TENANT, table="principals.mfa").iloc[0]
    assert mfa["status"] == "ok"


def test_tokens_are_requested_for_the_configured_endpoints(tenant):
    assert tenant.credential.scopes and set(tenant.credential.scopes) == {f"{tenant.fake.url}/.default"}
    identity = tenant.collection.meta["identity"]   # from the token's claims, for the bundle manifest
    assert identity == {"tenant_id": TENANT, "object_id": "a0d17000-0000-4000-8000-00000000a0d1",
                        "app_id": "a0d17000-0000-4000-8000-0000000a0d17", "identity_type": "app"}


def test_real_client_secret_credential_against_the_token_endpoint():
    from azure.identity import ClientSecretCredential

    with AzureSampleTenant(throttle=False) as fake:
        credential = ClientSecretCredential(TENANT, "audit-app", "not-a-secret", authority=fake.url,
                                            disable_instance_discovery=True, connection_verify=fake.ca_path)
        inventory = normalize(collect(fake.options(credential=credential)))
        token_calls = [r for r in fake.requests if r[1] == f"/{TENANT}/oauth2/v2.0/token"]
    assert token_calls and all(r[0] == "POST" for r in token_calls)
    assert set(inventory.tenants["account_id"]) == {TENANT, PROD, DEV, LAB}
    assert len(inventory.principals) >= 5


def test_cli_scan_with_the_default_credential_chain(tmp_path, monkeypatch):
    from cloudaudit.cli import main

    with AzureSampleTenant(throttle=False) as fake:
        for key, value in {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "audit-app", "AZURE_CLIENT_SECRET": "x",
                           "AZURE_AUTHORITY_HOST": fake.url, "REQUESTS_CA_BUNDLE": fake.ca_path}.items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "findings.json"
        code = main(["scan", "--provider", "azure", "--output", str(out), "--check", "RES-001", "--check", "RES-003",
                     "--option", f"azure.arm_endpoint={fake.url}", "--option", f"azure.graph_endpoint={fake.url}",
                     "--option", f"azure.authority={fake.url}", "--option", f"azure.connection_verify={fake.ca_path}",
                     "--option", "azure.disable_instance_discovery=true"])
        assert any(r[1].endswith("/oauth2/v2.0/token") for r in fake.requests)
    assert out.is_file() and "stgrshk" in out.read_text(encoding="utf-8")
    assert code in (0, 1)


# ----------------------------------------------------------------------------- options and replay

def test_subscriptions_option_limits_collection_and_flags_unknown_ids():
    missing = "dddddddd-0000-4000-8000-000000000004"
    with AzureSampleTenant(throttle=False) as fake:
        inventory = normalize(collect(fake.options(subscriptions=[PROD, missing], data_access_logging=False)))
        assert not any("diagnosticSettings" in r[1] and "/resourceGroups/" in r[1] for r in fake.requests)
    skipped = _rows(inventory.coverage, account_id=PROD, table="resources.data_access_logging").iloc[0]
    assert skipped["status"] == "unsupported" and inventory.resources["data_access_logging"].isna().any()
    assert set(inventory.resources["account_id"]) == {PROD}
    assert set(inventory.tenants["account_id"]) == {TENANT, PROD}
    row = _rows(inventory.coverage, account_id=missing).iloc[0]
    assert (row["table"], row["status"]) == ("*", "error") and "not visible" in row["message"]


def test_cloud_endpoints_and_option_errors():
    china = Clients.from_options({"cloud": "china", "credential": StaticToken()})
    assert (china.arm, china.graph, china.authority) == ("https://management.chinacloudapi.cn",
                                                         "https://microsoftgraph.chinacloudapi.cn",
                                                         "https://login.chinacloudapi.cn")
    usgov = Clients.from_options({"cloud": "usgov", "credential": StaticToken()})
    assert usgov.arm == "https://management.usgovcloudapi.net" and usgov.graph == "https://graph.microsoft.us"
    custom = Clients.from_options({"credential": StaticToken(), "arm_endpoint": "https://arm.example/",
                                   "connection_verify": "/etc/ca.pem"})
    assert custom.arm == "https://arm.example" and custom.connection_verify == "/etc/ca.pem"
    with pytest.raises(ProviderError, match="unknown cloud 'mars'"):
        Clients.from_options({"cloud": "mars", "credential": StaticToken()})
    with pytest.raises(ProviderError, match="arm_endpoint must be an https"):
        Clients.from_options({"arm_endpoint": "http://127.0.0.1:1", "credential": StaticToken()})
    with pytest.raises(ProviderError, match="TokenCredential"):
        Clients.from_options({"credential": "secret"})
    default = Clients.from_options({})
    assert type(default.credential).__name__ == "DefaultAzureCredential"


def test_unreachable_tenant_is_one_clear_error():
    with AzureSampleTenant(throttle=False) as fake:
        options = fake.options(retry_total=0)
        url = fake.url
    with pytest.raises(ProviderError, match="cannot read the tenant or any subscription"):
        collect({**options, "tenant_id": None, "arm_endpoint": url})


def test_bundle_replay_gives_the_same_inventory(tenant, tmp_path):
    path = write_bundle([tenant.collection], tmp_path / "azure.zip")
    replayed = cloudaudit.load_bundle(path)
    for table in TABLES:
        pd.testing.assert_frame_equal(replayed[table], tenant.inventory[table], check_like=False, obj=table)


# ----------------------------------------------------------------------------- normalization edge cases (pure)

def _collection(*records: tuple[str, str, object]):
    from cloudaudit.providers.base import Collection

    c = Collection("azure", meta={"tenant_id": TENANT})
    for account, source, data in records:
        c.add(account, "global", source, data)
    return c


def _arg(*rows: dict) -> tuple[str, str, object]:
    return (TENANT, "arg:test", {"query": "q", "subscriptions": [PROD], "rows": list(rows)})


def _res(name: str, rtype: str, location: str = "japaneast", **props) -> dict:
    return {"id": f"/subscriptions/{PROD}/resourceGroups/rg/providers/{rtype}/{name}", "name": name, "type": rtype.lower(),
            "location": location, "subscriptionId": PROD, "tags": {}, "properties": props}


def test_policy_enforcement_mode_and_not_scopes_decide_effectiveness():
    base = {"policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c",
            "scope": "/providers/Microsoft.Management/managementGroups/mg", "parameters":
            {"listOfAllowedLocations": {"value": ["JapanEast"]}}}
    assignments = [{"id": "a1", "properties": {**base, "enforcementMode": "DoNotEnforce"}},
                   {"id": "a2", "properties": {**base, "enforcementMode": "Default", "notScopes": [f"/subscriptions/{PROD}"]}},
                   {"id": "a3", "properties": {**base, "enforcementMode": "Default"}}]
    g = normalize(_collection((PROD, "arm:policyAssignments", assignments))).guardrails
    assert g["effective"].astype(bool).tolist() == [False, False, True]
    assert g.iloc[2]["values"] == ["japaneast"]


def test_allowed_locations_inside_an_initiative_counts_as_region_restriction():
    set_id = "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/policySetDefinitions/baseline"
    initiative = {"properties": {"parameters": {"regions": {"type": "Array", "defaultValue": ["westus"]}},
                                 "policyDefinitions": [
                                     {"policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/"
                                                            "e56962a6-4747-49cd-b67b-bf8b01975c4c",
                                      "parameters": {"listOfAllowedLocations": {"value": "[parameters('regions')]"}}}]}}
    assignment = {"id": "a", "properties": {"policyDefinitionId": set_id, "scope": f"/subscriptions/{PROD}",
                                            "enforcementMode": "Default",
                                            "parameters": {"regions": {"value": ["japaneast"]}}}}
    defaults = {"id": "b", "properties": {**assignment["properties"], "parameters": {}}}
    g = normalize(_collection((PROD, "arm:policyAssignments", [assignment, defaults]),
                              (TENANT, "arm:policyDefinitions", {"id": set_id, "definition": initiative}))).guardrails
    assert g["values"].tolist() == [["japaneast"], ["westus"]] and g["effective"].astype(bool).all()
    unknown = normalize(_collection((PROD, "arm:policyAssignments", [assignment]))).guardrails
    assert unknown.empty   # definition not read: no guardrail is claimed


def test_storage_without_secondary_location_uses_the_paired_region():
    locations = [{"name": "brazilsouth", "metadata": {"regionType": "Physical",
                                                      "pairedRegion": [{"name": "southcentralus"}]}}]
    account = {**_res("stbr", "Microsoft.Storage/storageAccounts", "brazilsouth",
                      encryption={"keySource": "Microsoft.Storage"}), "sku": {"name": "Standard_RAGZRS"}}
    inv = normalize(_collection((PROD, "arm:locations", locations), _arg(account)))
    assert inv.replicas[["source_region", "target_region", "kind"]].values.tolist() == \
        [["brazilsouth", "southcentralus", "geo_pair"]]
    assert pd.isna(inv.resources.iloc[0]["public_read"])   # allowBlobPublicAccess absent: unknown, not False


def test_nsg_wildcards_default_rules_and_sql_firewall_ranges():
    nsg = _res("nsg", "Microsoft.Network/networkSecurityGroups",
               securityRules=[{"name": "any", "properties": {"protocol": "*", "sourceAddressPrefix": "Any",
                                                             "destinationPortRange": "*", "access": "Allow",
                                                             "direction": "Inbound"}}],
               defaultSecurityRules=[{"name": "DenyAllInBound", "properties": {
                   "protocol": "*", "sourceAddressPrefix": "*", "destinationPortRange": "*", "access": "Deny",
                   "direction": "Inbound"}}])
    server = _res("sqlopen", "Microsoft.Sql/servers", publicNetworkAccess="Enabled")
    closed = _res("sqlclosed", "Microsoft.Sql/servers", publicNetworkAccess="Disabled")
    everyone = [{"name": "all", "properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}}]
    inv = normalize(_collection(_arg(nsg, server, closed),
                                (PROD, "arm:sqlFirewallRules", {"server": server["id"], "rules": everyone}),
                                (PROD, "arm:sqlFirewallRules", {"server": closed["id"], "rules": everyone})))
    rules = inv.network_rules.set_index("rule_id")
    assert (rules.loc["any", "source"], rules.loc["any", "protocol"]) == ("*", "all")
    assert pd.isna(rules.loc["any", "port_from"]) and rules.loc["DenyAllInBound", "action"] == "deny"
    assert set(rules.loc["all", "source"]) == {"0.0.0.0/0"}
    res = inv.resources.set_index("name")
    assert bool(res.loc["sqlopen", "network_open"]) and not bool(res.loc["sqlclosed", "network_open"])
    assert not bool(res.loc["nsg", "is_default"])


def test_public_access_needs_a_public_container():
    account = {**_res("stallow", "Microsoft.Storage/storageAccounts", allowBlobPublicAccess=True)}
    private = [{"name": "c", "properties": {"publicAccess": "None"}}]
    inv = normalize(_collection(_arg(account), (PROD, "arm:blobContainers", {"account": account["id"], "containers": private})))
    assert not bool(inv.resources.iloc[0]["public_read"])
    unread = normalize(_collection(_arg(account))).resources.iloc[0]
    assert bool(unread["public_read"])   # containers not read: the account-level allowance stands


def test_custom_role_privilege_from_actions():
    def definition(guid: str, actions: list[str], not_actions: list[str] = ()) -> dict:
        return {"id": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleDefinitions/{guid}", "name": guid,
                "properties": {"roleName": f"custom-{guid[:4]}", "type": "CustomRole",
                               "permissions": [{"actions": actions, "notActions": list(not_actions)}]}}

    def assignment(guid: str) -> dict:
        return {"id": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleAssignments/{guid}",
                "properties": {"roleDefinitionId": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                               "principalId": f"p-{guid}", "principalType": "ServicePrincipal", "scope": f"/subscriptions/{PROD}"}}

    guids = ["aaaa0001", "bbbb0002", "cccc0003", "dddd0004"]
    defs = [definition(guids[0], ["*"]), definition(guids[1], ["*"], ["Microsoft.Authorization/*/Write"]),
            definition(guids[2], ["Microsoft.Compute/*/read"]), definition(guids[3], ["Microsoft.Authorization/roleAssignments/write"])]
    inv = normalize(_collection((PROD, "arm:roleDefinitions", defs),
                                (PROD, "arm:roleAssignments", [assignment(g) for g in guids])))
    assert inv.grants["privilege"].tolist() == ["admin", "write", "read", "admin"]


def test_mfa_levels_and_workload_tenancy():
    users = [{"id": u, "userPrincipalName": f"{u}@contoso.co.jp", "userType": "Member", "accountEnabled": True}
             for u in ("hw", "none-registered", "no-record")]
    details = [{"id": "hw", "isMfaRegistered": True, "methodsRegistered": ["hardwareOneTimePasscode", "email"]},
               {"id": "none-registered", "isMfaRegistered": False, "methodsRegistered": ["email"]}]
    sps = [{"id": "foreign", "displayName": "partner-app", "appOwnerOrganizationId": "22222222-3333-4444-8555-666666666666"},
           {"id": "ms", "displayName": "Microsoft Graph", "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a"}]
    inv = normalize(_collection((TENANT, "graph:users", users), (TENANT, "graph:userRegistrationDetails", details),
                                (TENANT, "graph:servicePrincipals", sps)))
    p = inv.principals.set_index("principal_id")
    assert (p.loc["hw", "mfa"], p.loc["none-registered", "mfa"], p.loc["no-record", "mfa"]) == ("hardware", "none", "unknown")
    assert bool(p.loc["foreign", "external"]) and not bool(p.loc["ms", "external"])
    unread = normalize(_collection((TENANT, "graph:users", users))).principals
    assert unread["mfa"].isna().all()   # registration report not read: unknown, never 'none'


def test_normalize_is_deterministic(tenant):
    again = normalize(tenant.collection)
    for table in TABLES:
        pd.testing.assert_frame_equal(again[table], tenant.inventory[table], obj=table)


def test_truncated_resource_graph_result_is_an_error_not_a_short_inventory():
    with AzureSampleTenant(throttle=False) as fake:
        fake.truncate_graph = True
        inventory = normalize(collect(fake.options(data_access_logging=False)))
    storage = _rows(inventory.coverage, table="resources", source="arg:storage")
    assert set(storage["account_id"]) == {PROD, DEV, LAB}
    # 3 storage accounts need a second page: the whole batch's storage data is unusable.
    assert (storage["status"] == "error").all() and storage["message"].str.contains("truncated").all()
    vms = _rows(inventory.coverage, account_id=PROD, table="resources", source="arg:vms").iloc[0]
    assert vms["status"] == "ok"   # two VMs fit on one page
    assert "stgrshk" not in set(inventory.resources["name"])


def test_next_links_to_another_host_are_not_followed():
    with AzureSampleTenant(throttle=False) as fake:
        fake.link_base = "https://evil.invalid"   # every next-page link now leaves the service
        inventory = normalize(collect(fake.options(data_access_logging=False, retry_total=0)))
    users = _rows(inventory.coverage, account_id=TENANT, table="principals", source="graph:users").iloc[0]
    assert users["status"] == "error" and "evil.invalid" in users["message"]
    assert inventory.principals[inventory.principals["kind"] == "user"].empty


def test_endpoints_and_ca_bundle_from_the_policy_file(tmp_path):
    from cloudaudit.policy import load_policy

    with AzureSampleTenant(throttle=False) as fake:
        policy_file = tmp_path / "policy.toml"
        policy_file.write_text(
            "[residency]\nallowed_countries = [\"JP\"]\n\n[providers.azure]\n"
            f"arm_endpoint = \"{fake.url}\"\ngraph_endpoint = \"{fake.url}\"\nauthority = \"{fake.url}\"\n"
            f"connection_verify = \"{fake.ca_path}\"\nsubscriptions = [\"{PROD}\"]\nmax_workers = 2\n"
            "data_access_logging = false\n", encoding="utf-8")
        inventory = cloudaudit.collect("azure", policy=load_policy(policy_file),
                                       options={"azure": {"credential": StaticToken()}})
    assert set(inventory.resources["account_id"]) == {PROD}
    assert (inventory.resources["provider"] == "azure").all() and len(inventory.principals) >= 5


def test_external_single_worker_executor_and_progress():
    from concurrent.futures import ThreadPoolExecutor

    calls = []
    with AzureSampleTenant(throttle=False) as fake, ThreadPoolExecutor(max_workers=1) as pool:
        collection = collect(fake.options(data_access_logging=False, subscriptions=[PROD, DEV]), executor=pool,
                             progress=lambda done, total, label: calls.append((done, total, label)))
        assert pool.submit(lambda: 42).result() == 42   # the caller's executor is left running
    assert calls[-1] == (3, 3, "azure") and [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert {r.account_id for r in collection.find("arm:locations")} == {PROD, DEV}


def test_unread_role_definition_or_key_protector_is_unknown_not_compliant():
    # An assignment of a custom role whose definition was not read: privilege unknown, never 'read'.
    guid = "eeee0005"
    assignment = {"id": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleAssignments/{guid}",
                  "properties": {"roleDefinitionId": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/"
                                                     f"roleDefinitions/{guid}",
                                 "principalId": "p", "principalType": "User", "scope": f"/subscriptions/{PROD}"}}
    grants = normalize(_collection((PROD, "arm:roleAssignments", [assignment]))).grants
    assert pd.isna(grants.iloc[0]["privilege"])
    # The same for an Entra directory role whose definition was not read (it may be privileged).
    directory = [{"id": "d1", "principalId": "u1", "roleDefinitionId": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
                  "directoryScopeId": "/"}]
    grants = normalize(_collection((TENANT, "graph:directoryRoleAssignments", directory))).grants
    assert pd.isna(grants.iloc[0]["privilege"])
    # A database with TDE on whose server key protector was not read: encryption unknown, not 'provider'.
    server = _res("sql1", "Microsoft.Sql/servers")
    database = {**_res("sql1/databases/db", "Microsoft.Sql/servers/databases"), "id": f"{server['id']}/databases/db"}
    tde = {"database": database["id"], "tde": {"properties": {"state": "Enabled"}}}
    res = normalize(_collection(_arg(server, database), (PROD, "arm:sqlTransparentDataEncryption", tde))).resources
    assert res.set_index("resource_id").loc[database["id"], "encryption"] == "unknown"
    protector = {"server": server["id"], "protector": {"properties": {"serverKeyType": "ServiceManaged"}}}
    res = normalize(_collection(_arg(server, database), (PROD, "arm:sqlTransparentDataEncryption", tde),
                                (PROD, "arm:sqlEncryptionProtector", protector))).resources
    assert res.set_index("resource_id").loc[database["id"], "encryption"] == "provider"


def test_unknown_lighthouse_role_is_unknown_privilege_not_write():
    """A delegated role that is neither a known built-in nor read in the subscription's role
    definitions grants an unknown privilege (<NA>), never a guessed 'write'."""
    def assignment(guid: str) -> dict:
        return {"id": f"/subscriptions/{DEV}/providers/Microsoft.ManagedServices/registrationAssignments/{guid}",
                "properties": {"registrationDefinition": {
                    "id": f"/subscriptions/{DEV}/providers/Microsoft.ManagedServices/registrationDefinitions/{guid}",
                    "properties": {"managedByTenantId": "22222222-3333-4444-8555-666666666666", "authorizations": [
                        {"principalId": "p1", "roleDefinitionId": guid}]}}}}

    unknown, custom = "eeee0006", "eeee0007"
    definition = {"id": f"/subscriptions/{DEV}/providers/Microsoft.Authorization/roleDefinitions/{custom}",
                  "name": custom, "properties": {"roleName": "Owner-like", "permissions": [{"actions": ["*"]}]}}
    trusts = normalize(_collection((DEV, "arm:registrationAssignments", [assignment(unknown), assignment(custom)]),
                                   (DEV, "arm:roleDefinitions", [definition]))).trusts
    privilege = dict(zip(trusts["role_id"].str.rsplit("/", n=1).str[-1], trusts["privilege"]))
    assert pd.isna(privilege[unknown]) and privilege[custom] == "admin"


def test_failed_tenant_listing_is_a_coverage_row_when_subscriptions_are_listed():
    with AzureSampleTenant(throttle=False) as fake:
        fake.errors["/tenants"] = (403, "AuthorizationFailed", "The client may not list tenants.")
        inventory = normalize(collect(fake.options(data_access_logging=False, subscriptions=[PROD])))
    row = _rows(inventory.coverage, account_id=TENANT, source="arm:tenants").iloc[0]
    assert (row["table"], row["status"]) == ("tenants.name", "denied") and "AuthorizationFailed" in row["message"]
    assert PROD in set(inventory.tenants["account_id"])


def test_only_a_licence_error_code_is_unsupported_other_403s_are_denied():
    """A 403 whose text mentions a licence or 'premium' is still 'denied'; only the licence error
    codes (AadPremiumLicenseRequired, ...NonPremiumTenant...) are 'unsupported'."""
    with AzureSampleTenant(throttle=False) as fake:
        fake.errors["/v1.0/groups"] = (403, "Authorization_RequestDenied",
                                       "Insufficient privileges; premium features need Directory.Read.All.")
        fake.errors["/v1.0/applications"] = (403, "AadPremiumLicenseRequired", "Entra ID P1 is required.")
        fake.errors[f"/subscriptions/{PROD}/providers/microsoft.security/pricings"] = (
            403, "AuthorizationFailed", "No access to the Defender premium (licensed) plans of this subscription.")
        inventory = normalize(collect(fake.options(data_access_logging=False, subscriptions=[PROD])))
    cov = inventory.coverage
    assert _rows(cov, account_id=TENANT, source="graph:groups").iloc[0]["status"] == "denied"
    assert _rows(cov, account_id=TENANT, source="graph:applications").iloc[0]["status"] == "unsupported"
    assert _rows(cov, account_id=PROD, source="arm:pricings").iloc[0]["status"] == "denied"
