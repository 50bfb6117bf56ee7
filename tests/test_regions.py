import json
from importlib import resources

import pandas as pd
import pytest

from cloudaudit import regions


def test_every_catalog_code_maps_to_countries():
    data = json.loads(resources.files("cloudaudit").joinpath("data/regions.json").read_text("utf-8"))
    for provider in ("aws", "azure", "gcp"):
        codes = list(data[provider]["regions"]) + list(data[provider].get("aliases", {})) + list(data[provider].get("multi", {}))
        assert codes, provider
        for code in codes:
            found = regions.countries(provider, code)
            assert found, f"{provider} {code} maps to nothing"
            assert all(len(c) == 2 and c.isupper() for c in found)


@pytest.mark.parametrize("provider,code,expected", [
    ("aws", "ap-northeast-1", {"JP"}),
    ("aws", "ap-northeast-1a", {"JP"}),         # zone -> region
    ("aws", "us-east-1", {"US"}),
    ("azure", "Japan East", {"JP"}),             # display name
    ("azure", "japanwest", {"JP"}),
    ("gcp", "ASIA-NORTHEAST1", {"JP"}),          # Cloud Storage upper case
    ("gcp", "asia-northeast1-b", {"JP"}),        # zone
    ("gcp", "asia1", {"JP"}),                    # dual-region Tokyo + Osaka
])
def test_known_locations(provider, code, expected):
    assert regions.countries(provider, code) == frozenset(expected)


def test_multi_region_spans_several_countries():
    asia = regions.countries("gcp", "ASIA")
    assert "JP" in asia and len(asia) > 1


@pytest.mark.parametrize("provider,code", [
    ("aws", "global"), ("gcp", "global"), ("azure", "global"), ("aws", "ap-northeast-9"),
    ("gcp", "mars-north1"), ("alibaba", "ap-southeast-1"), ("aws", None), ("aws", ""),
])
def test_unknown_stays_unknown_and_is_never_allowed(provider, code):
    assert regions.countries(provider, code) is None
    found = regions.resolve(pd.Series([provider]), pd.Series([code]))
    assert regions.outside(found, ("JP", "US", "SG")).tolist() == [True]


def test_provider_scoped_codes_do_not_collide():
    # the same string means different things per provider: never resolve across providers
    assert regions.countries("azure", "ap-northeast-1") is None
    assert regions.countries("aws", "japaneast") is None


def test_resolve_is_vectorized_over_series():
    prov = pd.Series(["aws", "aws", "gcp", "azure"])
    loc = pd.Series(["ap-northeast-1", "eu-west-1", "ASIA", "japaneast"])
    found = regions.resolve(prov, loc)
    assert regions.outside(found, ("JP",)).tolist() == [False, True, True, False]


def test_outside_regions_only_where_the_policy_narrows_the_provider():
    provider = pd.Series(["aws", "aws", "aws", "gcp", "gcp", "azure", "aws"])
    location = pd.Series(["ap-northeast-1a", "ap-northeast-3", None, "asia1", "asia", "japanwest", "AP-NORTHEAST-1"])
    allowed = {"aws": ("ap-northeast-1",), "gcp": ("asia-northeast1", "asia-northeast2")}
    out = regions.outside_regions(provider, location, allowed)
    # zone of a listed region in; other region out; unknown out; dual-region with all members listed in;
    # multi-region with unlisted members out; a provider not narrowed is never out here
    assert out.tolist() == [False, True, True, False, True, False, False]
    assert not regions.outside_regions(provider, location, {}).any()


def test_residency_view_agrees_with_RES_001_on_an_allowed_country_outside_the_allowed_regions():
    from cloudaudit.engine import run_checks
    from cloudaudit.policy import Policy
    from cloudaudit.testing import inventory
    from cloudaudit.views import residency_table

    inv = inventory(resources=[
        {"provider": "aws", "account_id": "1", "resource_id": "osaka", "kind": "bucket", "region": "ap-northeast-3",
         "data_bearing": True},
        {"provider": "aws", "account_id": "1", "resource_id": "tokyo", "kind": "bucket", "region": "ap-northeast-1",
         "data_bearing": True}],
        replicas=[{"provider": "aws", "account_id": "1", "resource_id": "tokyo", "source_region": "ap-northeast-1",
                   "target_region": "ap-northeast-3", "kind": "replication"}])
    policy = Policy(allowed_countries=("JP",), allowed_regions={"aws": ("ap-northeast-1",)})
    findings = run_checks(inv, policy, checks=["RES-001"]).df
    res001 = dict(zip(findings["resource_id"], findings["status"].astype(str)))
    assert res001 == {"osaka": "FAIL", "tokyo": "PASS"}
    view = residency_table(inv, policy).set_index("region")
    assert bool(view.loc["ap-northeast-3", "outside"]) is True   # Japan, but not an allowed region
    assert bool(view.loc["ap-northeast-1", "outside"]) is False
    assert view.loc["ap-northeast-3", "resources"] == 1 and view.loc["ap-northeast-3", "copies"] == 1
