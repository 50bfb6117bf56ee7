"""AWS guardrails mfa_required (AUTH-005), security_alerting (LOG-007) and security_contact (LOG-008):
real boto3 against moto over HTTP (the sample organization), faults through the proxy, and the
pure matching and normalization rules."""

from __future__ import annotations

import json
import re
import threading

import pandas as pd
import pytest

import cloudaudit
from cloudaudit.providers import aws
from cloudaudit.providers.aws import guardrails as gr
from cloudaudit.providers.aws.sample import HOME, MANAGEMENT
from cloudaudit.providers.base import Collection

from aws_fakes import FaultProxy, moto_endpoint, sample_org  # noqa: F401

CHECKS = ["AUTH-005", "LOG-007", "LOG-008"]
KIND_OF = {"AUTH-005": "mfa_required", "LOG-007": "security_alerting", "LOG-008": "security_contact"}
REGIONS = [HOME, "us-east-1"]
_KEY = re.compile(r"Credential=([^/]+)/")


@pytest.fixture(scope="module")
def recorded(sample_org):
    """One collection of the sample organization, with every SDK operation recorded client side."""
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(model, **_):
        with lock:
            calls.append((model.service_model.service_name, model.name))

    collection = aws.collect({"regions": REGIONS, "max_attempts": 1, "client_hooks": {"before-call.*.*": record}})
    return collection, calls


@pytest.fixture(scope="module")
def inv(recorded):
    return aws.normalize(recorded[0])


@pytest.fixture(scope="module")
def findings(inv):
    return cloudaudit.audit(inv, checks=CHECKS).df


def _verdicts(findings: pd.DataFrame, check_id: str) -> dict[str, set[str]]:
    rows = findings[findings.check_id == check_id]
    return {a: set(rows[rows.account_id == a].status.astype(str)) for a in set(rows.account_id)}


def _detail(inv, account: str, kind: str) -> dict:
    g = inv.guardrails
    rows = g[(g.account_id == account) & (g.kind == kind)]
    assert len(rows) == 1, (account, kind)
    return json.loads(rows.detail.iloc[0])


# ----------------------------------------------------------------------------- the sample organization

def test_each_kind_passes_where_the_sample_has_it_and_fails_elsewhere(findings, sample_org):
    every = {MANAGEMENT, *sample_org["members"].values()}
    for check_id in CHECKS:
        have = set(sample_org["guardrails"][KIND_OF[check_id]])
        assert have and every - have, check_id   # at least one PASS and one FAIL in the sample
        assert _verdicts(findings, check_id) == {a: {"PASS"} if a in have else {"FAIL"} for a in every}, check_id


def test_mfa_policy_is_found_on_the_admin_group_and_names_the_admins_it_misses(inv):
    g = inv.guardrails
    rows = g[g.kind == "mfa_required"]
    assert list(rows.account_id) == [MANAGEMENT] and rows.effective.all() and list(rows["values"].iloc[0]) == ["Everything"]
    detail = _detail(inv, MANAGEMENT, "mfa_required")
    on = {(e["kind"], e["principal"].rsplit("/", 1)[-1], e["via"], e["condition"]) for e in detail["enforced_on_admins"]}
    assert on == {("group", "Admins", "direct", "BoolIfExists"), ("user", "dave", "group Admins", "BoolIfExists")}
    assert detail["admins_without_mfa_policy"] == [f"arn:aws:iam::{MANAGEMENT}:role/VendorAdmin",
                                                   f"arn:aws:iam::{MANAGEMENT}:user/carol"]


def test_security_contact_and_alerting_details(inv, sample_org):
    shared = sample_org["members"]["shared-services"]
    contact = _detail(inv, shared, "security_contact")
    assert contact == {"type": "SECURITY", "name": "Security Operations", "email": f"security+{shared}@example.com"}
    alerts = _detail(inv, MANAGEMENT, "security_alerting")["alerts"]
    assert {(a["type"], a["name"], tuple(a["topics"]), a["effective"]) for a in alerts} == {
        ("metric_filter", "RootAccountUsage", ("root_use",), True),
        ("metric_filter", "IAMPolicyChanges", ("iam_policy_changes",), True)}
    assert all(a["region"] == HOME and a["alerting_alarms"] == [a["name"]] for a in alerts)
    (rule,) = _detail(inv, shared, "security_alerting")["alerts"]
    assert rule["type"] == "event_rule" and rule["sources"] == ["aws.guardduty"] and rule["effective"]
    assert rule["targets"] == [f"arn:aws:sns:{HOME}:{shared}:guardduty-findings"]
    g = inv.guardrails
    assert list(g[(g.kind == "security_alerting") & (g.account_id == shared)]["values"].iloc[0]) == [HOME]


def test_coverage_rows_for_every_source_and_account(inv, sample_org):
    cov = inv.coverage
    accounts = {MANAGEMENT, *sample_org["members"].values()}

    def where(source: str) -> set[tuple]:
        rows = cov[cov.source == source]
        assert (rows.status == "ok").all(), source
        return set(zip(rows.account_id, rows.region.astype("string").fillna("global"), rows.table))

    assert where("iam:GetAccountAuthorizationDetails") >= {(a, "global", gr.MFA) for a in accounts}
    assert where(gr.CONTACT_SOURCE) == {(a, "global", gr.CONTACT) for a in accounts}
    regional = {(a, r, gr.ALERTING) for a in accounts for r in REGIONS}
    assert where(gr.FILTERS_SOURCE) == regional and where(gr.RULES_SOURCE) == regional
    # alarms only where a filter selects security events, targets only for the matching rule
    assert where(gr.ALARMS_SOURCE) == {(MANAGEMENT, HOME, gr.ALERTING)}
    assert where(gr.TARGETS_SOURCE) == {(sample_org["members"]["shared-services"], HOME, gr.ALERTING)}


def test_requests_stay_low(recorded, sample_org):
    _, calls = recorded
    count = pd.Series([f"{s}:{op}" for s, op in calls]).value_counts()
    accounts = 1 + len(sample_org["members"])
    assert count["account:GetAlternateContact"] == accounts
    assert count["logs:DescribeMetricFilters"] == accounts * len(REGIONS)
    assert count["events:ListRules"] == accounts * len(REGIONS)
    assert count["cloudwatch:DescribeAlarms"] == 1 and count["events:ListTargetsByRule"] == 1


def test_only_enabled_rules_on_security_sources_have_their_targets_listed(moto_endpoint, sample_org):
    """In a region of its own: a disabled IAM rule, an EC2 rule and a CloudTrail rule without a
    target. Only the last has its targets listed; the account's alerting is present, not effective."""
    import boto3

    region = "eu-west-1"
    events = boto3.client("events", region_name=region)
    logs = boto3.client("logs", region_name=region)
    events.put_rule(Name="iam-off", State="DISABLED", EventPattern=json.dumps({"source": ["aws.iam"]}))
    events.put_rule(Name="ec2-state", State="ENABLED", EventPattern=json.dumps({"source": ["aws.ec2"]}))
    events.put_rule(Name="trail-changes", State="ENABLED", EventPattern=json.dumps(
        {"source": [{"prefix": "aws.cloudt"}], "detail": {"eventName": ["StopLogging"]}}))
    logs.create_log_group(logGroupName="app")
    logs.put_metric_filter(logGroupName="app", filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}])
    calls: list[str] = []
    try:
        c = aws.collect({"single_account": True, "regions": [region], "max_attempts": 1,
                         "client_hooks": {"before-call.*.*": lambda model, **_: calls.append(model.name)}})
    finally:
        for name in ("iam-off", "ec2-state", "trail-changes"):
            events.delete_rule(Name=name)
        logs.delete_log_group(logGroupName="app")
    assert calls.count("ListTargetsByRule") == 1
    assert [r.data["Rule"] for r in c.find(gr.TARGETS_SOURCE)] == ["trail-changes"]
    assert "DescribeAlarms" not in calls   # no filter selects security events: no alarm listing
    inv = aws.normalize(c)
    g = inv.guardrails[inv.guardrails.kind == "security_alerting"]
    assert len(g) == 1 and not g.effective.iloc[0] and list(g["values"].iloc[0]) == []
    alerts = {a["name"]: a for a in json.loads(g.detail.iloc[0])["alerts"]}
    assert set(alerts) == {"iam-off", "trail-changes"} and not any(a["effective"] for a in alerts.values())
    f = cloudaudit.audit(inv, checks=["LOG-007"]).df
    assert set(f[f.account_id == MANAGEMENT].status.astype(str)) == {"WARN"}


# ----------------------------------------------------------------------------- faults

def _deny_contact_for_members(authorization: dict):
    """account:GetAlternateContact answers AccessDenied for every session but the caller's own
    (the members' assumed-role sessions: as an SCP denying the Account API there would)."""
    def rule(seen):
        key = _KEY.search(authorization.get(threading.get_ident(), ""))
        if seen.service == "account" and "alternatecontact" in seen.path.lower() and key and key.group(1) != "testing":
            return 403, json.dumps({"__type": "AccessDeniedException", "Message": "User is not authorized to perform: "
                                    "account:GetAlternateContact with an explicit deny in a service control policy"}).encode()
        return None
    return rule


def _deny_logs_in(region: str):
    def rule(seen):
        if seen.service == "logs" and seen.region == region:
            return 400, json.dumps({"__type": "AccessDeniedException",
                                    "message": f"not authorized to perform logs:DescribeMetricFilters in {region}"}).encode()
        return None
    return rule


def _keep_authorization(proxy: FaultProxy, authorization: dict) -> None:
    """Let the rules see each request's Authorization header (the proxy's Seen holds no headers):
    the server handles every connection in its own thread."""
    handler = proxy.server.RequestHandlerClass
    original = handler._handle

    def handle(self):
        authorization[threading.get_ident()] = self.headers.get("Authorization", "")
        return original(self)

    handler.do_GET = handler.do_POST = handler.do_PUT = handler.do_HEAD = handler.do_DELETE = handle


def test_denied_contact_and_denied_metric_filters_are_errors_not_verdicts(moto_endpoint, sample_org):
    shared = sample_org["members"]["shared-services"]
    authorization: dict[int, str] = {}
    with FaultProxy(moto_endpoint, [_deny_contact_for_members(authorization), _deny_logs_in("us-east-1")]) as proxy:
        _keep_authorization(proxy, authorization)
        c = aws.collect({"endpoint_url": proxy.url, "accounts": [MANAGEMENT, shared], "regions": REGIONS,
                         "max_attempts": 1})
    inv = aws.normalize(c)
    cov = inv.coverage
    contact = cov[cov.source == gr.CONTACT_SOURCE].set_index("account_id")
    assert contact.loc[shared, "status"] == "denied" and "explicit deny" in contact.loc[shared, "message"]
    assert contact.loc[MANAGEMENT, "status"] == "ok"
    filters = cov[cov.source == gr.FILTERS_SOURCE]
    assert set(filters[filters.status != "ok"].region) == {"us-east-1"}
    f = cloudaudit.audit(inv, checks=CHECKS).df
    f = f[f.account_id.isin([MANAGEMENT, shared])]
    assert _verdicts(f, "LOG-008") == {shared: {"ERROR"}, MANAGEMENT: {"PASS"}}
    reason = f[(f.check_id == "LOG-008") & (f.account_id == shared)].reason.iloc[0]
    assert "account:GetAlternateContact" in reason and "denied" in reason
    # an unreadable region voids the account-wide alerting verdict, even where another region alerts
    assert _verdicts(f, "LOG-007") == {shared: {"ERROR"}, MANAGEMENT: {"ERROR"}}
    assert _verdicts(f, "AUTH-005") == {shared: {"FAIL"}, MANAGEMENT: {"PASS"}}


# ----------------------------------------------------------------------------- matching and normalization (pure)

@pytest.mark.parametrize("condition, found", [
    ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, "BoolIfExists"),
    ({"Bool": {"aws:MultiFactorAuthPresent": False}}, "Bool"),
    ({"bool": {"AWS:MultiFactorAuthPresent": ["false"]}}, "bool"),
    ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, None),
    ({"Null": {"aws:MultiFactorAuthPresent": "true"}}, None),
    ({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}}, None),
    (None, None),
])
def test_mfa_deny_condition(condition, found):
    st = {"Effect": "Deny", "NotAction": ["iam:ListMFADevices"], "Resource": "*"}
    if condition is not None:
        st["Condition"] = condition
    assert gr.mfa_deny({"Statement": [st]}) == found


def test_mfa_deny_must_be_a_broad_deny():
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    assert gr.mfa_deny({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond}}) == "Bool"
    assert gr.mfa_deny({"Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*",
                                       "Condition": cond}]}) is None
    assert gr.mfa_deny({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::one",
                                       "Condition": cond}]}) is None
    assert gr.mfa_deny({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": cond}]}) is None


ACCT = "210987654321"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
MFA_DENY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
                                                    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}


def _collection(**records) -> Collection:
    c = Collection("aws")
    c.add(ACCT, "global", "sts:GetCallerIdentity", {"Account": ACCT, "Arn": f"arn:aws:iam::{ACCT}:user/auditor"})
    for table in ("tenants", gr.MFA, gr.CONTACT):
        c.cover(ACCT, None, table, "test", "ok")
    for region in ("us-east-1", HOME):
        c.cover(ACCT, region, gr.ALERTING, "test", "ok")
    for source, items in records.items():
        for region, data in items:
            c.add(ACCT, region, source.replace("__", ":"), data)
    return c


def _managed(name: str, doc: dict, attachments: int = 1) -> dict:
    return {"PolicyName": name, "Arn": f"arn:aws:iam::{ACCT}:policy/{name}", "AttachmentCount": attachments,
            "PolicyVersionList": [{"IsDefaultVersion": True, "Document": doc}]}


def _status_of(c: Collection, check_id: str) -> set[str]:
    f = cloudaudit.audit(aws.normalize(c), checks=[check_id]).df
    return set(f[f.account_id == ACCT].status.astype(str))


def test_mfa_policy_on_an_admin_role_is_enforced_on_non_admins_or_unattached_is_not():
    def details(users=(), roles=(), policies=()):
        return [("global", {"UserDetailList": list(users), "GroupDetailList": [], "RoleDetailList": list(roles),
                            "Policies": list(policies)})]

    role = {"RoleName": "ops", "Arn": f"arn:aws:iam::{ACCT}:role/ops", "AssumeRolePolicyDocument": {},
            "RolePolicyList": [{"PolicyName": "admin", "PolicyDocument": ADMIN},
                               {"PolicyName": "mfa", "PolicyDocument": MFA_DENY}]}
    on_role = _collection(iam__GetAccountAuthorizationDetails=details(roles=[role]))
    assert _status_of(on_role, "AUTH-005") == {"PASS"}
    reader = {"UserName": "reader", "Arn": f"arn:aws:iam::{ACCT}:user/reader", "GroupList": [],
              "AttachedManagedPolicies": [{"PolicyName": "mfa", "PolicyArn": f"arn:aws:iam::{ACCT}:policy/mfa"}],
              "UserPolicyList": [{"PolicyName": "read", "PolicyDocument": READ}]}
    on_reader = _collection(iam__GetAccountAuthorizationDetails=details(users=[reader], policies=[_managed("mfa", MFA_DENY)]))
    assert _status_of(on_reader, "AUTH-005") == {"WARN"}
    unattached = _collection(iam__GetAccountAuthorizationDetails=details(policies=[_managed("mfa", MFA_DENY, 0)]))
    assert _status_of(unattached, "AUTH-005") == {"WARN"}
    assert json.loads(aws.normalize(unattached).guardrails.detail.iloc[0])["unattached_policies"] == ["mfa"]
    assert _status_of(_collection(iam__GetAccountAuthorizationDetails=details(roles=[{**role, "RolePolicyList": [
        {"PolicyName": "admin", "PolicyDocument": ADMIN}]}])), "AUTH-005") == {"FAIL"}


def test_security_contact_absent_or_without_email():
    assert _status_of(_collection(account__GetAlternateContact=[("global", {"absent": "ResourceNotFoundException"})]),
                      "LOG-008") == {"FAIL"}
    assert _status_of(_collection(account__GetAlternateContact=[("global", {"AlternateContact": {
        "AlternateContactType": "SECURITY", "Name": "SOC"}})]), "LOG-008") == {"WARN"}


@pytest.mark.parametrize("pattern, topics", [
    ('{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }', ["root_use"]),
    ('{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }', ["unauthorized_api_calls"]),
    ('{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }', ["console_login_without_mfa"]),
    ('{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }', ["console_login_failures"]),
    ("{ ($.eventName = CreateTrail) || ($.eventName = StopLogging) }", ["cloudtrail_changes"]),
    ("{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }",
     ["kms_key_deletion"]),
    ("{ ($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) }", ["config_changes"]),
    ("{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = CreateSecurityGroup) }",
     ["security_group_changes"]),
    ("{ ($.eventName = CreateNetworkAcl) || ($.eventName = ReplaceNetworkAclEntry) }", ["nacl_changes"]),
    ("{ ($.eventSource = organizations.amazonaws.com) }", ["organizations_changes"]),
    ("ERROR", []), ('{ $.eventName = "ConsoleLogin" }', []), ("", []), (None, []),
])
def test_metric_filter_topics(pattern, topics):
    assert gr.filter_topics(pattern) == topics


@pytest.mark.parametrize("pattern, sources", [
    ({"source": ["aws.guardduty"]}, ["aws.guardduty"]),
    ({"source": "aws.signin"}, ["aws.signin"]),
    ({"source": ["aws.ec2", "aws.config"]}, ["aws.config"]),
    ({"source": [{"prefix": "aws.s"}]}, ["aws.securityhub", "aws.signin"]),
    ({"detail-type": ["AWS API Call via CloudTrail"]}, []),
    ("not json", []), (None, []),
])
def test_event_rule_sources(pattern, sources):
    text = pattern if isinstance(pattern, str) or pattern is None else json.dumps(pattern)
    assert gr.rule_sources(text) == sources


FILTER = {"filterName": "root", "logGroupName": "trail", "filterPattern": '{ $.userIdentity.type = "Root" }',
          "metricTransformations": [{"metricName": "RootUse", "metricNamespace": "CIS", "metricValue": "1"}]}


def _alarm(**kw) -> dict:
    return {"AlarmName": "root", "MetricName": "RootUse", "Namespace": "CIS", "ActionsEnabled": True,
            "AlarmActions": ["arn:aws:sns:us-east-1:210987654321:sec"], **kw}


@pytest.mark.parametrize("alarms, status", [
    ([_alarm()], "PASS"),
    ([_alarm(ActionsEnabled=False)], "WARN"),             # actions disabled
    ([_alarm(AlarmActions=[])], "WARN"),                  # nobody is told
    ([_alarm(MetricName="Other")], "WARN"),               # an alarm on another metric
    ([{"AlarmName": "math", "ActionsEnabled": True, "AlarmActions": ["arn:x"], "Metrics": [
        {"Id": "m", "MetricStat": {"Metric": {"Namespace": "CIS", "MetricName": "RootUse"}}}]}], "PASS"),
    (None, "WARN"),                                       # alarms not listed: effect unknown
])
def test_metric_filter_needs_an_alarm_with_actions(alarms, status):
    records = {"logs__DescribeMetricFilters": [(HOME, {"metricFilters": [FILTER]})]}
    if alarms is not None:
        records["cloudwatch__DescribeAlarms"] = [(HOME, {"MetricAlarms": alarms})]
    assert _status_of(_collection(**records), "LOG-007") == {status}


def test_iam_rules_alert_only_in_the_home_region_and_need_a_target():
    def rule(name, source, state="ENABLED"):
        return {"Name": name, "State": state, "EventPattern": json.dumps({"source": [source]})}

    target = [{"Id": "1", "Arn": "arn:aws:sns:us-east-1:210987654321:sec"}]
    tokyo_iam = _collection(events__ListRules=[(HOME, {"Rules": [rule("iam", "aws.iam")]})],
                            events__ListTargetsByRule=[(HOME, {"Rule": "iam", "Targets": target})])
    assert _status_of(tokyo_iam, "LOG-007") == {"WARN"}    # IAM events never reach EventBridge in Tokyo
    home_iam = _collection(events__ListRules=[("us-east-1", {"Rules": [rule("iam", "aws.iam")]})],
                           events__ListTargetsByRule=[("us-east-1", {"Rule": "iam", "Targets": target})])
    assert _status_of(home_iam, "LOG-007") == {"PASS"}
    no_target = _collection(events__ListRules=[("us-east-1", {"Rules": [rule("iam", "aws.iam")]})],
                            events__ListTargetsByRule=[("us-east-1", {"Rule": "iam", "Targets": []})])
    assert _status_of(no_target, "LOG-007") == {"WARN"}
    disabled = _collection(events__ListRules=[(HOME, {"Rules": [rule("gd", "aws.guardduty", "DISABLED")]})])
    assert _status_of(disabled, "LOG-007") == {"WARN"}
    other = _collection(events__ListRules=[(HOME, {"Rules": [rule("ec2", "aws.ec2")]})])
    assert _status_of(other, "LOG-007") == {"FAIL"}
