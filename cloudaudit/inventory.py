"""The provider-neutral inventory: named, typed pandas tables.

Every table shares the key columns ``provider`` and ``account_id`` (AWS account, Azure
subscription or tenant, GCP project or organization node) and, where it applies, ``region``,
so that any two tables join on the same keys.  The schema below is the single source of
truth: adapters build tables with :func:`make_table`, which validates and coerces them, and
``docs/inventory.md`` documents the same columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from .errors import SchemaError
from .frames import stacked

# dtype names: "string", "category" (text of few distinct values: keys, places, vocabularies, held as a
# pandas categorical over string categories, each value stored once), "boolean" (nullable: <NA> =
# unknown), "Int64", "datetime" (UTC), "list" (list of str)
Column = tuple[str, str]  # (dtype, meaning)

_KEYS: dict[str, Column] = {
    "provider": ("category", "aws, azure or gcp"),
    "account_id": ("category", "AWS account id, Azure subscription id (or tenant id), GCP project id (or organizations/N)"),
}
_REGION: dict[str, Column] = {
    "region": ("category", "location code as the provider names it, lower-case (zone, region, multi-region or 'global')"),
}

SCHEMA: dict[str, dict[str, Column]] = {
    "tenants": {
        **_KEYS,
        "org_id": ("string", "organization / Entra tenant / GCP organization the account belongs to"),
        "name": ("string", "display name"),
        "parent_path": ("string", "OU / management-group / folder path from the root, '/'-separated"),
        "is_management": ("boolean", "the organization's management account (AWS) or root node"),
        "state": ("string", "ACTIVE, SUSPENDED, Enabled, Disabled, DELETE_REQUESTED ..."),
    },
    "regions": {
        **_KEYS,
        **_REGION,
        "enabled": ("boolean", "the region can hold resources for this account"),
        "opt_in": ("category", "opt-in status where the provider has one (not-required, opted-in, not-opted-in)"),
    },
    "resources": {
        **_KEYS,
        **_REGION,
        "resource_id": ("string", "provider-unique id (ARN, ARM id, full resource name)"),
        "name": ("string", "display name"),
        "kind": ("category", "normalized kind: bucket, volume, snapshot, image, database, db_snapshot, key, vm, "
                 "table, file_share, log_store, queue, topic, secret, security_group, network ..."),
        "native_type": ("category", "the provider's type (AWS::S3::Bucket, Microsoft.Storage/storageAccounts, storage.googleapis.com/Bucket)"),
        "data_bearing": ("boolean", "holds customer data (subject to residency and classification)"),
        "encryption": ("category", "at-rest encryption: none, provider, customer or unknown"),
        "key_id": ("category", "customer-managed key used, if any"),
        "public_read": ("boolean", "anonymous users can read or list it (<NA>: not known)"),
        "public_write": ("boolean", "anonymous users can write it (<NA>: not known)"),
        "network_open": ("boolean", "its data endpoint accepts connections from any network"),
        "https_only": ("boolean", "plain HTTP access is refused (databases: non-TLS connections are refused)"),
        "min_tls": ("category", "lowest TLS version accepted: 1.0, 1.1, 1.2, 1.3"),
        "rotation_days": ("Int64", "keys: automatic rotation period in days; <NA> when rotation is off or was not "
                          "read (rotation_enabled tells which)"),
        "rotation_enabled": ("boolean", "keys: automatic rotation is on (<NA>: not read)"),
        "key_manager": ("category", "keys: customer or provider"),
        "data_access_logging": ("boolean", "data-plane reads/writes are logged"),
        "attached": ("boolean", "in use: attached to a running resource or network interface"),
        "created": ("datetime", "creation time"),
        "is_default": ("boolean", "networks, security groups, firewall rule sets: created by the provider as the "
                       "default (default VPC / security group, GCP 'default' network)"),
        "peer_account": ("category", "kind peering (VPC/VNet peering, transit attachment, private endpoint "
                         "connection): account, subscription or project of the remote side"),
        "weak_settings": ("list", "vm: hardening settings that are off (imdsv1, no_secure_boot, no_vtpm, "
                          "no_integrity_monitoring, serial_port, password_login, no_os_login, project_ssh_keys); "
                          "empty = none found, <NA> = not read"),
    },
    "tags": {
        **_KEYS,
        "resource_id": ("string", "resource (or account / principal) the tag or label is on"),
        "key": ("category", "tag key / label key"),
        "value": ("string", "tag value / label value"),
    },
    "replicas": {
        **_KEYS,
        "resource_id": ("string", "the source resource"),
        "source_region": ("category", "where the source lives"),
        "target_region": ("category", "where the copy lives (location code of the same provider)"),
        "kind": ("category", "replication, geo_pair, read_replica, global_table, backup, snapshot_copy, multi_region_key"),
        "target_account": ("category", "account holding the copy, when another one"),
    },
    "principals": {
        **_KEYS,
        "principal_id": ("string", "ARN / object id / member string"),
        "name": ("string", "user name, UPN or e-mail"),
        "kind": ("category", "root, user, role, group, service_account, service_principal, guest"),
        "human": ("boolean", "an interactive person (not a workload)"),
        "top_level": ("boolean", "AWS root, Entra Global Administrator, Google super admin"),
        "console_access": ("boolean", "can sign in interactively with a password"),
        "mfa": ("category", "none, virtual, hardware, phishing_resistant, unknown"),
        "enabled": ("boolean", "account enabled"),
        "external": ("boolean", "from outside the organization (guest, foreign domain or account)"),
        "created": ("datetime", "creation time"),
        "last_active": ("datetime", "last interactive sign-in or credential use; <NA> = never / unknown"),
    },
    "credentials": {
        **_KEYS,
        "principal_id": ("string", "owner of the credential"),
        "credential_id": ("string", "key id / secret id"),
        "kind": ("category", "access_key, service_account_key, client_secret, certificate, storage_account_key"),
        "active": ("boolean", "usable now"),
        "created": ("datetime", "creation time"),
        "last_rotated": ("datetime", "last rotation (created when never rotated)"),
        "last_used": ("datetime", "last use; <NA> = never / unknown"),
        "expires": ("datetime", "expiry; <NA> = never expires"),
    },
    "grants": {
        **_KEYS,
        "principal_id": ("string", "who holds the grant"),
        "principal_kind": ("category", "same vocabulary as principals.kind"),
        "scope": ("category", "where it applies: account, OU, management group, subscription, folder, project, resource"),
        "role": ("category", "role / policy name"),
        "privilege": ("category", "admin, write or read"),
        "standing": ("boolean", "permanently active (False = just-in-time / eligible / time-bound)"),
        "via": ("category", "direct, group or inherited"),
        "external": ("boolean", "holder is outside the organization"),
        "public": ("boolean", "holder is anonymous / all authenticated users"),
    },
    "trusts": {
        **_KEYS,
        "role_id": ("string", "role that can be assumed / delegated"),
        "trusted": ("string", "principal allowed to assume it"),
        "trusted_account": ("category", "account / tenant of that principal"),
        "external": ("boolean", "trusted principal is outside the organization"),
        "wildcard": ("boolean", "anyone may assume it"),
        "external_id": ("boolean", "an ExternalId (confused-deputy) condition is required"),
        "mfa_required": ("boolean", "an MFA condition is required"),
        "privilege": ("category", "admin, write or read: what the role grants"),
    },
    "network_rules": {
        **_KEYS,
        **_REGION,
        "resource_id": ("string", "security group / NSG / firewall rule set"),
        "rule_id": ("string", "rule id or name"),
        "direction": ("category", "ingress or egress"),
        "source": ("category", "CIDR, tag or '*'"),
        "protocol": ("category", "tcp, udp, icmp or all"),
        "port_from": ("Int64", "first port (<NA> = all)"),
        "port_to": ("Int64", "last port (<NA> = all)"),
        "action": ("category", "allow or deny"),
        "attached": ("boolean", "the rule set is attached to something"),
    },
    "guardrails": {
        **_KEYS,
        "scope": ("string", "organization root, OU, management group, folder, subscription, project, account"),
        "kind": ("string", "region_restriction, public_access_block, snapshot_public_block, mfa_required, "
                 "domain_restriction, password_policy, key_creation_block ..."),
        "effective": ("boolean", "enforced (deny), not only audited"),
        "values": ("list", "the allowed values (regions, domains ...) where the guardrail has any"),
        "detail": ("string", "JSON with the provider's own fields"),
    },
    "audit_logs": {
        **_KEYS,
        **_REGION,
        "log_id": ("string", "trail / diagnostic setting / sink id"),
        "scope": ("string", "organization, account or region"),
        "enabled": ("boolean", "logging is on"),
        "multi_region": ("boolean", "covers every region of the account / org"),
        "management_events": ("boolean", "records control-plane (management) events"),
        "data_events": ("boolean", "records data-plane access"),
        "integrity": ("boolean", "tamper evidence / immutability (digest validation, locked retention)"),
        "retention_days": ("Int64", "retention; <NA> = unknown, 0 = forever"),
        "destination_region": ("string", "where the logs are stored"),
    },
    "coverage": {
        **_KEYS,
        **_REGION,
        "table": ("string", "inventory table the source fills, '*' for all tables of the account"),
        "source": ("string", "API operation or query, e.g. iam:GetCredentialReport"),
        "status": ("string", "ok, denied, error or unsupported"),
        "message": ("string", "error code and message when not ok"),
        "resource_id": ("string", "when not ok for one subject only (e.g. one trail whose log bucket could not be "
                                  "read): that subject; <NA>: the whole account / region"),
    },
}

TABLES: tuple[str, ...] = tuple(SCHEMA)

GUARDRAIL_KINDS: tuple[str, ...] = (
    "region_restriction", "public_access_block", "snapshot_public_block", "image_public_block", "mfa_required",
    "domain_restriction", "password_policy", "key_creation_block", "public_ip_block", "default_network_block",
    "threat_detection", "security_alerting", "security_contact", "provider_access_approval",
    "tls_version_restriction",
)
"""Values of guardrails.kind. Coverage and check needs may name one kind as ``guardrails.<kind>``."""

_DOC_INTRO = """# Inventory tables

The inventory is a set of pandas DataFrames, one per table below, filled the same way by the
AWS, Azure and GCP adapters (`cloudaudit.collect`, `cloudaudit.load_bundle`) and read by the
checks. Every table has the key columns `provider` and `account_id`; tables about located
things also have `region`, so any two tables join on the same keys.

Types: `string`; `category` is text with few distinct values (keys, places, vocabularies), held
as a pandas categorical over string categories, so a million rows cost a few bytes each instead
of a string each. Compare, filter, group and join it like text; to fill its missing values with
a new text, make it text first (`.astype("string").fillna(...)`), and stack tables with
`Inventory.concat` (or build them with `make_table`), which keeps it categorical.
`boolean` is nullable — `<NA>` means *not known*, which no check treats as compliant; `Int64` is
a nullable integer; `datetime` is timezone-aware UTC; `list` is a list of strings.

The schema lives in `cloudaudit/inventory.py` (`SCHEMA`); `make_table` validates a table
against it and names the table and column of any mismatch. `Inventory.save(dir,
partition=True)` writes Parquet partitioned by provider and account; `Inventory.load(dir,
filters=...)` reads it back, one account at a time if wanted.

`coverage` is what makes the audit fail closed: a check whose needed table (or `table.column`)
is not `ok` for an account or region reports ERROR there, never PASS. See CONTRIBUTING.md for
the vocabulary of `kind`, `mfa`, `privilege` and guardrail kinds.

"""


def schema_markdown() -> str:
    """docs/inventory.md, generated from SCHEMA (``python -m cloudaudit.inventory > docs/inventory.md``)."""
    out = [_DOC_INTRO.rstrip("\n") + "\n"]
    for table, cols in SCHEMA.items():
        out.append(f"\n## {table}\n\n| column | type | meaning |\n|---|---|---|")
        out.extend(f"| {column} | {dtype} | {meaning} |" for column, (dtype, meaning) in cols.items())
    return "\n".join(out) + "\n"
COVERAGE_STATUSES = ("ok", "denied", "error", "unsupported")


def _coerce(series: pd.Series, dtype: str, table: str, column: str) -> pd.Series:
    try:
        if dtype == "string":
            return series.astype("string")
        if dtype == "category":
            return _categorical(series)
        if dtype == "boolean":
            return series.astype("boolean")
        if dtype == "Int64":
            return pd.to_numeric(series, errors="raise").astype("Int64")
        if dtype == "datetime":
            return pd.to_datetime(series, utc=True, errors="raise", format="mixed").astype("datetime64[ns, UTC]")
        if dtype == "list":
            return series.map(_as_list, na_action=None).astype(object)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"inventory table {table!r}, column {column!r}: cannot read as {dtype}: {exc}") from None
    raise AssertionError(dtype)


def arrow_schema(name: str) -> Any:
    """The pyarrow schema of one table, so that every file and partition has the same types.

    Without it an all-missing list column is written as Arrow ``null`` in one partition and
    ``list<string>`` in another, and the dataset can no longer be read back.
    """
    import pyarrow as pa

    types = {"string": pa.string(), "category": pa.dictionary(pa.int32(), pa.string()), "boolean": pa.bool_(), "Int64": pa.int64(),
             "datetime": pa.timestamp("ns", tz="UTC"), "list": pa.list_(pa.string())}
    return pa.schema([(column, types[dtype]) for column, (dtype, _) in SCHEMA[name].items()])


def _categorical(series: pd.Series) -> pd.Series:
    """Text as a categorical over ``string`` categories (a categorical given is kept, its
    categories made text): at a million rows a few bytes a row instead of a string each."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype("string").astype("category")
    categories = series.cat.categories
    if str(categories.dtype) == "string":  # not "str", which compares equal to "string"
        return series
    text = categories.astype("string")
    if text.is_unique and not text.isna().any():
        return series.cat.rename_categories(text)
    return series.astype("string").astype("category")  # 1 and "1" are one value as text


def _as_list(value: Any) -> list[str] | None:
    # None stays None: "not read" must not turn into "nothing found" (an empty list)
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def make_table(name: str, rows: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None) -> pd.DataFrame:
    """Build a validated inventory table from row dicts or a DataFrame.

    Missing optional columns are filled with <NA>; an unknown column or a value that does not
    fit its column's type raises :class:`SchemaError` naming the table and the column.
    """
    if name not in SCHEMA:
        raise SchemaError(f"unknown inventory table {name!r} (known: {', '.join(TABLES)})")
    columns = SCHEMA[name]
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    unknown = [c for c in frame.columns if c not in columns]
    if unknown:
        raise SchemaError(f"inventory table {name!r} has unknown column {unknown[0]!r}")
    out = {}
    for column, (dtype, _) in columns.items():
        series = frame[column] if column in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        out[column] = _coerce(series, dtype, name, column)
    table = pd.DataFrame(out, columns=list(columns)).reset_index(drop=True)
    for key in ("provider", "account_id"):
        if table[key].isna().any():
            raise SchemaError(f"inventory table {name!r}, column {key!r}: empty key value")
    if name == "coverage":
        bad = ~table["status"].isin(COVERAGE_STATUSES)
        if bad.any():
            raise SchemaError(f"inventory table 'coverage', column 'status': invalid value {table['status'][bad].iloc[0]!r}")
    return table


@dataclass
class Inventory:
    """A set of inventory tables (one DataFrame per name in :data:`TABLES`).

    Tables not given are empty with the right columns, so checks never meet a missing table.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in TABLES:
            self.tables[name] = make_table(name, self.tables.get(name))
        extra = set(self.tables) - set(TABLES)
        if extra:
            raise SchemaError(f"unknown inventory table {sorted(extra)[0]!r}")

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in SCHEMA:
            raise KeyError(f"unknown inventory table {name!r}")
        return self.tables[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name != "tables" and name in SCHEMA:
            return self.tables[name]
        raise AttributeError(name)

    @classmethod
    def concat(cls, parts: Iterable["Inventory"]) -> "Inventory":
        """Stack several inventories (e.g. one per provider) into one."""
        parts = list(parts)
        return cls({name: stacked([p.tables[name] for p in parts]) if parts else None for name in TABLES})

    @property
    def providers(self) -> list[str]:
        """Providers present in the inventory."""
        names = pd.concat([self.tables["tenants"]["provider"], self.tables["coverage"]["provider"]])
        return sorted(names.dropna().unique().tolist())

    def counts(self) -> pd.DataFrame:
        """Row count per table and provider."""
        rows = []
        for name, table in self.tables.items():
            for provider, n in table.groupby("provider", observed=True).size().items():
                rows.append({"table": name, "provider": provider, "rows": int(n)})
        return pd.DataFrame(rows, columns=["table", "provider", "rows"])

    def save(self, directory: str | Path, partition: bool = False) -> Path:
        """Write every table as Parquet (``<dir>/<table>.parquet``).

        With ``partition=True`` each table is a dataset partitioned by provider and account,
        so a large organization can be read back one account at a time.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            schema = arrow_schema(name)
            if partition:
                table.to_parquet(path / name, partition_cols=["provider", "account_id"], index=False,
                                 schema=schema)
            else:
                table.to_parquet(path / f"{name}.parquet", index=False, schema=schema)
        (path / "inventory.json").write_text(json.dumps({"tables": list(TABLES), "partitioned": partition}))
        return path

    @classmethod
    def load(cls, directory: str | Path, filters: list[tuple[str, str, Any]] | None = None) -> "Inventory":
        """Read an inventory written by :meth:`save` (``filters`` as in pandas.read_parquet)."""
        path = Path(directory)
        if not (path / "inventory.json").is_file():
            raise SchemaError(f"{path}: not an inventory directory (no inventory.json)")
        tables = {}
        for name in TABLES:
            target = path / f"{name}.parquet"
            if not target.exists():
                target = path / name
            if target.exists():
                kwargs: dict[str, Any] = {}
                if target.is_dir():  # hive partitions: keep account ids as strings ("0123...")
                    import pyarrow as pa
                    import pyarrow.dataset as ds

                    kwargs["partitioning"] = ds.partitioning(
                        pa.schema([("provider", pa.string()), ("account_id", pa.string())]), flavor="hive")
                frame = pd.read_parquet(target, filters=filters, **kwargs)
                for key in ("provider", "account_id"):
                    if key in frame:
                        frame[key] = frame[key].astype("string")
                tables[name] = frame[[c for c in SCHEMA[name] if c in frame.columns]]
        return cls(tables)

    def _repr_html_(self) -> str:
        counts = self.counts()
        if counts.empty:
            return "<p>cloudaudit Inventory: empty</p>"
        pivot = counts.pivot_table(index="table", columns="provider", values="rows", fill_value=0)
        return "<p><b>cloudaudit Inventory</b></p>" + pivot.to_html()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(t)}" for n, t in self.tables.items() if len(t))
        return f"Inventory({sizes or 'empty'})"


if __name__ == "__main__":
    print(schema_markdown(), end="")
