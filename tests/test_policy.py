from datetime import date
from pathlib import Path

import pytest

from cloudaudit import Policy
from cloudaudit.errors import PolicyError
from cloudaudit.policy import load_policy, policy_from_dict


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_is_japan_only_with_fail_safe_default_level():
    p = Policy()
    assert p.allowed_countries == ("JP",)
    assert p.default_level == "confidential"
    assert p.level_of("極秘") == "top_secret"
    assert p.level_of("Bugaihi") == "confidential"
    assert p.level_of("グループ外秘") == "group_internal"
    assert p.level_of("kokai") == "public"
    assert p.level_of("secret-ish") is None


def test_example_policy_loads(tmp_path):
    from importlib import resources

    text = resources.files("cloudaudit").joinpath("data/policy-example-jp.toml").read_text("utf-8")
    p = load_policy(write(tmp_path, text))
    assert p.organization == "Example K.K."
    assert p.allowed_regions["aws"] == ("ap-northeast-1", "ap-northeast-3")
    assert p.level_of("secret") == "top_secret"
    assert p.thresholds.key_max_age_days == 90
    assert p.acceptances[0].expires == date(2027, 3, 31)
    assert p.matrix["top_secret"].customer_managed_key is True


def test_broken_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, "[residency]\nallowed_countries = [\"JP\"]\n[thresholds]\nkey_max_age_days = = 3\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert str(path) in message and "line" in message and "\n" not in message


@pytest.mark.parametrize("text,key,problem", [
    ('[residency]\nallowed_countries = ["Japan"]', "residency.allowed_countries", "ISO 3166"),
    ('[residency]\nallowed_countries = "JP"', "residency.allowed_countries", "list of strings"),
    ('[residency.allowed_regions]\naws = ["ap-northeast-9"]', "residency.allowed_regions.aws", "unknown aws region"),
    ('[thresholds]\nkey_max_age_days = -1', "thresholds.key_max_age_days", "whole number"),
    ('[thresholds]\nmin_tls = "1.5"', "thresholds.min_tls", "one of"),
    ('[classification]\ndefault_level = "secret"', "classification.default_level", "not a level"),
    ('[classification.aliases]\nfoo = "very-secret"', "classification.aliases.foo", "not one of"),
    ('[[accept]]\ncheck = "ISL-001"\nreason = "x"', "accept[0].owner", "required"),
    ('[[accept]]\ncheck = "ISL-001"\nreason = "x"\nowner = "o"\nexpires = "next year"', "accept[0].expires", "date"),
    ('[residencyy]\nallowed_countries = ["JP"]', "residencyy", "unknown key"),
])
def test_bad_policy_values_name_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message


def test_missing_policy_file_is_one_line_error(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")


def test_acceptance_expiry_and_matching():
    p = policy_from_dict({"accept": [{"check": "ISL-*", "resource": "arn:aws:s3:::web-*", "reason": "r",
                                      "owner": "o", "expires": date(2026, 1, 31)}]})
    acc = p.acceptances[0]
    assert acc.matches("ISL-001", "123", "arn:aws:s3:::web-site")
    assert not acc.matches("RES-001", "123", "arn:aws:s3:::web-site")
    assert acc.active(date(2026, 1, 31)) and not acc.active(date(2026, 2, 1))
