"""Shared test fixtures.

`shared` is the project's read-only media folder (../shared beside the repository, or
$VUNET_SHARED). Tests that need it are skipped, with the reason shown in the pytest
summary (-ra), when it is absent; nothing from it is ever copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["VUNET_SHARED"]) if os.environ.get("VUNET_SHARED") else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared media folder; skips the test (with the reason) when it is not there."""
    if not SHARED.is_dir():
        pytest.skip(f"shared media folder not found at {SHARED}; set VUNET_SHARED to its path")
    return SHARED
