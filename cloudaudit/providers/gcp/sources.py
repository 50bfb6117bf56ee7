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

# Org Policy constraints read, and the guardrail kind each one feeds.
CONSTRAINTS: dict[str, str] = {
    "gcp.resourceLocations": "region_restriction",
    "iam.allowedPolicyMemberDomains": "domain_restriction",
    "storage.publicAccessPrevention": "public_access_block",
    "iam.disableServiceAccountKeyCreation": "key_creation_block",
    "sql.restrictPublicIp": "public_ip_block",
    "compute.skipDefaultNetworkCreation": "default_network_block",
}

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
NOT_COLLECTED = {
    "threat_detection": "Security Command Center status is not collected by the GCP adapter",
    "provider_access_approval": "Access Approval enrollment is not collected by the GCP adapter",
}

MFA_UNSUPPORTED = ("2-step verification is read from the Admin SDK Directory API, which needs domain-wide "
                   "delegation; it was not configured (options['directory'])")
SIGN_IN_UNSUPPORTED = ("user sign-in times are read from the Admin SDK Directory API, which needs domain-wide "
                       "delegation; it was not configured (options['directory'])")
