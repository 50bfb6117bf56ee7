"""Read-only collection of a whole Entra tenant: ARM, Azure Resource Graph and Microsoft Graph.

Every call is a GET, except Resource Graph's query POST. Every raw payload is kept with
``collection.add`` and every (table, source, account) tried gets a coverage row, so
``normalize`` can be pure and the engine can fail closed.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Callable, Iterable

from ...errors import ProviderError
from ..base import Attempt, Collection, Progress, attempt, classify_error, no_progress, read
from .clients import Clients

PROVIDER = "azure"
GLOBAL = "global"
ARG_BATCH = 1000   # Resource Graph accepts at most 1000 subscriptions per query

# Resource Graph families: one paged query each across all subscriptions.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (ARM types, inventory tables the family feeds)
    "storage": (("microsoft.storage/storageaccounts",), ("resources", "tags", "replicas", "credentials")),
    "disks": (("microsoft.compute/disks", "microsoft.compute/snapshots"), ("resources", "tags")),
    "sql": (("microsoft.sql/servers", "microsoft.sql/servers/databases"), ("resources", "tags", "replicas")),
    "cosmosdb": (("microsoft.documentdb/databaseaccounts",), ("resources", "tags", "replicas")),
    "keyvaults": (("microsoft.keyvault/vaults",), ("resources", "tags")),
    "recovery_vaults": (("microsoft.recoveryservices/vaults",), ("resources", "tags", "replicas")),
    "nsgs": (("microsoft.network/networksecuritygroups",), ("resources", "tags", "network_rules")),
    "vms": (("microsoft.compute/virtualmachines",), ("resources", "tags")),
    "workspaces": (("microsoft.operationalinsights/workspaces",), ("resources", "tags")),
    "activity_log_alerts": (("microsoft.insights/activitylogalerts",), ("guardrails",)),
}
ARG_COLUMNS = "id, name, type, location, subscriptionId, resourceGroup, tags, sku, kind, managedBy, properties"
SUBSCRIPTIONS_QUERY = ("resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
                       "| project subscriptionId, name")

API = {"managementGroups": "2021-04-01", "roleAssignments": "2022-04-01", "roleDefinitions": "2022-04-01",
       "policyAssignments": "2022-06-01", "diagnosticSettings": "2021-05-01-preview",
       "registrationAssignments": "2022-10-01", "firewallRules": "2021-11-01", "aadiam": "2017-04-01",
       "roleAssignmentScheduleInstances": "2020-10-01", "pricings": "2024-01-01",
       "securityContacts": "2023-12-01-preview", "storage": "2023-05-01", "keyVault": "2023-07-01",
       "lockbox": "2018-02-28-preview", "policyDefinitions": "2023-04-01", "policySetDefinitions": "2023-04-01"}

# Per-subscription ARM lists: source -> (path under /subscriptions/{id}, api, tables, extra params)
SUBSCRIPTION_SOURCES: dict[str, tuple[str, str, tuple[str, ...], dict[str, str]]] = {
    "arm:roleAssignments": ("/providers/Microsoft.Authorization/roleAssignments", API["roleAssignments"], ("grants",), {}),
    "arm:roleAssignmentScheduleInstances": ("/providers/Microsoft.Authorization/roleAssignmentScheduleInstances",
                                            API["roleAssignmentScheduleInstances"], ("grants.standing",), {}),
    "arm:roleDefinitions": ("/providers/Microsoft.Authorization/roleDefinitions", API["roleDefinitions"], ("grants",), {}),
    "arm:policyAssignments": ("/providers/Microsoft.Authorization/policyAssignments", API["policyAssignments"], ("guardrails",), {}),
    "arm:diagnosticSettings": ("/providers/Microsoft.Insights/diagnosticSettings", API["diagnosticSettings"], ("audit_logs",), {}),
    "arm:pricings": ("/providers/Microsoft.Security/pricings", API["pricings"], ("guardrails",), {}),
    "arm:securityContacts": ("/providers/Microsoft.Security/securityContacts", API["securityContacts"], ("guardrails",), {}),
    "arm:registrationAssignments": ("/providers/Microsoft.ManagedServices/registrationAssignments",
                                    API["registrationAssignments"], ("trusts",), {"$expandRegistrationDefinition": "true"}),
}

# Microsoft Graph (tenant-wide) sources: source -> (path, params, tables)
USER_SELECT = "id,displayName,userPrincipalName,mail,userType,accountEnabled,createdDateTime,externalUserState"
GRAPH_SOURCES: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "graph:groups": ("/v1.0/groups", {"$select": "id,displayName,securityEnabled,mailEnabled,groupTypes,"
                     "isAssignableToRole,createdDateTime,onPremisesSyncEnabled"}, ("principals",)),
    "graph:userRegistrationDetails": ("/v1.0/reports/authenticationMethods/userRegistrationDetails", {}, ("principals.mfa",)),
    "graph:directoryRoleDefinitions": ("/v1.0/roleManagement/directory/roleDefinitions", {}, ("grants",)),
    "graph:directoryRoleAssignments": ("/v1.0/roleManagement/directory/roleAssignments", {}, ("grants",)),
    "graph:roleEligibilitySchedules": ("/v1.0/roleManagement/directory/roleEligibilitySchedules", {}, ("grants.standing",)),
    "graph:conditionalAccessPolicies": ("/v1.0/identity/conditionalAccess/policies", {}, ("guardrails.mfa_required",)),
    "graph:servicePrincipals": ("/v1.0/servicePrincipals", {"$select": "id,appId,displayName,accountEnabled,"
                                "servicePrincipalType,appOwnerOrganizationId,createdDateTime,passwordCredentials,keyCredentials"},
                                ("principals", "credentials")),
    "graph:applications": ("/v1.0/applications", {"$select": "id,appId,displayName,createdDateTime,passwordCredentials,"
                           "keyCredentials"}, ("credentials",)),
}
# Tables that only subscriptions hold: the tenant scope gets an 'ok, none here' row for them.
SUBSCRIPTION_ONLY = ("regions", "resources", "tags", "replicas", "network_rules", "trusts")
# Tables that only the tenant holds: each subscription mirrors the tenant's coverage for them.
TENANT_ONLY = ("principals",)
NO_LAST_USE = ("no API reports when an application secret / certificate (Graph v1.0) or a storage account key "
               "was last used")


# Service error codes that mean "the tenant's licence lacks this feature" (Entra ID P1 / P2).
LICENCE_CODES = frozenset({"AadPremiumLicenseRequired", "Authentication_RequestFromNonPremiumTenantOrB2CTenant"})


def _error_code(exc: BaseException) -> str:
    """The service error code: AzureHttpError.code, or azure-core HttpResponseError.error.code."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        code = getattr(getattr(exc, "error", None), "code", None)
    return code if isinstance(code, str) else ""


def _status(exc: BaseException) -> tuple[str, str]:
    """Coverage status for a failure; a missing Entra licence (by its error code, not by words in
    the message) is 'unsupported', every other 401/403 'denied'."""
    status, message = classify_error(exc)
    if _error_code(exc) in LICENCE_CODES:
        return "unsupported", message
    return status, message


class _Run:
    """State of one collection: clients, the Collection, and a guarded-call helper."""

    def __init__(self, clients: Clients, collection: Collection):
        self.clients = clients
        self.c = collection

    def call(self, account: str, tables: Iterable[str], source: str, fn: Callable[[], Any]) -> Any:
        """Run one read; record its payload and an ok row per table, or a failure row per table."""
        return read(self.c, account, tables, source, fn, record_region=GLOBAL, classify=_status)


def collect(options: dict[str, Any], *, executor: Executor | None = None,
            progress: Progress = no_progress) -> Collection:
    """Collect the tenant (see the package docstring for the options)."""
    options = dict(options or {})
    clients = Clients.from_options(options)
    collection = Collection(PROVIDER, meta={"cloud": options.get("cloud") or "public", "arm_endpoint": clients.arm,
                                            "graph_endpoint": clients.graph, "authority": clients.authority})
    run = _Run(clients, collection)
    owned = executor is None
    pool = executor or ThreadPoolExecutor(max_workers=int(options.get("max_workers") or 8),
                                          thread_name_prefix="cloudaudit-azure")
    try:
        _collect(run, options, pool, progress)
    finally:
        if owned:
            pool.shutdown(wait=True)
    return collection


def _collect(run: _Run, options: dict[str, Any], pool: Executor, progress: Progress) -> None:
    clients, c = run.clients, run.c
    sub_client = clients.subscriptions()
    listed_tenants = _try(lambda: [_raw(t) for t in sub_client.tenants.list()])
    listed_subs = _try(lambda: [_raw(s) for s in sub_client.subscriptions.list()])
    tenants, subs = listed_tenants.data, listed_subs.data
    tenant_id = (options.get("tenant_id") or (tenants[0].get("tenantId") if tenants else None)
                 or (subs[0].get("tenantId") if subs else None))
    if not tenant_id:
        failure = listed_subs.error or listed_tenants.error
        raise ProviderError(f"azure: cannot read the tenant or any subscription ({failure}); "
                            "check the credential or pass tenant_id")
    c.meta.update({"tenant_id": tenant_id, "identity": {"tenant_id": tenant_id, **_caller(clients)}})
    if listed_tenants.ok:
        c.add(tenant_id, GLOBAL, "arm:tenants", [t for t in tenants if t.get("tenantId") == tenant_id] or tenants)
    # when only the subscriptions named the tenant, what only the tenant listing gives is not known
    c.cover(tenant_id, None, "tenants.name", "arm:tenants", listed_tenants.status, listed_tenants.message)
    subs_ok = listed_subs.ok
    c.cover(tenant_id, None, "tenants", "arm:subscriptions", listed_subs.status, listed_subs.message)
    subs = [s for s in subs or [] if s.get("tenantId") in (None, tenant_id)]
    wanted = options.get("subscriptions")
    if wanted:
        wanted = [str(w) for w in wanted]
        for missing in sorted(set(wanted) - {s["subscriptionId"] for s in subs}):
            c.cover(missing, None, "*", "arm:subscriptions", "error",
                    "subscription not visible to this identity (not in GET /subscriptions)")
        subs = [s for s in subs if s["subscriptionId"] in wanted]
    if subs_ok:
        c.add(tenant_id, GLOBAL, "arm:subscriptions", subs)
    sub_ids = [s["subscriptionId"] for s in subs]
    for sid in sub_ids:
        c.cover(sid, None, "tenants", "arm:subscriptions", "ok")

    tree = _try(lambda: clients.arm_get(f"/providers/Microsoft.Management/managementGroups/{tenant_id}",
                                        API["managementGroups"], {"$expand": "children", "$recurse": "true"}))
    if tree.ok:
        c.add(tenant_id, GLOBAL, "arm:managementGroups", tree.data)
    for account in [tenant_id, *sub_ids]:
        c.cover(account, None, "tenants.parent_path", "arm:managementGroups", tree.status, tree.message)

    graph_jobs = [pool.submit(_graph, run, tenant_id)]
    total = len(sub_ids) + 1
    done = 0
    for _ in pool.map(lambda sid: _subscription(run, sub_client, sid), sub_ids):
        done += 1
        progress(done, total, "azure")
    _resource_graph(run, tenant_id, sub_ids, pool, data_logs=options.get("data_access_logging", True) is not False)
    for job in graph_jobs:
        job.result()
    _group_members(run, tenant_id, pool)
    _policy_definitions(run, tenant_id, pool)
    progress(total, total, "azure")
    _fill_scopes(c, tenant_id, sub_ids)


def _caller(clients: Clients) -> dict[str, Any]:
    """Who is auditing: the object / app id and name claims of the ARM access token (not verified;
    for the evidence manifest only)."""
    import base64
    import json

    try:
        token = clients.credential.get_token(f"{clients.arm}/.default").token
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:  # noqa: BLE001 - an opaque token simply names no caller
        return {}
    wanted = {"oid": "object_id", "appid": "app_id", "azp": "app_id", "upn": "user", "unique_name": "user",
              "idtyp": "identity_type"}
    return {name: claims[claim] for claim, name in wanted.items() if claim in claims}


def _raw(model: Any) -> Any:
    """The REST-shaped JSON of an SDK model (new dict-backed models and older msrest ones)."""
    if hasattr(model, "serialize"):
        return model.serialize(keep_readonly=True)
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return dict(model)


def _try(fn: Callable[[], Any]) -> Attempt:
    """One read whose coverage the caller writes (classified with the licence rule of :func:`_status`)."""
    return attempt(fn, _status)


def _subscription(run: _Run, sub_client: Any, sid: str) -> None:
    """Every per-subscription ARM source (locations, RBAC, policy, activity-log settings, Lighthouse)."""
    run.call(sid, ["regions"], "arm:locations",
             lambda: [_raw(loc) for loc in sub_client.subscriptions.list_locations(sid)])
    for source, (path, api, tables, params) in SUBSCRIPTION_SOURCES.items():
        run.call(sid, tables, source, lambda p=path, a=api, q=params: run.clients.arm_list(f"/subscriptions/{sid}{p}", a, q))


def _resource_graph(run: _Run, tenant_id: str, sub_ids: list[str], pool: Executor, data_logs: bool = True) -> None:
    """One paged Resource Graph query per family over all subscriptions, in batches of 1000."""
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    c = run.c
    client = run.clients.resource_graph()

    def query(text: str, batch: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        token = None
        while True:
            request = QueryRequest(subscriptions=batch, query=text,
                                   options=QueryRequestOptions(skip_token=token, top=1000, result_format="objectArray"))
            response = client.resources(request)
            rows.extend(response.data or [])
            token = response.skip_token
            if not token:
                if str(response.result_truncated).lower() == "true":  # rows dropped with no way to page on
                    raise RuntimeError(f"Resource Graph truncated the result at {len(rows)} of "
                                       f"{response.total_records} rows")
                return rows

    for start in range(0, len(sub_ids), ARG_BATCH):
        batch = sub_ids[start:start + ARG_BATCH]
        listed = _try(lambda: query(SUBSCRIPTIONS_QUERY, batch))
        if not listed.ok:
            for sid in batch:
                for family, (_, tables) in FAMILIES.items():
                    for table in tables:
                        c.cover(sid, None, table, f"arg:{family}", listed.status, listed.message)
            continue
        visible = {r.get("subscriptionId") for r in listed.data}
        c.add(tenant_id, GLOBAL, "arg:subscriptions",
              {"query": SUBSCRIPTIONS_QUERY, "subscriptions": batch, "rows": listed.data})

        def family_job(item: tuple[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
            family, (types, tables) = item
            text = (f"Resources | where type in~ ({', '.join(repr(t) for t in types)}) "
                    f"| project {ARG_COLUMNS} | order by id asc")
            found = _try(lambda: query(text, batch))
            rows = found.data
            if found.ok:
                c.add(tenant_id, GLOBAL, f"arg:{family}", {"query": text, "subscriptions": batch, "rows": rows})
            for sid in batch:
                for table in tables:
                    if not found.ok:
                        c.cover(sid, None, table, f"arg:{family}", found.status, found.message)
                    elif sid not in visible:
                        c.cover(sid, None, table, f"arg:{family}", "denied",
                                "Resource Graph returns nothing for this subscription (no read access)")
                    else:
                        c.cover(sid, None, table, f"arg:{family}", "ok")
            return rows or []

        rows = [row for part in pool.map(family_job, FAMILIES.items()) for row in part]
        # Reads Resource Graph cannot answer: one ARM call per SQL server / database / data store.
        jobs: list[Callable[[], None]] = []
        for row in rows:
            rtype = str(row.get("type", "")).lower()
            if rtype.startswith("microsoft.sql/servers"):
                jobs.append(lambda r=row: _sql_details(run, r))
            if rtype in DATA_LOG_PATHS and data_logs:
                jobs.append(lambda r=row: _data_access_logs(run, r))
            if rtype == "microsoft.storage/storageaccounts" and (row.get("properties") or {}).get("allowBlobPublicAccess"):
                jobs.append(lambda r=row: _blob_containers(run, r))
            if rtype == "microsoft.keyvault/vaults":
                jobs.append(lambda r=row: _vault_keys(run, r))
        list(pool.map(lambda job: job(), jobs))
        if not data_logs:
            for sid in batch:
                c.cover(sid, None, "resources.data_access_logging", "arm:resourceDiagnosticSettings", "unsupported",
                        "not collected: option data_access_logging is false")


# Where a data store's data-plane (read / write) logs are configured: resource id + this suffix.
DATA_LOG_PATHS = {
    "microsoft.storage/storageaccounts": "/blobServices/default",
    "microsoft.keyvault/vaults": "",
    "microsoft.sql/servers/databases": "",
    "microsoft.documentdb/databaseaccounts": "",
    "microsoft.recoveryservices/vaults": "",
}


def _data_access_logs(run: _Run, row: dict[str, Any]) -> None:
    """Diagnostic settings of one data store (are data-plane reads logged?)."""
    sid = row.get("subscriptionId") or row["id"].split("/")[2]
    target = row["id"] + DATA_LOG_PATHS[str(row.get("type", "")).lower()]
    run.call(sid, ["resources.data_access_logging"], "arm:resourceDiagnosticSettings",
             lambda: {"resource": row["id"], "settings": run.clients.arm_list(
                 f"{target}/providers/Microsoft.Insights/diagnosticSettings", API["diagnosticSettings"])})


def _blob_containers(run: _Run, row: dict[str, Any]) -> None:
    """Containers of an account that allows public blob access: which ones are actually public."""
    sid = row.get("subscriptionId") or row["id"].split("/")[2]
    run.call(sid, ["resources.public_read"], "arm:blobContainers",
             lambda: {"account": row["id"], "containers": run.clients.arm_list(
                 f"{row['id']}/blobServices/default/containers", API["storage"])})


def _vault_keys(run: _Run, row: dict[str, Any]) -> None:
    """Keys of a Key Vault with their rotation policy (ARM management plane, no key material)."""
    sid = row.get("subscriptionId") or row["id"].split("/")[2]
    run.call(sid, ["resources"], "arm:vaultKeys",
             lambda: {"vault": row["id"], "location": row.get("location"),
                      "keys": run.clients.arm_list(f"{row['id']}/keys", API["keyVault"])})


def _sql_details(run: _Run, row: dict[str, Any]) -> None:
    """SQL server firewall rules and key protector, database TDE (not in Resource Graph)."""
    sid = row.get("subscriptionId") or row["id"].split("/")[2]
    rid = row["id"]
    if str(row.get("type", "")).lower() == "microsoft.sql/servers":
        # 'Allow Azure services' (0.0.0.0) makes the server reachable from every Azure tenant.
        run.call(sid, ["resources.network_open"], "arm:sqlFirewallRules",
                 lambda: {"server": rid, "rules": run.clients.arm_list(f"{rid}/firewallRules", API["firewallRules"])})
        run.call(sid, ["resources.encryption"], "arm:sqlEncryptionProtector",
                 lambda: {"server": rid, "protector": run.clients.arm_get(f"{rid}/encryptionProtector/current",
                                                                          API["firewallRules"])})
    elif not rid.lower().endswith("/databases/master"):
        run.call(sid, ["resources.encryption"], "arm:sqlTransparentDataEncryption",
                 lambda: {"database": rid, "tde": run.clients.arm_get(f"{rid}/transparentDataEncryption/current",
                                                                      API["firewallRules"])})


def _graph(run: _Run, tenant_id: str) -> None:
    """Entra ID through Microsoft Graph (tenant-wide; account_id = tenant id)."""
    clients, c = run.clients, run.c
    # Users: ask for sign-in activity; without a P1 licence Graph refuses, so read again without it.
    users = _try(lambda: clients.graph_list("/v1.0/users", {"$select": USER_SELECT + ",signInActivity",
                                                            "$top": "999"}))
    c.cover(tenant_id, None, "principals.last_active", "graph:users.signInActivity", users.status, users.message)
    if not users.ok:
        users = _try(lambda: clients.graph_list("/v1.0/users", {"$select": USER_SELECT, "$top": "999"}))
    if users.ok:
        c.add(tenant_id, GLOBAL, "graph:users", users.data)
    c.cover(tenant_id, None, "principals", "graph:users", users.status, users.message)
    for source, (path, params, tables) in GRAPH_SOURCES.items():
        run.call(tenant_id, tables, source, lambda p=path, q=params: clients.graph_list(p, q))
    run.call(tenant_id, ["guardrails", "guardrails.mfa_required"], "graph:securityDefaults",
             lambda: clients.graph_get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"))
    run.call(tenant_id, ["guardrails.provider_access_approval"], "arm:customerLockbox",
             lambda: clients.arm_get(f"/providers/Microsoft.CustomerLockbox/tenantOptedIn/{tenant_id}", API["lockbox"]))
    run.call(tenant_id, ["audit_logs"], "arm:aadiamDiagnosticSettings",
             lambda: clients.arm_list("/providers/microsoft.aadiam/diagnosticSettings", API["aadiam"]))


def _group_members(run: _Run, tenant_id: str, pool: Executor) -> None:
    """Transitive members of every group that holds an Azure RBAC or directory role (grants via group)."""
    holders: dict[str, set[str]] = {}   # group id -> accounts where it holds a grant
    for rec in run.c.find("arm:roleAssignments"):
        for item in rec.data or []:
            props = item.get("properties") or {}
            if str(props.get("principalType", "")).lower() == "group":
                holders.setdefault(props.get("principalId", ""), set()).add(rec.account_id)
    groups = {g.get("id") for rec in run.c.find("graph:groups") for g in rec.data or []}
    for rec in run.c.find("graph:directoryRoleAssignments") + run.c.find("graph:roleEligibilitySchedules"):
        for item in rec.data or []:
            if item.get("principalId") in groups:
                holders.setdefault(item["principalId"], set()).add(tenant_id)

    def members(group: str) -> None:
        accounts = sorted(holders[group])
        try:
            data = {"group": group, "members": run.clients.graph_list(
                f"/v1.0/groups/{group}/transitiveMembers", {"$select": "id,userPrincipalName,displayName"})}
        except Exception as exc:  # noqa: BLE001 - the grants of those accounts are incomplete
            status, message = _status(exc)
            for account in accounts:
                run.c.cover(account, None, "grants", "graph:groupMembers", status, message)
            return
        run.c.add(tenant_id, GLOBAL, "graph:groupMembers", data)
        for account in accounts:
            run.c.cover(account, None, "grants", "graph:groupMembers", "ok")

    list(pool.map(members, sorted(g for g in holders if g)))


BUILTIN_ALLOWED_LOCATIONS = "e56962a6-4747-49cd-b67b-bf8b01975c4c"


def _policy_definitions(run: _Run, tenant_id: str, pool: Executor) -> None:
    """Definitions behind assigned initiatives and custom policies (they may restrict locations)."""
    holders: dict[str, set[str]] = {}
    for rec in run.c.find("arm:policyAssignments"):
        for item in rec.data or []:
            definition = str((item.get("properties") or {}).get("policyDefinitionId") or "")
            builtin = definition.lower().startswith("/providers/microsoft.authorization/policydefinitions/")
            if definition and not builtin:  # built-in single policies are known by their GUID
                holders.setdefault(definition, set()).add(rec.account_id)

    def fetch(definition: str) -> None:
        api = API["policySetDefinitions"] if "/policysetdefinitions/" in definition.lower() else API["policyDefinitions"]
        try:
            doc = run.clients.arm_get(definition, api)
        except Exception as exc:  # noqa: BLE001 - the guardrails of those subscriptions are incomplete
            status, message = _status(exc)
            for account in sorted(holders[definition]):
                run.c.cover(account, None, "guardrails", "arm:policyDefinitions", status, message)
            return
        run.c.add(tenant_id, GLOBAL, "arm:policyDefinitions", {"id": definition, "definition": doc})
        for account in sorted(holders[definition]):
            run.c.cover(account, None, "guardrails", "arm:policyDefinitions", "ok")

    list(pool.map(fetch, sorted(holders)))


def _fill_scopes(c: Collection, tenant_id: str, sub_ids: list[str]) -> None:
    """Make every (account, table) pair explicit: tenant-wide sources mirror the tenant's status on
    each subscription; subscription-only tables are empty (ok) at tenant scope."""
    for table in SUBSCRIPTION_ONLY:
        c.cover(tenant_id, None, table, "azure:tenant-scope", "ok",
                "the Entra tenant scope holds no ARM data of this kind; see the subscriptions")
    for account in [tenant_id, *sub_ids]:
        c.cover(account, None, "credentials.last_used", "azure:credential-last-use", "unsupported", NO_LAST_USE)
    # Tenant-wide sources (Entra principals, conditional access, Lockbox) apply to every subscription.
    tenant_rows = [row for row in c.coverage if row.account_id == tenant_id
                   and (row.table.partition(".")[0] in TENANT_ONLY or row.table.startswith("guardrails."))]
    for sid in sub_ids:
        for row in tenant_rows:
            c.cover(sid, None, row.table, row.source, row.status,
                    (row.message + " " if row.message else "") + f"(tenant-wide, tenant {tenant_id})")
