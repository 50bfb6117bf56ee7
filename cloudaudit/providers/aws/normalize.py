"""Pure normalization: AWS raw records -> inventory tables.

Reads nothing but ``collection.records`` and ``collection.coverage`` (no SDK, no network), so
an evidence bundle replays offline into the same inventory.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from contextvars import ContextVar
from fnmatch import fnmatchcase
from typing import Any, Iterable

from ...inventory import Inventory, make_table
from ..base import Collection
from .client import partition_of

P = "aws"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_NA_TEXT = {"N/A", "no_information", "not_supported", "", None}

# IAM actions that let a principal grant itself more (privilege escalation) -> admin.
ESCALATION_ACTIONS = (
    "iam:putuserpolicy", "iam:putgrouppolicy", "iam:putrolepolicy", "iam:attachuserpolicy",
    "iam:attachgrouppolicy", "iam:attachrolepolicy", "iam:createaccesskey", "iam:passrole",
    "iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:updateassumerolepolicy",
    "iam:createloginprofile", "iam:updateloginprofile", "iam:addusertogroup",
)
READ_PREFIXES = ("get", "list", "describe", "search", "lookup", "view", "batchget", "query", "scan",
                 "select", "generate", "simulate")
_RANK = {"read": 0, "write": 1, "admin": 2}
# AWS managed policies whose documents are not always in the authorization details.
KNOWN_MANAGED = {"AdministratorAccess": "admin", "IAMFullAccess": "admin", "PowerUserAccess": "write",
                 "ReadOnlyAccess": "read", "SecurityAudit": "read", "ViewOnlyAccess": "read"}


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _doc(value: Any) -> dict:
    """A policy document (boto3 decodes it to a dict; some endpoints send URL-encoded JSON text)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        from urllib.parse import unquote

        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return json.loads(unquote(value))
    return {}


def managed_policy_documents(details: dict) -> dict[str, dict]:
    """Managed policy ARN -> its default version's document, from GetAccountAuthorizationDetails."""
    docs = {}
    for pol in details.get("Policies", []):
        default = next((v for v in pol.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if default:
            docs[pol["Arn"]] = _doc(default.get("Document"))
    return docs


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # stable text: live and replayed payloads compare equal


def _date(value: Any) -> Any:
    return None if value in _NA_TEXT else value


# ----------------------------------------------------------------------------- policy analysis

def privilege_of(document: dict) -> str:
    """admin / write / read: what the Allow statements of one policy document grant."""
    level = "read"
    for st in _list(document.get("Statement")):
        if st.get("Effect") != "Allow":
            continue
        resources = [str(r) for r in _list(st.get("Resource"))] or ["*"]
        any_resource = any(r == "*" or r.endswith(":*") for r in resources)
        if "NotAction" in st:  # allow everything except ... (PowerUserAccess style)
            excluded = [str(a).lower() for a in _list(st["NotAction"])]
            iam_allowed = not any(fnmatchcase("iam:passrole", e) or e in ("iam:*", "*") for e in excluded)
            level = max(level, "admin" if any_resource and iam_allowed else "write", key=_RANK.get)
            continue
        for action in (str(a).lower() for a in _list(st.get("Action"))):
            if action in ("*", "*:*") and any_resource:
                return "admin"
            if any_resource and (action == "iam:*" or any(fnmatchcase(e, action) for e in ESCALATION_ACTIONS)):
                return "admin"
            verb = action.split(":", 1)[-1]
            if verb == "*" or not verb.startswith(READ_PREFIXES):
                level = max(level, "write", key=_RANK.get)
    return level


def _is_time_bound(document: dict) -> bool:
    return all(any(k.lower() in ("aws:currenttime", "aws:epochtime")
                   for cond in (st.get("Condition") or {}).values() for k in cond)
               for st in _list(document.get("Statement")) if st.get("Effect") == "Allow") and bool(
        [st for st in _list(document.get("Statement")) if st.get("Effect") == "Allow"])


def _managed_privilege(arn: str, docs: dict[str, dict]) -> str:
    if arn in docs:
        return privilege_of(docs[arn])
    name = arn.rsplit("/", 1)[-1]
    if name in KNOWN_MANAGED:
        return KNOWN_MANAGED[name]
    if "ReadOnly" in name or "ViewOnly" in name:
        return "read"
    return "write"  # unknown document: assume it can change things rather than under-report


def account_of_principal(principal: str) -> str | None:
    """Account id of an IAM principal given as an ARN or a bare account id."""
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    if len(parts) >= 5 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


# ----------------------------------------------------------------------------- helpers

class _Records:
    def __init__(self, collection: Collection):
        self.by_source: dict[str, list] = defaultdict(list)
        for r in collection.records:
            self.by_source[r.source].append(r)

    def __call__(self, source: str) -> list:
        return self.by_source.get(source, [])


def _tags(account: str, resource_id: str, tags: Iterable[dict] | None, key: str = "Key", value: str = "Value") -> list[dict]:
    return [{"provider": P, "account_id": account, "resource_id": resource_id, "key": t.get(key),
             "value": t.get(value)} for t in (tags or [])]


def _name_tag(tags: Iterable[dict] | None) -> str | None:
    return next((t.get("Value") for t in (tags or []) if t.get("Key") == "Name"), None)


def _parents(rec: _Records) -> dict[str, str]:
    """Child id (OU or account) -> parent id, from the OU tree walk."""
    parents: dict[str, str] = {}
    for source, listing in (("organizations:ListOrganizationalUnitsForParent", "OrganizationalUnits"),
                            ("organizations:ListAccountsForParent", "Accounts")):
        for r in rec(source):
            for child in r.data.get(listing, []):
                parents[child["Id"]] = r.data["ParentId"]
    return parents


def _anyone(principal: Any) -> bool:
    """A policy statement's principal is everyone ("*" or AWS "*")."""
    return principal == "*" or (isinstance(principal, dict) and "*" in _list(principal.get("AWS")))


def _last_used(row: dict) -> Any:
    """Latest use of a credential report row: password or either access key."""
    return max(filter(None, [_date(row.get("password_last_used")), _date(row.get("access_key_1_last_used_date")),
                             _date(row.get("access_key_2_last_used_date"))]), default=None)


# ----------------------------------------------------------------------------- tables

def _tenants(rec: _Records) -> tuple[list[dict], set[str]]:
    rows: dict[str, dict] = {}
    org = next(iter(rec("organizations:DescribeOrganization")), None)
    org_data = org.data.get("Organization", {}) if org and "absent" not in org.data else {}
    org_id = org_data.get("Id")
    mgmt = org_data.get("MasterAccountId")
    parents = _parents(rec)
    names: dict[str, str] = {}
    for r in rec("organizations:ListRoots"):
        for root in r.data.get("Roots", []):
            names[root["Id"]] = root.get("Name") or "Root"
    for r in rec("organizations:ListOrganizationalUnitsForParent"):
        for ou in r.data.get("OrganizationalUnits", []):
            names[ou["Id"]] = ou.get("Name") or ou["Id"]

    def path(node: str) -> str | None:
        chain, cur = [], parents.get(node)
        while cur is not None:
            chain.append(names.get(cur, cur))
            cur = parents.get(cur)
        return "/".join(reversed(chain)) or None

    for r in rec("organizations:ListAccounts"):
        for acct in r.data.get("Accounts", []):
            rows[acct["Id"]] = {"provider": P, "account_id": acct["Id"], "org_id": org_id, "name": acct.get("Name"),
                                "parent_path": path(acct["Id"]), "is_management": acct["Id"] == mgmt,
                                "state": acct.get("State") or acct.get("Status")}
    # Accounts entered without an organization listing (single account, explicit list).
    for source in ("sts:GetCallerIdentity", "sts:AssumeRole"):
        for r in rec(source):
            rows.setdefault(r.account_id, {"provider": P, "account_id": r.account_id, "org_id": org_id,
                                           "is_management": (r.account_id == mgmt) if mgmt else None,
                                           "state": "ACTIVE"})
    return list(rows.values()), set(rows)


def _regions(rec: _Records, partitions: dict[str, str]) -> list[dict]:
    rows = []
    for r in rec("ec2:DescribeRegions"):
        part = partitions.get(r.account_id, "aws")
        for reg in r.data.get("Regions", []):
            name = reg["RegionName"]
            if partition_of(name) != part:
                continue
            status = reg.get("OptInStatus", "opt-in-not-required")
            rows.append({"provider": P, "account_id": r.account_id, "region": name,
                         "enabled": status in ("opt-in-not-required", "opted-in"),
                         "opt_in": {"opt-in-not-required": "not-required"}.get(status, status)})
    return rows


def _iam(rec: _Records, org_accounts: set[str]) -> dict[str, list[dict]]:
    principals, credentials, grants, trusts = [], [], [], []
    virtual: dict[str, set[str]] = defaultdict(set)   # account -> ARNs of users with a virtual MFA device
    devices_read = {r.account_id for r in rec("iam:ListVirtualMFADevices")}
    for r in rec("iam:ListVirtualMFADevices"):
        for dev in r.data.get("VirtualMFADevices", []):
            user = (dev.get("User") or {}).get("Arn")
            if user:
                virtual[r.account_id].add(user)
            # root's device: the legacy serial name, or any device whose user is the account root
            if str(dev.get("SerialNumber", "")).endswith(":mfa/root-account-mfa-device") or str(user).endswith(":root"):
                virtual[r.account_id].add("root")
    summary = {r.account_id: r.data.get("SummaryMap", {}) for r in rec("iam:GetAccountSummary")}
    report: dict[str, dict[str, dict]] = {}
    for r in rec("iam:GetCredentialReport"):
        text = r.data.get("Content") or ""
        report[r.account_id] = {row["arn"]: row for row in csv.DictReader(io.StringIO(text))}

    def mfa(account: str, arn: str, active: Any) -> str:
        if active is None:
            return "unknown"
        if not active:
            return "none"
        if account not in devices_read:  # device list unreadable: virtual or hardware is not known
            return "unknown"
        return "virtual" if arn in virtual[account] else "hardware"

    # Root: the report's <root_account> row, else what the account summary says.
    accounts = set(summary) | set(report)
    for account in sorted(accounts):
        rows = report.get(account, {})
        root_row = next((row for row in rows.values() if row.get("user") == "<root_account>"), None)
        root_arn = f"arn:{_part(account)}:iam::{account}:root"
        if root_row is not None:
            root_arn = root_row["arn"]
            active = root_row.get("mfa_active") == "true"
            last = _last_used(root_row)
            created = _date(root_row.get("user_creation_time"))
        else:
            flag = summary.get(account, {}).get("AccountMFAEnabled")
            active = None if flag is None else bool(flag)
            last, created = None, None
        principals.append({"provider": P, "account_id": account, "principal_id": root_arn, "name": "<root_account>",
                           "kind": "root", "human": True, "top_level": True, "console_access": True,
                           "mfa": mfa(account, "root", active), "enabled": True, "external": False,
                           "created": created, "last_active": last})
        if root_row is not None:
            credentials.extend(_report_keys(account, root_arn, root_row))
        elif summary.get(account, {}).get("AccountAccessKeysPresent"):
            credentials.append({"provider": P, "account_id": account, "principal_id": root_arn,
                                "credential_id": f"{root_arn}#access_key", "kind": "access_key", "active": True})

    for r in rec("iam:GetAccountAuthorizationDetails"):
        account = r.account_id
        data = r.data
        docs = managed_policy_documents(data)
        group_grants: dict[str, list[tuple[str, str, bool]]] = {}
        for g in data.get("GroupDetailList", []):
            group_grants[g["GroupName"]] = _policy_grants(g, "GroupPolicyList", docs)
        rows = report.get(account, {})
        for u in data.get("UserDetailList", []):
            arn = u["Arn"]
            row = rows.get(arn, {})
            console = row.get("password_enabled") == "true" if row else None
            active = (row.get("mfa_active") == "true") if row else (bool(u.get("MFADevices")) if "MFADevices" in u else None)
            last = _last_used(row) if row else None
            principals.append({"provider": P, "account_id": account, "principal_id": arn, "name": u["UserName"],
                               "kind": "user", "human": console, "top_level": False, "console_access": console,
                               "mfa": mfa(account, arn, active), "enabled": True, "external": False,
                               "created": u.get("CreateDate"), "last_active": last})
            if row:
                credentials.extend(_report_keys(account, arn, row))
            for role, level, standing in _policy_grants(u, "UserPolicyList", docs):
                grants.append(_grant(account, arn, "user", role, level, standing, "direct"))
            for group in u.get("GroupList", []):
                for role, level, standing in group_grants.get(group, []):
                    grants.append(_grant(account, arn, "user", f"{group}/{role}", level, standing, "group"))
        for role in data.get("RoleDetailList", []):
            arn = role["Arn"]
            last_used = (role.get("RoleLastUsed") or {}).get("LastUsedDate")
            principals.append({"provider": P, "account_id": account, "principal_id": arn, "name": role["RoleName"],
                               "kind": "role", "human": False, "top_level": False, "console_access": False,
                               "mfa": None, "enabled": True, "external": False,
                               "created": role.get("CreateDate"), "last_active": last_used})
            role_grants = _policy_grants(role, "RolePolicyList", docs)
            for name, level, standing in role_grants:
                grants.append(_grant(account, arn, "role", name, level, standing, "direct"))
            top = max((lvl for _, lvl, _ in role_grants), key=_RANK.get, default="read")
            trusts.extend(_trusts(account, arn, _doc(role.get("AssumeRolePolicyDocument")), top, org_accounts))
    return {"principals": principals, "credentials": credentials, "grants": grants, "trusts": trusts}


def _report_keys(account: str, arn: str, row: dict) -> list[dict]:
    out = []
    for n in (1, 2):
        rotated = _date(row.get(f"access_key_{n}_last_rotated"))
        if rotated is None:
            continue
        out.append({"provider": P, "account_id": account, "principal_id": arn, "credential_id": f"{arn}#access_key_{n}",
                    "kind": "access_key", "active": row.get(f"access_key_{n}_active") == "true", "created": rotated,
                    "last_rotated": rotated, "last_used": _date(row.get(f"access_key_{n}_last_used_date"))})
    return out


def _policy_grants(entity: dict, inline_key: str, docs: dict[str, dict]) -> list[tuple[str, str, bool]]:
    out = []
    for att in entity.get("AttachedManagedPolicies", []):
        arn = att["PolicyArn"]
        doc = docs.get(arn, {})
        out.append((att.get("PolicyName") or arn.rsplit("/", 1)[-1], _managed_privilege(arn, docs),
                    not _is_time_bound(doc)))
    for inline in entity.get(inline_key, []):
        doc = _doc(inline.get("PolicyDocument"))
        out.append((inline["PolicyName"], privilege_of(doc), not _is_time_bound(doc)))
    return out


def _grant(account: str, principal: str, kind: str, role: str, level: str, standing: bool, via: str) -> dict:
    return {"provider": P, "account_id": account, "principal_id": principal, "principal_kind": kind,
            "scope": "account", "role": role, "privilege": level, "standing": standing, "via": via,
            "external": False, "public": False}


def _trusts(account: str, role_arn: str, doc: dict, privilege: str, org_accounts: set[str]) -> list[dict]:
    rows = []
    for st in _list(doc.get("Statement")):
        if st.get("Effect") != "Allow":
            continue
        actions = [str(a).lower() for a in _list(st.get("Action"))]
        if actions and not any(a.startswith("sts:assumerole") or a in ("sts:*", "*") for a in actions):
            continue
        keys = {k.lower(): v for cond in (st.get("Condition") or {}).values() for k, v in cond.items()}
        external_id = "sts:externalid" in keys
        mfa = "aws:multifactorauthpresent" in keys or "aws:multifactorauthage" in keys
        principal = st.get("Principal")
        entries = [("AWS", "*")] if principal == "*" else [
            (kind, str(v)) for kind, values in (principal or {}).items() for v in _list(values)]
        for kind, who in entries:
            trusted_account = account_of_principal(who) if kind == "AWS" else None
            if kind == "Federated" and who.startswith("arn:"):
                trusted_account = account_of_principal(who)
            wildcard = who == "*"
            if kind == "Service":
                external = False
            elif trusted_account is not None:
                external = trusted_account not in org_accounts
            else:  # wildcard or a web identity provider outside AWS
                external = wildcard or (kind == "Federated" and who != "cognito-identity.amazonaws.com")
            rows.append({"provider": P, "account_id": account, "role_id": role_arn, "trusted": who,
                         "trusted_account": trusted_account, "external": external, "wildcard": wildcard,
                         "external_id": external_id, "mfa_required": mfa, "privilege": privilege})
    return rows


def _key_managers(rec: _Records) -> dict[tuple[str, str], str]:
    """(account, key id / key ARN) -> customer or provider, from kms:DescribeKey."""
    out = {}
    for r in rec("kms:DescribeKey"):
        m = r.data.get("KeyMetadata", {})
        manager = "customer" if m.get("KeyManager") == "CUSTOMER" else "provider"
        for ident in (m.get("KeyId"), m.get("Arn")):
            if ident:
                out[(r.account_id, ident)] = manager
    return out


def _encryption(account: str, encrypted: Any, key_id: str | None, managers: dict) -> str:
    if encrypted is None:
        return "unknown"
    if not encrypted:
        return "none"
    if not key_id:
        return "provider"
    if "alias/aws/" in key_id:
        return "provider"
    ident = key_id
    manager = managers.get((account, ident)) or managers.get((account, ident.rsplit("/", 1)[-1]))
    return manager or "unknown"


def _bucket_policy_flags(policy: dict) -> tuple[bool, bool, bool]:
    """(anonymous read, anonymous write, TLS-only) from a bucket policy document."""
    read = write = tls = False
    for st in _list(policy.get("Statement")):
        anyone = _anyone(st.get("Principal"))
        actions = [str(a).lower() for a in _list(st.get("Action"))]
        cond = st.get("Condition") or {}
        if st.get("Effect") == "Deny" and anyone:
            secure = [str(v).lower() for c in cond.values() for k, v in c.items() if k.lower() == "aws:securetransport"]
            if "false" in secure or ["false"] in [[str(x).lower() for x in _list(v)] for v in secure]:
                tls = True
        if st.get("Effect") == "Allow" and anyone and not cond:
            if any(a in ("*", "s3:*") or a.split(":")[-1].startswith(("get", "list")) for a in actions):
                read = True
            if any(a in ("*", "s3:*") or a.split(":")[-1].startswith(("put", "delete", "restore")) for a in actions):
                write = True
    return read, write, tls


# Provider-enforced floor of every S3 endpoint (see _buckets); RDS keeps <NA>: its minimum
# depends on the engine's parameter group, which is not read.
S3_MIN_TLS = "1.2"


def _buckets(rec: _Records, managers: dict, partitions: dict[str, str]) -> tuple[list, list, list]:
    resources, tags, replicas = [], [], []
    by_bucket: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    regions: dict[str, str] = {}   # bucket name -> region, across accounts (replication targets)
    for r in rec("s3:ListBuckets"):
        for b in r.data.get("Buckets", []):
            by_bucket[(r.account_id, b["Name"])]["created"] = b.get("CreationDate")
            if b.get("BucketRegion"):
                regions[b["Name"]] = b["BucketRegion"]
    for r in rec("s3:GetBucketLocation"):
        from .collect import bucket_region

        regions[r.data["Bucket"]] = bucket_region(r.data.get("LocationConstraint"))
    account_pab = {r.account_id: r.data.get("PublicAccessBlockConfiguration", {})
                   for r in rec("s3control:GetPublicAccessBlock")}
    for source in ("s3:GetBucketPolicyStatus", "s3:GetPublicAccessBlock", "s3:GetBucketAcl", "s3:GetBucketPolicy",
                   "s3:GetBucketEncryption", "s3:GetBucketReplication", "s3:GetBucketTagging"):
        for r in rec(source):
            by_bucket[(r.account_id, r.data["Bucket"])][source] = r.data
    for (account, name), parts in by_bucket.items():
        part = partitions.get(account, "aws")
        arn = f"arn:{part}:s3:::{name}"
        region = regions.get(name)
        pab = {**{k: False for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}}
        for source_pab in (account_pab.get(account, {}),
                           parts.get("s3:GetPublicAccessBlock", {}).get("PublicAccessBlockConfiguration", {})):
            for k, v in source_pab.items():
                pab[k] = pab.get(k, False) or bool(v)
        acl = parts.get("s3:GetBucketAcl")
        policy_raw = parts.get("s3:GetBucketPolicy")
        status = parts.get("s3:GetBucketPolicyStatus")
        acl_read = acl_write = False
        for g in (acl or {}).get("Grants", []):
            if (g.get("Grantee") or {}).get("URI") in (ALL_USERS, AUTH_USERS):
                perm = g.get("Permission")
                acl_read |= perm in ("READ", "FULL_CONTROL")
                acl_write |= perm in ("WRITE", "FULL_CONTROL")
        if pab["IgnorePublicAcls"]:
            acl_read = acl_write = False
        policy = _doc(policy_raw.get("Policy")) if policy_raw and "absent" not in policy_raw else {}
        pol_read, pol_write, tls = _bucket_policy_flags(policy)
        is_public = (status or {}).get("PolicyStatus", {}).get("IsPublic")
        if is_public and not (pol_read or pol_write):
            pol_read = True
        if is_public is False and status is not None and "absent" not in status:
            pol_read = pol_write = False
        if pab["RestrictPublicBuckets"]:
            pol_read = pol_write = False
        # no bucket policy means no policy status to read: the ACL and the absent policy decide
        known = acl is not None and policy_raw is not None and (status is not None or "absent" in policy_raw)
        public_read = (acl_read or pol_read) if known else (True if (acl_read or pol_read) else None)
        public_write = (acl_write or pol_write) if known else (True if (acl_write or pol_write) else None)
        enc = parts.get("s3:GetBucketEncryption")
        if enc is None:
            encryption, key_id = "unknown", None
        elif "absent" in enc:
            encryption, key_id = "none", None
        else:
            rules = enc.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
            default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault", {})
            algo = default.get("SSEAlgorithm")
            key_id = default.get("KMSMasterKeyID")
            encryption = ("none" if not algo else "provider" if algo == "AES256"
                          else _encryption(account, True, key_id, managers))
        resources.append({"provider": P, "account_id": account, "region": region, "resource_id": arn, "name": name,
                          "kind": "bucket", "native_type": "AWS::S3::Bucket", "data_bearing": True,
                          "encryption": encryption, "key_id": key_id if encryption == "customer" else None,
                          "public_read": public_read, "public_write": public_write,
                          "https_only": tls if policy_raw is not None else None,
                          # Not a bucket setting: AWS enforces TLS 1.2 as the minimum on every S3 (and
                          # every other AWS API) endpoint in all regions since June 28, 2023 (AWS Security
                          # Blog, "TLS 1.2 to become the minimum TLS protocol level for all AWS API
                          # endpoints"), so no bucket accepts TLS 1.0 / 1.1.
                          "min_tls": S3_MIN_TLS, "created": parts.get("created")})
        tagging = parts.get("s3:GetBucketTagging")
        if tagging and "absent" not in tagging:
            tags.extend(_tags(account, arn, tagging.get("TagSet")))
        repl = parts.get("s3:GetBucketReplication")
        if repl and "absent" not in repl:
            for rule in repl.get("ReplicationConfiguration", {}).get("Rules", []):
                if rule.get("Status") != "Enabled":
                    continue
                dest = rule.get("Destination", {})
                target = str(dest.get("Bucket", "")).rsplit(":", 1)[-1]
                replicas.append({"provider": P, "account_id": account, "resource_id": arn, "source_region": region,
                                 "target_region": regions.get(target), "kind": "replication",
                                 "target_account": dest.get("Account")})
    return resources, tags, replicas


def _ec2(rec: _Records, managers: dict) -> tuple[list, list, list]:
    resources, tags, rules = [], [], []
    attached: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rec("ec2:DescribeNetworkInterfaces"):
        for eni in r.data.get("NetworkInterfaces", []):
            for g in eni.get("Groups", []):
                attached[(r.account_id, r.region)].add(g["GroupId"])
    public: dict[tuple[str, str, str], bool] = {}   # (account, region, snapshot) -> shared with everyone
    for r in rec("ec2:DescribeSnapshotAttribute"):
        perms = r.data.get("CreateVolumePermissions", [])
        public[(r.account_id, r.region, r.data.get("SnapshotId"))] = any(p.get("Group") == "all" for p in perms)
    eni_known = _regions_with(rec, "ec2:DescribeNetworkInterfaces")
    for r in rec("ec2:DescribeSecurityGroups"):
        a, region = r.account_id, r.region
        for sg in r.data.get("SecurityGroups", []):
            gid = sg["GroupId"]
            arn = f"arn:{_part(a)}:ec2:{region}:{sg.get('OwnerId', a)}:security-group/{gid}"
            is_attached = gid in attached[(a, region)] if (a, region) in eni_known else None
            resources.append({"provider": P, "account_id": a, "region": region, "resource_id": arn,
                              "name": sg.get("GroupName"), "kind": "security_group",
                              "native_type": "AWS::EC2::SecurityGroup", "data_bearing": False, "attached": is_attached,
                              "is_default": sg.get("GroupName") == "default"})
            tags.extend(_tags(a, arn, sg.get("Tags")))
            for perm in sg.get("IpPermissions", []):
                proto = str(perm.get("IpProtocol", "-1")).lower()
                proto = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmp", "icmpv6": "icmp"}.get(proto, proto)
                ranged = proto in ("tcp", "udp") and perm.get("FromPort") not in (None, -1)
                lo = perm.get("FromPort") if ranged else None
                hi = perm.get("ToPort") if ranged else None
                sources = ([x.get("CidrIp") for x in perm.get("IpRanges", [])]
                           + [x.get("CidrIpv6") for x in perm.get("Ipv6Ranges", [])]
                           + [x.get("PrefixListId") for x in perm.get("PrefixListIds", [])]
                           + [x.get("GroupId") for x in perm.get("UserIdGroupPairs", [])])
                for src in filter(None, sources):
                    rules.append({"provider": P, "account_id": a, "region": region, "resource_id": arn,
                                  "rule_id": f"{gid}:ingress:{proto}:{lo if lo is not None else '*'}-"
                                             f"{hi if hi is not None else '*'}:{src}",
                                  "direction": "ingress", "source": src, "protocol": proto, "port_from": lo,
                                  "port_to": hi, "action": "allow", "attached": is_attached})
    vpcs_in_use: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rec("ec2:DescribeNetworkInterfaces"):
        for eni in r.data.get("NetworkInterfaces", []):
            vpcs_in_use[(r.account_id, r.region)].add(eni.get("VpcId"))
    for r in rec("ec2:DescribeVpcs"):
        for vpc in r.data.get("Vpcs", []):
            vid = vpc["VpcId"]
            arn = f"arn:{_part(r.account_id)}:ec2:{r.region}:{vpc.get('OwnerId', r.account_id)}:vpc/{vid}"
            in_use = vid in vpcs_in_use[(r.account_id, r.region)] if (r.account_id, r.region) in eni_known else None
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": _name_tag(vpc.get("Tags")) or vid, "kind": "network",
                              "native_type": "AWS::EC2::VPC", "data_bearing": False,
                              "is_default": bool(vpc.get("IsDefault")), "attached": in_use})
            tags.extend(_tags(r.account_id, arn, vpc.get("Tags")))
    for r in rec("ec2:DescribeVpcPeeringConnections"):
        for pcx in r.data.get("VpcPeeringConnections", []):
            if (pcx.get("Status") or {}).get("Code") not in ("active", "pending-acceptance", "provisioning"):
                continue
            sides = [pcx.get("RequesterVpcInfo") or {}, pcx.get("AccepterVpcInfo") or {}]
            mine = next((i for i, side in enumerate(sides) if side.get("OwnerId") == r.account_id), 0)
            other = sides[1 - mine]
            pid = pcx["VpcPeeringConnectionId"]
            arn = f"arn:{_part(r.account_id)}:ec2:{r.region}:{r.account_id}:vpc-peering-connection/{pid}"
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": _name_tag(pcx.get("Tags")) or pid, "kind": "peering",
                              "native_type": "AWS::EC2::VPCPeeringConnection", "data_bearing": False,
                              "peer_account": other.get("OwnerId"), "attached": True})
            tags.extend(_tags(r.account_id, arn, pcx.get("Tags")))
    for r in rec("ec2:DescribeVolumes"):
        for v in r.data.get("Volumes", []):
            arn = f"arn:{_part(r.account_id)}:ec2:{r.region}:{r.account_id}:volume/{v['VolumeId']}"
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": _name_tag(v.get("Tags")) or v["VolumeId"], "kind": "volume",
                              "native_type": "AWS::EC2::Volume", "data_bearing": True,
                              "encryption": _encryption(r.account_id, v.get("Encrypted"), v.get("KmsKeyId"), managers),
                              "key_id": v.get("KmsKeyId"), "public_read": False, "public_write": False,
                              "attached": bool(v.get("Attachments")), "created": v.get("CreateTime")})
            tags.extend(_tags(r.account_id, arn, v.get("Tags")))
    for r in rec("ec2:DescribeSnapshots"):
        for s in r.data.get("Snapshots", []):
            arn = f"arn:{_part(r.account_id)}:ec2:{r.region}:{r.account_id}:snapshot/{s['SnapshotId']}"
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": _name_tag(s.get("Tags")) or s["SnapshotId"], "kind": "snapshot",
                              "native_type": "AWS::EC2::Snapshot", "data_bearing": True,
                              "encryption": _encryption(r.account_id, s.get("Encrypted"), s.get("KmsKeyId"), managers),
                              "key_id": s.get("KmsKeyId"),
                              "public_read": public.get((r.account_id, r.region, s["SnapshotId"])),
                              "public_write": False, "created": s.get("StartTime")})
            tags.extend(_tags(r.account_id, arn, s.get("Tags")))
    for r in rec("ec2:DescribeInstances"):
        for res in r.data.get("Reservations", []):
            for inst in res.get("Instances", []):
                iid = inst["InstanceId"]
                arn = f"arn:{_part(r.account_id)}:ec2:{r.region}:{r.account_id}:instance/{iid}"
                meta = inst.get("MetadataOptions") or {}
                weak = []
                if meta.get("HttpEndpoint", "enabled") == "enabled" and meta.get("HttpTokens") != "required":
                    weak.append("imdsv1")
                state = (inst.get("State") or {}).get("Name")
                resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                                  "name": _name_tag(inst.get("Tags")) or iid, "kind": "vm",
                                  "native_type": "AWS::EC2::Instance", "data_bearing": False,
                                  "attached": state in ("pending", "running"), "weak_settings": weak,
                                  "created": inst.get("LaunchTime")})
                tags.extend(_tags(r.account_id, arn, inst.get("Tags")))
    for r in rec("ec2:DescribeImages"):
        for img in r.data.get("Images", []):
            arn = f"arn:{_part(r.account_id)}:ec2:{r.region}::image/{img['ImageId']}"
            ebs = [m["Ebs"] for m in img.get("BlockDeviceMappings", []) if "Ebs" in m]
            encrypted = all(e.get("Encrypted") for e in ebs) if ebs else None
            key = next((e.get("KmsKeyId") for e in ebs if e.get("KmsKeyId")), None)
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": img.get("Name") or img["ImageId"], "kind": "image",
                              "native_type": "AWS::EC2::Image", "data_bearing": True,
                              "encryption": _encryption(r.account_id, encrypted, key, managers), "key_id": key,
                              "public_read": bool(img.get("Public")), "public_write": False,
                              "created": img.get("CreationDate")})
            tags.extend(_tags(r.account_id, arn, img.get("Tags")))
    return resources, tags, rules


# The caller's partition (aws, aws-cn, aws-us-gov) for ARNs built here; an organization never spans two.
_PARTITION: ContextVar[str] = ContextVar("cloudaudit_aws_partition", default="aws")


def _part(account: str) -> str:
    return _PARTITION.get()


def _regions_with(rec: _Records, source: str) -> set[tuple[str, str]]:
    return {(r.account_id, r.region) for r in rec(source)}


_FORCE_SSL = {"1": True, "on": True, "0": False, "off": False}
_TLS_TEXT = re.compile(r"^\s*TLSv?(\d)(?:\.(\d))?\s*$", re.IGNORECASE)


def _tls_number(text: str) -> str | None:
    """'TLSv1.2' -> '1.2', 'TLSv1' -> '1.0'; None when not a TLS version."""
    m = _TLS_TEXT.match(text)
    return f"{m.group(1)}.{m.group(2) or 0}" if m else None


def _db_tls(engine: Any, params: dict[str, str]) -> tuple[bool | None, str | None]:
    """(TLS required, lowest TLS version) from the values a parameter group states; None where it
    states none (engine default: not assumed) or the engine has no such parameter."""
    engine = str(engine or "").lower()
    if engine.startswith(("postgres", "aurora-postgresql")):
        force, floor = params.get("rds.force_ssl"), params.get("ssl_min_protocol_version")
        return (_FORCE_SSL.get(force.strip().lower()) if force is not None else None,
                _tls_number(floor) if floor is not None else None)
    if engine.startswith("sqlserver"):
        force = params.get("rds.force_ssl")
        return (_FORCE_SSL.get(force.strip().lower()) if force is not None else None), None
    if engine.startswith(("mysql", "mariadb", "aurora")):
        force, listed = params.get("require_secure_transport"), params.get("tls_version")
        floor = None
        if listed is not None:
            versions = [_tls_number(v) for v in listed.split(",") if v.strip()]
            if versions and None not in versions:   # one unreadable entry: the floor is not known
                floor = min(versions, key=lambda v: tuple(int(x) for x in v.split(".")))
        return (_FORCE_SSL.get(force.strip().lower()) if force is not None else None), floor
    return None, None


def _parameter_groups(rec: _Records) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """(account, region, source, group) -> {parameter: value} for the values the group states."""
    out = {}
    for source, key in (("rds:DescribeDBParameters", "DBParameterGroupName"),
                        ("rds:DescribeDBClusterParameters", "DBClusterParameterGroupName")):
        for r in rec(source):
            out[(r.account_id, r.region, source, r.data.get(key))] = {
                p["ParameterName"]: str(p["ParameterValue"]) for p in r.data.get("Parameters", [])
                if p.get("ParameterName") and p.get("ParameterValue") is not None}
    return out


def _rds_tls(rec: _Records) -> dict[tuple[str, str, str], tuple[bool | None, str | None]]:
    """(account, region, ``db:`` / ``cluster:`` identifier) -> (TLS required, lowest TLS version).

    A group's values count only where they are in effect: an instance whose group is not
    ``in-sync`` (``pending-reboot``: changes not applied yet) and a cluster with a member not in
    sync with the cluster group keep <NA>. An Aurora instance takes from its cluster's group what
    its own group does not state (these settings are cluster-level in Aurora)."""
    groups = _parameter_groups(rec)
    out: dict[tuple[str, str, str], tuple[bool | None, str | None]] = {}
    member_sync: dict[tuple[str, str, str], bool] = {}
    for r in rec("rds:DescribeDBClusters"):
        for c in r.data.get("DBClusters", []):
            members = c.get("DBClusterMembers", [])
            for m in members:
                member_sync[(r.account_id, r.region, str(m.get("DBInstanceIdentifier")))] = \
                    m.get("DBClusterParameterGroupStatus") == "in-sync"
            in_effect = all(m.get("DBClusterParameterGroupStatus") == "in-sync" for m in members)
            params = groups.get((r.account_id, r.region, "rds:DescribeDBClusterParameters",
                                 c.get("DBClusterParameterGroup")), {}) if in_effect else {}
            out[(r.account_id, r.region, "cluster:" + c["DBClusterIdentifier"])] = _db_tls(c.get("Engine"), params)
    for r in rec("rds:DescribeDBInstances"):
        for db in r.data.get("DBInstances", []):
            params: dict[str, str] = {}
            for g in db.get("DBParameterGroups", []):
                if g.get("ParameterApplyStatus") == "in-sync":
                    params.update(groups.get((r.account_id, r.region, "rds:DescribeDBParameters",
                                              g.get("DBParameterGroupName")), {}))
            force, floor = _db_tls(db.get("Engine"), params)
            name = db["DBInstanceIdentifier"]
            if db.get("DBClusterIdentifier") and member_sync.get((r.account_id, r.region, name)):
                c_params = groups.get((r.account_id, r.region, "rds:DescribeDBClusterParameters",
                                       _cluster_group(rec, r.account_id, r.region, db["DBClusterIdentifier"])), {})
                c_force, c_floor = _db_tls(db.get("Engine"), c_params)
                force = force if force is not None else c_force
                floor = floor if floor is not None else c_floor
            out[(r.account_id, r.region, "db:" + name)] = (force, floor)
    return out


def _cluster_group(rec: _Records, account: str, region: str, cluster: str) -> str | None:
    return next((c.get("DBClusterParameterGroup") for r in rec("rds:DescribeDBClusters")
                 if r.account_id == account and r.region == region for c in r.data.get("DBClusters", [])
                 if c.get("DBClusterIdentifier") == cluster), None)


def _rds(rec: _Records, managers: dict) -> tuple[list, list, list]:
    resources, tags, replicas = [], [], []
    tls = _rds_tls(rec)
    for source, listing, kind, native, created, replica_key in (
            ("rds:DescribeDBInstances", "DBInstances", "db", "DBInstance", "InstanceCreateTime",
             "ReadReplicaDBInstanceIdentifiers"),
            ("rds:DescribeDBClusters", "DBClusters", "cluster", "DBCluster", "ClusterCreateTime",
             "ReadReplicaIdentifiers")):
        for r in rec(source):
            for db in r.data.get(listing, []):
                name = db[f"{native}Identifier"]
                arn = db.get(f"{native}Arn") or f"arn:{_part(r.account_id)}:rds:{r.region}:{r.account_id}:{kind}:{name}"
                resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                                  "name": name, "kind": "database", "native_type": f"AWS::RDS::{native}",
                                  "data_bearing": True,
                                  "encryption": _encryption(r.account_id, db.get("StorageEncrypted"), db.get("KmsKeyId"),
                                                            managers),
                                  "key_id": db.get("KmsKeyId"), "public_read": False, "public_write": False,
                                  "network_open": bool(db.get("PubliclyAccessible")), "created": db.get(created)})
                # from the parameter group: None (<NA>) where the group states no value
                force, floor = tls.get((r.account_id, r.region, f"{kind}:{name}"), (None, None))
                resources[-1].update(https_only=force, min_tls=floor)
                tags.extend(_tags(r.account_id, arn, db.get("TagList")))
                for rep in db.get(replica_key, []):
                    parts = rep.split(":")
                    # cross-region replicas are listed by ARN; same-region ones by name
                    if rep.startswith("arn:") and (parts[3] != r.region or parts[4] != r.account_id):
                        replicas.append({"provider": P, "account_id": r.account_id, "resource_id": arn,
                                         "source_region": r.region, "target_region": parts[3], "kind": "read_replica",
                                         "target_account": parts[4] if parts[4] != r.account_id else None})
    seen_global: set[str] = set()
    for r in rec("rds:DescribeGlobalClusters"):
        for g in r.data.get("GlobalClusters", []):
            members = g.get("GlobalClusterMembers", [])
            writer = next((m["DBClusterArn"] for m in members if m.get("IsWriter")), None)
            if not writer or g.get("GlobalClusterArn") in seen_global:
                continue
            seen_global.add(g.get("GlobalClusterArn"))
            source = writer.split(":")
            for m in members:
                target = m["DBClusterArn"].split(":")
                if not m.get("IsWriter"):
                    replicas.append({"provider": P, "account_id": source[4], "resource_id": writer,
                                     "source_region": source[3], "target_region": target[3], "kind": "global_table",
                                     "target_account": target[4] if target[4] != source[4] else None})
    public = {(r.account_id, r.region, a.get("DBSnapshotIdentifier")): any(
        attr.get("AttributeName") == "restore" and "all" in attr.get("AttributeValues", [])
        for attr in a.get("DBSnapshotAttributes", []))
        for r in rec("rds:DescribeDBSnapshotAttributes")
        for a in [r.data.get("DBSnapshotAttributesResult", {})]}
    for r in rec("rds:DescribeDBSnapshots"):
        for s in r.data.get("DBSnapshots", []):
            sid = s["DBSnapshotIdentifier"]
            arn = s.get("DBSnapshotArn") or f"arn:{_part(r.account_id)}:rds:{r.region}:{r.account_id}:snapshot:{sid}"
            is_public = False if s.get("SnapshotType") != "manual" else public.get((r.account_id, r.region, sid))
            resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                              "name": sid, "kind": "db_snapshot", "native_type": "AWS::RDS::DBSnapshot",
                              "data_bearing": True,
                              "encryption": _encryption(r.account_id, s.get("Encrypted"), s.get("KmsKeyId"), managers),
                              "key_id": s.get("KmsKeyId"), "public_read": is_public, "public_write": False,
                              "created": s.get("SnapshotCreateTime")})
            tags.extend(_tags(r.account_id, arn, s.get("TagList")))
    return resources, tags, replicas


def _kms(rec: _Records) -> tuple[list, list]:
    resources, replicas = [], []
    rotation = {(r.account_id, r.data["KeyId"]): r.data for r in rec("kms:GetKeyRotationStatus")}
    policies = {(r.account_id, r.data["KeyId"]): _doc(r.data.get("Policy")) for r in rec("kms:GetKeyPolicy")}
    for r in rec("kms:DescribeKey"):
        m = r.data.get("KeyMetadata", {})
        if m.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
            continue
        customer = m.get("KeyManager") == "CUSTOMER"
        rot = rotation.get((r.account_id, m.get("KeyId")))
        days, enabled = None, None   # rotation status not read (disabled key, denied call): unknown
        if not customer:
            days, enabled = 365, True   # AWS managed keys rotate every year and cannot be changed
        elif rot is not None:
            enabled = bool(rot.get("KeyRotationEnabled"))
            days = (rot.get("RotationPeriodInDays") or 365) if enabled else None
        elif (m.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
              or m.get("Origin", "AWS_KMS") != "AWS_KMS"):
            enabled = False   # asymmetric, HMAC and imported / external keys have no automatic rotation
        policy = policies.get((r.account_id, m.get("KeyId")))
        # AWS managed keys only serve their own service in this account; customer keys: read the policy
        anyone = _anonymous_allow(policy) if policy is not None else (False if not customer else None)
        resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": m.get("Arn"),
                          "public_read": anyone, "public_write": anyone, "name": m.get("KeyId"), "kind": "key", "native_type": "AWS::KMS::Key", "data_bearing": False,
                          "rotation_days": days, "rotation_enabled": enabled,
                          "key_manager": "customer" if customer else "provider",
                          "created": m.get("CreationDate")})
        mr = m.get("MultiRegionConfiguration") or {}
        if m.get("MultiRegion") and mr.get("MultiRegionKeyType") == "PRIMARY":
            for rep in mr.get("ReplicaKeys", []):
                replicas.append({"provider": P, "account_id": r.account_id, "resource_id": m.get("Arn"),
                                 "source_region": r.region, "target_region": rep.get("Region"),
                                 "kind": "multi_region_key"})
    return resources, replicas


def _anonymous_allow(policy: dict) -> bool:
    """A resource policy lets anyone in: an Allow for principal "*" without any condition."""
    for st in _list(policy.get("Statement")):
        anyone = _anyone(st.get("Principal"))
        if st.get("Effect") == "Allow" and anyone and not st.get("Condition"):
            return True
    return False


def _table_policy_flags(policy: dict) -> tuple[bool, bool]:
    """(anonymous read, anonymous write) from a DynamoDB resource policy: an unconditioned Allow
    for principal "*" of a read action (Get / Query / Scan ...) or of any other (write) action."""
    read = write = False
    for st in _list(policy.get("Statement")):
        if st.get("Effect") != "Allow" or not _anyone(st.get("Principal")) or st.get("Condition"):
            continue
        for action in (str(a).lower() for a in _list(st.get("Action"))):
            verb = action.split(":", 1)[-1]
            if action == "*" or verb == "*":
                read = write = True
            elif verb.startswith(READ_PREFIXES):
                read = True
            else:
                write = True
    return read, write


def _dynamodb(rec: _Records, managers: dict) -> tuple[list, list, list]:
    resources, tags, replicas = [], [], []
    # No record = the policy was not read (coverage says why): public access stays <NA>.
    policies = {(r.account_id, r.data["ResourceArn"]): r.data for r in rec("dynamodb:GetResourcePolicy")}
    for r in rec("dynamodb:DescribeTable"):
        t = r.data.get("Table", {})
        arn = t.get("TableArn")
        sse = t.get("SSEDescription") or {}
        key = sse.get("KMSMasterKeyArn")
        encryption = _encryption(r.account_id, True, key, managers) if key else "provider"
        raw = policies.get((r.account_id, arn))
        if raw is None:
            public_read = public_write = None
        elif "absent" in raw:
            public_read = public_write = False
        else:
            public_read, public_write = _table_policy_flags(_doc(raw.get("Policy")))
        resources.append({"provider": P, "account_id": r.account_id, "region": r.region, "resource_id": arn,
                          "name": t.get("TableName"), "kind": "table", "native_type": "AWS::DynamoDB::Table",
                          "data_bearing": True, "encryption": encryption, "key_id": key,
                          "public_read": public_read, "public_write": public_write,
                          "created": t.get("CreationDateTime")})
        for rep in t.get("Replicas", []):
            if rep.get("RegionName") and rep["RegionName"] != r.region:
                replicas.append({"provider": P, "account_id": r.account_id, "resource_id": arn, "source_region": r.region,
                                 "target_region": rep["RegionName"], "kind": "global_table"})
    for r in rec("dynamodb:ListTagsOfResource"):
        tags.extend(_tags(r.account_id, r.data["ResourceArn"], r.data.get("Tags")))
    return resources, tags, replicas


def _guardrails(rec: _Records, tenants: list[dict]) -> list[dict]:
    rows = []
    # SCPs: a Deny with a StringNotEquals-style aws:RequestedRegion condition restricts regions.
    parents = _parents(rec)
    targets = {r.data["PolicyId"]: r.data.get("Targets", []) for r in rec("organizations:ListTargetsForPolicy")}
    mgmt = {t["account_id"] for t in tenants if t.get("is_management")}
    for r in rec("organizations:DescribePolicy"):
        pol = r.data.get("Policy", {})
        summary = pol.get("PolicySummary", {})
        allowed = _region_restriction(_doc(pol.get("Content")))
        if allowed is None:
            continue
        for target in targets.get(summary.get("Id"), []):
            tid = target.get("TargetId")
            scope = {"ROOT": "organization root", "ORGANIZATIONAL_UNIT": "OU", "ACCOUNT": "account"}.get(
                target.get("Type"), str(target.get("Type")))
            for t in tenants:
                acct = t["account_id"]
                node, covered = acct, False
                while node is not None:
                    if node == tid:
                        covered = True
                        break
                    node = parents.get(node)
                if covered:
                    rows.append({"provider": P, "account_id": acct, "scope": scope, "kind": "region_restriction",
                                 # SCPs never restrict the management account
                                 "effective": acct not in mgmt, "values": sorted(allowed),
                                 "detail": _json({"policy_id": summary.get("Id"), "policy": summary.get("Name"),
                                                       "target": tid, "management_account": acct in mgmt})})
    for r in rec("s3control:GetPublicAccessBlock"):
        cfg = r.data.get("PublicAccessBlockConfiguration", {})
        on = sorted(k for k, v in cfg.items() if v)
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "public_access_block",
                     "effective": len(on) == 4, "values": on, "detail": _json(cfg or {"absent": True})})
    for r in rec("ec2:GetSnapshotBlockPublicAccessState"):
        state = r.data.get("State")
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "snapshot_public_block",
                     "effective": state in ("block-all-sharing", "block-new-sharing"), "values": [state] if state else [],
                     "detail": _json({"region": r.region, **r.data})})
    detectors: dict[str, dict[bool, set[str]]] = defaultdict(lambda: {True: set(), False: set()})
    for r in rec("guardduty:GetDetector"):
        detectors[r.account_id][r.data.get("Status") == "ENABLED"].add(r.region)
    for account, states in sorted(detectors.items()):
        for enabled, where in states.items():
            if where:
                rows.append({"provider": P, "account_id": account, "scope": "account", "kind": "threat_detection",
                             "effective": enabled, "values": sorted(where),
                             "detail": _json({"service": "GuardDuty", "enabled": enabled})})
    for r in rec("ec2:GetImageBlockPublicAccessState"):
        state = r.data.get("ImageBlockPublicAccessState")
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "image_public_block",
                     "effective": state == "block-new-sharing", "values": [state] if state else [],
                     "detail": _json({"region": r.region, **r.data})})
    for r in rec("iam:GetAccountPasswordPolicy"):
        pol = r.data.get("PasswordPolicy")
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "password_policy",
                     "effective": bool(pol), "values": [], "detail": _json(pol or {"absent": True})})
    from .guardrails import guardrail_rows  # mfa_required, security_contact, security_alerting (it imports this module)

    rows.extend(guardrail_rows(rec))
    return rows


def _region_restriction(doc: dict) -> set[str] | None:
    for st in _list(doc.get("Statement")):
        if st.get("Effect") != "Deny":
            continue
        for op, cond in (st.get("Condition") or {}).items():
            if op.lower().startswith(("stringnotequals", "stringnotlike")):
                for key, values in cond.items():
                    if key.lower() == "aws:requestedregion":
                        return {str(v) for v in _list(values)}
    return None


def _retention(rec: _Records) -> dict[str, int]:
    """Bucket name -> days objects are kept (0 = forever: no expiring lifecycle rule)."""
    out = {}
    for r in rec("s3:GetBucketLifecycleConfiguration"):
        days = [rule.get("Expiration", {}).get("Days") for rule in r.data.get("Rules", [])
                if rule.get("Status") == "Enabled" and rule.get("Expiration", {}).get("Days")]
        out[r.data["Bucket"]] = min(days) if days else 0
    return out


def _audit_logs(rec: _Records, bucket_regions: dict[str, str]) -> tuple[list, dict]:
    rows = []
    retention = _retention(rec)
    channels = {(r.account_id, r.region): [c.get("s3BucketName") for c in r.data.get("DeliveryChannels", [])]
                for r in rec("config:DescribeDeliveryChannels")}
    status = {r.data["TrailARN"]: r.data for r in rec("cloudtrail:GetTrailStatus")}
    selectors = {r.data["TrailARN"]: r.data for r in rec("cloudtrail:GetEventSelectors")}
    data_logging: dict[str, set[str]] = defaultdict(set)   # account -> S3 ARN prefixes with data events
    for r in rec("cloudtrail:DescribeTrails"):
        for t in r.data.get("trailList", []):
            arn = t.get("TrailARN") or t["Name"]
            st = status.get(arn)
            sel = selectors.get(arn)
            mgmt = data = None
            if sel is not None:
                basic = sel.get("EventSelectors", [])
                adv = sel.get("AdvancedEventSelectors", [])
                mgmt = any(s.get("IncludeManagementEvents", True) for s in basic) or any(
                    f.get("Field") == "eventCategory" and "Management" in f.get("Equals", [])
                    for a in adv for f in a.get("FieldSelectors", []))
                data = any(s.get("DataResources") for s in basic) or any(
                    f.get("Field") == "eventCategory" and "Data" in f.get("Equals", [])
                    for a in adv for f in a.get("FieldSelectors", []))
                if st and st.get("IsLogging"):
                    for s in basic:
                        for d in s.get("DataResources", []):
                            if d.get("Type") == "AWS::S3::Object":
                                data_logging[r.account_id].update(d.get("Values", []))
            rows.append({"provider": P, "account_id": r.account_id, "region": t.get("HomeRegion") or r.region,
                         "log_id": arn, "scope": "organization" if t.get("IsOrganizationTrail") else "account",
                         "enabled": st.get("IsLogging") if st else None, "multi_region": t.get("IsMultiRegionTrail"),
                         "management_events": mgmt, "data_events": data,
                         "integrity": t.get("LogFileValidationEnabled"),
                         "retention_days": retention.get(t.get("S3BucketName", "")),
                         "destination_region": bucket_regions.get(t.get("S3BucketName", ""))})
    recording = {(r.account_id, r.region, s.get("name")): s.get("recording")
                 for r in rec("config:DescribeConfigurationRecorderStatus")
                 for s in r.data.get("ConfigurationRecordersStatus", [])}
    for r in rec("config:DescribeConfigurationRecorders"):
        for c in r.data.get("ConfigurationRecorders", []):
            rows.append({"provider": P, "account_id": r.account_id, "region": r.region,
                         "log_id": f"arn:{_part(r.account_id)}:config:{r.region}:{r.account_id}:configuration-recorder/{c.get('name')}",
                         "scope": "region", "enabled": recording.get((r.account_id, r.region, c.get("name"))),
                         "multi_region": False, "management_events": False, "data_events": False,
                         "destination_region": next((bucket_regions.get(b) for b in
                                                     channels.get((r.account_id, r.region), []) if b), None)})
    return rows, data_logging


def normalize(collection: Collection) -> Inventory:
    """Build the inventory tables from the collection's records (pure)."""
    rec = _Records(collection)
    partitions = {r.account_id: r.data["Arn"].split(":")[1] for r in rec("sts:GetCallerIdentity")}
    caller_part = next(iter(partitions.values()), "aws")
    token = _PARTITION.set(caller_part)
    try:
        return _normalize(collection, rec, partitions, caller_part)
    finally:
        _PARTITION.reset(token)


def _normalize(collection: Collection, rec: _Records, partitions: dict[str, str], caller_part: str) -> Inventory:
    tenants, known = _tenants(rec)
    partitions = {a: partitions.get(a, caller_part) for a in known | set(partitions)}
    managers = _key_managers(rec)
    iam = _iam(rec, known)
    b_res, b_tags, b_rep = _buckets(rec, managers, partitions)
    e_res, e_tags, rules = _ec2(rec, managers)
    r_res, r_tags, r_rep = _rds(rec, managers)
    k_res, k_rep = _kms(rec)
    d_res, d_tags, d_rep = _dynamodb(rec, managers)
    bucket_regions = {row["name"]: row["region"] for row in b_res}
    logs, data_logging = _audit_logs(rec, bucket_regions)
    for row in b_res:  # S3 data events of a logging trail cover the bucket
        prefixes = data_logging.get(row["account_id"], set())
        row["data_access_logging"] = any(p in (f"arn:{caller_part}:s3", f"arn:{caller_part}:s3:::") or
                                         row["resource_id"].startswith(p.rstrip("/")) for p in prefixes)
    coverage = [{"provider": c.provider, "account_id": c.account_id, "region": c.region, "table": c.table,
                 "source": c.source, "status": c.status, "message": c.message,
                 "resource_id": c.resource_id} for c in collection.coverage]
    tables = {
        "tenants": make_table("tenants", tenants),
        "regions": make_table("regions", _regions(rec, partitions)),
        "resources": make_table("resources", b_res + e_res + r_res + k_res + d_res),
        "tags": make_table("tags", b_tags + e_tags + r_tags + d_tags),
        "replicas": make_table("replicas", b_rep + r_rep + k_rep + d_rep),
        "principals": make_table("principals", iam["principals"]),
        "credentials": make_table("credentials", iam["credentials"]),
        "grants": make_table("grants", iam["grants"]),
        "trusts": make_table("trusts", iam["trusts"]),
        "network_rules": make_table("network_rules", rules),
        "guardrails": make_table("guardrails", _guardrails(rec, tenants)),
        "audit_logs": make_table("audit_logs", logs),
        "coverage": make_table("coverage", coverage),
    }
    return Inventory(tables)
