"""Machine-readable exports of findings, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "w", encoding: str | None = "utf-8") -> Path:
    """Write through a temporary file in the same folder, then rename over the target.

    A crash mid-write leaves the previous file untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None,
                       **({"newline": ""} if "b" not in mode else {})) as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json(findings: Any, path: str | Path) -> Path:
    """Findings as a JSON array of objects (controls and policy items as lists)."""
    records = findings.to_records()
    return atomic_write(path, lambda f: json.dump(records, f, ensure_ascii=False, indent=1))
