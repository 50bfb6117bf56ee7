"""The public surface is small and pinned; importing cloudaudit loads no cloud SDK."""

import json
import subprocess
import sys

import cloudaudit

PUBLIC = ["CloudAuditError", "Findings", "History", "Inventory", "Policy", "__version__", "audit", "check", "collect",
          "load_bundle"]


def test_public_api_is_pinned():
    assert sorted(cloudaudit.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(cloudaudit, name), name
    for name in ("audit", "collect", "load_bundle", "check", "Findings", "History", "Inventory", "Policy"):
        assert getattr(cloudaudit, name).__doc__, f"{name} needs a docstring"


def test_import_loads_no_cloud_sdk_and_reads_none_of_its_data_files():
    code = (
        "import sys, builtins, json\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1]\n"
        "import cloudaudit\n"
        "sdk = sorted({m.split('.')[0] for m in sys.modules} & {'boto3','botocore','azure','google','moto','msal'})\n"
        "import os\n"
        "pkg = os.path.dirname(cloudaudit.__file__)\n"
        "ours = [o for o in opened if o.startswith(pkg) or 'checks' in o or 'regions.json' in o]\n"
        "print(json.dumps({'sdk': sdk, 'opened': ours}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"sdk": [], "opened": []}


def test_using_a_provider_without_its_sdk_gives_a_clear_error():
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"          # as if boto3 were not installed
        "from cloudaudit.providers.base import load_provider\n"
        "from cloudaudit.errors import ProviderError\n"
        "try:\n"
        "    load_provider('aws').collect({})\n"
        "except ProviderError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.startswith("ERR ") and "cloudaudit[aws]" in out


def test_offline_bundles_load_without_the_cloud_sdks():
    """A consultant reporting offline needs no cloud SDK: normalization is pure."""
    code = (
        "import sys\n"
        "for name in ('google', 'grpc', 'azure', 'msal'):\n"
        "    sys.modules[name] = None\n"          # as if not installed
        "import cloudaudit\n"
        "from importlib import resources\n"
        "for name in ('azure', 'gcp'):\n"
        "    with resources.as_file(resources.files('cloudaudit').joinpath(f'data/samples/{name}.zip')) as p:\n"
        "        inv = cloudaudit.load_bundle(p)\n"
        "    print(name, len(inv.resources))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = dict(line.split() for line in proc.stdout.strip().splitlines())
    assert int(counts["azure"]) > 0 and int(counts["gcp"]) > 0
