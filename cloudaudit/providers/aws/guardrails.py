"""Guardrail kinds the AWS adapter reads beside collect.py / normalize.py.

* ``mfa_required`` (AUTH-005): no call of its own. From ``iam:GetAccountAuthorizationDetails``
  (already collected): a policy attached to a user, group or role that holds admin privilege,
  with a broad Deny conditioned on ``aws:MultiFactorAuthPresent`` false (``Bool`` /
  ``BoolIfExists``), is an effective guardrail. Such a policy that reaches no admin (an unattached
  managed policy, or one on non-admins only) is present but not effective.
* ``security_contact`` (LOG-008): ``account:GetAlternateContact`` (SECURITY), once per account
  with the account's own session (the Account API is global: the partition's home region).
  ``ResourceNotFoundException`` means no contact (no row); a contact with an e-mail is effective.
* ``security_alerting`` (LOG-007), per region: CloudWatch Logs metric filters whose pattern
  matches security events (the CIS AWS Foundations monitoring filters: root use, IAM policy /
  CloudTrail / Config changes, console sign-in failures or without MFA, unauthorized calls,
  security group / NACL / gateway / route / VPC changes, KMS key disabling or deletion, S3
  bucket policy changes, Organizations changes) with a CloudWatch alarm on the filter's metric
  that has actions enabled and an alarm action; and EventBridge rules (default bus) whose event
  pattern's ``source`` is a security service (aws.iam, aws.signin, aws.cloudtrail,
  aws.guardduty, aws.securityhub, aws.config) that are enabled and have a target.
  Requests stay low: one paginated listing per region and service; alarms are listed only in
  regions with a matching filter, rule targets only for enabled matching rules.

Collectors take ``(run, account[, region])`` like those of collect.py; the normalizers are pure
functions from the records (``rec(source) -> [Record]``) to guardrail row dicts.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .client import HOME_REGION, partition_of
from .normalize import _doc, _json, _list, _policy_grants, managed_policy_documents

if TYPE_CHECKING:  # collect.py imports this module: no runtime import the other way round
    from .collect import Account, _Run

P = "aws"
MFA = "guardrails.mfa_required"
CONTACT = "guardrails.security_contact"
ALERTING = "guardrails.security_alerting"

CONTACT_SOURCE = "account:GetAlternateContact"
FILTERS_SOURCE = "logs:DescribeMetricFilters"
ALARMS_SOURCE = "cloudwatch:DescribeAlarms"
RULES_SOURCE = "events:ListRules"
TARGETS_SOURCE = "events:ListTargetsByRule"

# Security-relevant control-plane events a metric filter pattern may select (CIS AWS
# Foundations Benchmark, "Monitoring" section), matched on the lower-cased pattern.
ALERT_TOPICS: dict[str, tuple[str, ...]] = {
    # every regex of a topic must match
    "root_use": (r"useridentity\.type\s*=\s*\"?root\b",),
    "unauthorized_api_calls": (r"unauthorizedoperation|accessdenied",),
    "console_login_without_mfa": (r"consolelogin", r"mfaused"),
    "console_login_failures": (r"consolelogin", r"failed authentication"),
    "iam_policy_changes": (r"(put|delete|attach|detach)(user|group|role)policy|(create|delete)policy(version)?\b"
                           r"|setdefaultpolicyversion",),
    "cloudtrail_changes": (r"(create|update|delete)trail|(stop|start)logging",),
    "config_changes": (r"(stop|put|delete)configurationrecorder|(put|delete)deliverychannel",),
    "kms_key_deletion": (r"disablekey|schedulekeydeletion",),
    "s3_bucket_policy_changes": (r"(put|delete)bucket(policy|acl|cors|lifecycle|replication)",),
    "security_group_changes": (r"(authorize|revoke)securitygroup(ingress|egress)|(create|delete)securitygroup",),
    "nacl_changes": (r"(create|delete|replace)networkacl",),
    "network_gateway_changes": (r"(create|delete)customergateway|(create|delete|attach|detach)internetgateway",),
    "route_table_changes": (r"(create|replace|delete)route\b|(create|delete)routetable|(dis)?associateroutetable"
                            r"|replaceroutetableassociation",),
    "vpc_changes": (r"(create|delete|modify)vpc\b|(create|delete|accept|reject)vpcpeeringconnection"
                    r"|(attach|detach)classiclinkvpc|(disable|enable)vpcclassiclink",),
    "organizations_changes": (r"organizations\.amazonaws\.com",),
}
_TOPIC_RE = {topic: tuple(re.compile(p) for p in parts) for topic, parts in ALERT_TOPICS.items()}

# EventBridge sources of security-relevant events.
SECURITY_SOURCES = ("aws.iam", "aws.signin", "aws.cloudtrail", "aws.guardduty", "aws.securityhub", "aws.config")
# Services whose events reach EventBridge only in the partition's home region (us-east-1).
GLOBAL_ONLY_SOURCES = ("aws.iam",)
ENABLED_RULE_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")


# ----------------------------------------------------------------------------- collectors

def collect_security_contact(run: "_Run", account: "Account") -> None:
    """The account's SECURITY alternate contact, read with its own session (one call)."""
    region = HOME_REGION.get(run.partition, run.home)   # the Account API has one global endpoint
    client = run.client(account, "account", region)
    run.call(account.id, "global", CONTACT_SOURCE, [CONTACT],
             lambda: client.get_alternate_contact(AlternateContactType="SECURITY"),
             absent=("ResourceNotFoundException",))


def collect_security_alerting(run: "_Run", account: "Account", region: str) -> None:
    """Metric filters (+ alarms where a filter selects security events) and EventBridge rules
    (+ targets of the enabled rules on security sources) of one region."""
    from .collect import pages

    a = account.id
    logs = run.client(account, "logs", region)
    filters = run.call(a, region, FILTERS_SOURCE, [ALERTING], lambda: pages(logs, "describe_metric_filters"))
    if any(filter_topics(f.get("filterPattern")) for f in (filters or {}).get("metricFilters", [])):
        cloudwatch = run.client(account, "cloudwatch", region)
        run.call(a, region, ALARMS_SOURCE, [ALERTING],
                 lambda: pages(cloudwatch, "describe_alarms", AlarmTypes=["MetricAlarm"]))
    events = run.client(account, "events", region)
    rules = run.call(a, region, RULES_SOURCE, [ALERTING], lambda: pages(events, "list_rules"))
    for rule in (rules or {}).get("Rules", []):
        if rule.get("State") in ENABLED_RULE_STATES and rule_sources(rule.get("EventPattern")):
            name = rule["Name"]
            run.call(a, region, TARGETS_SOURCE, [ALERTING],
                     lambda n=name: pages(events, "list_targets_by_rule", Rule=n), extra={"Rule": name})


# ----------------------------------------------------------------------------- matching (pure)

def filter_topics(pattern: Any) -> list[str]:
    """Security topics a CloudWatch Logs metric filter pattern selects (empty: none)."""
    text = str(pattern or "").lower()
    if not text.strip():
        return []
    return [topic for topic, parts in _TOPIC_RE.items() if all(p.search(text) for p in parts)]


def rule_sources(pattern: Any) -> list[str]:
    """Security sources an EventBridge event pattern (JSON text) selects (empty: none)."""
    if not pattern:
        return []
    try:
        doc = json.loads(pattern) if isinstance(pattern, str) else pattern
    except (TypeError, ValueError):
        return []
    if not isinstance(doc, dict):
        return []
    found: set[str] = set()
    for value in _list(doc.get("source")):
        if isinstance(value, str):
            if value in SECURITY_SOURCES:
                found.add(value)
        elif isinstance(value, dict) and isinstance(value.get("prefix"), str):
            found.update(s for s in SECURITY_SOURCES if s.startswith(value["prefix"]))
    return sorted(found)


def mfa_deny(document: dict) -> str | None:
    """The condition operator of a broad Deny that applies when MFA is absent, or None.

    Broad: every action (``*``) or everything but a list (``NotAction``), on every resource.
    The condition: ``Bool`` or ``BoolIfExists`` with ``aws:MultiFactorAuthPresent`` false.
    """
    for st in _list(document.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        actions = [str(a).lower() for a in _list(st.get("Action"))]
        broad = ("NotAction" in st and "*" not in [str(a) for a in _list(st["NotAction"])]) or bool(
            {"*", "*:*"} & set(actions))
        resources = [str(r) for r in _list(st.get("Resource"))]
        if not broad or not ("NotResource" in st or not resources or "*" in resources):
            continue
        for op, cond in (st.get("Condition") or {}).items():
            if op.lower() not in ("bool", "boolifexists") or not isinstance(cond, dict):
                continue
            for key, value in cond.items():
                if key.lower() == "aws:multifactorauthpresent" and "false" in [str(v).lower() for v in _list(value)]:
                    return op
    return None


# ----------------------------------------------------------------------------- normalizers (pure)

Rec = Callable[[str], Iterable[Any]]


def mfa_required_rows(rec: Rec) -> list[dict]:
    """One ``mfa_required`` row per account whose IAM policies hold a deny-unless-MFA statement."""
    rows = []
    for r in rec("iam:GetAccountAuthorizationDetails"):
        data = r.data or {}
        docs = managed_policy_documents(data)
        names = {pol["Arn"]: pol.get("PolicyName") or pol["Arn"].rsplit("/", 1)[-1] for pol in data.get("Policies", [])}
        attached = {pol["Arn"]: int(pol.get("AttachmentCount") or 0) for pol in data.get("Policies", [])}

        def mfa_policies(entity: dict, inline_key: str) -> list[tuple[str, str]]:
            found = []
            for att in entity.get("AttachedManagedPolicies", []):
                op = mfa_deny(docs.get(att["PolicyArn"], {}))
                if op:
                    found.append((att.get("PolicyName") or names.get(att["PolicyArn"], att["PolicyArn"]), op))
            for inline in entity.get(inline_key, []):
                op = mfa_deny(_doc(inline.get("PolicyDocument")))
                if op:
                    found.append((inline.get("PolicyName"), op))
            return found

        def admin(grants: list[tuple[str, str, bool]]) -> bool:
            return any(level == "admin" for _, level, _ in grants)

        groups = {g["GroupName"]: g for g in data.get("GroupDetailList", [])}
        group_admin = {n: admin(_policy_grants(g, "GroupPolicyList", docs)) for n, g in groups.items()}
        group_mfa = {n: mfa_policies(g, "GroupPolicyList") for n, g in groups.items()}
        enforced: list[dict] = []
        present: list[dict] = []
        uncovered: list[str] = []

        def note(kind: str, entity: dict, name_key: str, is_admin: bool, found: list[tuple[str, str, str]]) -> None:
            for policy, op, via in found:
                (enforced if is_admin else present).append({"principal": entity.get("Arn") or entity.get(name_key),
                                                            "kind": kind, "policy": policy, "condition": op,
                                                            "via": via})
            if is_admin and not found and kind != "group":
                uncovered.append(entity.get("Arn") or entity.get(name_key))

        for u in data.get("UserDetailList", []):
            own = _policy_grants(u, "UserPolicyList", docs)
            is_admin = admin(own) or any(group_admin.get(g, False) for g in u.get("GroupList", []))
            found = [(p, op, "direct") for p, op in mfa_policies(u, "UserPolicyList")]
            found += [(p, op, f"group {g}") for g in u.get("GroupList", []) for p, op in group_mfa.get(g, [])]
            note("user", u, "UserName", is_admin, found)
        for name, g in groups.items():
            note("group", g, "GroupName", group_admin[name], [(p, op, "direct") for p, op in group_mfa[name]])
        for role in data.get("RoleDetailList", []):
            is_admin = admin(_policy_grants(role, "RolePolicyList", docs))
            note("role", role, "RoleName", is_admin,
                 [(p, op, "direct") for p, op in mfa_policies(role, "RolePolicyList")])
        unattached = sorted(names[arn] for arn, doc in docs.items() if attached.get(arn) == 0 and mfa_deny(doc))
        if not enforced and not present and not unattached:
            continue
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "mfa_required",
                     "effective": bool(enforced),
                     "values": sorted({e["policy"] for e in enforced} or {e["policy"] for e in present} or set(unattached)),
                     "detail": _json({"enforced_on_admins": enforced, "on_non_admins": present,
                                      "unattached_policies": unattached,
                                      "admins_without_mfa_policy": sorted(uncovered)})})
    return rows


def security_contact_rows(rec: Rec) -> list[dict]:
    """One ``security_contact`` row per account with a SECURITY alternate contact."""
    rows = []
    for r in rec(CONTACT_SOURCE):
        contact = (r.data or {}).get("AlternateContact")
        if not contact:   # {"absent": "ResourceNotFoundException"}: no contact registered
            continue
        email = contact.get("EmailAddress")
        rows.append({"provider": P, "account_id": r.account_id, "scope": "account", "kind": "security_contact",
                     "effective": bool(email), "values": [],
                     "detail": _json({"type": contact.get("AlternateContactType", "SECURITY"),
                                      "name": contact.get("Name"), "email": email})})
    return rows


def _alarm_metrics(alarm: dict) -> set[tuple[str, str]]:
    """(namespace, metric name) pairs an alarm watches (single metric or metric math)."""
    found = set()
    if alarm.get("MetricName"):
        found.add((alarm.get("Namespace") or "", alarm["MetricName"]))
    for query in alarm.get("Metrics") or []:
        metric = ((query or {}).get("MetricStat") or {}).get("Metric") or {}
        if metric.get("MetricName"):
            found.add((metric.get("Namespace") or "", metric["MetricName"]))
    return found


def security_alerting_rows(rec: Rec) -> list[dict]:
    """One ``security_alerting`` row per account with a security metric filter or event rule:
    effective when one of them raises an alert (``values``: the regions where one does)."""
    alarms: dict[tuple[str, str], list[dict]] = {}
    for r in rec(ALARMS_SOURCE):
        alarms[(r.account_id, r.region)] = list((r.data or {}).get("MetricAlarms", []))
    targets = {(r.account_id, r.region, r.data.get("Rule")): r.data.get("Targets", []) for r in rec(TARGETS_SOURCE)}
    found: dict[str, list[dict]] = defaultdict(list)
    for r in rec(FILTERS_SOURCE):
        for f in (r.data or {}).get("metricFilters", []):
            topics = filter_topics(f.get("filterPattern"))
            if not topics:
                continue
            metrics = {(t.get("metricNamespace") or "", t.get("metricName"))
                       for t in f.get("metricTransformations", []) if t.get("metricName")}
            listed = alarms.get((r.account_id, r.region))
            watching = [al for al in (listed or []) if _alarm_metrics(al) & metrics]
            alerting = [al.get("AlarmName") for al in watching if al.get("ActionsEnabled") and al.get("AlarmActions")]
            found[r.account_id].append({
                "type": "metric_filter", "region": r.region, "name": f.get("filterName"),
                "log_group": f.get("logGroupName"), "topics": topics,
                "alarms": sorted(al.get("AlarmName") for al in watching), "alerting_alarms": sorted(alerting),
                # alarms not listed (the listing failed, or a replayed bundle lacks it): effect unknown
                "effective": bool(alerting) if listed is not None else None})
    for r in rec(RULES_SOURCE):
        home = HOME_REGION.get(partition_of(r.region), "us-east-1")
        for rule in (r.data or {}).get("Rules", []):
            sources = rule_sources(rule.get("EventPattern"))
            if not sources:
                continue
            # IAM's events reach EventBridge only in the home region: elsewhere they never fire
            live = [s for s in sources if r.region == home or s not in GLOBAL_ONLY_SOURCES]
            enabled = rule.get("State") in ENABLED_RULE_STATES
            rule_targets = targets.get((r.account_id, r.region, rule.get("Name")))
            effective: bool | None = bool(enabled and live and rule_targets)
            if enabled and live and rule_targets is None:
                effective = None   # targets not read: effect unknown (coverage says why)
            found[r.account_id].append({
                "type": "event_rule", "region": r.region, "name": rule.get("Name"), "arn": rule.get("Arn"),
                "state": rule.get("State"), "sources": sources, "sources_delivered_here": live,
                "targets": sorted(t.get("Arn") for t in (rule_targets or [])), "effective": effective})
    rows = []
    for account, items in sorted(found.items()):
        where = sorted({i["region"] for i in items if i["effective"]})
        rows.append({"provider": P, "account_id": account, "scope": "account", "kind": "security_alerting",
                     "effective": bool(where) if where or all(i["effective"] is not None for i in items) else None,
                     "values": where, "detail": _json({"alerts": items})})
    return rows


def guardrail_rows(rec: Rec) -> list[dict]:
    """Every guardrail row of this module (``normalize._guardrails`` appends them)."""
    return mfa_required_rows(rec) + security_contact_rows(rec) + security_alerting_rows(rec)
