"""Seed a small sample AWS Organization into a moto server (tests and the demo).

The estate holds one of each of the ISO 27017 catalog's typical AWS failures next to
well-configured resources, so a scan finds exactly those problems. Only the API is used,
except for state moto cannot create through it (an old access key, root MFA), which
:func:`apply_backend_state` sets on the in-process moto backends.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3

MANAGEMENT = "123456789012"          # moto's default account
OUTSIDE_ACCOUNT = "999988887777"     # trusted by VendorAdmin, not in the organization
PARTNER_ACCOUNT = "111122223333"     # trusted with an ExternalId
HOME = "ap-northeast-1"
ALLOWED_REGIONS = ["ap-northeast-1", "ap-northeast-3"]
LABEL = {"Key": "classification", "Value": "internal"}   # group-internal: no CMK / data-event duty

ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
                                                     "Resource": "*"}]}
# Deny everything but managing one's own MFA device unless signed in with MFA (the IAM documentation's
# "allow MFA-authenticated IAM users to manage their own credentials" pattern), for the Admins group.
REQUIRE_MFA = {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
               "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices",
                             "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"],
               "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
ADMIN_MFA_DOC = {"Version": "2012-10-17", "Statement": [*ADMIN_DOC["Statement"], REQUIRE_MFA]}
# CIS AWS Foundations monitoring filters on the CloudTrail log group: root use and IAM policy changes.
SECURITY_FILTERS = {
    "RootAccountUsage": '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS '
                        '&& $.eventType != "AwsServiceEvent" }',
    "IAMPolicyChanges": "{ ($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || "
                        "($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || "
                        "($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || "
                        "($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || "
                        "($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || "
                        "($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || "
                        "($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy) }",
}
REGION_SCP = {"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyOutsideJapan", "Effect": "Deny",
    "NotAction": ["iam:*", "organizations:*", "sts:*", "support:*", "cloudfront:*", "route53:*"],
    "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ALLOWED_REGIONS}}}]}


def _trust(principal: str, condition: dict | None = None) -> str:
    st: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def _tls_only(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def _session() -> boto3.Session:
    from .client import strip_account_host

    # Fixed fake keys, never the ambient credential chain: moto accepts any key, real AWS rejects
    # these, so the seeder (which creates and changes things) can never write to a real account.
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    session.events.register("before-sign.s3-control.*", strip_account_host)
    return session


class _Account:
    def __init__(self, endpoint_url: str, account_id: str, credentials: dict | None = None):
        self.session = _session()
        self.id = account_id
        self.endpoint_url = endpoint_url
        self.kw: dict[str, Any] = {}
        if credentials:
            self.kw = {"aws_access_key_id": credentials["AccessKeyId"],
                       "aws_secret_access_key": credentials["SecretAccessKey"],
                       "aws_session_token": credentials["SessionToken"]}

    def client(self, service: str, region: str = HOME) -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.endpoint_url, **self.kw)


def _bucket(acct: _Account, name: str, region: str, *, encrypt: bool = True, tls: bool = True,
            label: bool = True) -> None:
    s3 = acct.client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)  # no LocationConstraint: GetBucketLocation answers null
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if encrypt:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    if tls:
        s3.put_bucket_policy(Bucket=name, Policy=_tls_only(name))
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    if label:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [LABEL]})


def _account_guardrails(acct: _Account) -> None:
    acct.client("s3control", "us-east-1").put_public_access_block(AccountId=acct.id, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    acct.client("iam").update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True, MaxPasswordAge=90, PasswordReusePrevention=24)


def _security_contact(acct: _Account) -> None:
    """Register the account's SECURITY alternate contact (LOG-008); the Account API is global."""
    acct.client("account", "us-east-1").put_alternate_contact(
        AlternateContactType="SECURITY", Name="Security Operations", Title="CSIRT",
        EmailAddress=f"security+{acct.id}@example.com", PhoneNumber="+81-3-0000-0000")


def _metric_alarms(acct: _Account, log_group: str) -> None:
    """CIS monitoring: metric filters on the CloudTrail log group, each with an alarm to SNS (LOG-007)."""
    topic = acct.client("sns").create_topic(Name="security-alerts")["TopicArn"]
    logs, cloudwatch = acct.client("logs"), acct.client("cloudwatch")
    logs.create_log_group(logGroupName=log_group)
    for name, pattern in SECURITY_FILTERS.items():
        logs.put_metric_filter(logGroupName=log_group, filterName=name, filterPattern=pattern, metricTransformations=[
            {"metricName": name, "metricNamespace": "CISBenchmark", "metricValue": "1"}])
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName=name, Namespace="CISBenchmark", Statistic="Sum",
                                    Period=300, EvaluationPeriods=1, Threshold=1.0, ActionsEnabled=True,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])


def _event_alerts(acct: _Account) -> None:
    """An EventBridge rule sending GuardDuty findings to SNS (LOG-007)."""
    topic = acct.client("sns").create_topic(Name="guardduty-findings")["TopicArn"]
    events = acct.client("events")
    events.put_rule(Name="guardduty-findings", State="ENABLED", EventPattern=json.dumps(
        {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]}))
    events.put_targets(Rule="guardduty-findings", Targets=[{"Id": "sns", "Arn": topic}])


def _good_trail(acct: _Account, bucket: str) -> None:
    ct = acct.client("cloudtrail")
    ct.create_trail(Name="audit", S3BucketName=bucket, IsMultiRegionTrail=True, EnableLogFileValidation=True,
                    IncludeGlobalServiceEvents=True)
    ct.put_event_selectors(TrailName="audit", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}])
    ct.start_logging(Name="audit")
    cfg = acct.client("config")
    cfg.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{acct.id}:role/config",
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})
    cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket})
    cfg.start_configuration_recorder(ConfigurationRecorderName="default")


def seed_sample_organization(endpoint_url: str, *, in_process: bool = True) -> dict[str, Any]:
    """Create the sample organization on a moto server and describe what was seeded.

    ``in_process``: the moto server runs in this Python process, so state moto cannot make
    through its API (an access key 400 days old, MFA on every root user) is set on its backends.
    """
    if not endpoint_url:  # no endpoint would mean the real AWS endpoints
        raise ValueError("seed_sample_organization needs the endpoint of a moto server")
    mgmt = _Account(endpoint_url, MANAGEMENT)
    org = mgmt.client("organizations", "us-east-1")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    workloads = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    prod = org.create_organizational_unit(ParentId=workloads, Name="Prod")["OrganizationalUnit"]["Id"]
    ids = {}
    for name, parent in (("prod-app", prod), ("shared-services", workloads)):
        acct_id = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=acct_id, SourceParentId=root, DestinationParentId=parent)
        ids[name] = acct_id
    scp = org.create_policy(Content=json.dumps(REGION_SCP), Description="Japan only", Name="RegionRestriction",
                            Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=root)

    sts = mgmt.client("sts", "us-east-1")
    members = {}
    for name, acct_id in ids.items():
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{acct_id}:role/OrganizationAccountAccessRole",
                                RoleSessionName="seed")["Credentials"]
        members[name] = _Account(endpoint_url, acct_id, creds)
        # as in real AWS, the access role made with the account is an administrator
        members[name].client("iam").put_role_policy(RoleName="OrganizationAccountAccessRole", PolicyName="Admin",
                                                    PolicyDocument=json.dumps(ADMIN_DOC))
    prod_app, shared = members["prod-app"], members["shared-services"]

    # --- management account: identities
    iam = mgmt.client("iam")
    admin_arn = iam.create_policy(PolicyName="FullAdmin", PolicyDocument=json.dumps(ADMIN_DOC))["Policy"]["Arn"]
    read_arn = iam.create_policy(PolicyName="S3Read", PolicyDocument=json.dumps(READ_DOC))["Policy"]["Arn"]
    for user in ("alice", "bob", "carol", "dave", "svc-deploy"):
        iam.create_user(UserName=user)
    for user in ("alice", "bob", "carol", "dave"):
        iam.create_login_profile(UserName=user, Password="Correct-Horse-9!")
    for user in ("alice", "dave"):
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1="123456",
                              AuthenticationCode2="654321")
    iam.attach_user_policy(UserName="alice", PolicyArn=read_arn)
    iam.attach_user_policy(UserName="bob", PolicyArn=read_arn)
    iam.attach_user_policy(UserName="carol", PolicyArn=admin_arn)       # admin without MFA
    iam.create_group(GroupName="Admins")
    iam.put_group_policy(GroupName="Admins", PolicyName="Everything",       # admin, MFA enforced (AUTH-005)
                         PolicyDocument=json.dumps(ADMIN_MFA_DOC))
    iam.add_user_to_group(GroupName="Admins", UserName="dave")            # admin with MFA, via group
    iam.create_access_key(UserName="svc-deploy")                         # made 400 days old below
    iam.put_user_policy(UserName="svc-deploy", PolicyName="deploy", PolicyDocument=json.dumps(READ_DOC))
    iam.create_role(RoleName="VendorAdmin", AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"))
    iam.attach_role_policy(RoleName="VendorAdmin", PolicyArn=admin_arn)  # outside account, no ExternalId
    iam.create_role(RoleName="PartnerRead", AssumeRolePolicyDocument=_trust(
        f"arn:aws:iam::{PARTNER_ACCOUNT}:root", {"StringEquals": {"sts:ExternalId": "partner-7f3a"}}))
    iam.attach_role_policy(RoleName="PartnerRead", PolicyArn=read_arn)
    _account_guardrails(mgmt)

    # --- management account: logging and keys
    log_bucket = f"audit-logs-{MANAGEMENT}"
    _bucket(mgmt, log_bucket, HOME)
    mgmt.client("s3").put_bucket_lifecycle_configuration(Bucket=log_bucket, LifecycleConfiguration={"Rules": [
        {"ID": "keep-400-days", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 400}}]})
    _good_trail(mgmt, log_bucket)
    _metric_alarms(mgmt, "aws-cloudtrail-logs")
    _security_contact(mgmt)
    kms = mgmt.client("kms")
    good_key = kms.create_key(Description="app data")
    kms.enable_key_rotation(KeyId=good_key["KeyMetadata"]["KeyId"])

    # --- prod-app: the exposed workload
    public_bucket = f"prod-app-public-{prod_app.id}"
    _bucket(prod_app, public_bucket, HOME)
    s3 = prod_app.client("s3")
    s3.delete_public_access_block(Bucket=public_bucket)
    s3.put_bucket_acl(Bucket=public_bucket, ACL="public-read")                 # public bucket
    us_bucket = f"prod-app-archive-{prod_app.id}"
    _bucket(prod_app, us_bucket, "us-east-1")                                  # outside Japan
    ec2 = prod_app.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="bastion", Description="admin access", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.create_network_interface(SubnetId=subnet, Groups=[sg])                 # the group is in use
    partner_creds = sts.assume_role(RoleArn=f"arn:aws:iam::{PARTNER_ACCOUNT}:role/peering",
                                    RoleSessionName="seed")["Credentials"]   # a partner outside the organization
    partner_vpc = _Account(endpoint_url, PARTNER_ACCOUNT, partner_creds).client("ec2").create_vpc(
        CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(
        VpcId=vpc, PeerVpcId=partner_vpc, PeerOwnerId=PARTNER_ACCOUNT, TagSpecifications=[
            {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "to-partner"}]}],
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    web = ec2.create_security_group(GroupName="web", Description="https", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    pkms = prod_app.client("kms")
    db_key = pkms.create_key(Description="orders data")["KeyMetadata"]
    pkms.enable_key_rotation(KeyId=db_key["KeyId"])
    vol = ec2.create_volume(AvailabilityZone=f"{HOME}a", Size=8, Encrypted=True, KmsKeyId=db_key["Arn"],
                            TagSpecifications=[{"ResourceType": "volume", "Tags": [LABEL]}])["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=vol, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [LABEL]}])["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission", OperationType="add",
                                  GroupNames=["all"])                         # public snapshot
    ct = prod_app.client("cloudtrail")
    trail_bucket = f"prod-app-trail-{prod_app.id}"
    _bucket(prod_app, trail_bucket, HOME)
    ct.create_trail(Name="local-only", S3BucketName=trail_bucket)              # single region, no validation
    ct.put_event_selectors(TrailName="local-only", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}])
    ct.start_logging(Name="local-only")
    weak_key = prod_app.client("kms").create_key(Description="no rotation")["KeyMetadata"]["KeyId"]  # no rotation
    rds = prod_app.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="orders-tls", DBParameterGroupFamily="postgres16",
                                  Description="TLS only, 1.2 and above")
    rds.modify_db_parameter_group(DBParameterGroupName="orders-tls", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"},
        {"ParameterName": "ssl_min_protocol_version", "ParameterValue": "TLSv1.2", "ApplyMethod": "pending-reboot"}])
    rds.create_db_instance(DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="app", MasterUserPassword="Secret-Pass-1", AllocatedStorage=20,
                           StorageEncrypted=True, KmsKeyId=db_key["Arn"], PubliclyAccessible=False, Tags=[LABEL],
                           CopyTagsToSnapshot=True, DBParameterGroupName="orders-tls")   # forces TLS >= 1.2
    rds.create_db_instance(DBInstanceIdentifier="reports", DBInstanceClass="db.t3.micro", Engine="mysql",
                           MasterUsername="app", MasterUserPassword="Secret-Pass-1", AllocatedStorage=20,
                           StorageEncrypted=True, KmsKeyId=db_key["Arn"], PubliclyAccessible=False,
                           Tags=[LABEL])   # default parameter group: TLS settings not stated (unknown)
    # Aurora: TLS is set in the cluster parameter group, which also governs the member instance
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="ledger-tls",
                                          DBParameterGroupFamily="aurora-postgresql16", Description="TLS only")
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="ledger-tls", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"},
        {"ParameterName": "ssl_min_protocol_version", "ParameterValue": "TLSv1.3", "ApplyMethod": "pending-reboot"}])
    rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql", MasterUsername="app",
                          MasterUserPassword="Secret-Pass-1", DBClusterParameterGroupName="ledger-tls",
                          StorageEncrypted=True, KmsKeyId=db_key["Arn"], Tags=[LABEL])
    rds.create_db_instance(DBInstanceIdentifier="ledger-1", DBInstanceClass="db.r6g.large", Engine="aurora-postgresql",
                           DBClusterIdentifier="ledger", Tags=[LABEL])
    rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-before-migration",
                           Tags=[LABEL])                              # manual, shared with nobody
    prod_app.client("dynamodb").create_table(
        TableName="sessions", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[LABEL])
    # No account-level S3 public access block here: that is what lets the bucket above be public.
    prod_app.client("iam").update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True, MaxPasswordAge=90, PasswordReusePrevention=24)

    # --- shared-services: a clean account with data in Osaka and a hardened instance in Tokyo
    _bucket(shared, f"shared-data-{shared.id}", "ap-northeast-3")
    _bucket(shared, f"shared-data-copy-{shared.id}", HOME)          # replicated Osaka -> Tokyo
    for name, region in ((f"shared-data-{shared.id}", "ap-northeast-3"), (f"shared-data-copy-{shared.id}", HOME)):
        shared.client("s3", region).put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    shared.client("s3", "ap-northeast-3").put_bucket_replication(
        Bucket=f"shared-data-{shared.id}", ReplicationConfiguration={
            "Role": f"arn:aws:iam::{shared.id}:role/replication",
            "Rules": [{"ID": "dr", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                       "DeleteMarkerReplication": {"Status": "Disabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::shared-data-copy-{shared.id}"}}]})
    sec2 = shared.client("ec2")
    skms = shared.client("kms")
    tools_key = skms.create_key(Description="tools")["KeyMetadata"]
    skms.enable_key_rotation(KeyId=tools_key["KeyId"])
    tools_vpc = sec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    tools_subnet = sec2.create_subnet(VpcId=tools_vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    tools_sg = sec2.create_security_group(GroupName="tools", Description="no ingress", VpcId=tools_vpc)["GroupId"]
    sec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                       SubnetId=tools_subnet, SecurityGroupIds=[tools_sg], MetadataOptions={"HttpTokens": "required"},
                       BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                           "VolumeSize": 8, "Encrypted": True, "KmsKeyId": tools_key["Arn"]}}],
                       TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "tools"}]},
                                          {"ResourceType": "volume", "Tags": [LABEL]}])
    base = sec2.create_volume(AvailabilityZone=f"{HOME}a", Size=8, Encrypted=True, KmsKeyId=tools_key["Arn"],
                              TagSpecifications=[{"ResourceType": "volume", "Tags": [LABEL]}])["VolumeId"]
    sec2.create_snapshot(VolumeId=base, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [LABEL]}])
    _good_trail(shared, f"shared-data-{shared.id}")
    _account_guardrails(shared)
    _event_alerts(shared)
    _security_contact(shared)
    # prod-app has no MFA policy, no security alerting and no security contact (AUTH-005, LOG-007, LOG-008)

    for acct in (mgmt, prod_app, shared):  # threat detection where the workloads are
        acct.client("guardduty").create_detector(Enable=True)

    seeded = {
        "org_id": org_id, "management": MANAGEMENT, "members": ids, "root": root,
        "ous": {"Workloads": workloads, "Prod": prod}, "scp": scp, "allowed_regions": ALLOWED_REGIONS,
        # account-level guardrails: the accounts that have each (the others have none)
        "guardrails": {"mfa_required": [MANAGEMENT], "security_contact": [MANAGEMENT, ids["shared-services"]],
                       "security_alerting": [MANAGEMENT, ids["shared-services"]]},
        "problems": {
            "console_user_without_mfa": f"arn:aws:iam::{MANAGEMENT}:user/bob",
            "admin_user_without_mfa": f"arn:aws:iam::{MANAGEMENT}:user/carol",
            "old_access_key": f"arn:aws:iam::{MANAGEMENT}:user/svc-deploy",
            "external_admin_role": f"arn:aws:iam::{MANAGEMENT}:role/VendorAdmin",
            "public_bucket": f"arn:aws:s3:::{public_bucket}",
            "bucket_outside_japan": f"arn:aws:s3:::{us_bucket}",
            "open_admin_ports": f"arn:aws:ec2:{HOME}:{prod_app.id}:security-group/{sg}",
            "public_snapshot": f"arn:aws:ec2:{HOME}:{prod_app.id}:snapshot/{snap}",
            "single_region_trail": f"arn:aws:cloudtrail:{HOME}:{prod_app.id}:trail/local-only",
            "key_without_rotation": f"arn:aws:kms:{HOME}:{prod_app.id}:key/{weak_key}",
            "external_peering": f"arn:aws:ec2:{HOME}:{prod_app.id}:vpc-peering-connection/{peering}",
            "database_tls_unknown": f"arn:aws:rds:{HOME}:{prod_app.id}:db:reports",
        },
    }
    if in_process:
        apply_backend_state(seeded)
    return seeded


def apply_backend_state(seeded: dict[str, Any], key_age_days: int = 400) -> None:
    """Set what moto's API cannot: an old access key, and MFA on every root user."""
    from moto.iam.models import iam_backends

    mgmt = iam_backends[MANAGEMENT]["global"]
    mgmt.users["svc-deploy"].access_keys[0].create_date = datetime.now(timezone.utc) - timedelta(days=key_age_days)
    for account in [MANAGEMENT, *seeded["members"].values()]:
        iam_backends[account]["global"].account_summary._account_mfa_enabled = 1
