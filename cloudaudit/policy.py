"""The audit policy: what the organization allows, read from a TOML file.

See ``cloudaudit/data/policy-example-jp.toml`` for a commented example.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import PolicyError

if TYPE_CHECKING:
    import pandas as pd

LEVELS: tuple[str, ...] = ("top_secret", "confidential", "group_internal", "public")
"""The seed policy's four classification levels, strictest first."""

LEVEL_NAMES_JA = {"top_secret": "極秘", "confidential": "部外秘", "group_internal": "グループ外秘", "public": "公開"}

DEFAULT_ALIASES: dict[str, str] = {
    "極秘": "top_secret", "gokuhi": "top_secret", "top-secret": "top_secret", "top_secret": "top_secret",
    "topsecret": "top_secret", "strictly-confidential": "top_secret",
    "部外秘": "confidential", "bugaihi": "confidential", "confidential": "confidential",
    "グループ外秘": "group_internal", "group-gaihi": "group_internal", "group_gaihi": "group_internal",
    "groupgaihi": "group_internal", "internal": "group_internal", "group-internal": "group_internal",
    "group_internal": "group_internal",
    "公開": "public", "kokai": "public", "koukai": "public", "public": "public",
}


@dataclass(frozen=True)
class LevelRules:
    """What a classification level requires (the seed policy's matrix)."""

    public_allowed: bool
    allowed_countries: tuple[str, ...] | None   # None: the policy-wide allowed countries
    customer_managed_key: bool
    data_access_logging: bool


DEFAULT_MATRIX: dict[str, LevelRules] = {
    "top_secret": LevelRules(False, None, True, True),
    "confidential": LevelRules(False, None, True, True),
    "group_internal": LevelRules(False, None, False, False),
    "public": LevelRules(True, None, False, False),
}


@dataclass(frozen=True)
class Thresholds:
    """Numeric limits used by the checks."""

    key_max_age_days: int = 90
    inactive_days: int = 90
    max_admins: int = 3
    min_admins: int = 1
    log_retention_days: int = 365
    key_rotation_days: int = 365
    min_tls: str = "1.2"
    admin_ports: tuple[int, ...] = (22, 3389, 23, 5985, 5986, 445)


@dataclass(frozen=True)
class RiskAcceptance:
    """A documented, owned and dated acceptance of a finding."""

    check_id: str
    resource: str          # glob over resource_id ('*' for all)
    reason: str
    owner: str
    expires: date | None   # None: never expires
    account: str = "*"

    def active(self, today: date) -> bool:
        return self.expires is None or self.expires >= today

    def matches(self, check_id: str, account_id: str, resource_id: str) -> bool:
        return (fnmatchcase(check_id, self.check_id) and fnmatchcase(account_id or "", self.account)
                and fnmatchcase(resource_id or "", self.resource))


@dataclass(frozen=True)
class Policy:
    """An audit policy. ``Policy()`` is the built-in default (Japan only, seed classification)."""

    organization: str = ""
    allowed_countries: tuple[str, ...] = ("JP",)
    allowed_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    classification_key: str = "classification"
    classification_aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    default_level: str = "confidential"
    matrix: Mapping[str, LevelRules] = field(default_factory=lambda: dict(DEFAULT_MATRIX))
    thresholds: Thresholds = field(default_factory=Thresholds)
    acceptances: tuple[RiskAcceptance, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    trusted_accounts: tuple[str, ...] = ()
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "<built-in default>"

    def level_of(self, value: str | None) -> str | None:
        """Canonical level for a tag value (None when the value is not in the scheme)."""
        if value is None:
            return None
        return self.classification_aliases.get(str(value).strip().lower()) or \
            self.classification_aliases.get(str(value).strip())

    def levels(self, values: "pd.Series") -> "pd.Series":
        """Vectorized :meth:`level_of`: canonical level per tag value, "invalid" outside the
        scheme, <NA> where there is no value. Each distinct value is looked up once."""
        from .frames import map_text

        return map_text(values, lambda v: self.level_of(v) or "invalid")

    def countries_for_level(self, level: str) -> tuple[str, ...]:
        rules = self.matrix.get(level)
        return rules.allowed_countries if rules and rules.allowed_countries else self.allowed_countries

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        """Read a TOML policy file; errors name the file, the key and the problem."""
        return load_policy(path)


_COUNTRY = re.compile(r"^[A-Z]{2}$")


class _Reader:
    """Walks the parsed TOML and turns every type problem into one PolicyError line."""

    def __init__(self, source: str, data: dict[str, Any]):
        self.source, self.data = source, data

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: {key}: {problem}")

    def table(self, key: str) -> dict[str, Any]:
        value = self.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings")
        return tuple(value)

    def integer(self, key: str, value: Any, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number >= {minimum}")
        return value

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def check_keys(self, key: str, table: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            prefix = f"{key}." if key else ""
            raise self.fail(f"{prefix}{unknown[0]}", f"unknown key (expected one of: {', '.join(sorted(allowed))})")


def load_policy(path: str | Path) -> Policy:
    """Read and validate a TOML audit policy."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    return policy_from_dict(data, source=str(path))


def policy_from_dict(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Build a :class:`Policy` from parsed TOML (a dict), validating every key."""
    r = _Reader(source, data)
    r.check_keys("", data, {"organization", "residency", "classification", "thresholds", "accept",
                            "identity", "providers"})
    org = r.table("organization")
    r.check_keys("organization", org, {"name"})

    residency = r.table("residency")
    r.check_keys("residency", residency, {"allowed_countries", "allowed_regions"})
    countries = r.strings("residency.allowed_countries", residency.get("allowed_countries", ["JP"]))
    for c in countries:
        if not _COUNTRY.match(c):
            raise r.fail("residency.allowed_countries", f"{c!r} is not an ISO 3166 alpha-2 code like 'JP'")
    regions_table = residency.get("allowed_regions", {})
    if not isinstance(regions_table, dict):
        raise r.fail("residency.allowed_regions", "must be a table of provider = [regions]")
    r.check_keys("residency.allowed_regions", regions_table, {"aws", "azure", "gcp"})
    allowed_regions = {p: tuple(x.lower() for x in r.strings(f"residency.allowed_regions.{p}", v))
                       for p, v in regions_table.items()}
    from .regions import is_known  # local: keeps the region catalog unread until a policy is

    for provider, codes in allowed_regions.items():
        for code in codes:
            if not is_known(provider, code):
                raise r.fail(f"residency.allowed_regions.{provider}", f"unknown {provider} region {code!r}")

    cls = r.table("classification")
    r.check_keys("classification", cls, {"tag_key", "default_level", "aliases", "levels"})
    key = cls.get("tag_key", "classification")
    if not isinstance(key, str) or not key:
        raise r.fail("classification.tag_key", "must be a non-empty string")
    aliases = dict(DEFAULT_ALIASES)
    extra = cls.get("aliases", {})
    if not isinstance(extra, dict):
        raise r.fail("classification.aliases", "must be a table of value = level")
    for value, level in extra.items():
        if level not in LEVELS:
            raise r.fail(f"classification.aliases.{value}", f"level {level!r} is not one of {', '.join(LEVELS)}")
        aliases[value.strip().lower()] = level
        aliases[value.strip()] = level
    default_level = cls.get("default_level", "confidential")
    default_level = aliases.get(str(default_level).lower(), aliases.get(str(default_level), default_level))
    if default_level not in LEVELS:
        raise r.fail("classification.default_level", f"{cls.get('default_level')!r} is not a level ({', '.join(LEVELS)})")
    matrix = dict(DEFAULT_MATRIX)
    levels = cls.get("levels", {})
    if not isinstance(levels, dict):
        raise r.fail("classification.levels", "must be a table per level")
    for level, rules in levels.items():
        k = f"classification.levels.{level}"
        canonical = aliases.get(level.lower(), aliases.get(level))
        if canonical not in LEVELS or not isinstance(rules, dict):
            raise r.fail(k, f"unknown level (expected one of {', '.join(LEVELS)})")
        r.check_keys(k, rules, {"public_allowed", "allowed_countries", "customer_managed_key", "data_access_logging"})
        base = matrix[canonical]
        matrix[canonical] = LevelRules(
            public_allowed=r.boolean(f"{k}.public_allowed", rules.get("public_allowed", base.public_allowed)),
            allowed_countries=(r.strings(f"{k}.allowed_countries", rules["allowed_countries"])
                               if "allowed_countries" in rules else base.allowed_countries),
            customer_managed_key=r.boolean(f"{k}.customer_managed_key",
                                           rules.get("customer_managed_key", base.customer_managed_key)),
            data_access_logging=r.boolean(f"{k}.data_access_logging",
                                          rules.get("data_access_logging", base.data_access_logging)),
        )

    th = r.table("thresholds")
    defaults = Thresholds()
    int_keys = {"key_max_age_days", "inactive_days", "max_admins", "min_admins", "log_retention_days",
                "key_rotation_days"}
    r.check_keys("thresholds", th, int_keys | {"min_tls", "admin_ports"})
    values: dict[str, Any] = {k: r.integer(f"thresholds.{k}", th[k]) for k in int_keys if k in th}
    if "min_tls" in th:
        if th["min_tls"] not in ("1.0", "1.1", "1.2", "1.3"):
            raise r.fail("thresholds.min_tls", "must be one of \"1.0\", \"1.1\", \"1.2\", \"1.3\"")
        values["min_tls"] = th["min_tls"]
    if "admin_ports" in th:
        ports = th["admin_ports"]
        if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
            raise r.fail("thresholds.admin_ports", "must be a list of port numbers")
        values["admin_ports"] = tuple(ports)
    thresholds = Thresholds(**{**defaults.__dict__, **values})

    identity = r.table("identity")
    r.check_keys("identity", identity, {"allowed_domains", "trusted_accounts"})
    domains = r.strings("identity.allowed_domains", identity.get("allowed_domains", []))
    trusted = r.strings("identity.trusted_accounts", identity.get("trusted_accounts", []))

    accept = data.get("accept", [])
    if not isinstance(accept, list):
        raise r.fail("accept", "must be an array of tables ([[accept]])")
    acceptances = []
    for i, item in enumerate(accept):
        k = f"accept[{i}]"
        if not isinstance(item, dict):
            raise r.fail(k, "must be a table")
        r.check_keys(k, item, {"check", "resource", "account", "reason", "owner", "expires"})
        for required in ("check", "reason", "owner"):
            if not isinstance(item.get(required), str) or not item[required].strip():
                raise r.fail(f"{k}.{required}", "is required (a non-empty string)")
        expires = item.get("expires")
        if isinstance(expires, datetime):
            expires = expires.date()
        elif isinstance(expires, str):
            try:
                expires = date.fromisoformat(expires)
            except ValueError:
                raise r.fail(f"{k}.expires", f"{expires!r} is not a date like 2027-03-31") from None
        elif expires is not None and not isinstance(expires, date):
            raise r.fail(f"{k}.expires", "must be a date like 2027-03-31")
        acceptances.append(RiskAcceptance(
            check_id=item["check"], resource=str(item.get("resource", "*")), reason=item["reason"],
            owner=item["owner"], expires=expires, account=str(item.get("account", "*"))))

    providers = r.table("providers")
    r.check_keys("providers", providers, {"aws", "azure", "gcp"})
    for name, options in providers.items():
        if not isinstance(options, dict):
            raise r.fail(f"providers.{name}", "must be a table of options")

    name = org.get("name", "")
    if not isinstance(name, str):
        raise r.fail("organization.name", "must be a string")
    return Policy(
        organization=name, allowed_countries=countries, allowed_regions=allowed_regions,
        classification_key=key, classification_aliases=aliases, default_level=default_level,
        matrix=matrix, thresholds=thresholds, acceptances=tuple(acceptances), allowed_domains=domains,
        trusted_accounts=trusted, providers=providers, source=source)


def today_utc() -> date:
    return datetime.now(timezone.utc).date()
