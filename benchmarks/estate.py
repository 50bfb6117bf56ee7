"""Synthetic inventory generator for the check benchmark.

Builds an :class:`~cloudaudit.inventory.Inventory` of any size with numpy and pyarrow (no Python
loop per row, so 1M resources take seconds): accounts of all three providers, resources spread
over the real region catalog (plus a few unknown codes), realistic mixes of public, unencrypted
and unlabelled resources, classification tags (極秘, 部外秘, ...), principals, credentials,
grants, trusts, network rules, guardrails, audit logs and full coverage with a few gaps, so the
engine's fail-closed path is exercised too.

``python -m benchmarks.estate [--quick] [--out DIR]`` prints the table sizes (and saves the
inventory as partitioned Parquet with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cloudaudit.inventory import TABLES, Inventory

PROVIDERS = ("aws", "azure", "gcp")
PROVIDER_SHARE = (0.6, 0.25, 0.15)          # of accounts
HOME_REGION = {"aws": "ap-northeast-1", "azure": "japaneast", "gcp": "asia-northeast1"}
HOME_SHARE = 0.7                            # resources in the home (Japan) region
UNKNOWN_REGIONS = {"aws": "xx-bench-1", "azure": "benchlandcentral", "gcp": "bench-west9"}
UNKNOWN_SHARE = 0.003

# kind -> (share of resources, data_bearing)
KINDS: dict[str, tuple[float, bool]] = {
    "bucket": (0.15, True), "volume": (0.14, True), "snapshot": (0.12, True), "image": (0.03, True),
    "database": (0.05, True), "db_snapshot": (0.04, True), "table": (0.04, True), "dataset": (0.01, True),
    "file_share": (0.02, True), "log_store": (0.03, True), "queue": (0.03, True), "topic": (0.02, True),
    "secret": (0.03, True), "key": (0.05, False), "vm": (0.10, False), "security_group": (0.06, False),
    "network": (0.03, False), "peering": (0.01, False), "load_balancer": (0.01, False),
    "web_app": (0.01, False), "function": (0.02, False),
}
CLASS_VALUES = ("極秘", "部外秘", "グループ外秘", "公開", "confidential", "public", "gokuhi", "secret-ish")
CLASS_SHARE = (0.06, 0.25, 0.25, 0.14, 0.12, 0.12, 0.03, 0.03)   # the last one is not in the scheme
WEAK = ("imdsv1", "no_secure_boot", "no_vtpm", "serial_port", "password_login", "project_ssh_keys")


@dataclass(frozen=True)
class Sizes:
    """Row counts of the synthetic estate (defaults: the issue's 1M-resource organization)."""

    resources: int = 1_000_000
    principals: int = 200_000
    grants: int = 500_000
    network_rules: int = 100_000
    accounts: int = 1_000
    credentials: int = 100_000
    trusts: int = 40_000
    replicas: int = 50_000

    def scaled(self, divisor: int) -> "Sizes":
        """Every size divided by ``divisor`` (at least 3 accounts, one per provider)."""
        return Sizes(**{k: max(3 if k == "accounts" else 1, v // divisor) for k, v in self.__dict__.items()})


QUICK_DIVISOR = 100


def _catalog() -> dict:
    text = importlib_resources.files("cloudaudit").joinpath("data/regions.json").read_text(encoding="utf-8")
    return json.loads(text)


def region_codes(provider: str) -> list[str]:
    """Every location code the catalog knows for a provider (regions and multi-regions)."""
    entry = _catalog()[provider]
    codes = list(entry["regions"])
    codes += list(entry.get("multi", []))
    return codes


# ----------------------------------------------------------------------------- column builders

def _str(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    """pyarrow strings -> pandas 'string' Series (no copy through Python objects)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(values))


def _pick(rng: np.random.Generator, vocab: Sequence[str], n: int, p: Sequence[float] | None = None) -> pd.Series:
    p_arr = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    codes = rng.choice(len(vocab), size=n, p=p_arr)
    return _str(pa.array(list(vocab), type=pa.string()).take(pa.array(codes)))


def _take(series: pd.Series, index: np.ndarray) -> pd.Series:
    return series.iloc[index].reset_index(drop=True)


def _join(*parts: pd.Series | str, sep: str = "") -> pd.Series:
    arrays = [p if isinstance(p, str) else pa.array(p.astype("string")).cast(pa.string()) for p in parts]
    return _str(pc.binary_join_element_wise(*arrays, sep))


def _num(values: np.ndarray, prefix: str, width: int = 7) -> pd.Series:
    text = pa.array(values).cast(pa.string())
    padded = pc.utf8_lpad(text, width=width, padding="0")
    return _str(pc.binary_join_element_wise(prefix, padded, ""))


def _bool(rng: np.random.Generator, n: int, p_true: float | np.ndarray, p_na: float = 0.0) -> pd.arrays.BooleanArray:
    values = rng.random(n) < p_true
    mask = rng.random(n) < p_na if p_na else np.zeros(n, dtype=bool)
    return pd.arrays.BooleanArray(values, mask)


def _when(rng: np.random.Generator, n: int, now: np.datetime64, max_days: int, p_na: float = 0.0) -> pd.Series:
    seconds = rng.integers(0, max_days * 86_400, n)
    values = (now - seconds.astype("timedelta64[s]")).astype("datetime64[ns]")
    if p_na:
        values[rng.random(n) < p_na] = np.datetime64("NaT")
    return pd.Series(pd.DatetimeIndex(values).tz_localize("UTC"))


def _int(values: np.ndarray, mask: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values.astype("int64"), mask)


# ----------------------------------------------------------------------------- the estate

@dataclass
class _Accounts:
    ids: pd.Series          # string
    provider: pd.Series     # string
    provider_code: np.ndarray
    weight: np.ndarray      # share of the estate's rows each account holds (skewed)


def _accounts(rng: np.random.Generator, m: int) -> _Accounts:
    counts = np.maximum(1, np.round(np.asarray(PROVIDER_SHARE) * m).astype(int))
    counts[0] = m - counts[1:].sum()
    code = np.repeat(np.arange(3), counts)
    idx = np.arange(m)
    aws = _num(idx + 100_000_000_000, "", 12)
    azure = _join(_str(pa.array(np.full(m, "0000bench-0000-4000-8000-"))), _num(idx, "", 12))
    gcp = _num(idx, "bench-project-", 5)
    ids = aws.where(code == 0, azure.where(code == 1, gcp)).astype("string")
    weight = rng.lognormal(0.0, 1.0, m)
    return _Accounts(ids=ids, provider=_str(pa.array(np.asarray(PROVIDERS)[code])), provider_code=code,
                     weight=weight / weight.sum())


def _spread(rng: np.random.Generator, acc: _Accounts, n: int) -> np.ndarray:
    """Account index per row, skewed like a real organization (a few large accounts)."""
    return rng.choice(len(acc.weight), size=n, p=acc.weight)


def _regions(rng: np.random.Generator, provider_code: np.ndarray) -> pd.Series:
    """Region per row: mostly the home region, the rest over the catalog, a few unknown codes."""
    n = len(provider_code)
    out = np.empty(n, dtype=object)
    for code, provider in enumerate(PROVIDERS):  # three masks, not a loop over rows
        rows = np.flatnonzero(provider_code == code)
        vocab = np.asarray(region_codes(provider) + [UNKNOWN_REGIONS[provider]], dtype=object)
        home = int(np.flatnonzero(vocab == HOME_REGION[provider])[0])
        p = np.full(len(vocab), (1 - HOME_SHARE - UNKNOWN_SHARE) / (len(vocab) - 2))
        p[home], p[-1] = HOME_SHARE, UNKNOWN_SHARE
        out[rows] = vocab[rng.choice(len(vocab), size=len(rows), p=p / p.sum())]
    return _str(pa.array(out, type=pa.string()))


def _resources(rng, acc: _Accounts, n: int, now) -> pd.DataFrame:
    owner = _spread(rng, acc, n)
    pcode = acc.provider_code[owner]
    kinds = np.asarray(list(KINDS))
    kind_code = rng.choice(len(kinds), size=n, p=np.array([v[0] for v in KINDS.values()]) / sum(v[0] for v in KINDS.values()))
    kind = _str(pa.array(kinds).take(pa.array(kind_code)))
    data = np.array([v[1] for v in KINDS.values()])[kind_code]
    is_ = {k: kind_code == i for i, k in enumerate(kinds)}
    provider = _take(acc.provider, owner)
    account = _take(acc.ids, owner)
    region = _regions(rng, pcode)
    seq = _num(np.arange(n), "r")
    resource_id = _join(provider, account, region, kind, seq, sep="/")
    enc_code = rng.choice(4, size=n, p=[0.05, 0.58, 0.35, 0.02])
    encryption = _str(pa.array(["none", "provider", "customer", "unknown"]).take(pa.array(enc_code)))
    encryption = encryption.where(data, pd.NA)
    key_id = _num(rng.integers(0, max(1, n // 50), n), "key/k").where(enc_code == 2, pd.NA)
    public_p = np.where(is_["bucket"], 0.03, np.where(is_["snapshot"] | is_["image"] | is_["db_snapshot"], 0.01, 0.0))
    tls = _pick(rng, ["1.0", "1.1", "1.2", "1.3"], n, [0.04, 0.03, 0.78, 0.15])
    endpoint = is_["bucket"] | is_["database"] | is_["load_balancer"] | is_["web_app"] | is_["function"]
    weak_pick = rng.integers(0, 8, n)
    patterns = np.empty(8, dtype=object)
    for i, pattern in enumerate([[], [], [], ["imdsv1"], ["no_secure_boot", "no_vtpm"], ["serial_port"],
                                 ["password_login", "project_ssh_keys"], ["imdsv1", "serial_port"]]):
        patterns[i] = pattern
    weak = patterns[weak_pick]
    weak[~is_["vm"]] = None  # the adapters set it for VMs only: not read elsewhere, as in a real inventory
    frame = pd.DataFrame({
        "provider": provider, "account_id": account, "region": region, "resource_id": resource_id,
        "name": seq, "kind": kind,
        "native_type": _join(provider, kind, sep="::"),
        "data_bearing": pd.arrays.BooleanArray(data, np.zeros(n, bool)),
        "encryption": encryption, "key_id": key_id,
        "public_read": _bool(rng, n, public_p, 0.005),
        "public_write": _bool(rng, n, public_p / 10, 0.005),
        "network_open": _bool(rng, n, np.where(is_["database"], 0.05, np.where(endpoint, 0.3, 0.0))),
        "https_only": pd.Series(_bool(rng, n, 0.75)).where(endpoint, pd.NA),
        "min_tls": tls.where(endpoint, pd.NA),
        "rotation_days": _int(np.full(n, 365), ~is_["key"] | (rng.random(n) < 0.35)),
        "key_manager": _pick(rng, ["customer", "provider"], n, [0.8, 0.2]).where(is_["key"], pd.NA),
        "data_access_logging": pd.Series(_bool(rng, n, 0.4)).where(data, pd.NA),
        "attached": pd.Series(_bool(rng, n, 0.85)).where(is_["volume"] | is_["security_group"] | is_["vm"], pd.NA),
        "created": _when(rng, n, now, 5 * 365),
        "is_default": pd.Series(_bool(rng, n, 0.2)).where(is_["network"] | is_["security_group"], pd.NA),
        "peer_account": _take(acc.ids, rng.integers(0, len(acc.ids), n)).where(is_["peering"], pd.NA),
        "weak_settings": pd.Series(weak, dtype=object),
    })
    # keys with a rotation period rotate; the other 35 % were read as "rotation off"
    frame["rotation_enabled"] = frame["rotation_days"].notna().astype("boolean").where(is_["key"], pd.NA)
    return frame


def _tags(rng, res: pd.DataFrame) -> pd.DataFrame:
    n = len(res)
    data = res["data_bearing"].to_numpy(dtype=bool)
    labelled = np.flatnonzero(data & (rng.random(n) < 0.7))
    env = np.flatnonzero(rng.random(n) < 0.3)
    cls = pd.DataFrame({"provider": _take(res["provider"], labelled), "account_id": _take(res["account_id"], labelled),
                        "resource_id": _take(res["resource_id"], labelled),
                        "key": _str(pa.array(np.full(len(labelled), "classification"))),
                        "value": _pick(rng, CLASS_VALUES, len(labelled), CLASS_SHARE)})
    other = pd.DataFrame({"provider": _take(res["provider"], env), "account_id": _take(res["account_id"], env),
                          "resource_id": _take(res["resource_id"], env),
                          "key": _str(pa.array(np.full(len(env), "env"))),
                          "value": _pick(rng, ["prod", "stg", "dev"], len(env))})
    return pd.concat([cls, other], ignore_index=True)


def _replicas(rng, res: pd.DataFrame, n: int) -> pd.DataFrame:
    data = np.flatnonzero(res["data_bearing"].to_numpy(dtype=bool))
    src = rng.choice(data, size=min(n, len(data)), replace=False) if len(data) else np.array([], int)
    provider = _take(res["provider"], src)
    pcode = provider.map({"aws": 0, "azure": 1, "gcp": 2}).to_numpy(dtype=int)
    return pd.DataFrame({
        "provider": provider, "account_id": _take(res["account_id"], src),
        "resource_id": _take(res["resource_id"], src), "source_region": _take(res["region"], src),
        "target_region": _regions(rng, pcode),
        "kind": _pick(rng, ["replication", "read_replica", "backup", "snapshot_copy", "global_table", "geo_pair"],
                      len(src)),
        "target_account": pd.Series(pd.NA, index=range(len(src)), dtype="string"),
    })


def _principals(rng, acc: _Accounts, n: int, now) -> pd.DataFrame:
    aws_accounts = np.flatnonzero(acc.provider_code == 0)
    roots = aws_accounts[: max(0, min(len(aws_accounts), n // 10))]
    rest = n - len(roots)
    owner = np.concatenate([roots, _spread(rng, acc, rest)])
    kinds = np.asarray(["user", "role", "group", "service_account", "service_principal", "guest"])
    kind_code = np.concatenate([np.full(len(roots), -1), rng.choice(len(kinds), size=rest,
                                                                     p=[0.45, 0.25, 0.05, 0.12, 0.08, 0.05])])
    kind_text = np.where(kind_code < 0, "root", kinds[np.maximum(kind_code, 0)])
    kind = _str(pa.array(kind_text))
    human = np.isin(kind_text, ["root", "user", "guest"])
    top = (kind_text == "root") | ((kind_text == "user") & (rng.random(n) < 0.001))
    provider = _take(acc.provider, owner)
    account = _take(acc.ids, owner)
    seq = _num(np.arange(n), "p")
    mfa = _pick(rng, ["none", "virtual", "hardware", "phishing_resistant", "unknown"], n, [0.2, 0.5, 0.05, 0.2, 0.05])
    return pd.DataFrame({
        "provider": provider, "account_id": account, "principal_id": _join(provider, account, kind, seq, sep="/"),
        "name": _join(seq, "@example.co.jp"), "kind": kind,
        "human": pd.arrays.BooleanArray(human, np.zeros(n, bool)),
        "top_level": pd.arrays.BooleanArray(top, np.zeros(n, bool)),
        "console_access": pd.arrays.BooleanArray(human & (rng.random(n) < 0.8), np.zeros(n, bool)),
        "mfa": mfa.where(human, "none"),
        "enabled": _bool(rng, n, 0.95),
        "external": pd.arrays.BooleanArray((kind_text == "guest") | (human & (rng.random(n) < 0.01)), np.zeros(n, bool)),
        "created": _when(rng, n, now, 6 * 365),
        "last_active": _when(rng, n, now, 400, p_na=0.1),
    })


def _credentials(rng, pri: pd.DataFrame, n: int, now) -> pd.DataFrame:
    holders = np.flatnonzero(pri["kind"].isin(["user", "service_account", "service_principal", "root"]).to_numpy(bool))
    if not len(holders):
        return pd.DataFrame()
    idx = rng.choice(holders, size=n)
    kind = pri["provider"].map({"aws": "access_key", "azure": "client_secret", "gcp": "service_account_key"})
    created = _when(rng, n, now, 3 * 365)
    return pd.DataFrame({
        "provider": _take(pri["provider"], idx), "account_id": _take(pri["account_id"], idx),
        "principal_id": _take(pri["principal_id"], idx), "credential_id": _num(np.arange(n), "AKIABENCH", 11),
        "kind": _take(kind.astype("string"), idx), "active": _bool(rng, n, 0.85), "created": created,
        "last_rotated": created, "last_used": _when(rng, n, now, 300, p_na=0.2),
        "expires": _when(rng, n, now + np.timedelta64(400, "D"), 800, p_na=0.7),
    })


def _grants(rng, pri: pd.DataFrame, n: int) -> pd.DataFrame:
    idx = rng.integers(0, len(pri), n)
    privilege = _pick(rng, ["admin", "write", "read"], n, [0.05, 0.25, 0.7])
    role = privilege.map({"admin": "AdministratorAccess", "write": "PowerUserAccess", "read": "ReadOnlyAccess"})
    public = rng.random(n) < 0.0005
    return pd.DataFrame({
        "provider": _take(pri["provider"], idx), "account_id": _take(pri["account_id"], idx),
        "principal_id": _take(pri["principal_id"], idx).where(~public, "allUsers"),
        "principal_kind": _take(pri["kind"], idx),
        "scope": _pick(rng, ["account", "resource", "organization"], n, [0.85, 0.13, 0.02]),
        "role": role.astype("string"), "privilege": privilege,
        "standing": _bool(rng, n, 0.9), "via": _pick(rng, ["direct", "group", "inherited"], n, [0.5, 0.4, 0.1]),
        "external": pd.Series(_take(pri["external"], idx).to_numpy(bool) | (rng.random(n) < 0.005), dtype="boolean"),
        "public": pd.arrays.BooleanArray(public, np.zeros(n, bool)),
    })


def _trusts(rng, pri: pd.DataFrame, acc: _Accounts, n: int) -> pd.DataFrame:
    roles = np.flatnonzero((pri["kind"] == "role").to_numpy(bool))
    if not len(roles):
        return pd.DataFrame()
    idx = rng.choice(roles, size=n)
    external = rng.random(n) < 0.1
    trusted_account = _take(acc.ids, rng.integers(0, len(acc.ids), n)).where(~external, "999999999999")
    return pd.DataFrame({
        "provider": _take(pri["provider"], idx), "account_id": _take(pri["account_id"], idx),
        "role_id": _take(pri["principal_id"], idx),
        "trusted": _join("arn:aws:iam::", trusted_account, ":root"), "trusted_account": trusted_account,
        "external": pd.arrays.BooleanArray(external, np.zeros(n, bool)),
        "wildcard": _bool(rng, n, 0.005), "external_id": _bool(rng, n, np.where(external, 0.5, 0.0)),
        "mfa_required": _bool(rng, n, 0.1), "privilege": _pick(rng, ["admin", "write", "read"], n, [0.2, 0.3, 0.5]),
    })


def _network_rules(rng, res: pd.DataFrame, n: int) -> pd.DataFrame:
    groups = np.flatnonzero((res["kind"] == "security_group").to_numpy(bool))
    if not len(groups):
        return pd.DataFrame()
    idx = rng.choice(groups, size=n)
    ports = np.array([22, 3389, 443, 80, 5432, 3306, 8080, 445, 23])
    port = ports[rng.integers(0, len(ports), n)]
    all_ports = rng.random(n) < 0.05
    return pd.DataFrame({
        "provider": _take(res["provider"], idx), "account_id": _take(res["account_id"], idx),
        "region": _take(res["region"], idx), "resource_id": _take(res["resource_id"], idx),
        "rule_id": _num(np.arange(n), "rule-"),
        "direction": _pick(rng, ["ingress", "egress"], n, [0.8, 0.2]),
        "source": _pick(rng, ["0.0.0.0/0", "::/0", "10.0.0.0/8", "192.168.0.0/16", "*"], n, [0.08, 0.02, 0.6, 0.28, 0.02]),
        "protocol": _pick(rng, ["tcp", "udp", "icmp", "all"], n, [0.8, 0.1, 0.05, 0.05]),
        "port_from": _int(port, all_ports), "port_to": _int(port, all_ports),
        "action": _pick(rng, ["allow", "deny"], n, [0.95, 0.05]),
        "attached": _take(res["attached"], idx).fillna(True),
    })


def _per_account(acc: _Accounts, mask: np.ndarray, **columns) -> pd.DataFrame:
    rows = np.flatnonzero(mask)
    frame = pd.DataFrame({"provider": _take(acc.provider, rows), "account_id": _take(acc.ids, rows)})
    for name, value in columns.items():
        frame[name] = value[rows] if isinstance(value, np.ndarray) else value
    return frame


def _guardrails(rng, acc: _Accounts) -> pd.DataFrame:
    m = len(acc.ids)
    allowed = {"aws": ["ap-northeast-1", "ap-northeast-3"], "azure": ["japaneast", "japanwest"],
               "gcp": ["asia-northeast1", "asia-northeast2"]}
    parts = []
    for kind, share in (("region_restriction", 0.5), ("public_access_block", 0.7), ("snapshot_public_block", 0.4),
                        ("mfa_required", 0.6), ("password_policy", 0.5), ("domain_restriction", 0.3)):
        mask = rng.random(m) < share
        values = np.empty(m, dtype=object)
        for code, provider in enumerate(PROVIDERS):
            for i in np.flatnonzero(acc.provider_code == code):  # per account (1,000), not per resource
                values[i] = allowed[provider] if kind == "region_restriction" else []
        parts.append(_per_account(acc, mask, scope="account", kind=kind,
                                  effective=rng.random(m) < 0.9, values=values, detail="{}"))
    return pd.concat(parts, ignore_index=True)


def _audit_logs(rng, acc: _Accounts) -> pd.DataFrame:
    m = len(acc.ids)
    home = np.asarray([HOME_REGION[p] for p in PROVIDERS])[acc.provider_code]
    return _per_account(acc, rng.random(m) < 0.97, region=home, log_id="trail/org", scope="account",
                        enabled=rng.random(m) < 0.95, multi_region=rng.random(m) < 0.9,
                        management_events=np.ones(m, bool), data_events=rng.random(m) < 0.3,
                        integrity=rng.random(m) < 0.6, retention_days=np.where(rng.random(m) < 0.7, 400, 90),
                        destination_region=home)


def _tenants(acc: _Accounts) -> pd.DataFrame:
    m = len(acc.ids)
    management = np.zeros(m, bool)
    management[np.flatnonzero(acc.provider_code == 0)[:1]] = True
    return pd.DataFrame({"provider": acc.provider, "account_id": acc.ids,
                         "org_id": acc.provider.map({"aws": "o-bench", "azure": "tenant-bench", "gcp": "organizations/1"}),
                         "name": acc.ids, "parent_path": _num(np.arange(m) % 37, "/root/ou-", 2),
                         "is_management": management, "state": "ACTIVE"})


def _region_rows(acc: _Accounts) -> pd.DataFrame:
    aws = np.flatnonzero(acc.provider_code == 0)
    cat = _catalog()["aws"]["regions"]
    codes = list(cat)
    opt = np.array([bool(cat[c].get("opt_in")) for c in codes])
    a = np.repeat(aws, len(codes))
    return pd.DataFrame({"provider": "aws", "account_id": _take(acc.ids, a),
                         "region": np.tile(np.asarray(codes, dtype=object), len(aws)),
                         "enabled": np.tile(~opt, len(aws)),
                         "opt_in": np.tile(np.where(opt, "not-opted-in", "not-required"), len(aws))})


def _coverage(rng, acc: _Accounts) -> pd.DataFrame:
    """An ok row per (account, table); ~1% of accounts lack MFA data, ~0.5% were denied principals."""
    m = len(acc.ids)
    tables = [t for t in TABLES if t != "coverage"]
    a = np.repeat(np.arange(m), len(tables))
    frame = pd.DataFrame({"provider": _take(acc.provider, a), "account_id": _take(acc.ids, a), "region": pd.NA,
                          "table": np.tile(np.asarray(tables, dtype=object), m), "source": "bench", "status": "ok",
                          "message": ""})
    no_mfa = _per_account(acc, rng.random(m) < 0.01, region=pd.NA, table="principals.mfa",
                          source="bench:mfa", status="unsupported", message="no licence")
    denied = rng.random(m) < 0.005
    frame.loc[np.isin(a, np.flatnonzero(denied)) & (frame["table"] == "principals").to_numpy(), "status"] = "denied"
    return pd.concat([frame, no_mfa], ignore_index=True)


def generate(sizes: Sizes = Sizes(), seed: int = 27017) -> Inventory:
    """Build the synthetic estate as an Inventory (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    now = np.datetime64("2026-11-01T00:00:00", "s")
    acc = _accounts(rng, sizes.accounts)
    res = _resources(rng, acc, sizes.resources, now)
    pri = _principals(rng, acc, sizes.principals, now)
    tables = {
        "tenants": _tenants(acc), "regions": _region_rows(acc), "resources": res, "tags": _tags(rng, res),
        "replicas": _replicas(rng, res, sizes.replicas), "principals": pri,
        "credentials": _credentials(rng, pri, sizes.credentials, now), "grants": _grants(rng, pri, sizes.grants),
        "trusts": _trusts(rng, pri, acc, sizes.trusts), "network_rules": _network_rules(rng, res, sizes.network_rules),
        "guardrails": _guardrails(rng, acc), "audit_logs": _audit_logs(rng, acc), "coverage": _coverage(rng, acc),
    }
    return Inventory(tables)


STATUS_SHARE = {"PASS": 0.55, "FAIL": 0.33, "WARN": 0.06, "ERROR": 0.03, "SUPPRESSED": 0.03}


def findings(n: int = 100_000, seed: int = 27017, accounts: int = 200):
    """Synthetic :class:`~cloudaudit.findings.Findings` of ``n`` rows over the registered checks.

    Statuses follow :data:`STATUS_SHARE`; titles, controls and severities come from the real
    check registry, so the report's per-control and per-check views are realistic.
    """
    from cloudaudit.engine import FINDING_COLUMNS, registry
    from cloudaudit.findings import Findings

    rng = np.random.default_rng(seed)
    checks = list(registry().values())
    pick = rng.integers(0, len(checks), n)
    meta = pd.DataFrame({"check_id": [c.id for c in checks], "title": [c.title.get("en", "") for c in checks],
                         "title_ja": [c.title.get("ja", "") for c in checks], "severity": [c.severity for c in checks],
                         "controls": [", ".join(c.controls) for c in checks],
                         "policy_items": [", ".join(c.policy_items) for c in checks],
                         "remediation": [c.remediation.get("en", "") for c in checks]})
    frame = meta.iloc[pick].reset_index(drop=True)
    acc = _accounts(rng, accounts)
    owner = _spread(rng, acc, n)
    frame["provider"] = _take(acc.provider, owner)
    frame["account_id"] = _take(acc.ids, owner)
    frame["region"] = _regions(rng, acc.provider_code[owner])
    frame["resource_id"] = _join(frame["provider"], frame["account_id"], _num(np.arange(n), "res-"), sep="/")
    frame["status"] = _pick(rng, list(STATUS_SHARE), n, list(STATUS_SHARE.values()))
    frame["classification"] = _pick(rng, ["top_secret", "confidential", "group_internal", "public"], n)
    frame["reason"] = _join("resource ", frame["resource_id"], " is in region ", frame["region"], " (status ",
                            frame["status"], ")")
    frame["reason_ja"] = _join("リソース ", frame["resource_id"], " のリージョンは ", frame["region"], " です")
    frame["evidence"] = _join('{"region": "', frame["region"], '", "classification": "', frame["classification"],
                              '"}')
    frame["acceptance"] = pd.Series(pd.NA, index=frame.index, dtype="string").where(
        frame["status"] != "SUPPRESSED", "accepted by bench until 2027-03-31")
    frame["run_id"] = "20261125T000000Z-bench0"
    frame["collected_at"] = pd.Timestamp("2026-11-25T00:00:00Z")
    return Findings(frame.reindex(columns=list(FINDING_COLUMNS)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estate", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes divided by {QUICK_DIVISOR}")
    parser.add_argument("--out", help="write the inventory as Parquet partitioned by provider and account")
    parser.add_argument("--seed", type=int, default=27017)
    args = parser.parse_args(argv)
    sizes = Sizes().scaled(QUICK_DIVISOR) if args.quick else Sizes()
    start = time.perf_counter()
    inv = generate(sizes, seed=args.seed)
    took = time.perf_counter() - start
    print(f"generated in {took:.1f} s: {inv!r}")
    if args.out:
        inv.save(args.out, partition=True)
        print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
