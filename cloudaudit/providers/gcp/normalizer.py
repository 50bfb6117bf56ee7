"""Pure normalization of GCP records into inventory tables (no SDK, no I/O).

Reads only ``collection.records`` / ``collection.coverage`` / ``collection.meta``, so a bundle
replays offline into the same inventory.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any, Iterable

import pandas as pd

from ...inventory import Inventory
from ...regions import catalog
from ..base import Collection
from . import sources as C

PROVIDER = "gcp"
GLOBAL = "global"

KIND: dict[str, str] = {
    "storage.googleapis.com/Bucket": "bucket",
    "compute.googleapis.com/Disk": "volume",
    "compute.googleapis.com/Snapshot": "snapshot",
    "compute.googleapis.com/Image": "image",
    "compute.googleapis.com/Instance": "vm",
    "compute.googleapis.com/Firewall": "security_group",
    "compute.googleapis.com/Network": "network",
    "sqladmin.googleapis.com/Instance": "database",
    "bigquery.googleapis.com/Dataset": "dataset",
    "cloudkms.googleapis.com/CryptoKey": "key",
    "pubsub.googleapis.com/Topic": "topic",
    "logging.googleapis.com/LogBucket": "log_store",
    "secretmanager.googleapis.com/Secret": "secret",
}
NOT_DATA_BEARING = {"key", "vm", "security_group", "network"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
# Bucket roles that let a holder write objects (anything else on a bucket is read).
BUCKET_WRITE_ROLES = {"roles/storage.objectCreator", "roles/storage.objectAdmin", "roles/storage.admin",
                      "roles/storage.legacyBucketWriter", "roles/storage.legacyBucketOwner",
                      "roles/storage.objectUser"}
# Roles that allow privilege escalation although their names do not say admin.
ESCALATION_ROLES = {"roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser",
                    "roles/iam.serviceAccountKeyAdmin", "roles/iam.workloadIdentityUser",
                    "roles/resourcemanager.projectIamAdmin", "roles/iam.securityAdmin"}
READ_ROLE = re.compile(r"(viewer|reader|browser|\.get|\.list|Viewer|Reader|Browser|accessor)$")
# Cloud SQL backups without a location go to the nearest multi-region (by region prefix).
NEAREST_MULTI = (("asia-", "asia"), ("australia-", "asia"), ("europe-", "eu"), ("me-", "eu"),
                 ("africa-", "eu"), ("us-", "us"), ("northamerica-", "us"), ("southamerica-", "us"))
FOREVER_YEAR = 9999


# ----------------------------------------------------------------------------- helpers

def _lower(value: Any) -> str | None:
    return str(value).strip().lower() if value not in (None, "") else None


def _last(url: Any) -> str | None:
    """Last path segment of a Compute self-link (zones/asia-northeast1-a -> asia-northeast1-a)."""
    return str(url).rstrip("/").rsplit("/", 1)[-1].lower() if url else None


def _kms(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, dict):
            v = v.get("kmsKeyName") or v.get("defaultKmsKeyName")
        if v:
            return str(v)
    return None


def _seconds_to_days(value: Any) -> int | None:
    if not value:
        return None
    match = re.match(r"^(\d+(?:\.\d+)?)s$", str(value))
    return int(float(match.group(1)) // 86400) if match else None


def nearest_multi_region(region: str | None) -> str | None:
    """The multi-region Cloud SQL uses for backups without a location (None: unknown)."""
    for prefix, multi in NEAREST_MULTI:
        if region and region.startswith(prefix):
            return multi
    return None


def expand_location_value(value: str) -> list[str]:
    """gcp.resourceLocations values to location codes: ``in:asia-northeast1-locations`` ->
    ``asia-northeast1``; ``in:asia-locations`` -> ``asia`` plus every Asian region; ``is:x`` -> x.

    An unknown value group is kept as it is (it resolves to an unknown location: fails closed).
    """
    text = str(value).strip().lower()
    if text.startswith("is:"):
        return [text[3:]]
    if not text.startswith("in:") or not text.endswith("-locations"):
        return [text]
    group = text[3:-len("-locations")]
    gcp = catalog().get("gcp", {})
    regions = gcp.get("regions", {})
    multi = gcp.get("multi", {})
    if group in regions:
        return [group]
    if group in multi:
        prefix = {"asia": ("asia-",), "eu": ("europe-",), "us": ("us-",)}.get(group)
        members = list(multi[group].get("members", []))
        if prefix:
            members += sorted(r for r in regions if r.startswith(prefix))
        return [group] + [m for m in members if m != group]
    return [text]


def _ts(value: Any) -> Any:
    if not value:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp.year >= FOREVER_YEAR or stamp.year <= 1970:
        return None  # "never expires" / Directory's "never signed in"
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


# ----------------------------------------------------------------------------- context

class _Context:
    """Lookups built once from the records: projects, folders, audit configs, IAM bindings."""

    def __init__(self, collection: Collection):
        self.c = collection
        self.org = collection.meta.get("organization")
        self.org_key = self.org or "organizations/unknown"
        self.orgs = [r.data for r in collection.find(C.SRC_ORGS)]
        self.folders: dict[str, dict[str, Any]] = {}
        for r in collection.find(C.SRC_FOLDERS):
            for f in r.data.get("folders", []):
                self.folders[f["name"]] = f
        self.projects: dict[str, dict[str, Any]] = {}   # projects/NUMBER -> project
        for r in collection.find(C.SRC_PROJECTS):
            for p in r.data.get("projects", []):
                self.projects[p["name"]] = p
        for r in collection.find(C.SRC_PROJECT_GET):
            self.projects[r.data["name"]] = r.data
        self.project_ids = {p["projectId"] for p in self.projects.values()}
        self.project_numbers = {name.split("/", 1)[1] for name in self.projects}
        self.id_of = {name: p["projectId"] for name, p in self.projects.items()}
        self.id_of.update({f"projects/{p['projectId']}": p["projectId"] for p in self.projects.values()})
        org_domains = [o.get("displayName", "") for o in self.orgs if "." in o.get("displayName", "")]
        self.allowed_domains = {d.lower() for d in collection.meta.get("allowed_domains", []) + org_domains}
        # Audit configs and IAM policy coverage per node.
        self.audit_configs: dict[str, list[dict[str, Any]]] = {}
        for r in collection.find(C.SRC_IAM_POLICY):
            self.audit_configs[r.data["resource"]] = r.data["policy"].get("auditConfigs", [])
        self.iam_ok = self.source_ok(C.SRC_SEARCH_IAM)
        self.audit_ok = {row.account_id for row in collection.coverage
                         if row.table == "audit_logs" and row.source == C.SRC_IAM_POLICY and row.status == "ok"}
        # Compute project-wide metadata (OS Login, project SSH keys) by project id.
        self.project_metadata: dict[str, dict[str, str]] = {}
        for r in collection.find(C.SRC_LIST_ASSETS):
            for a in r.data.get("assets", []):
                if a.get("assetType") == "compute.googleapis.com/Project":
                    d = (a.get("resource") or {}).get("data") or {}
                    pid = d.get("name") or a["name"].rsplit("/", 1)[-1]
                    self.project_metadata[pid] = _metadata(d)
        # Lowest TLS version Google API endpoints accept, per project (gcp.restrictTLSVersion);
        # a project whose effective policy was not read (or not interpreted) has none: unknown.
        self.tls_floor: dict[str, str] = {}
        for r in collection.find(C.SRC_EFFECTIVE_POLICY):
            node = str(r.data.get("node", ""))
            if r.data.get("constraint") == C.TLS_CONSTRAINT and node.startswith("projects/"):
                floor, _ = C.tls_floor((r.data.get("policy") or {}).get("spec") or {})
                if floor:
                    self.tls_floor[self.account(node)] = floor
        # Every binding of every searched IAM policy.
        self.iam_results = [res for r in collection.find(C.SRC_SEARCH_IAM) for res in r.data.get("results", [])]
        self.bindings_on: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for res in self.iam_results:
            self.bindings_on[res.get("resource", "")].extend(res.get("policy", {}).get("bindings", []))

    def source_ok(self, source: str) -> bool:
        """Every coverage row of the source is ok (and there is at least one)."""
        rows = [row for row in self.c.coverage if row.source == source]
        return bool(rows) and all(row.status == "ok" for row in rows)

    def account(self, project: Any, ancestors: Iterable[str] = ()) -> str:
        """Project id for a ``projects/NUMBER`` reference (or the org for org-level assets)."""
        if project and project in self.id_of:
            return self.id_of[project]
        for a in ancestors or ():
            if a in self.id_of:
                return self.id_of[a]
        if project:
            return str(project).split("/", 1)[-1]
        return self.org_key

    def ancestors(self, project_name: str) -> list[str]:
        """Nodes from the project up to the organization: projects/N, folders/..., organizations/N."""
        out = [project_name]
        parent = self.projects.get(project_name, {}).get("parent")
        seen = 0
        while parent and seen < 50:
            out.append(parent)
            parent = self.folders.get(parent, {}).get("parent")
            seen += 1
        return out

    def display_path(self, project: dict[str, Any]) -> str:
        names = []
        parent = project.get("parent")
        while parent:
            if parent in self.folders:
                names.append(self.folders[parent].get("displayName") or parent)
                parent = self.folders[parent].get("parent")
            else:
                org = next((o for o in self.orgs if o.get("name") == parent), None)
                names.append((org or {}).get("displayName") or parent)
                parent = None
        return "/".join(reversed(names))

    def data_access_logged(self, project_id: str, service: str) -> bool | None:
        """DATA_READ and DATA_WRITE audit logs on for a service, through the hierarchy."""
        if project_id not in self.audit_ok:
            return None
        name = next((n for n, p in self.projects.items() if p.get("projectId") == project_id), None)
        if name is None:
            return None
        types: set[str] = set()
        for node in self.ancestors(name) + [f"projects/{project_id}"]:
            for cfg in self.audit_configs.get(node, []):
                if cfg.get("service") in ("allServices", service):
                    types |= {str(lc.get("logType")) for lc in cfg.get("auditLogConfigs", [])}
        return {"DATA_READ", "DATA_WRITE"} <= types or {"2", "3"} <= types


# ----------------------------------------------------------------------------- tenants

def _tenants(ctx: _Context) -> list[dict[str, Any]]:
    rows = []
    for o in ctx.orgs:
        rows.append({"provider": PROVIDER, "account_id": o["name"], "org_id": o["name"],
                     "name": o.get("displayName"), "parent_path": "", "is_management": True,
                     "state": o.get("state")})
    for p in ctx.projects.values():
        anc = ctx.ancestors(p["name"])
        org = next((a for a in anc if a.startswith("organizations/")), ctx.org)
        rows.append({"provider": PROVIDER, "account_id": p["projectId"], "org_id": org,
                     "name": p.get("displayName") or p["projectId"], "parent_path": ctx.display_path(p),
                     "is_management": False, "state": p.get("state")})
    return rows


# ----------------------------------------------------------------------------- resources

def _bucket(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    out: dict[str, Any] = {}
    replicas = []
    placement = (d.get("customPlacementConfig") or {}).get("dataLocations") or []
    if placement:
        # Configurable dual-region: data is stored in exactly these regions.
        locs = [l.lower() for l in placement]
        out["region"] = locs[0]
        replicas = [{"target_region": loc, "kind": "replication"} for loc in locs[1:]]
    elif d.get("location"):
        out["region"] = d["location"].lower()
    iam = d.get("iamConfiguration") or {}
    pap = str(iam.get("publicAccessPrevention", "")).lower() == "enforced"
    bindings = ctx.bindings_on.get(rid, [])
    public_roles = {b.get("role") for b in bindings if PUBLIC_MEMBERS & set(b.get("members", []))}
    acl_public = any(a.get("entity") in ("allUsers", "allAuthenticatedUsers")
                     for a in (d.get("acl") or []) + (d.get("defaultObjectAcl") or []))
    if pap:
        out["public_read"], out["public_write"] = False, False
    elif ctx.iam_ok:
        out["public_read"] = bool(public_roles) or acl_public
        out["public_write"] = bool(public_roles & BUCKET_WRITE_ROLES)
    key = _kms(d.get("encryption"))
    out["encryption"] = "customer" if key else "provider"
    out["key_id"] = key
    out["created"] = d.get("timeCreated")
    return out, replicas


def _bucket_tls(row: dict[str, Any], ctx: _Context) -> None:
    """A bucket is served on storage.googleapis.com: its TLS floor is the project's gcp.restrictTLSVersion."""
    if row["kind"] == "bucket" and row["native_type"] == "storage.googleapis.com/Bucket":
        row["min_tls"] = ctx.tls_floor.get(row["account_id"])


def _sql(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    settings = d.get("settings") or {}
    ip = settings.get("ipConfiguration") or {}
    nets = [n.get("value") for n in ip.get("authorizedNetworks") or []]
    public_ip = bool(ip.get("ipv4Enabled"))
    ssl_mode = str(ip.get("sslMode", "")).upper()
    https = bool(ip.get("requireSsl")) or ssl_mode in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
    key = _kms(d.get("diskEncryptionConfiguration"))
    region = _lower(d.get("region")) or base.get("region")
    out = {"region": region, "network_open": public_ip and any(n in ("0.0.0.0/0", "::/0") for n in nets),
           "https_only": https, "encryption": "customer" if key else "provider", "key_id": key,
           "created": d.get("createTime")}
    replicas = []
    backup = settings.get("backupConfiguration") or {}
    if backup.get("enabled"):
        # An unset backup location means the nearest multi-region (not in-country).
        target = _lower(backup.get("location")) or nearest_multi_region(region)
        replicas.append({"target_region": target, "kind": "backup"})
    return out, replicas


def _storage_locations(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    locs = [l.lower() for l in d.get("storageLocations") or []]
    out: dict[str, Any] = {"created": d.get("creationTimestamp")}
    if locs:
        out["region"] = locs[0]
    key = _kms(d.get("snapshotEncryptionKey"), d.get("imageEncryptionKey"), d.get("diskEncryptionKey"))
    out["encryption"] = "customer" if key else "provider"
    out["key_id"] = key
    return out, [{"target_region": loc, "kind": "snapshot_copy"} for loc in locs[1:]]


def _disk(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    key = _kms(d.get("diskEncryptionKey"))
    return {"region": _last(d.get("zone")) or _last(d.get("region")) or base.get("region"),
            "attached": bool(d.get("users")), "encryption": "customer" if key else "provider", "key_id": key,
            "created": d.get("creationTimestamp")}, []


def _dataset(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    key = _kms(d.get("defaultEncryptionConfiguration"))
    return {"region": _lower(d.get("location")) or base.get("region"),
            "encryption": "customer" if key else "provider", "key_id": key}, []


def _crypto_key(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    match = re.search(r"/locations/([^/]+)/", d.get("name", ""))
    return {"region": match.group(1).lower() if match else base.get("region"),
            "rotation_days": _seconds_to_days(d.get("rotationPeriod")),
            "rotation_enabled": bool(d.get("rotationPeriod")), "key_manager": "customer",
            "encryption": "customer", "created": d.get("createTime")}, []


def _topic(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    allowed = [r.lower() for r in (d.get("messageStoragePolicy") or {}).get("allowedPersistenceRegions") or []]
    key = d.get("kmsKeyName")
    out: dict[str, Any] = {"encryption": "customer" if key else "provider", "key_id": key or None}
    # Without a message storage policy, messages may persist in any region: "global".
    out["region"] = allowed[0] if allowed else GLOBAL
    return out, [{"target_region": r, "kind": "replication"} for r in allowed[1:]]


def _log_bucket(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    match = re.search(r"/locations/([^/]+)/", d.get("name", ""))
    key = (d.get("cmekSettings") or {}).get("kmsKeyName")
    return {"region": match.group(1).lower() if match else base.get("region"),
            "encryption": "customer" if key else "provider", "key_id": key, "created": d.get("createTime")}, []


def _firewall(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    # The "default" network comes with default-allow-* rules created by Google.
    default = str(d.get("network", "")).endswith("/networks/default") and \
        str(d.get("name", "")).startswith("default-allow-")
    return {"region": GLOBAL, "attached": not d.get("disabled", False), "created": d.get("creationTimestamp"),
            "is_default": default}, []


def _network(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    return {"region": GLOBAL, "is_default": d.get("name") == "default", "created": d.get("creationTimestamp"),
            "attached": bool(d.get("subnetworks")) or None}, []


def _metadata(d: dict[str, Any]) -> dict[str, str]:
    items = (d.get("metadata") or d.get("commonInstanceMetadata") or {}).get("items") or []
    return {str(i.get("key", "")).lower(): str(i.get("value", "")).strip().lower() for i in items}


_TRUE = ("true", "1", "yes", "y")


def _vm(d: dict[str, Any], base: dict[str, Any], ctx: _Context, rid: str) -> tuple[dict, list]:
    """Compute instance hardening: Shielded VM, serial port, OS Login, project-wide SSH keys.

    Instance metadata overrides the project's common metadata (Compute's own precedence).
    """
    project = ctx.project_metadata.get(base["account_id"], {})
    meta = {**project, **_metadata(d)}
    shielded = d.get("shieldedInstanceConfig") or {}
    weak = []
    if not shielded.get("enableSecureBoot"):
        weak.append("no_secure_boot")
    if not shielded.get("enableVtpm"):
        weak.append("no_vtpm")
    if not shielded.get("enableIntegrityMonitoring"):
        weak.append("no_integrity_monitoring")
    if meta.get("serial-port-enable") in _TRUE:
        weak.append("serial_port")
    if meta.get("enable-oslogin") not in _TRUE:
        weak.append("no_os_login")
    if meta.get("block-project-ssh-keys") not in _TRUE:
        weak.append("project_ssh_keys")
    return {"region": _last(d.get("zone")) or base.get("region"), "attached": d.get("status") == "RUNNING",
            "weak_settings": weak, "created": d.get("creationTimestamp")}, []


SHAPERS = {
    "storage.googleapis.com/Bucket": _bucket,
    "sqladmin.googleapis.com/Instance": _sql,
    "compute.googleapis.com/Disk": _disk,
    "compute.googleapis.com/Snapshot": _storage_locations,
    "compute.googleapis.com/Image": _storage_locations,
    "bigquery.googleapis.com/Dataset": _dataset,
    "cloudkms.googleapis.com/CryptoKey": _crypto_key,
    "pubsub.googleapis.com/Topic": _topic,
    "logging.googleapis.com/LogBucket": _log_bucket,
    "compute.googleapis.com/Firewall": _firewall,
    "compute.googleapis.com/Network": _network,
    "compute.googleapis.com/Instance": _vm,
}


def _assets(ctx: _Context) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for r in ctx.c.find(C.SRC_LIST_ASSETS) for a in r.data.get("assets", [])}


def _resources(ctx: _Context, assets: dict[str, dict[str, Any]]) -> tuple[list, list, list]:
    resources, tags, replicas = [], [], []
    config_ok = ctx.source_ok(C.SRC_LIST_ASSETS)
    seen: set[str] = set()
    searched = [res for r in ctx.c.find(C.SRC_SEARCH_RESOURCES) for res in r.data.get("results", [])]
    # Config-only assets (search denied or lagging) still appear, from their listAssets entry.
    known = {s.get("name") for s in searched}
    searched += [{"name": a["name"], "assetType": a.get("assetType"), "location": a.get("resource", {}).get("location"),
                  "ancestors": a.get("ancestors", [])}
                 for a in assets.values() if a.get("assetType") in KIND and a["name"] not in known]
    for s in searched:
        rid, atype = s.get("name"), s.get("assetType")
        if not rid or rid in seen or atype not in KIND:
            continue
        seen.add(rid)
        asset = assets.get(rid, {})
        ancestors = asset.get("ancestors") or s.get("ancestors") or []
        project = s.get("project") or next((a for a in ancestors if a.startswith("projects/")), None)
        account = ctx.account(project, ancestors)
        kind = KIND[atype]
        base = {"provider": PROVIDER, "account_id": account, "resource_id": rid,
                "name": s.get("displayName") or rid.rsplit("/", 1)[-1], "kind": kind, "native_type": atype,
                "data_bearing": kind not in NOT_DATA_BEARING, "region": _lower(s.get("location")) or GLOBAL,
                "created": s.get("createTime")}
        # Google encrypts all data at rest by default; a KMS key on the resource means CMEK.
        kms = [k for k in (s.get("kmsKeys") or []) + ([s["kmsKey"]] if s.get("kmsKey") else []) if k]
        base["encryption"] = "customer" if kms else "provider"
        if kms:
            base["key_id"] = kms[0]
        data = (asset.get("resource") or {}).get("data")
        extra: dict[str, Any] = {}
        copies: list[dict[str, Any]] = []
        if data is not None and atype in SHAPERS:
            extra, copies = SHAPERS[atype](data, base, ctx, rid)
        elif atype in SHAPERS and not config_ok and not kms:
            extra = {"encryption": "unknown"}   # configuration unread: a CMEK may be hidden
        row = {**base, **{k: v for k, v in extra.items() if v is not None or k in ("public_read", "public_write")}}
        if "public_read" not in extra and ctx.iam_ok:
            # Anonymous access to everything but buckets is IAM only (allUsers / allAuthenticatedUsers).
            roles = {b.get("role") for b in ctx.bindings_on.get(rid, []) if PUBLIC_MEMBERS & set(b.get("members", []))}
            row["public_read"] = bool(roles)
            row["public_write"] = any(privilege_of(r) != "read" for r in roles)
        if kind not in NOT_DATA_BEARING and row["account_id"] in ctx.project_ids:
            row["data_access_logging"] = ctx.data_access_logged(account, atype.split("/", 1)[0])
        _bucket_tls(row, ctx)
        row["created"] = _ts(row.get("created"))
        resources.append(row)
        for copy in copies:
            replicas.append({"provider": PROVIDER, "account_id": account, "resource_id": rid,
                             "source_region": row["region"], **copy})
        for key, value in sorted((s.get("labels") or (data or {}).get("labels") or {}).items()):
            tags.append({"provider": PROVIDER, "account_id": account, "resource_id": rid, "key": key, "value": value})
    # Cloud SQL read replicas: the replica's region is a copy of its primary.
    by_short = {(r["account_id"], r["name"]): r for r in resources if r["kind"] == "database"}
    for name, a in assets.items():
        d = (a.get("resource") or {}).get("data") or {}
        master = d.get("masterInstanceName")
        if a.get("assetType") == "sqladmin.googleapis.com/Instance" and master:
            proj, _, inst = master.rpartition(":")
            primary = by_short.get((proj, inst))
            if primary is not None:
                replicas.append({"provider": PROVIDER, "account_id": primary["account_id"],
                                 "resource_id": primary["resource_id"], "source_region": primary["region"],
                                 "target_region": _lower(d.get("region")), "kind": "read_replica",
                                 "target_account": d.get("project")})
    return resources, tags, replicas


def _network_rules(ctx: _Context, assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, a in assets.items():
        if a.get("assetType") != "compute.googleapis.com/Firewall":
            continue
        d = (a.get("resource") or {}).get("data") or {}
        account = ctx.account(next((x for x in a.get("ancestors", []) if x.startswith("projects/")), None))
        direction = "ingress" if str(d.get("direction", "INGRESS")).upper() == "INGRESS" else "egress"
        sources = (d.get("sourceRanges") or d.get("sourceTags") or ["*"]) if direction == "ingress" \
            else (d.get("destinationRanges") or ["*"])
        for action, entries in (("allow", d.get("allowed") or []), ("deny", d.get("denied") or [])):
            for entry in entries:
                proto = str(entry.get("IPProtocol", entry.get("ipProtocol", "all"))).lower()
                proto = "all" if proto in ("all", "") else proto
                ports = entry.get("ports") or [None]
                for port in ports:
                    lo = hi = None
                    if port is not None:
                        first, _, last = str(port).partition("-")
                        lo, hi = int(first), int(last or first)
                    for src in sources:
                        rows.append({"provider": PROVIDER, "account_id": account, "region": GLOBAL,
                                     "resource_id": name, "rule_id": d.get("name") or name.rsplit("/", 1)[-1],
                                     "direction": direction, "source": src, "protocol": proto,
                                     "port_from": lo, "port_to": hi, "action": action,
                                     "attached": not d.get("disabled", False)})
    return rows


# ----------------------------------------------------------------------------- identities

def _member_parts(member: str) -> tuple[str, str, bool]:
    """(type, identity, deleted) of an IAM member string."""
    deleted = member.startswith("deleted:")
    body = member[len("deleted:"):] if deleted else member
    kind, _, ident = body.partition(":")
    ident = ident.split("?uid=", 1)[0]
    return (kind if ident else body), (ident or body), deleted


PRINCIPAL_KIND = {"user": "user", "serviceAccount": "service_account", "group": "group", "domain": "group",
                  "allUsers": "group", "allAuthenticatedUsers": "group", "principal": "service_principal",
                  "principalSet": "service_principal", "projectOwner": "group", "projectEditor": "group",
                  "projectViewer": "group"}

_SA_PROJECT = re.compile(r"^[^@]+@([a-z0-9-]+)\.iam\.gserviceaccount\.com$")
_SA_MANAGED = re.compile(r"^service-(\d+)@|^(\d+)-compute@developer\.gserviceaccount\.com$|^(\d+)@cloudservices\.")
_SA_APPSPOT = re.compile(r"^([a-z0-9-]+)@appspot\.gserviceaccount\.com$")


def is_external(ctx: _Context, kind: str, ident: str) -> bool | None:
    """Member from outside the organization (None when it cannot be told)."""
    if kind in ("allUsers", "allAuthenticatedUsers"):
        return True
    if kind in ("projectOwner", "projectEditor", "projectViewer", "principal", "principalSet"):
        return False
    email = ident.lower()
    if kind == "serviceAccount":
        managed = _SA_MANAGED.match(email)
        if managed:
            number = next(g for g in managed.groups() if g)
            return number not in ctx.project_numbers
        for pattern in (_SA_PROJECT, _SA_APPSPOT):
            m = pattern.match(email)
            if m:
                if m.group(1).startswith("gcp-sa-"):
                    return False  # Google-managed service agent of a project checked above
                return m.group(1) not in ctx.project_ids
        return True
    domain = email.rsplit("@", 1)[-1] if "@" in email else email
    if domain in ("gmail.com", "googlemail.com"):
        return True
    if not ctx.allowed_domains:
        return None
    return not any(domain == d or domain.endswith("." + d) for d in ctx.allowed_domains)


def privilege_of(role: str) -> str:
    """admin, write or read for a predefined or custom role name."""
    short = role.rsplit("/", 1)[-1]
    if role == "roles/owner" or role in ESCALATION_ROLES or short.lower().endswith("admin"):
        return "admin"
    if role == "roles/viewer" or READ_ROLE.search(short):
        return "read"
    return "write"


def _grants(ctx: _Context) -> list[dict[str, Any]]:
    """One row per (binding member, role, resource). Organization and folder bindings are listed
    at the organization (``via`` direct) and again in every project below them (``via`` inherited),
    as a project's effective access includes them."""
    rows = []
    below: dict[str, list[str]] = defaultdict(list)    # org / folder node -> project ids under it
    for name, p in ctx.projects.items():
        for node in ctx.ancestors(name)[1:]:
            below[node].append(p["projectId"])
    for res in ctx.iam_results:
        resource, atype = res.get("resource", ""), res.get("assetType", "")
        node = resource.split("googleapis.com/", 1)[-1]     # organizations/N, folders/N, projects/N
        if atype.endswith("/Organization"):
            scope, account = "organization", res.get("organization") or ctx.org_key
        elif atype.endswith("/Folder"):
            scope, account = "folder", ctx.org_key
        elif atype.endswith("/Project"):
            scope, account = "project", ctx.account(res.get("project"))
        else:
            scope, account = "resource", ctx.account(res.get("project"))
        targets = [(account, "direct")]
        if scope in ("organization", "folder"):
            targets += [(pid, "inherited") for pid in sorted(below.get(node, []))]
        for b in res.get("policy", {}).get("bindings", []):
            role = b.get("role", "")
            condition = json.dumps(b.get("condition") or {})
            standing = "request.time" not in condition
            for member in b.get("members", []):
                kind, ident, _ = _member_parts(member)
                row = {"provider": PROVIDER, "principal_id": member, "principal_kind": PRINCIPAL_KIND.get(kind, "user"),
                       "scope": f"{scope} {resource}", "role": role, "privilege": privilege_of(role),
                       "standing": standing, "external": is_external(ctx, kind, ident),
                       "public": kind in PUBLIC_MEMBERS}
                rows.extend({**row, "account_id": target, "via": via} for target, via in targets)
    return rows


def _principals(ctx: _Context, assets: dict[str, dict[str, Any]], directory: list[dict[str, Any]]) -> list:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    users = {u.get("primaryEmail", "").lower(): u for u in directory}
    for a in assets.values():
        if a.get("assetType") != "iam.googleapis.com/ServiceAccount":
            continue
        d = (a.get("resource") or {}).get("data") or {}
        email = d.get("email", "")
        account = ctx.account(next((x for x in a.get("ancestors", []) if x.startswith("projects/")), None))
        pid = f"serviceAccount:{email}"
        rows[(account, pid)] = {"provider": PROVIDER, "account_id": account, "principal_id": pid, "name": email,
                                "kind": "service_account", "human": False, "top_level": False,
                                "console_access": False, "mfa": None, "enabled": not d.get("disabled", False),
                                "external": False}
    known_sas = {pid for _, pid in rows}
    for res in ctx.iam_results:
        for b in res.get("policy", {}).get("bindings", []):
            for member in b.get("members", []):
                kind, ident, deleted = _member_parts(member)
                if kind not in ("user", "serviceAccount", "group", "domain", "allUsers", "allAuthenticatedUsers"):
                    continue
                if kind == "serviceAccount" and member in known_sas:
                    continue
                key = (ctx.org_key, member)
                if key in rows:
                    continue
                human = kind == "user"
                user = users.get(ident.lower()) if human else None
                mfa = None
                if user is not None:
                    mfa = "virtual" if user.get("isEnrolledIn2Sv") else "none"
                elif human:
                    mfa = "unknown"
                rows[key] = {"provider": PROVIDER, "account_id": ctx.org_key, "principal_id": member, "name": ident,
                             "kind": PRINCIPAL_KIND.get(kind, "user"), "human": human,
                             "top_level": bool(user.get("isAdmin")) if user is not None else None,
                             "console_access": human or None, "mfa": mfa,
                             "enabled": (False if deleted else (not user.get("suspended", False) if user else None)),
                             "external": is_external(ctx, kind, ident),
                             "created": _ts((user or {}).get("creationTime")),
                             "last_active": _ts((user or {}).get("lastLoginTime"))}
    # Directory users who hold no binding are principals as well.
    for email, u in users.items():
        key = (ctx.org_key, f"user:{email}")
        if key not in rows:
            rows[key] = {"provider": PROVIDER, "account_id": ctx.org_key, "principal_id": f"user:{email}",
                         "name": email, "kind": "user", "human": True, "top_level": bool(u.get("isAdmin")),
                         "console_access": True, "mfa": "virtual" if u.get("isEnrolledIn2Sv") else "none",
                         "enabled": not u.get("suspended", False), "external": is_external(ctx, "user", email),
                         "created": _ts(u.get("creationTime")), "last_active": _ts(u.get("lastLoginTime"))}
    return list(rows.values())


def _credentials(ctx: _Context, assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, a in assets.items():
        if a.get("assetType") != "iam.googleapis.com/ServiceAccountKey":
            continue
        d = (a.get("resource") or {}).get("data") or {}
        if str(d.get("keyType", "USER_MANAGED")).upper() not in ("USER_MANAGED", "1"):
            continue  # Google-managed keys rotate automatically
        key_name = d.get("name") or name
        match = re.search(r"serviceAccounts/([^/]+)/keys/([^/]+)$", key_name)
        email, key_id = (match.group(1), match.group(2)) if match else (None, key_name)
        account = ctx.account(next((x for x in a.get("ancestors", []) if x.startswith("projects/")), None))
        created = _ts(d.get("validAfterTime"))
        rows.append({"provider": PROVIDER, "account_id": account, "principal_id": f"serviceAccount:{email}",
                     "credential_id": key_id, "kind": "service_account_key", "active": not d.get("disabled", False),
                     "created": created, "last_rotated": created, "last_used": None,
                     "expires": _ts(d.get("validBeforeTime"))})
    return rows


# ----------------------------------------------------------------------------- guardrails and logs

def _policy_state(kind: str, spec: dict[str, Any]) -> tuple[bool | None, list[str]]:
    """(enforced, values) of one policy spec; enforced None when the spec sets nothing."""
    rules = spec.get("rules") or []
    allowed = [v for rule in rules for v in (rule.get("values") or {}).get("allowedValues", [])]
    if kind == "tls_version_restriction":
        # A deny list: enforced when TLS 1.0 and 1.1 are both denied by unconditional rules (values:
        # the versions those deny); denyAll is not documented for it: set, but not known enforced.
        denied = C.tls_denied(spec)
        conditional = any(rule.get("condition") for rule in rules)
        if not (denied or conditional or any(rule.get("denyAll") for rule in rules)):
            return None, []
        return C.tls_floor(spec)[0] == "1.2", sorted(set(denied))
    if kind in ("region_restriction", "domain_restriction"):
        if any(rule.get("allowAll") for rule in rules) or not (allowed or any(r.get("denyAll") for r in rules)):
            return None, []
        values = [v for raw in allowed for v in expand_location_value(raw)] if kind == "region_restriction" else allowed
    else:
        if not any(rule.get("enforce") is True for rule in rules):
            return None, []
        values = []
    # A conditional rule covers only some resources: not a blanket guardrail.
    return not any(rule.get("condition") for rule in rules), values


def _guardrails(ctx: _Context) -> list[dict[str, Any]]:
    """One row per project and constraint set there: enforced (spec) or audit only (dry-run spec).

    A constraint that is not set (or allows everything) gives no row: the guardrail is absent.
    """
    rows = []
    for r in ctx.c.find(C.SRC_EFFECTIVE_POLICY):
        node, constraint, policy = r.data["node"], r.data["constraint"], r.data.get("policy") or {}
        if not node.startswith("projects/"):
            # Checks read org-level rows as inherited by every project, but a project may override
            # the organization's policy: only each project's own effective policy is evidence.
            continue
        kind = C.CONSTRAINTS[constraint]
        effective, values = _policy_state(kind, policy.get("spec") or {})
        if effective is None:
            dry, values = _policy_state(kind, policy.get("dryRunSpec") or {})
            if dry is None:
                continue
            effective = False
        rows.append({"provider": PROVIDER, "account_id": r.account_id, "scope": "project", "kind": kind,
                     "effective": effective, "values": values,
                     "detail": json.dumps({"constraint": f"constraints/{constraint}", "node": node,
                                           "spec": policy.get("spec") or {},
                                           "dryRunSpec": policy.get("dryRunSpec") or {}}, sort_keys=True)})
    return rows


def _access_approval(ctx: _Context) -> list[dict[str, Any]]:
    """provider_access_approval per project / organization whose Access Approval settings enroll it:
    enrolled services of its own (values = their cloud products) or an enrolled ancestor.

    Settings that enroll nothing (or NOT_FOUND: never configured) give no row: not enrolled.
    """
    rows = []
    for r in ctx.c.find(C.SRC_ACCESS_APPROVAL):
        node, settings = str(r.data.get("node", "")), r.data.get("settings") or {}
        products = [str(s.get("cloudProduct", "")) for s in settings.get("enrolledServices") or []]
        ancestor = settings.get("enrolledAncestor") is True
        if not (products or ancestor):
            continue
        rows.append({"provider": PROVIDER, "account_id": r.account_id,
                     "scope": node.split("/", 1)[0].rstrip("s") or "project",
                     "kind": C.ACCESS_APPROVAL_KIND, "effective": True, "values": products,
                     "detail": json.dumps({"settings": settings.get("name", f"{node}/accessApprovalSettings"),
                                           "enrolledServices": settings.get("enrolledServices") or [],
                                           "enrolledAncestor": ancestor,
                                           "notificationEmails": settings.get("notificationEmails") or []},
                                          sort_keys=True)})
    return rows


def _threat_detection(ctx: _Context) -> list[dict[str, Any]]:
    """threat_detection per project from Security Command Center's Event Threat Detection service.

    Effective state ENABLED: effective, values ``["*"]`` (SCC is global). INGEST_ONLY (findings are
    ingested, the service does not detect): a row that is not effective (configured, not enabled).
    DISABLED: no row (no threat detection). Other states are not interpreted (the collector wrote
    an ``unsupported`` coverage row for them).
    """
    rows = []
    for r in ctx.c.find(C.SRC_SCC_SERVICE):
        node, service = str(r.data.get("node", "")), r.data.get("service") or {}
        effective = str(service.get("effectiveEnablementState", ""))
        if effective not in ("ENABLED", "INGEST_ONLY"):
            continue
        rows.append({"provider": PROVIDER, "account_id": r.account_id, "scope": "scc",
                     "kind": C.THREAT_DETECTION_KIND, "effective": effective == "ENABLED", "values": ["*"],
                     "detail": json.dumps({"service": service.get("name", f"{node}/locations/{C.SCC_LOCATION}/"
                                                                          f"securityCenterServices/{C.SCC_SERVICE}"),
                                           "effectiveEnablementState": effective,
                                           "intendedEnablementState": service.get("intendedEnablementState", "")},
                                          sort_keys=True)})
    return rows


SECURITY_ALERT = re.compile(r"SetIamPolicy|cloudaudit\.googleapis\.com|logging\.googleapis\.com/user/|"
                            r"protoPayload\.methodName|CreateServiceAccountKey|UpdateSink|firewalls", re.I)


def _asset_guardrails(ctx: _Context, assets: dict[str, dict[str, Any]], directory: list[dict[str, Any]]) -> list:
    """security_contact (Essential Contacts), security_alerting (Cloud Monitoring alert policies on
    audit-log events) and, with the Directory API, mfa_required (2SV enforced for every user)."""
    rows = []
    for name, a in assets.items():
        atype = a.get("assetType")
        d = (a.get("resource") or {}).get("data") or {}
        ancestors = a.get("ancestors", [])
        project = next((x for x in ancestors if x.startswith("projects/")), None)
        account = ctx.account(project) if project else next(
            (x for x in ancestors if x.startswith("organizations/")), ctx.org_key)
        scope = "project" if project else "organization"
        if atype == "essentialcontacts.googleapis.com/Contact":
            cats = {str(c).upper() for c in d.get("notificationCategorySubscriptions", [])}
            rows.append({"provider": PROVIDER, "account_id": account, "scope": scope, "kind": "security_contact",
                         "effective": bool(cats & {"SECURITY", "ALL"}), "values": [d.get("email", "")],
                         "detail": json.dumps({"contact": d.get("name", name), "categories": sorted(cats)})})
        elif atype == "monitoring.googleapis.com/AlertPolicy":
            filters = " ".join(json.dumps(c) for c in d.get("conditions", []))
            if not SECURITY_ALERT.search(filters):
                continue
            enabled = d.get("enabled", True) is not False
            rows.append({"provider": PROVIDER, "account_id": account, "scope": scope, "kind": "security_alerting",
                         "effective": enabled and bool(d.get("notificationChannels")),
                         "values": [d.get("displayName", name)],
                         "detail": json.dumps({"alert_policy": d.get("name", name), "enabled": enabled,
                                               "channels": len(d.get("notificationChannels") or [])})})
    if directory:
        enforced = all(u.get("isEnforcedIn2Sv") for u in directory if not u.get("suspended"))
        rows.append({"provider": PROVIDER, "account_id": ctx.org_key, "scope": "organization",
                     "kind": "mfa_required", "effective": enforced, "values": [],
                     "detail": json.dumps({"users": len(directory), "not_enforced": sorted(
                         u.get("primaryEmail", "") for u in directory if not u.get("isEnforcedIn2Sv"))})})
    return rows


IMPERSONATION_ROLES = {"roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser",
                       "roles/iam.workloadIdentityUser", "roles/iam.serviceAccountOpenIdTokenCreator",
                       "roles/owner", "roles/editor"}


def _trusts(ctx: _Context, grants: list[dict[str, Any]], assets: dict[str, dict[str, Any]]) -> list:
    """Who may act as a service account: impersonation roles on the account or its project."""
    rank = {"read": 0, "write": 1, "admin": 2}
    held: dict[str, str] = {}
    for g in grants:
        if g["principal_id"].startswith("serviceAccount:"):
            email = g["principal_id"].split(":", 1)[1]
            if rank[g["privilege"]] >= rank.get(held.get(email, "read"), 0):
                held[email] = g["privilege"]
    sa_email = {}
    for name, a in assets.items():
        if a.get("assetType") == "iam.googleapis.com/ServiceAccount":
            sa_email[name] = ((a.get("resource") or {}).get("data") or {}).get("email", "")
    rows = []
    for res in ctx.iam_results:
        resource, atype = res.get("resource", ""), res.get("assetType", "")
        if atype == "iam.googleapis.com/ServiceAccount":
            email = sa_email.get(resource) or resource.rsplit("/", 1)[-1]
            role_id, privilege = f"serviceAccount:{email}", held.get(email)
        elif atype.endswith("/Project"):
            role_id, privilege = f"{resource}/serviceAccounts/*", None
        else:
            continue
        account = ctx.account(res.get("project"))
        for b in res.get("policy", {}).get("bindings", []):
            role = b.get("role", "")
            if role not in IMPERSONATION_ROLES or (atype.endswith("/Project") and role in ("roles/owner", "roles/editor")):
                continue
            for member in b.get("members", []):
                kind, ident, _ = _member_parts(member)
                trusted_account = (ident.rsplit("@", 1)[-1].split(".", 1)[0] if kind == "serviceAccount"
                                   else ident.rsplit("@", 1)[-1])
                rows.append({"provider": PROVIDER, "account_id": account, "role_id": role_id, "trusted": member,
                             "trusted_account": trusted_account, "external": is_external(ctx, kind, ident),
                             "wildcard": kind in PUBLIC_MEMBERS, "external_id": False,
                             "mfa_required": None, "privilege": privilege})
    return rows


def _sinks(ctx: _Context, assets: dict[str, dict[str, Any]], resources: list[dict[str, Any]]) -> list:
    """Log sinks (Log Router): where routed logs are stored, with the destination's retention and lock.

    A destination outside the audited scope has an unknown location (fails closed in residency).
    """
    region_of = {r["resource_id"]: r["region"] for r in resources}
    rows = []
    for name, a in assets.items():
        if a.get("assetType") != "logging.googleapis.com/LogSink":
            continue
        d = (a.get("resource") or {}).get("data") or {}
        dest = str(d.get("destination", ""))
        target = assets.get(f"//{dest}", {})
        tdata = (target.get("resource") or {}).get("data") or {}
        retention, locked = None, None
        match = re.match(r"^logging\.googleapis\.com/projects/[^/]+/locations/([^/]+)/buckets/", dest)
        if match:
            region = match.group(1).lower()
            retention, locked = tdata.get("retentionDays"), tdata.get("locked")
        else:
            region = region_of.get(f"//{dest}")
            policy = tdata.get("retentionPolicy") or {}
            if policy.get("retentionPeriod"):
                retention = int(policy["retentionPeriod"]) // 86400
                locked = bool(policy.get("isLocked"))
        flt = str(d.get("filter", ""))
        ancestors = a.get("ancestors", [])
        project = next((x for x in ancestors if x.startswith("projects/")), None)
        rows.append({"provider": PROVIDER, "account_id": ctx.account(project) if project else ctx.org_key,
                     "region": region or GLOBAL, "log_id": d.get("name", name),
                     "scope": "account" if project else "organization",
                     "enabled": not d.get("disabled", False), "multi_region": True,
                     "management_events": not flt or "activity" in flt or "cloudaudit" in flt,
                     "data_events": not flt or "data_access" in flt,
                     "integrity": locked, "retention_days": retention, "destination_region": region})
    return rows


def _audit_logs(ctx: _Context, assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    # Data Access logs land in the project's _Default log bucket (global unless relocated).
    default_bucket: dict[str, tuple[str, Any, Any]] = {}
    for a in assets.values():
        data = (a.get("resource") or {}).get("data") or {}
        match = re.match(r"^projects/([^/]+)/locations/([^/]+)/buckets/_Default$", data.get("name", ""))
        if a.get("assetType") == "logging.googleapis.com/LogBucket" and match:
            default_bucket[match.group(1)] = (match.group(2).lower(), data.get("retentionDays"),
                                              bool(data.get("locked", False)))
    for p in ctx.projects.values():
        pid = p["projectId"]
        if pid not in ctx.audit_ok:
            continue
        where, retention, locked = default_bucket.get(pid, (GLOBAL, None, None))
        rows.append({"provider": PROVIDER, "account_id": pid, "region": where, "log_id": f"projects/{pid}/auditConfigs",
                     "scope": "account", "enabled": True, "multi_region": True,
                     "management_events": True,  # Admin Activity audit logs cannot be turned off
                     "data_events": ctx.data_access_logged(pid, "allServices"), "integrity": locked,
                     "retention_days": retention, "destination_region": where})
    for name, a in assets.items():
        if a.get("assetType") != "logging.googleapis.com/LogBucket":
            continue
        d = (a.get("resource") or {}).get("data") or {}
        match = re.search(r"/locations/([^/]+)/", d.get("name", name))
        region = match.group(1).lower() if match else GLOBAL
        account = ctx.account(next((x for x in a.get("ancestors", []) if x.startswith("projects/")), None))
        rows.append({"provider": PROVIDER, "account_id": account, "region": region, "log_id": d.get("name", name),
                     "scope": "account", "enabled": str(d.get("lifecycleState", "ACTIVE")).upper() in ("ACTIVE", "1"),
                     "multi_region": True, "management_events": True, "data_events": None,
                     "integrity": bool(d.get("locked", False)), "retention_days": d.get("retentionDays"),
                     "destination_region": region})
    return rows


def _coverage(collection: Collection) -> list[dict[str, Any]]:
    return [{"provider": PROVIDER, "account_id": row.account_id, "region": row.region, "table": row.table,
             "source": row.source, "status": row.status, "message": row.message,
             "resource_id": row.resource_id} for row in collection.coverage]


def normalize(collection: Collection) -> Inventory:
    """Build the inventory from a GCP collection (pure: reads only the records)."""
    ctx = _Context(collection)
    assets = _assets(ctx)
    resources, tags, replicas = _resources(ctx, assets)
    directory = [u for r in collection.find(C.SRC_DIRECTORY) for u in r.data.get("users", [])]
    grants = _grants(ctx)
    tables = {
        "tenants": _tenants(ctx),
        "resources": resources,
        "tags": tags,
        "replicas": replicas,
        "principals": _principals(ctx, assets, directory),
        "credentials": _credentials(ctx, assets),
        "grants": grants,
        "trusts": _trusts(ctx, grants, assets),
        "network_rules": _network_rules(ctx, assets),
        "guardrails": _guardrails(ctx) + _asset_guardrails(ctx, assets, directory) + _access_approval(ctx)
        + _threat_detection(ctx),
        "audit_logs": _audit_logs(ctx, assets) + _sinks(ctx, assets, resources),
        "coverage": _coverage(collection),
    }
    return Inventory({name: pd.DataFrame(rows) for name, rows in tables.items()})
