"""Regenerate the Azure and GCP sample evidence shipped for `cloudaudit demo`.

The real adapters collect from the local fakes in cloudaudit/providers/*/sample.py (the same
fakes the tests use), and the raw payloads are written as evidence bundles to
cloudaudit/data/samples/. Run after changing an adapter's collection or a fake:

    python3 scripts/make_sample_bundles.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from cloudaudit.api import collect_raw
from cloudaudit.bundle import write_bundle

OUT = Path(__file__).resolve().parents[1] / "cloudaudit" / "data" / "samples"


def collect_gcp():
    from cloudaudit.providers.gcp.sample import FakeGoogleCloud

    with FakeGoogleCloud() as fake:
        return collect_raw(["gcp"], options={"gcp": fake.options()})


def collect_azure():
    from cloudaudit.providers.azure.sample import FakeAzure

    with FakeAzure() as fake:
        return collect_raw(["azure"], options={"azure": fake.options()})


SAMPLES = {"gcp": collect_gcp, "azure": collect_azure}


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(SAMPLES):
        path = write_bundle(SAMPLES[name](), OUT / f"{name}.zip")
        path.chmod(0o644)  # shipped with the package: readable by everyone who installs it
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
