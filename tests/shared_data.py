"""Where the project's shared reference data lives (evaluation vectors, real clips, official shapes).

Looked up in order: ``$UNIVS_SHARED``; the ``shared`` folder beside the repository (``../shared``,
the development layout); ``/work/shared``. ``$UNIVS_EVALVECTORS`` points the evaluation tests at
another vector set (e.g. a hidden one built the same way). Tests that need the data skip, saying
why, when none of these exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = [Path(p) for p in (os.environ.get("UNIVS_SHARED"),) if p] + [_REPO.parent / "shared",
                                                                          Path("/work/shared")]
SHARED: Path = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
EVALVECTORS: Path = Path(os.environ.get("UNIVS_EVALVECTORS", SHARED / "evalvectors"))
REALDATA: Path = SHARED / "realdata"

requires_shared = pytest.mark.skipif(not REALDATA.is_dir(),
                                     reason=f"shared reference data not found (looked in {_CANDIDATES})")
requires_vectors = pytest.mark.skipif(not EVALVECTORS.is_dir(),
                                      reason=f"evaluation vectors not found at {EVALVECTORS}")
