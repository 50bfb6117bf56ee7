"""Names shared by the GCP collector and the (SDK-free) normalizer: sources, constraints, tables."""

from __future__ import annotations

NAME = "gcp"
GLOBAL = "global"

# Sources (also the record names in the evidence bundle).
SRC_ORGS = "resourcemanager:organizations.search"
SRC_FOLDERS = "resourcemanager:folders.list"
SRC_PROJECTS = "resourcemanager:projects.list"
SRC_PROJECT_GET = "resourcemanager:projects.get"
SRC_IAM_POLICY = "resourcemanager:getIamPolicy"
SRC_SEARCH_RESOURCES = "cloudasset:searchAllResources"
SRC_LIST_ASSETS = "cloudasset:listAssets"
SRC_SEARCH_IAM = "cloudasset:searchAllIamPolicies"
SRC_EFFECTIVE_POLICY = "orgpolicy:getEffectivePolicy"
SRC_DIRECTORY = "admin:directory.users.list"
SRC_ACCESS_APPROVAL = "accessapproval:getAccessApprovalSettings"

# Access Approval settings feed this guardrail kind (effective = enrolled, values = enrolled products).
ACCESS_APPROVAL_KIND = "provider_access_approval"

# Security Command Center (Security Center Management v1): the Event Threat Detection service of
# each project, read at the global location (SCC is not regional). Its effective enablement state
# already includes what an ancestor folder or the organization sets.
SRC_SCC_SERVICE = "securitycentermanagement:getSecurityCenterService"
SCC_SERVICE = "event-threat-detection"
SCC_LOCATION = "global"
THREAT_DETECTION_KIND = "threat_detection"
# The organization node is not read: a guardrail row on it would apply to every project below it,
# also to a project that disables the service for itself (each project's own effective state is read).
SCC_ORG_UNSUPPORTED = ("Event Threat Detection is read per project (its effective state includes what the "
                       "organization sets); the organization node's own setting is not read")

# Org Policy constraints read, and the guardrail kind each one feeds.
CONSTRAINTS: dict[str, str] = {
    "gcp.resourceLocations": "region_restriction",
    "iam.allowedPolicyMemberDomains": "domain_restriction",
    "storage.publicAccessPrevention": "public_access_block",
    "iam.disableServiceAccountKeyCreation": "key_creation_block",
    "sql.restrictPublicIp": "public_ip_block",
    "compute.skipDefaultNetworkCreation": "default_network_block",
    "gcp.restrictTLSVersion": "tls_version_restriction",
}

# gcp.restrictTLSVersion (a deny list): Google Cloud APIs on Google Cloud FQDNs (storage.googleapis.com
# included) accept TLS 1.0, 1.1 and 1.2+ unless the effective policy denies the older versions
# (cloud.google.com/assured-workloads/docs/restrict-tls-versions).
TLS_CONSTRAINT = "gcp.restrictTLSVersion"
TLS_VALUES: dict[str, str] = {"TLS_VERSION_1": "1.0", "TLS_VERSION_1_1": "1.1"}


def tls_denied(spec: dict) -> list[str]:
    """Values the unconditional rules of a gcp.restrictTLSVersion spec deny (``is:`` prefix removed)."""
    return [str(v)[3:] if str(v).startswith("is:") else str(v)
            for rule in spec.get("rules") or [] if not rule.get("condition")
            for v in (rule.get("values") or {}).get("deniedValues", [])]


def tls_floor(spec: dict) -> tuple[str | None, str]:
    """(lowest TLS version Google API endpoints accept under this effective spec, why not known).

    '1.0' when nothing is denied (Google's default), '1.1' when only TLS 1.0 is denied, '1.2' when
    both are. None, with the reason, for a spec this adapter does not interpret (conditional rules
    apply per resource; allow lists and allowAll / denyAll are not how the constraint is documented).
    """
    rules = spec.get("rules") or []
    if any(rule.get("condition") for rule in rules):
        return None, "has conditional rules, which apply to some resources only"
    if any(rule.get("denyAll") or (rule.get("values") or {}).get("allowedValues") for rule in rules):
        return None, "uses denyAll or allowed values, which the constraint does not document (a deny list)"
    denied = set(tls_denied(spec))
    if "TLS_VERSION_1" not in denied:
        return "1.0", ""
    return ("1.2" if "TLS_VERSION_1_1" in denied else "1.1"), ""

# Asset types searched for the inventory (location, labels, keys, state).
SEARCH_ASSET_TYPES: tuple[str, ...] = (
    "storage.googleapis.com/Bucket",
    "compute.googleapis.com/Disk",
    "compute.googleapis.com/Snapshot",
    "compute.googleapis.com/Image",
    "compute.googleapis.com/Instance",
    "compute.googleapis.com/Firewall",
    "compute.googleapis.com/Network",
    "sqladmin.googleapis.com/Instance",
    "bigquery.googleapis.com/Dataset",
    "cloudkms.googleapis.com/CryptoKey",
    "pubsub.googleapis.com/Topic",
    "logging.googleapis.com/LogBucket",
    "secretmanager.googleapis.com/Secret",
)
# Asset types whose full configuration (``resource.data``) the checks need.
CONFIG_ASSET_TYPES: tuple[str, ...] = (
    "storage.googleapis.com/Bucket",
    "compute.googleapis.com/Disk",
    "compute.googleapis.com/Snapshot",
    "compute.googleapis.com/Image",
    "compute.googleapis.com/Firewall",
    "compute.googleapis.com/Network",
    "compute.googleapis.com/Instance",
    "compute.googleapis.com/Project",
    "sqladmin.googleapis.com/Instance",
    "bigquery.googleapis.com/Dataset",
    "cloudkms.googleapis.com/CryptoKey",
    "pubsub.googleapis.com/Topic",
    "logging.googleapis.com/LogBucket",
    "logging.googleapis.com/LogSink",
    "iam.googleapis.com/ServiceAccount",
    "iam.googleapis.com/ServiceAccountKey",
    "essentialcontacts.googleapis.com/Contact",
    "monitoring.googleapis.com/AlertPolicy",
)

# Which inventory tables each source feeds (for coverage rows).
TABLES_OF: dict[str, tuple[str, ...]] = {
    SRC_PROJECTS: ("tenants",),
    SRC_SEARCH_RESOURCES: ("resources", "tags"),
    SRC_LIST_ASSETS: ("resources", "replicas", "network_rules", "credentials", "audit_logs", "guardrails",
                      "guardrails.security_contact", "guardrails.security_alerting"),
    SRC_SEARCH_IAM: ("grants", "principals", "trusts", "resources"),
    SRC_IAM_POLICY: ("audit_logs",),
    SRC_EFFECTIVE_POLICY: ("guardrails",),
}

# Guardrail kinds this adapter does not read (checks that need one of them say ERROR on GCP).
NOT_COLLECTED: dict[str, str] = {}

MFA_UNSUPPORTED = ("2-step verification is read from the Admin SDK Directory API, which needs domain-wide "
                   "delegation; it was not configured (options['directory'])")
SIGN_IN_UNSUPPORTED = ("user sign-in times are read from the Admin SDK Directory API, which needs domain-wide "
                       "delegation; it was not configured (options['directory'])")
