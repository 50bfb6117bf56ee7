"""Registry lint (Cloud Custodian's PolicyMetaLint): every check's metadata is sound."""

import ast
from pathlib import Path

import pytest

from cloudaudit import catalog
from cloudaudit.engine import SEVERITIES, _need_known, registry

TESTS = Path(__file__).resolve().parent
CHECKS = registry()


def golden_test_names() -> set[str]:
    names = set()
    for path in TESTS.glob("test_checks_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_registry_is_not_empty_and_ids_are_unique_and_stable():
    assert CHECKS
    assert len({c.id for c in CHECKS.values()}) == len(CHECKS)


def test_control_catalog_has_7_cld_and_37_cloud_guidance_controls():
    controls = catalog.controls()
    assert (controls["kind"] == "cld").sum() == 7
    assert ((controls["kind"] == "27002") & controls["cloud_guidance"]).sum() == 37
    assert controls["control"].is_unique
    assert controls["title_ja"].str.len().gt(0).all()


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_metadata(check_id):
    c = CHECKS[check_id]
    known_controls = catalog.control_ids()
    assert c.severity in SEVERITIES
    assert c.controls, "a check names at least one control"
    for control in c.controls:
        assert control in known_controls, f"{control} is not in checks/iso27017.yaml"
    for item in c.policy_items:
        assert item in catalog.seed_items(), f"seed item {item} unknown"
    assert c.needs and all(_need_known(n) for n in c.needs)
    assert c.title.get("en") and c.title.get("ja")
    assert c.remediation.get("en") and c.remediation.get("ja")
    for key, templates in c.reasons.items():
        assert templates.get("en") and templates.get("ja"), f"reason {key} needs en and ja"


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_every_check_has_a_golden_test(check_id):
    prefix = "test_" + check_id.replace("-", "_")
    assert any(n.startswith(prefix) for n in golden_test_names()), \
        f"no golden test named {prefix}_... in tests/test_checks_*.py"


def test_checks_declare_every_shared_table_they_read():
    """A table the run drops after its last declared reader must be declared by every check
    that reads it, or a late reader computes it again (correct, but the memory is not saved)."""
    from benchmarks import estate
    from cloudaudit import memo
    from cloudaudit.engine import clear_run_caches, fixed_now
    from cloudaudit.policy import Policy

    inv, policy = estate.generate(estate.Sizes().scaled(2000), seed=7), Policy()
    readers: dict[str, set[str]] = {}
    with fixed_now("2026-11-01"):
        for c in CHECKS.values():
            clear_run_caches()
            with memo.reads() as names:
                c.run(inv, policy)
            for name in names:
                readers.setdefault(name, set()).add(c.id)
    clear_run_caches()
    declared: dict[str, set[str]] = {}
    for c in CHECKS.values():
        for name in c.shares:
            declared.setdefault(name, set()).add(c.id)
    assert {"labels", "data_bearing"} <= set(declared)
    for name, ids in declared.items():
        assert ids == readers.get(name, set()), f"{name}: declared by {sorted(ids)}, read by {sorted(readers.get(name, ()))}"
