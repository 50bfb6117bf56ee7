"""The layout maps checks/ and reports/ into cloudaudit.*, and the wheel ships data files."""

import configparser
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared_packages() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}


def source_packages() -> set[str]:
    found = set()
    for folder, prefix in (("cloudaudit", "cloudaudit"), ("checks", "cloudaudit.checks"),
                           ("reports", "cloudaudit.reports")):
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            if "__pycache__" in rel:
                continue
            found.add(".".join((prefix, *rel)))
    return found


def test_every_subpackage_is_listed_in_setup_cfg():
    missing = source_packages() - declared_packages()
    assert not missing, f"add to setup.cfg [options] packages: {sorted(missing)}"
    stale = declared_packages() - source_packages()
    assert not stale, f"listed but not in the tree: {sorted(stale)}"


def test_data_files_are_reachable_as_package_resources():
    assert resources.files("cloudaudit.checks").joinpath("iso27017.yaml").is_file()
    assert resources.files("cloudaudit").joinpath("data/regions.json").is_file()
    assert resources.files("cloudaudit").joinpath("data/policy-example-jp.toml").is_file()


def test_wheel_has_no_bare_checks_or_reports_and_ships_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("cloudaudit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert "checks" not in top and "reports" not in top
    assert {t for t in top if not t.endswith(".dist-info")} == {"cloudaudit"}
    for needed in ("cloudaudit/checks/iso27017.yaml", "cloudaudit/checks/residency.py",
                   "cloudaudit/reports/__init__.py", "cloudaudit/data/regions.json",
                   "cloudaudit/data/policy-example-jp.toml", "cloudaudit/providers/aws/__init__.py"):
        assert needed in names, needed
    templates = [n for n in names if n.startswith("cloudaudit/reports/templates/")]
    on_disk = [p for p in (ROOT / "reports" / "templates").glob("*") if p.is_file()]
    assert len(templates) == len(on_disk)
