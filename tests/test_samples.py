"""The shipped sample evidence is what the current adapters collect from the packaged fakes.

If this fails after an adapter or fake changed: python3 scripts/make_sample_bundles.py
"""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import cloudaudit
from cloudaudit.api import normalize

ROOT = Path(__file__).resolve().parents[1]


def script():
    spec = importlib.util.spec_from_file_location("make_sample_bundles", ROOT / "scripts" / "make_sample_bundles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    # collection is concurrent, so row order is not part of the contract; the fakes date things
    # relative to "now" (a key 400 days old), so timestamps are compared as present / absent
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].notna()
    text = frame.astype(str)
    return frame.iloc[text.sort_values(list(text.columns)).index].reset_index(drop=True)


@pytest.mark.parametrize("name", ["azure", "gcp"])
def test_shipped_sample_matches_a_fresh_collection(name):
    fresh = normalize(script().SAMPLES[name]())
    shipped = cloudaudit.load_bundle(ROOT / "cloudaudit" / "data" / "samples" / f"{name}.zip")
    for table in fresh.tables:
        pd.testing.assert_frame_equal(canonical(shipped[table]), canonical(fresh[table]), obj=f"{name}.{table}")
