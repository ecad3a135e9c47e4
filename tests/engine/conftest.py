"""Fixtures of the engine tests (their config: ``engine_configs.tiny_config``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def write_config(tmp_path: Path):
    """``write_config(mapping, name)`` → the path of the YAML file written under tmp_path."""

    def write(mapping: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping, sort_keys=False))
        return path

    return write
