"""Pure mapping from the Azure collection's raw records to inventory tables.

Reads nothing but ``collection.records`` / ``collection.coverage`` (and the collection's start
time as "now" for credential expiry), so an evidence bundle replays into the same inventory.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pandas as pd

from ...inventory import Inventory
from ..base import Collection

PROVIDER = "azure"

# Built-in Azure RBAC roles by definition GUID.
ARM_ROLE_PRIVILEGE = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "admin",   # Owner
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "admin",   # User Access Administrator
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "admin",   # Role Based Access Control Administrator
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "write",   # Contributor
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "read",    # Reader
}
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
ALLOWED_LOCATIONS = "e56962a6-4747-49cd-b67b-bf8b01975c4c"
STORAGE_NO_PUBLIC = "4fa4b6c0-31ca-4c0d-b10d-24b96f62a751"
MICROSOFT_TENANTS = {"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"}

PHISHING_RESISTANT = {"fido2", "windowshelloforbusiness", "x509certificatemultifactor", "x509certificatesinglefactor",
                      "passkeydevicebound", "passkeydeviceboundauthenticator", "passkeydeviceboundwindowshello",
                      "platformcredential"}
HARDWARE = {"hardwareonetimepasscode"}
SECOND_FACTORS = {"microsoftauthenticatorpush", "softwareonetimepasscode", "mobilephone", "alternatemobilephone",
                  "officephone", "microsoftauthenticatorpasswordless", "temporaryaccesspass"}

KINDS = {  # ARM type -> (kind, data_bearing)
    "microsoft.storage/storageaccounts": ("bucket", True),
    "microsoft.compute/disks": ("volume", True),
    "microsoft.compute/snapshots": ("snapshot", True),
    "microsoft.sql/servers": ("database", True),
    "microsoft.sql/servers/databases": ("database", True),
    "microsoft.documentdb/databaseaccounts": ("database", True),
    "microsoft.keyvault/vaults": ("secret", True),
    "microsoft.recoveryservices/vaults": ("vault", True),
    "microsoft.network/networksecuritygroups": ("security_group", False),
    "microsoft.compute/virtualmachines": ("vm", False),
    "microsoft.operationalinsights/workspaces": ("log_store", True),
}
GEO_SKUS = ("GRS", "GZRS")
TLS = {"TLS1_0": "1.0", "TLS1_1": "1.1", "TLS1_2": "1.2", "TLS1_3": "1.3", "Tls": "1.0", "Tls11": "1.1",
       "Tls12": "1.2", "Tls13": "1.3", "1.0": "1.0", "1.1": "1.1", "1.2": "1.2", "1.3": "1.3", "None": "1.0"}
DATA_LOG_CATEGORIES = {"storageread", "auditevent", "sqlsecurityauditevents", "dataplanerequests", "audit", "alllogs"}
PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "*": "all", "esp": "esp", "ah": "ah"}


def normalize(collection: Collection) -> Inventory:
    """Build the inventory tables from an Azure collection (pure)."""
    n = _Normalizer(collection)
    return Inventory({
        "tenants": n.tenants(), "regions": n.regions(), "resources": n.resources(), "tags": n.tags(),
        "replicas": n.replicas(), "principals": n.principals(), "credentials": n.credentials(),
        "grants": n.grants(), "trusts": n.trusts(), "network_rules": n.network_rules(),
        "guardrails": n.guardrails(), "audit_logs": n.audit_logs(), "coverage": n.coverage(),
    })


def _guid(resource_id: str | None) -> str:
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def _code(location: str | None) -> str | None:
    """Location code as ARM names it (display names like 'Japan East' become 'japaneast')."""
    if not location:
        return None
    return str(location).replace(" ", "").lower()


def _sub_of(resource_id: str) -> str | None:
    parts = resource_id.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else None


class _Normalizer:
    def __init__(self, collection: Collection):
        self.c = collection
        self.tenant = str(collection.meta.get("tenant_id") or self._first_account("arm:subscriptions") or "unknown")
        started = pd.Timestamp(collection.started)
        self.now = started.tz_convert("UTC") if started.tzinfo else started.tz_localize("UTC")
        self.rows = self._arg_rows()
        self.by_id = {str(r.get("id", "")).lower(): r for r in self.rows}
        self.users = {u["id"]: u for u in self._graph("graph:users")}
        self.sps = {s["id"]: s for s in self._graph("graph:servicePrincipals")}
        self.pairs = self._pairs()

    # ------------------------------------------------------------------ record access
    def _first_account(self, source: str) -> str | None:
        recs = self.c.find(source)
        return recs[0].account_id if recs else None

    def _arg_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for rec in self.c.records:
            if rec.source.startswith("arg:") and rec.source != "arg:subscriptions":
                rows.extend(rec.data.get("rows", []))
        return rows

    def _graph(self, source: str) -> list[dict[str, Any]]:
        return [item for rec in self.c.find(source) for item in (rec.data or [])]

    def _per_account(self, source: str) -> Iterable[tuple[str, dict[str, Any]]]:
        for rec in self.c.find(source):
            for item in rec.data or []:
                yield rec.account_id, item

    def _pairs(self) -> dict[tuple[str, str], str | None]:
        pairs: dict[tuple[str, str], str | None] = {}
        for sid, loc in self._per_account("arm:locations"):
            paired = (loc.get("metadata") or {}).get("pairedRegion") or []
            pairs[(sid, loc.get("name", ""))] = paired[0].get("name") if paired else None
        return pairs

    # ------------------------------------------------------------------ tenancy
    def _mg_paths(self) -> dict[str, str]:
        """Subscription id -> management-group path (display names, root first)."""
        paths: dict[str, str] = {}

        def walk(node: dict[str, Any], trail: list[str]) -> None:
            props = node.get("properties", node)
            name = props.get("displayName") or node.get("name")
            if str(node.get("type", "")).lower() == "/subscriptions":
                paths[str(node.get("name"))] = "/".join(trail)
                return
            for child in props.get("children") or []:
                walk(child, trail + [name])

        for rec in self.c.find("arm:managementGroups"):
            walk(rec.data, [])
        return paths

    def tenants(self) -> list[dict[str, Any]]:
        info = next((t for rec in self.c.find("arm:tenants") for t in rec.data or []), {})
        rows = [{"provider": PROVIDER, "account_id": self.tenant, "org_id": self.tenant,
                 "name": info.get("displayName") or self.tenant, "parent_path": "", "is_management": True,
                 "state": None}]
        paths = self._mg_paths()
        for _, sub in self._per_account("arm:subscriptions"):
            sid = sub["subscriptionId"]
            rows.append({"provider": PROVIDER, "account_id": sid, "org_id": sub.get("tenantId") or self.tenant,
                         "name": sub.get("displayName"), "parent_path": paths.get(sid), "is_management": False,
                         "state": sub.get("state")})
        return rows

    def regions(self) -> list[dict[str, Any]]:
        return [{"provider": PROVIDER, "account_id": sid, "region": loc["name"], "enabled": True, "opt_in": None}
                for sid, loc in self._per_account("arm:locations")
                if (loc.get("metadata") or {}).get("regionType", "Physical") == "Physical"]

    # ------------------------------------------------------------------ resources
    def _sql_open(self) -> dict[str, bool]:
        """SQL server id -> any firewall rule admits all Azure tenants (0.0.0.0) or the Internet."""
        open_: dict[str, bool] = {}
        for rec in self.c.find("arm:sqlFirewallRules"):
            rules = rec.data.get("rules", [])
            open_[rec.data["server"].lower()] = any(
                (r.get("properties") or {}).get("startIpAddress") == "0.0.0.0"
                and (r.get("properties") or {}).get("endIpAddress") in ("0.0.0.0", "255.255.255.255") for r in rules)
        return open_

    def _sql_encryption(self) -> dict[str, str]:
        """SQL server / database id -> provider, customer or none (key protector and TDE state)."""
        enc: dict[str, str] = {}
        for rec in self.c.find("arm:sqlEncryptionProtector"):
            key_type = str((rec.data.get("protector") or {}).get("properties", {}).get("serverKeyType", ""))
            enc[rec.data["server"].lower()] = "customer" if key_type == "AzureKeyVault" else "provider"
        for rec in self.c.find("arm:sqlTransparentDataEncryption"):
            state = str((rec.data.get("tde") or {}).get("properties", {}).get("state", ""))
            server = rec.data["database"].lower().rsplit("/databases/", 1)[0]
            # TDE on: the server's key protector says whose key; protector unread -> unknown.
            enc[rec.data["database"].lower()] = ("none" if state == "Disabled"
                                                 else enc.get(server, "unknown") if state == "Enabled" else "unknown")
        return enc

    def _data_logging(self) -> dict[str, bool]:
        """Data store id -> a diagnostic setting records data-plane access."""
        logged: dict[str, bool] = {}
        for rec in self.c.find("arm:resourceDiagnosticSettings"):
            on = False
            for setting in rec.data.get("settings") or []:
                for log in (setting.get("properties") or {}).get("logs") or []:
                    name = str(log.get("category") or log.get("categoryGroup") or "").lower()
                    on |= bool(log.get("enabled")) and name in DATA_LOG_CATEGORIES
            logged[rec.data["resource"].lower()] = on
        return logged

    def resources(self) -> list[dict[str, Any]]:
        data_logged = self._data_logging()
        public_containers = {rec.data["account"].lower(): any(
            str((c.get("properties") or {}).get("publicAccess") or "None") != "None" for c in rec.data.get("containers") or [])
            for rec in self.c.find("arm:blobContainers")}
        sql_open = self._sql_open()
        sql_enc = self._sql_encryption()
        out = []
        for r in self.rows:
            rtype = str(r.get("type", "")).lower()
            if rtype not in KINDS:  # e.g. activity-log alerts: guardrails, not resources
                continue
            kind, data_bearing = KINDS[rtype]
            p = r.get("properties") or {}
            row = {"provider": PROVIDER, "account_id": r.get("subscriptionId") or _sub_of(r["id"]),
                   "region": _code(r.get("location")), "resource_id": r["id"], "name": r.get("name"),
                   "kind": kind, "native_type": rtype, "data_bearing": data_bearing}
            row.update(_properties(rtype, r, p, sql_open, self.by_id))
            if rtype.startswith("microsoft.sql/servers"):
                row["encryption"] = sql_enc.get(r["id"].lower(), "unknown")
            if rtype == "microsoft.storage/storageaccounts" and r["id"].lower() in public_containers:
                # The account allows public access; what counts is whether a container uses it.
                row["public_read"] = public_containers[r["id"].lower()]
            if r["id"].lower() in data_logged:
                row["data_access_logging"] = data_logged[r["id"].lower()]
            elif rtype in ("microsoft.compute/disks", "microsoft.compute/snapshots"):
                row["data_access_logging"] = False  # managed disks have no data-plane access log
            out.append(row)
        return out + self._keys()

    def _keys(self) -> list[dict[str, Any]]:
        """Key Vault keys (customer-managed keys) with their automatic rotation period."""
        out = []
        for rec in self.c.find("arm:vaultKeys"):
            for k in rec.data.get("keys") or []:
                p = k.get("properties") or {}
                created = (p.get("attributes") or {}).get("created")
                rotate = [a for a in (p.get("rotationPolicy") or {}).get("lifetimeActions") or []
                          if str((a.get("action") or {}).get("type", "")).lower() == "rotate"]
                period = _iso_days((rotate[0].get("trigger") or {}).get("timeAfterCreate")) if rotate else None
                out.append({"provider": PROVIDER, "account_id": rec.account_id, "region": _code(k.get("location") or rec.data.get("location")),
                            "resource_id": k.get("id"), "name": k.get("name"), "kind": "key",
                            "native_type": "microsoft.keyvault/vaults/keys", "data_bearing": False,
                            "key_manager": "customer", "rotation_days": period,
                            "rotation_enabled": bool(rotate), "public_read": False,
                            "public_write": False,
                            "created": pd.Timestamp(created, unit="s", tz="UTC") if isinstance(created, (int, float)) else created})
        return out

    def tags(self) -> list[dict[str, Any]]:
        out = [{"provider": PROVIDER, "account_id": r.get("subscriptionId") or _sub_of(r["id"]), "resource_id": r["id"],
                "key": k, "value": v} for r in self.rows if str(r.get("type", "")).lower() in KINDS
               for k, v in (r.get("tags") or {}).items()]
        out += [{"provider": PROVIDER, "account_id": s["subscriptionId"], "resource_id": f"/subscriptions/{s['subscriptionId']}",
                 "key": k, "value": v} for _, s in self._per_account("arm:subscriptions") for k, v in (s.get("tags") or {}).items()]
        return out

    def replicas(self) -> list[dict[str, Any]]:
        out = []
        for r in self.rows:
            rtype = str(r.get("type", "")).lower()
            p = r.get("properties") or {}
            sid = r.get("subscriptionId") or _sub_of(r["id"])
            source = _code(r.get("location"))
            base = {"provider": PROVIDER, "account_id": sid, "resource_id": r["id"], "source_region": source}
            if rtype == "microsoft.storage/storageaccounts":
                sku = str((r.get("sku") or {}).get("name", ""))
                if any(sku.upper().endswith(s) for s in GEO_SKUS):
                    target = _code(p.get("secondaryLocation")) or self.pairs.get((sid, source or ""))
                    out.append({**base, "target_region": target, "kind": "geo_pair"})
            elif rtype == "microsoft.documentdb/databaseaccounts":
                for loc in p.get("locations") or []:
                    target = _code(loc.get("locationName"))
                    if target and target != source:
                        out.append({**base, "target_region": target, "kind": "replication"})
            elif rtype == "microsoft.recoveryservices/vaults":
                redundancy = str((p.get("redundancySettings") or {}).get("standardTierStorageRedundancy", ""))
                if redundancy.lower().startswith("georedundant") or "geozone" in redundancy.lower():
                    out.append({**base, "target_region": self.pairs.get((sid, source or "")), "kind": "backup"})
            elif rtype == "microsoft.sql/servers/databases":
                redundancy = str(p.get("currentBackupStorageRedundancy") or "")
                if redundancy.lower() in ("geo", "geozone"):
                    out.append({**base, "target_region": self.pairs.get((sid, source or "")), "kind": "backup"})
        return out

    def network_rules(self) -> list[dict[str, Any]]:
        out = []
        for r in self.rows:
            rtype = str(r.get("type", "")).lower()
            p = r.get("properties") or {}
            sid = r.get("subscriptionId") or _sub_of(r["id"])
            if rtype == "microsoft.network/networksecuritygroups":
                attached = bool(p.get("subnets") or p.get("networkInterfaces"))
                for rule in (p.get("securityRules") or []) + (p.get("defaultSecurityRules") or []):
                    rp = rule.get("properties") or rule  # Resource Graph keeps the nested 'properties'
                    sources = rp.get("sourceAddressPrefixes") or [rp.get("sourceAddressPrefix") or "*"]
                    ports = rp.get("destinationPortRanges") or [rp.get("destinationPortRange") or "*"]
                    for src in sources:
                        for port in ports:
                            low, high = _ports(port)
                            out.append({"provider": PROVIDER, "account_id": sid, "region": _code(r.get("location")),
                                        "resource_id": r["id"], "rule_id": rule.get("name"),
                                        "direction": "ingress" if str(rp.get("direction", "")).lower() == "inbound" else "egress",
                                        "source": _source(src),
                                        "protocol": PROTOCOLS.get(str(rp.get("protocol", "*")).lower(), str(rp.get("protocol")).lower()),
                                        "port_from": low, "port_to": high,
                                        "action": str(rp.get("access", "")).lower(), "attached": attached})
        for rec in self.c.find("arm:sqlFirewallRules"):
            server = self.by_id.get(rec.data["server"].lower(), {})
            for rule in rec.data.get("rules", []):
                rp = rule.get("properties") or {}
                start, end = rp.get("startIpAddress"), rp.get("endIpAddress")
                source = ("0.0.0.0/0" if (start, end) == ("0.0.0.0", "255.255.255.255")
                          else "AzureCloud" if (start, end) == ("0.0.0.0", "0.0.0.0") else f"{start}-{end}")
                out.append({"provider": PROVIDER, "account_id": rec.account_id, "region": _code(server.get("location")),
                            "resource_id": rec.data["server"], "rule_id": rule.get("name"), "direction": "ingress",
                            "source": source, "protocol": "tcp", "port_from": 1433, "port_to": 1433,
                            "action": "allow", "attached": True})
        return out

    # ------------------------------------------------------------------ identity
    def _mfa(self) -> dict[str, str]:
        mfa: dict[str, str] = {}
        for d in self._graph("graph:userRegistrationDetails"):
            methods = {str(m).lower() for m in d.get("methodsRegistered") or []}
            if methods & PHISHING_RESISTANT:
                mfa[d["id"]] = "phishing_resistant"
            elif methods & HARDWARE:
                mfa[d["id"]] = "hardware"
            elif d.get("isMfaRegistered") or methods & SECOND_FACTORS:
                mfa[d["id"]] = "virtual"
            else:
                mfa[d["id"]] = "none"
        return mfa

    def _directory_roles(self) -> dict[str, dict[str, Any]]:
        return {str(d.get("templateId") or d["id"]).lower(): d for d in self._graph("graph:directoryRoleDefinitions")} | \
               {str(d["id"]).lower(): d for d in self._graph("graph:directoryRoleDefinitions")}

    def _global_admins(self) -> set[str]:
        items = self._graph("graph:directoryRoleAssignments") + self._graph("graph:roleEligibilitySchedules")
        return {a["principalId"] for a in items if str(a.get("roleDefinitionId", "")).lower() == GLOBAL_ADMIN}

    def principals(self) -> list[dict[str, Any]]:
        have_mfa = bool(self.c.find("graph:userRegistrationDetails"))
        mfa = self._mfa()
        admins = self._global_admins()
        out = []
        for u in self.users.values():
            guest = str(u.get("userType", "")).lower() == "guest" or "#ext#" in str(u.get("userPrincipalName", "")).lower()
            sign_in = u.get("signInActivity") or {}
            out.append({"provider": PROVIDER, "account_id": self.tenant, "principal_id": u["id"],
                        "name": u.get("userPrincipalName") or u.get("displayName"), "kind": "guest" if guest else "user",
                        "human": True, "top_level": u["id"] in admins, "console_access": bool(u.get("accountEnabled")),
                        "mfa": mfa.get(u["id"], "unknown") if have_mfa else None,
                        "enabled": u.get("accountEnabled"), "external": guest, "created": u.get("createdDateTime"),
                        "last_active": sign_in.get("lastSuccessfulSignInDateTime") or sign_in.get("lastSignInDateTime")})
        for g in self._graph("graph:groups"):
            out.append({"provider": PROVIDER, "account_id": self.tenant, "principal_id": g["id"],
                        "name": g.get("displayName"), "kind": "group", "human": False, "top_level": g["id"] in admins,
                        "console_access": False, "mfa": None, "enabled": True, "external": False,
                        "created": g.get("createdDateTime")})
        for s in self.sps.values():
            owner = s.get("appOwnerOrganizationId")
            out.append({"provider": PROVIDER, "account_id": self.tenant, "principal_id": s["id"],
                        "name": s.get("displayName"), "kind": "service_principal", "human": False,
                        "top_level": s["id"] in admins, "console_access": False, "mfa": None,
                        "enabled": s.get("accountEnabled"),
                        "external": bool(owner) and owner != self.tenant and owner not in MICROSOFT_TENANTS,
                        "created": s.get("createdDateTime")})
        return out

    def credentials(self) -> list[dict[str, Any]]:
        sp_by_app = {s.get("appId"): s["id"] for s in self.sps.values()}
        out = []
        owners = [(sp_by_app.get(a.get("appId"), a["id"]), a) for a in self._graph("graph:applications")]
        owners += [(s["id"], s) for s in self.sps.values()]
        for r in self.rows:  # storage account access keys: long-lived shared secrets unless shared-key access is off
            if str(r.get("type", "")).lower() != "microsoft.storage/storageaccounts":
                continue
            p = r.get("properties") or {}
            created = p.get("keyCreationTime") or {}
            for key in ("key1", "key2"):
                out.append({"provider": PROVIDER, "account_id": r.get("subscriptionId") or _sub_of(r["id"]),
                            "principal_id": r["id"], "credential_id": f"{r['id']}#{key}", "kind": "storage_account_key",
                            "active": p.get("allowSharedKeyAccess") is not False,
                            "created": created.get(key) or p.get("creationTime"),
                            "last_rotated": created.get(key) or p.get("creationTime")})
        for principal, obj in owners:
            for field, kind in (("passwordCredentials", "client_secret"), ("keyCredentials", "certificate")):
                for cred in obj.get(field) or []:
                    start, end = cred.get("startDateTime"), cred.get("endDateTime")
                    active = (end is None or pd.Timestamp(end) > self.now) and (start is None or pd.Timestamp(start) <= self.now)
                    out.append({"provider": PROVIDER, "account_id": self.tenant, "principal_id": principal,
                                "credential_id": cred.get("keyId"), "kind": kind, "active": active,
                                "created": start, "last_rotated": start, "expires": end})
        return out

    def _principal_kind(self, principal_id: str, arm_type: str | None = None) -> tuple[str, bool]:
        """(kind, external) for a principal id, from Graph when known, else from ARM's principalType."""
        if principal_id in self.users:
            u = self.users[principal_id]
            guest = str(u.get("userType", "")).lower() == "guest"
            return ("guest" if guest else "user"), guest
        if principal_id in self.sps:
            owner = self.sps[principal_id].get("appOwnerOrganizationId")
            return "service_principal", bool(owner) and owner != self.tenant and owner not in MICROSOFT_TENANTS
        kind = {"user": "user", "group": "group", "serviceprincipal": "service_principal",
                "foreigngroup": "group", "device": "device"}.get(str(arm_type or "").lower(), "unknown")
        return kind, str(arm_type or "").lower() == "foreigngroup"

    def grants(self) -> list[dict[str, Any]]:
        out = []
        roles = self._directory_roles()
        for source, standing in (("graph:directoryRoleAssignments", True), ("graph:roleEligibilitySchedules", False)):
            for a in self._graph(source):
                role = roles.get(str(a.get("roleDefinitionId", "")).lower(), {})
                kind, external = self._principal_kind(a["principalId"])
                rid = str(a.get("roleDefinitionId", "")).lower()
                name = role.get("displayName") or rid
                # A role whose definition was not read may be privileged: unknown, not 'write' / 'read'.
                privilege = ("admin" if rid in (GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN) or role.get("isPrivileged")
                             else None if not role else "read" if "reader" in str(name).lower() else "write")
                scope = a.get("directoryScopeId") or "/"
                out.append({"provider": PROVIDER, "account_id": self.tenant, "principal_id": a["principalId"],
                            "principal_kind": kind, "scope": "tenant" if scope == "/" else scope, "role": name,
                            "privilege": privilege, "standing": standing, "via": "direct", "external": external,
                            "public": False})
        definitions = {(acc, _guid(d.get("id") or d.get("name"))): d for acc, d in self._per_account("arm:roleDefinitions")}
        # PIM activations are time-bound: the assignment they created is not standing access.
        activated = {str((i.get("properties") or {}).get("originRoleAssignmentId", "")).lower()
                     for _, i in self._per_account("arm:roleAssignmentScheduleInstances")
                     if str((i.get("properties") or {}).get("assignmentType")) == "Activated"}
        for sid, a in self._per_account("arm:roleAssignments"):
            out.append(self._arm_grant(sid, a, definitions, activated))
        return out + self._via_groups(out)

    def _via_groups(self, grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One extra grant per transitive member of a group that holds a grant (via = group)."""
        members = {rec.data["group"]: rec.data.get("members") or [] for rec in self.c.find("graph:groupMembers")}
        out = []
        for grant in grants:
            if grant["principal_kind"] != "group":
                continue
            for member in members.get(grant["principal_id"], []):
                kind, external = self._principal_kind(member.get("id", ""))
                if kind == "unknown":
                    kind = str(member.get("@odata.type", "")).rsplit(".", 1)[-1].lower().replace("serviceprincipal",
                                                                                                 "service_principal")
                out.append({**grant, "principal_id": member.get("id"), "principal_kind": kind, "via": "group",
                            "external": external or bool(grant["external"])})
        return out

    def _arm_grant(self, sid: str, a: dict[str, Any], definitions: dict[tuple[str, str], dict[str, Any]],
                   activated: set[str]) -> dict[str, Any]:
        p = a.get("properties") or {}
        guid = _guid(p.get("roleDefinitionId"))
        definition = definitions.get((sid, guid), {})
        kind, external = self._principal_kind(p.get("principalId", ""), p.get("principalType"))
        scope = p.get("scope") or ""
        within = scope.lower().startswith(f"/subscriptions/{sid}".lower())
        return {"provider": PROVIDER, "account_id": sid, "principal_id": p.get("principalId"), "principal_kind": kind,
                "scope": scope, "role": (definition.get("properties") or {}).get("roleName") or guid,
                # A role whose definition was not read grants an unknown privilege, never 'read'.
                "privilege": ARM_ROLE_PRIVILEGE.get(guid) or (_privilege_of(definition) if definition else None),
                "standing": str(a.get("id", "")).lower() not in activated,
                "via": "direct" if within else "inherited", "external": external, "public": False}

    def trusts(self) -> list[dict[str, Any]]:
        out = []
        definitions = {(acc, _guid(d.get("id") or d.get("name"))): d for acc, d in self._per_account("arm:roleDefinitions")}
        for sid, a in self._per_account("arm:registrationAssignments"):
            registration = (a.get("properties") or {}).get("registrationDefinition") or {}
            definition = registration.get("properties") or {}
            for auth in definition.get("authorizations") or []:
                guid = _guid(auth.get("roleDefinitionId"))
                # A delegated role neither known nor read in the subscription's definitions: unknown privilege.
                role = definitions.get((sid, guid))
                privilege = ARM_ROLE_PRIVILEGE.get(guid) or (_privilege_of(role) if role else None)
                # The delegation (Lighthouse registration definition) is what the other tenant may use.
                role_id = registration.get("id") or (a.get("properties") or {}).get("registrationDefinitionId")
                out.append({"provider": PROVIDER, "account_id": sid, "role_id": role_id,
                            "trusted": auth.get("principalId"), "trusted_account": definition.get("managedByTenantId"),
                            "external": definition.get("managedByTenantId") != self.tenant, "wildcard": False,
                            "external_id": None, "mfa_required": None, "privilege": privilege})
        return out

    # ------------------------------------------------------------------ guardrails and logs
    def guardrails(self) -> list[dict[str, Any]]:
        out = []
        definitions = {str(rec.data["id"]).lower(): rec.data.get("definition") or {}
                       for rec in self.c.find("arm:policyDefinitions")}
        for sid, a in self._per_account("arm:policyAssignments"):
            p = a.get("properties") or {}
            guid = _guid(p.get("policyDefinitionId"))
            params = {k: (v or {}).get("value") for k, v in (p.get("parameters") or {}).items()}
            excluded = any(f"/subscriptions/{sid}".lower().startswith(str(s).lower()) for s in p.get("notScopes") or [])
            enforced = p.get("enforcementMode", "Default") == "Default" and not excluded
            detail = json.dumps({"assignment": a.get("id"), "name": p.get("displayName"), "definition": p.get("policyDefinitionId"),
                                 "enforcementMode": p.get("enforcementMode"), "notScopes": p.get("notScopes") or [],
                                 "parameters": params}, sort_keys=True)
            if guid == ALLOWED_LOCATIONS:
                out.append({"provider": PROVIDER, "account_id": sid, "scope": p.get("scope"), "kind": "region_restriction",
                            "effective": enforced, "values": [str(v).lower() for v in params.get("listOfAllowedLocations") or []],
                            "detail": detail})
            elif str(p.get("policyDefinitionId", "")).lower() in definitions:
                # An initiative containing Allowed locations, or a custom deny-by-location policy.
                found = _location_rule(definitions[str(p["policyDefinitionId"]).lower()], params)
                if found is not None:
                    allowed, denies = found
                    out.append({"provider": PROVIDER, "account_id": sid, "scope": p.get("scope"),
                                "kind": "region_restriction", "effective": enforced and denies,
                                "values": [str(v).lower() for v in allowed], "detail": detail})
            elif guid == STORAGE_NO_PUBLIC:
                effect = str(params.get("effect") or "audit").lower()
                out.append({"provider": PROVIDER, "account_id": sid, "scope": p.get("scope"), "kind": "public_access_block",
                            "effective": enforced and effect == "deny", "values": [], "detail": detail})
        for pol in self._graph("graph:conditionalAccessPolicies"):
            grant = pol.get("grantControls") or {}
            if "mfa" not in [str(x).lower() for x in grant.get("builtInControls") or []] and not grant.get("authenticationStrength"):
                continue
            users = (pol.get("conditions") or {}).get("users") or {}
            values = list(users.get("includeRoles") or []) + list(users.get("includeUsers") or [])
            out.append({"provider": PROVIDER, "account_id": self.tenant, "scope": "tenant", "kind": "mfa_required",
                        "effective": pol.get("state") == "enabled", "values": values,
                        "detail": json.dumps({"policy": pol.get("id"), "name": pol.get("displayName"), "state": pol.get("state"),
                                              "users": users, "applications": (pol.get("conditions") or {}).get("applications"),
                                              "grantControls": grant}, sort_keys=True)})
        plans: dict[str, list[str]] = {}
        for sid, plan in self._per_account("arm:pricings"):
            tier = str((plan.get("properties") or {}).get("pricingTier", ""))
            plans.setdefault(sid, []).append(f"{plan.get('name')}={tier}")
        for sid, items in plans.items():
            out.append({"provider": PROVIDER, "account_id": sid, "scope": f"/subscriptions/{sid}", "kind": "threat_detection",
                        "effective": any(i.endswith("=Standard") for i in items), "values": ["*"],
                        "detail": json.dumps({"defender_plans": sorted(items)})})
        for sid, contact in self._per_account("arm:securityContacts"):
            p = contact.get("properties") or {}
            emails = [e for e in str(p.get("emails") or p.get("email") or "").split(";") if e.strip()]
            notify = p.get("isEnabled", str((p.get("alertNotifications") or {}).get("state", "")).lower() == "on")
            out.append({"provider": PROVIDER, "account_id": sid, "scope": f"/subscriptions/{sid}", "kind": "security_contact",
                        "effective": bool(emails) and bool(notify), "values": emails,
                        "detail": json.dumps({"contact": contact.get("id"), "notificationsByRole": p.get("notificationsByRole"),
                                              "notificationsSources": p.get("notificationsSources")}, sort_keys=True)})
        for r in self.rows:
            if str(r.get("type", "")).lower() != "microsoft.insights/activitylogalerts":
                continue
            p = r.get("properties") or {}
            ops = _alert_operations(p.get("condition") or {})
            security = any(op.lower().startswith(SECURITY_OPERATIONS) for op in ops)
            actions = (p.get("actions") or {}).get("actionGroups") or []
            out.append({"provider": PROVIDER, "account_id": r.get("subscriptionId") or _sub_of(r["id"]),
                        "scope": ",".join(p.get("scopes") or []), "kind": "security_alerting",
                        "effective": bool(p.get("enabled")) and security and bool(actions), "values": ops,
                        "detail": json.dumps({"alert": r["id"], "actionGroups": len(actions)})})
        for rec in self.c.find("arm:customerLockbox"):
            out.append({"provider": PROVIDER, "account_id": self.tenant, "scope": "tenant", "kind": "provider_access_approval",
                        "effective": bool(rec.data.get("isOptedIn")), "values": [],
                        "detail": json.dumps({"customerLockbox": rec.data.get("isOptedIn")})})
        for rec in self.c.find("graph:securityDefaults"):
            out.append({"provider": PROVIDER, "account_id": self.tenant, "scope": "tenant", "kind": "mfa_required",
                        "effective": bool(rec.data.get("isEnabled")), "values": ["All"],
                        "detail": json.dumps({"policy": "securityDefaults", "isEnabled": rec.data.get("isEnabled")})})
        return out

    def audit_logs(self) -> list[dict[str, Any]]:
        out = []
        sources = [(sid, s, ("administrative", "security", "policy"), "administrative")
                   for sid, s in self._per_account("arm:diagnosticSettings")]
        sources += [(self.tenant, s, ("auditlogs", "signinlogs"), "auditlogs")
                    for _, s in self._per_account("arm:aadiamDiagnosticSettings")]
        for account, s, wanted, management in sources:
            p = s.get("properties") or {}
            on = {str(log.get("category", "")).lower() for log in p.get("logs") or [] if log.get("enabled")}
            dest_id = p.get("workspaceId") or p.get("storageAccountId") or p.get("eventHubAuthorizationRuleId") or ""
            dest = self.by_id.get(dest_id.lower(), {})
            retention = (dest.get("properties") or {}).get("retentionInDays")
            # A Log Analytics workspace has no immutability: its admins can purge data.
            integrity = False if "/microsoft.operationalinsights/workspaces/" in dest_id.lower() else None
            out.append({"provider": PROVIDER, "account_id": account, "region": "global", "log_id": s.get("id"),
                        "scope": "account" if account != self.tenant else "organization",
                        "enabled": bool(on & set(wanted)), "multi_region": True, "management_events": management in on,
                        "data_events": False, "integrity": integrity, "retention_days": retention,
                        "destination_region": _code(dest.get("location"))})
        return out

    def coverage(self) -> list[dict[str, Any]]:
        return [{"provider": row.provider, "account_id": row.account_id, "region": row.region, "table": row.table,
                 "source": row.source, "status": row.status, "message": row.message,
                 "resource_id": row.resource_id} for row in self.c.coverage]


# ---------------------------------------------------------------------------- resource properties

def _properties(rtype: str, r: dict[str, Any], p: dict[str, Any], sql_open: dict[str, bool],
                by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Security-relevant columns of one Resource Graph row, by type."""
    created = p.get("creationTime") or p.get("timeCreated") or p.get("creationDate") or p.get("createdDate")
    out: dict[str, Any] = {"created": created}
    if rtype == "microsoft.storage/storageaccounts":
        enc = p.get("encryption") or {}
        cmk = str(enc.get("keySource", "")).lower() == "microsoft.keyvault"
        kv = enc.get("keyvaultproperties") or {}
        out.update(encryption="customer" if cmk else "provider" if enc else "unknown",
                   key_id=(f"{kv.get('keyvaulturi', '')}{kv.get('keyname', '')}" if cmk else None),
                   public_read=p.get("allowBlobPublicAccess"), public_write=False if "allowBlobPublicAccess" in p else None,
                   network_open=(str(p.get("publicNetworkAccess", "Enabled")) != "Disabled"
                                 and str((p.get("networkAcls") or {}).get("defaultAction", "Allow")) == "Allow"),
                   https_only=p.get("supportsHttpsTrafficOnly"), min_tls=TLS.get(str(p.get("minimumTlsVersion"))))
    elif rtype in ("microsoft.compute/disks", "microsoft.compute/snapshots"):
        enc = p.get("encryption") or {}
        etype = str(enc.get("type", ""))
        reachable = p.get("networkAccessPolicy", "AllowAll") == "AllowAll" and p.get("publicNetworkAccess") != "Disabled"
        out.update(encryption="customer" if "CustomerKey" in etype else "provider" if etype else "unknown",
                   key_id=enc.get("diskEncryptionSetId"),
                   public_read=reachable and str(p.get("diskState", "")).startswith("ActiveSAS"), public_write=False,
                   network_open=reachable,
                   attached=str(p.get("diskState", "")) in ("Attached", "Reserved") or bool(r.get("managedBy")))
    elif rtype in ("microsoft.sql/servers", "microsoft.sql/servers/databases"):
        server_id = r["id"] if rtype == "microsoft.sql/servers" else r["id"].rsplit("/databases/", 1)[0]
        server = by_id.get(server_id.lower(), r)
        sp = server.get("properties") or {}
        public = str(sp.get("publicNetworkAccess", "Enabled")) == "Enabled"
        fw = sql_open.get(server_id.lower())
        out.update(encryption="unknown", public_read=False, public_write=False,
                   network_open=(public and fw) if fw is not None or not public else None,
                   https_only=True, min_tls=TLS.get(str(sp.get("minimalTlsVersion"))))
    elif rtype == "microsoft.documentdb/databaseaccounts":
        open_ = str(p.get("publicNetworkAccess", "Enabled")) == "Enabled" and not p.get("ipRules") \
            and not p.get("isVirtualNetworkFilterEnabled")
        out.update(encryption="customer" if p.get("keyVaultKeyUri") else "provider", key_id=p.get("keyVaultKeyUri"),
                   public_read=False, public_write=False, network_open=open_, https_only=True,
                   min_tls=TLS.get(str(p.get("minimalTlsVersion"))))
    elif rtype == "microsoft.keyvault/vaults":
        acl = p.get("networkAcls") or {}
        out.update(encryption="provider", public_read=False, public_write=False, https_only=True,
                   network_open=str(p.get("publicNetworkAccess", "Enabled")) != "Disabled"
                   and str(acl.get("defaultAction", "Allow")) == "Allow")
    elif rtype == "microsoft.recoveryservices/vaults":
        key = ((p.get("encryption") or {}).get("keyVaultProperties") or {}).get("keyUri")
        out.update(encryption="customer" if key else "provider", key_id=key, public_read=False, public_write=False,
                   network_open=str(p.get("publicNetworkAccess", "Enabled")) != "Disabled")
    elif rtype == "microsoft.network/networksecuritygroups":
        # Azure creates no default NSG; its built-in default rules are separate rows in network_rules.
        out.update(attached=bool(p.get("subnets") or p.get("networkInterfaces")), is_default=False)
    elif rtype == "microsoft.compute/virtualmachines":
        security = p.get("securityProfile") or {}
        uefi = security.get("uefiSettings") or {}
        linux = (p.get("osProfile") or {}).get("linuxConfiguration") or {}
        weak = [name for name, bad in (("no_secure_boot", not uefi.get("secureBootEnabled")),
                                       ("no_vtpm", not uefi.get("vTpmEnabled")),
                                       ("password_login", linux and linux.get("disablePasswordAuthentication") is False))
                if bad]
        out.update(weak_settings=weak)
    elif rtype == "microsoft.operationalinsights/workspaces":
        out.update(encryption="provider", public_read=False, public_write=False,
                   network_open=p.get("publicNetworkAccessForQuery", "Enabled") == "Enabled"
                   or p.get("publicNetworkAccessForIngestion", "Enabled") == "Enabled")
    return out


SECURITY_OPERATIONS = ("microsoft.authorization/", "microsoft.network/networksecuritygroups", "microsoft.security/",
                       "microsoft.insights/diagnosticsettings", "microsoft.keyvault/vaults/delete",
                       "microsoft.sql/servers/firewallrules")


def _resolve(value: Any, assigned: dict[str, Any], declared: dict[str, Any]) -> Any:
    """A policy value, following "[parameters('name')]" to the assignment or the definition default."""
    import re

    m = re.fullmatch(r"\[parameters\('([^']+)'\)\]", str(value).strip()) if isinstance(value, str) else None
    if not m:
        return value
    name = m.group(1)
    if name in assigned:
        return assigned[name]
    return (declared.get(name) or {}).get("defaultValue")


def _location_rule(definition: dict[str, Any], assigned: dict[str, Any]) -> tuple[list[str], bool] | None:
    """(allowed locations, denies) of an initiative holding Allowed locations or a custom location policy."""
    props = definition.get("properties") or {}
    declared = props.get("parameters") or {}
    for member in props.get("policyDefinitions") or []:  # initiative (policy set)
        if _guid(member.get("policyDefinitionId")) == ALLOWED_LOCATIONS:
            raw = ((member.get("parameters") or {}).get("listOfAllowedLocations") or {}).get("value")
            return list(_resolve(raw, assigned, declared) or []), True
    rule = props.get("policyRule") or {}

    def walk(node: Any, negated: bool = False) -> list[str] | None:
        if isinstance(node, dict):
            if str(node.get("field", "")).lower() == "location":
                if "notIn" in node and not negated:
                    return list(_resolve(node["notIn"], assigned, declared) or [])
                if "in" in node and negated:
                    return list(_resolve(node["in"], assigned, declared) or [])
            if "not" in node:
                return walk(node["not"], not negated)
            for key in ("allOf", "anyOf"):
                for child in node.get(key) or []:
                    found = walk(child, negated)
                    if found is not None:
                        return found
        return None

    allowed = walk(rule.get("if"))
    if allowed is None:
        return None
    effect = _resolve((rule.get("then") or {}).get("effect"), assigned, declared)
    return allowed, str(effect).lower() == "deny"


def _alert_operations(condition: dict[str, Any]) -> list[str]:
    """operationName values anywhere in an activity-log alert condition (allOf / anyOf trees)."""
    found: list[str] = []
    for leaf in condition.get("allOf") or []:
        if str(leaf.get("field", "")).lower() == "operationname" and leaf.get("equals"):
            found.append(str(leaf["equals"]))
        found += _alert_operations({"allOf": leaf.get("anyOf") or []})
    return found


def _privilege_of(definition: dict[str, Any]) -> str:
    """admin / write / read for a custom role from its actions."""
    actions, not_actions = [], []
    for perm in (definition.get("properties") or {}).get("permissions") or []:
        actions += [str(a).lower() for a in perm.get("actions") or []]
        not_actions += [str(a).lower() for a in perm.get("notActions") or []]
    auth_blocked = any(a.startswith("microsoft.authorization/") and ("write" in a or "*" in a) for a in not_actions)
    if ("*" in actions and not auth_blocked) or any(a in ("microsoft.authorization/*", "microsoft.authorization/roleassignments/write")
                                                    for a in actions):
        return "admin"
    if any(not a.endswith("/read") for a in actions):
        return "write"
    return "read"


def _iso_days(duration: str | None) -> int | None:
    """Days in an ISO 8601 period such as P90D, P1Y, P1Y6M (months as 30 days, years as 365)."""
    import re

    m = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?", str(duration or ""))
    if not m or not any(m.groups()):
        return None
    years, months, days = (int(g or 0) for g in m.groups())
    return years * 365 + months * 30 + days


def _ports(text: str) -> tuple[int | None, int | None]:
    text = str(text).strip()
    if text in ("*", "", "0-65535"):
        return None, None
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _source(prefix: str) -> str:
    text = str(prefix).strip()
    return {"any": "*", "0.0.0.0": "0.0.0.0/0"}.get(text.lower(), text)
