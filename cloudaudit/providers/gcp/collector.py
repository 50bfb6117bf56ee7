"""Read-only collection from Resource Manager v3, Cloud Asset v1, Org Policy v2, Access Approval v1,
Security Center Management v1 (and Directory).

Every call is a list / search / get (``getIamPolicy`` and ``getEffectivePolicy`` are reads even
where the REST binding uses POST). Raw responses are kept as records in their REST JSON shape
(camelCase, as ``google.protobuf.json_format`` renders them); :mod:`.normalize` reads only those.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Callable

from google.protobuf import json_format

from ..base import Collection, Progress, attempt, classify_error, no_progress
from .clients import ClientFactory

from .sources import (  # noqa: F401 - re-exported for callers of the collector
    NAME, GLOBAL, SRC_ORGS, SRC_FOLDERS, SRC_PROJECTS, SRC_PROJECT_GET,
    SRC_IAM_POLICY, SRC_SEARCH_RESOURCES, SRC_LIST_ASSETS, SRC_SEARCH_IAM, SRC_EFFECTIVE_POLICY, SRC_DIRECTORY,
    SRC_ACCESS_APPROVAL, ACCESS_APPROVAL_KIND, SRC_SCC_SERVICE, SCC_SERVICE, SCC_LOCATION, THREAT_DETECTION_KIND,
    SCC_ORG_UNSUPPORTED,
    CONSTRAINTS, TLS_CONSTRAINT, tls_floor, SEARCH_ASSET_TYPES, CONFIG_ASSET_TYPES, TABLES_OF, NOT_COLLECTED, MFA_UNSUPPORTED, SIGN_IN_UNSUPPORTED,
)


def to_json(message: Any) -> dict[str, Any]:
    """A protobuf / proto-plus message as its REST JSON dict (camelCase)."""
    pb = getattr(message, "_pb", message)
    return json_format.MessageToDict(pb)


class _Run:
    """State of one collection run: the clients, the collection and the executor."""

    def __init__(self, options: dict[str, Any], executor: Executor | None, progress: Progress):
        self.options = options
        self.factory: ClientFactory = options.get("client_factory") or ClientFactory(
            credentials=options.get("credentials"), endpoints=options.get("endpoints"),
            quota_project=options.get("quota_project"))
        self.collection = Collection(NAME)
        self.progress = progress
        self.own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(max_workers=int(options.get("max_workers") or 8),
                                                      thread_name_prefix="cloudaudit-gcp")
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, name: str) -> Any:
        """One client per API, built on first use and shared by the worker threads."""
        with self._lock:
            if name not in self._clients:
                self._clients[name] = getattr(self.factory, name)()
            return self._clients[name]

    @property
    def call_kwargs(self) -> dict[str, Any]:
        return {"retry": self.factory.retry, "timeout": self.factory.timeout}

    def fan_out(self, label: str, items: list[Any], task: Callable[[Any], Any]) -> list[Any]:
        """Run ``task`` over items on the executor; results in order (exceptions re-raised)."""
        futures = [self.executor.submit(task, item) for item in items]
        results = []
        for done, future in enumerate(futures, 1):
            results.append(future.result())
            self.progress(done, len(futures), label)
        return results


_URL = re.compile(r" (GET|POST) https?://\S+?: ")


def _classify(exc: BaseException) -> tuple[str, str]:
    status, message = classify_error(exc)
    # "Forbidden: 403 GET http://host/v2/...?$alt=json: text" -> "Forbidden: 403 text" (one short line)
    return status, _URL.sub(" ", message, count=1)


def _try(call: Callable[[], Any]) -> tuple[Any, str, str]:
    """(result, status, message): status 'ok' or the coverage status of the exception."""
    result = attempt(call, _classify)
    return result.data, result.status, result.message


# ----------------------------------------------------------------------------- hierarchy

def _hierarchy(run: _Run, scope: dict[str, str]) -> tuple[str | None, list[str], list[dict[str, Any]]]:
    """Walk the resource hierarchy; returns (org name, container names, project dicts)."""
    c = run.collection
    org = scope.get("organization")
    kw = run.call_kwargs
    if "project" in scope:
        name = scope["project"] if scope["project"].startswith("projects/") else f"projects/{scope['project']}"
        project, status, message = _try(lambda: to_json(run.client("projects").get_project(name=name, **kw)))
        if project is None:
            c.cover(name.split("/", 1)[1], None, "*", SRC_PROJECT_GET, status, message)
            return org, [], []
        c.add(project["projectId"], GLOBAL, SRC_PROJECT_GET, project)
        parent = project.get("parent", "")
        if not org and parent.startswith("organizations/"):
            org = parent
        return org, [], [project]

    roots: list[str]
    if "folder" in scope:
        roots = [scope["folder"]]
        # The root folder itself: its display name and, through its ancestors, the organization.
        folder, status, message = _try(lambda: to_json(run.client("folders").get_folder(name=scope["folder"], **kw)))
        if folder is not None:
            if not org and str(folder.get("parent", "")).startswith("organizations/"):
                org = folder["parent"]
            c.add(org or scope["folder"], GLOBAL, SRC_FOLDERS, {"parent": folder.get("parent"), "folders": [folder]})
        else:
            c.cover(org or scope["folder"], None, "tenants", f"resourcemanager:folders.get({scope['folder']})",
                    status, message)
    else:
        orgs, status, message = _try(lambda: [to_json(page) for page in run.client("organizations").search_organizations(
            request={"query": ""}, **kw).pages])
        if orgs is None:
            c.cover(org or "organizations/unknown", None, "tenants", SRC_ORGS, status, message)
            if not org:
                return None, [], []
            roots = [org]
        else:
            found = [o for page in orgs for o in page.get("organizations", [])]
            if org:
                found = [o for o in found if o.get("name") == org]
                if not found:
                    c.cover(org, None, "tenants", SRC_ORGS, "denied",
                            f"organization {org} is not visible to the caller (organizations:search)")
                    return org, [], []
            if not found:
                # An empty search is not an empty organization: the caller sees none (resourcemanager.organizations.get).
                c.cover("organizations/unknown", None, "tenants", SRC_ORGS, "denied",
                        "no organization is visible to the caller (organizations:search returned none); "
                        "grant access or pass organization, folder or project")
                return None, [], []
            for o in found:
                c.add(o["name"], GLOBAL, SRC_ORGS, o)
                c.cover(o["name"], None, "tenants", SRC_ORGS, "ok")
            roots = [o["name"] for o in found]
            org = org or (roots[0] if roots else None)

    containers: list[str] = []
    projects: list[dict[str, Any]] = []
    level = list(roots)
    org_key = org or (roots[0] if roots else "organizations/unknown")
    while level:
        containers.extend(level)

        def list_children(parent: str) -> list[str]:
            folders, fstatus, fmessage = _try(lambda: [f for page in run.client("folders").list_folders(
                request={"parent": parent, "show_deleted": False}, **kw).pages for f in to_json(page).get("folders", [])])
            found, pstatus, pmessage = _try(lambda: [p for page in run.client("projects").list_projects(
                request={"parent": parent, "show_deleted": True}, **kw).pages for p in to_json(page).get("projects", [])])
            if folders is not None:
                c.add(org_key, GLOBAL, SRC_FOLDERS, {"parent": parent, "folders": folders})
            else:
                c.cover(org_key, None, "tenants", f"{SRC_FOLDERS}({parent})", fstatus, fmessage)
            if found is not None:
                c.add(org_key, GLOBAL, SRC_PROJECTS, {"parent": parent, "projects": found})
                projects.extend(found)
            else:
                c.cover(org_key, None, "tenants", f"{SRC_PROJECTS}({parent})", pstatus, pmessage)
            return [f["name"] for f in folders or []]

        children = run.fan_out("gcp folders", level, list_children)
        level = [name for names in children for name in names]
    return org, containers, projects


# ----------------------------------------------------------------------------- cloud asset

def _asset_source(run: _Run, scope_name: str, source: str, call: Callable[[], Any], field: str) -> tuple[str, str]:
    """Page through one Cloud Asset call at the audit scope, one record per page."""
    c = run.collection

    def pages() -> int:
        count = 0
        for page in call().pages:
            data = to_json(page)
            c.add(scope_name, GLOBAL, source, {"scope": scope_name, field: data.get(field, [])})
            count += 1
        return count

    _, status, message = _try(pages)
    return status, message


def _asset_sources(run: _Run, scope_name: str) -> dict[str, tuple[str, str]]:
    asset = run.client("asset")
    kw = run.call_kwargs
    from google.cloud import asset_v1

    calls = {
        SRC_SEARCH_RESOURCES: (lambda: asset.search_all_resources(
            request={"scope": scope_name, "asset_types": list(SEARCH_ASSET_TYPES), "page_size": 500}, **kw), "results"),
        SRC_LIST_ASSETS: (lambda: asset.list_assets(
            request={"parent": scope_name, "asset_types": list(CONFIG_ASSET_TYPES),
                     "content_type": asset_v1.ContentType.RESOURCE, "page_size": 1000}, **kw), "assets"),
        SRC_SEARCH_IAM: (lambda: asset.search_all_iam_policies(
            request={"scope": scope_name, "page_size": 500}, **kw), "results"),
    }
    items = list(calls.items())
    results = run.fan_out("gcp asset inventory", items,
                          lambda item: _asset_source(run, scope_name, item[0], item[1][0], item[1][1]))
    return {name: result for (name, _), result in zip(items, results)}


# ----------------------------------------------------------------------------- per node

def _iam_policy(run: _Run, node: str, account: str) -> tuple[str, str]:
    """getIamPolicy of an organization, folder or project (for its audit configs)."""
    kind = node.split("/", 1)[0]
    client = run.client({"organizations": "organizations", "folders": "folders", "projects": "projects"}[kind])
    request = {"resource": node, "options": {"requested_policy_version": 3}}
    policy, status, message = _try(lambda: to_json(client.get_iam_policy(request=request, **run.call_kwargs)))
    if policy is not None:
        run.collection.add(account, GLOBAL, SRC_IAM_POLICY, {"resource": node, "policy": policy})
    return status, message


def _effective_policies(run: _Run, node: str, account: str) -> list[tuple[str, str, str, Any]]:
    """getEffectivePolicy for each constraint at one node: [(constraint, status, message, policy)]."""
    client = run.client("orgpolicy")
    out = []
    for constraint in CONSTRAINTS:
        name = f"{node}/policies/{constraint}"
        policy, status, message = _try(lambda: to_json(client.get_effective_policy(name=name, **run.call_kwargs)))
        if policy is not None:
            run.collection.add(account, GLOBAL, SRC_EFFECTIVE_POLICY,
                               {"node": node, "constraint": constraint, "policy": policy})
        out.append((constraint, status, message, policy))
    return out


def _access_approval(run: _Run, node: str, account: str) -> tuple[str, str]:
    """Access Approval settings of one project or organization (``getAccessApprovalSettings``).

    NOT_FOUND means the node has no settings (Access Approval was never configured there): a
    successful read of "not enrolled", kept as a record with empty settings.
    """
    from google.api_core import exceptions as gexc

    client = run.client("accessapproval")
    name = f"{node}/accessApprovalSettings"

    def read() -> tuple[dict[str, Any], bool]:
        try:
            return to_json(client.get_access_approval_settings(name=name, **run.call_kwargs)), True
        except gexc.NotFound:
            return {}, False

    result, status, message = _try(read)
    if result is not None:
        settings, found = result
        run.collection.add(account, GLOBAL, SRC_ACCESS_APPROVAL, {"node": node, "found": found, "settings": settings})
        if not found:
            message = f"{name}: NOT_FOUND (Access Approval was never configured: not enrolled)"
    return status, message


# Effective states the normalizer interprets (the rest, e.g. INHERITED as an effective state, is unknown).
SCC_KNOWN_STATES = ("ENABLED", "DISABLED", "INGEST_ONLY")


def _threat_detection(run: _Run, project: str) -> tuple[str, str]:
    """The Event Threat Detection service of one project (``getSecurityCenterService``), global location.

    A failed read (403, NOT_FOUND, ...) is a coverage row with that status: NOT_FOUND is not
    documented as "disabled" (the service names are fixed), so it is an error, never a verdict.
    """
    from google.api_core import exceptions as gexc

    client = run.client("securitycentermanagement")
    name = f"projects/{project}/locations/{SCC_LOCATION}/securityCenterServices/{SCC_SERVICE}"
    result = attempt(lambda: to_json(client.get_security_center_service(name=name, **run.call_kwargs)), _classify)
    if not result.ok:
        if isinstance(result.error, gexc.NotFound):
            return "error", f"{name}: NOT_FOUND (Security Command Center state unknown): {result.message}"
        return result.status, result.message
    service = result.data
    run.collection.add(project, GLOBAL, SRC_SCC_SERVICE, {"node": f"projects/{project}", "service": service})
    effective = str(service.get("effectiveEnablementState", "ENABLEMENT_STATE_UNSPECIFIED"))
    if effective not in SCC_KNOWN_STATES:
        return "unsupported", f"{name}: effective enablement state {effective} is not interpreted"
    return "ok", ""


# ----------------------------------------------------------------------------- directory (2SV)

def _directory(run: _Run, settings: dict[str, Any], org_key: str) -> tuple[str, str]:
    """Users with 2-step verification state from the Admin SDK Directory API (read-only)."""
    from google.api_core import exceptions as gexc

    session = run.factory.admin_session(settings.get("subject"))
    url = f"{run.factory.admin_endpoint()}/admin/directory/v1/users"
    params = {"customer": settings.get("customer", "my_customer"), "maxResults": 500, "projection": "basic"}

    def page(token: str | None) -> dict[str, Any]:
        response = session.get(url, params={**params, **({"pageToken": token} if token else {})},
                               timeout=run.factory.timeout)
        if response.status_code >= 400:
            raise gexc.from_http_response(response)
        return response.json()

    def all_pages() -> None:
        token = None
        while True:
            data = run.factory.retry(page)(token)
            run.collection.add(org_key, GLOBAL, SRC_DIRECTORY, {"users": data.get("users", [])})
            token = data.get("nextPageToken")
            if not token:
                return

    _, status, message = _try(all_pages)
    return status, message


# ----------------------------------------------------------------------------- entry point

def _scope(options: dict[str, Any]) -> dict[str, str]:
    scope = {}
    for key, prefix in (("organization", "organizations/"), ("folder", "folders/"), ("project", "")):
        value = options.get(key)
        if value:
            value = str(value)
            if prefix and not value.startswith(prefix):
                value = prefix + value
            scope[key] = value
    return scope


def collect(options: dict[str, Any], *, executor: Executor | None = None,
            progress: Progress = no_progress) -> Collection:
    """Collect the raw GCP evidence for an organization, a folder or one project (read-only)."""
    run = _Run(dict(options or {}), executor, progress)
    c = run.collection
    try:
        scope = _scope(run.options)
        org, containers, projects = _hierarchy(run, scope)
        org_key = org or "organizations/unknown"
        project_ids = [p["projectId"] for p in projects if p.get("projectId")]
        if "project" in scope:
            audit_scope = f"projects/{project_ids[0]}" if project_ids else None
        else:
            audit_scope = scope.get("folder") or org
        # The organization node is audited only when it is the scope (not for a folder or project).
        org_scope = org if not ({"folder", "project"} & set(scope)) else None
        accounts = list(project_ids) + ([org_scope] if org_scope else [])
        c.meta.update({"organization": org, "scope": audit_scope, "endpoints": dict(run.factory.endpoints),
                       "identity": {"principal": getattr(run.factory.credentials, "service_account_email", None)
                                    or type(run.factory.credentials).__name__},
                       "allowed_domains": sorted({str(d).lower() for d in (run.options.get("allowed_domains") or [])}),
                       "constraints": list(CONSTRAINTS)})
        for account in project_ids:
            c.cover(account, None, "tenants", SRC_PROJECTS if "project" not in scope else SRC_PROJECT_GET, "ok")
        if audit_scope is None:
            return c

        # Organization-wide sources: one coverage row per project (and the org) they apply to.
        for source, (status, message) in _asset_sources(run, audit_scope).items():
            for account in accounts:
                for table in TABLES_OF[source]:
                    c.cover(account, None, table, source, status, message)

        # Per-node sources: audit configs (IAM policies) and effective org policies.
        nodes = [(node, org_key) for node in containers] + [(f"projects/{p}", p) for p in project_ids]
        iam_results = run.fan_out("gcp IAM policies", nodes, lambda n: _iam_policy(run, *n))
        for (node, account), (status, message) in zip(nodes, iam_results):
            if node.startswith("projects/"):
                c.cover(account, None, "audit_logs", SRC_IAM_POLICY, status, message)
            elif status != "ok":
                # An ancestor's audit config applies to every project below it.
                for p in accounts:
                    c.cover(p, None, "audit_logs", f"{SRC_IAM_POLICY}({node})", status, message)
        policy_nodes = ([(org_scope, org_scope)] if org_scope else []) + [(f"projects/{p}", p) for p in project_ids]
        policy_results = run.fan_out("gcp org policies", policy_nodes, lambda n: _effective_policies(run, *n))
        for (node, account), results in zip(policy_nodes, policy_results):
            # One row per guardrail kind (checks may need just one kind) and one for the table.
            for constraint, status, message, policy in results:
                source = f"{SRC_EFFECTIVE_POLICY}({constraint})"
                c.cover(account, None, f"guardrails.{CONSTRAINTS[constraint]}", source, status, message)
                if constraint == TLS_CONSTRAINT and node.startswith("projects/"):
                    # Buckets' minimum TLS version is this project's gcp.restrictTLSVersion: unread
                    # (or not interpretable) means unknown for every bucket there, an ERROR.
                    why = tls_floor((policy or {}).get("spec") or {})[1] if status == "ok" else ""
                    if status != "ok":
                        c.cover(account, None, "resources.min_tls", source, status, message)
                    elif why:
                        c.cover(account, None, "resources.min_tls", source, "unsupported",
                                f"the effective {TLS_CONSTRAINT} policy of {node} {why}; the minimum TLS version "
                                "of its buckets is not determined")
            failed = [(s, f"{k}: {m}") for k, s, m, _ in results if s != "ok"]
            c.cover(account, None, "guardrails", SRC_EFFECTIVE_POLICY,
                    failed[0][0] if failed else "ok", "; ".join(m for _, m in failed)[:500])

        # Access Approval enrollment of each project (and of the organization when it is audited).
        # A project's own settings say whether an ancestor enrolled it (enrolledAncestor).
        approval_nodes = [(f"projects/{p}", p) for p in project_ids] + ([(org_scope, org_scope)] if org_scope else [])
        approval_results = run.fan_out("gcp access approval", approval_nodes, lambda n: _access_approval(run, *n))
        for (node, account), (status, message) in zip(approval_nodes, approval_results):
            c.cover(account, None, f"guardrails.{ACCESS_APPROVAL_KIND}", SRC_ACCESS_APPROVAL, status, message)

        # Security Command Center: Event Threat Detection's effective state in each project.
        threat_results = run.fan_out("gcp threat detection", project_ids, lambda p: _threat_detection(run, p))
        for project, (status, message) in zip(project_ids, threat_results):
            c.cover(project, None, f"guardrails.{THREAT_DETECTION_KIND}", SRC_SCC_SERVICE, status, message)
        if org_scope:
            c.cover(org_scope, None, f"guardrails.{THREAT_DETECTION_KIND}", SRC_SCC_SERVICE, "unsupported",
                    SCC_ORG_UNSUPPORTED)

        # 2-step verification: only with domain-wide delegation to the Directory API.
        directory = run.options.get("directory")
        if directory:
            status, message = _directory(run, dict(directory), org_key)
            sign_in = (status, message)
        else:
            status, message = "unsupported", MFA_UNSUPPORTED
            sign_in = ("unsupported", SIGN_IN_UNSUPPORTED)
        for account in accounts:
            c.cover(account, None, "principals.mfa", SRC_DIRECTORY, status, message)
            # without the directory, "never signed in" and "not known" look alike: say it is not known
            c.cover(account, None, "principals.last_active", SRC_DIRECTORY, *sign_in)
            c.cover(account, None, "guardrails.mfa_required", SRC_DIRECTORY, status, message)
            for kind, why in NOT_COLLECTED.items():
                c.cover(account, None, f"guardrails.{kind}", "gcp:not-collected", "unsupported", why)
            # GCP has no per-project region enablement: the regions table is empty by definition.
            c.cover(account, None, "regions", "gcp:regions", "ok",
                    "GCP projects have no region opt-in; every region is available")
        return c
    finally:
        if run.own_executor:
            run.executor.shutdown(wait=True)

