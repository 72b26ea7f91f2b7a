"""Fixture databases for schema-grounded synthesis, built once per test session (own data, seeded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.grounded.databases import (
    make_big,
    make_messy,
    make_odd,
    make_school,
    make_warehouse,
    make_wide,
)


@pytest.fixture(scope="session")
def grounded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grounded")


@pytest.fixture(scope="session")
def school_db(grounded_dir: Path) -> Path:
    return make_school(grounded_dir / "school.sqlite")


@pytest.fixture(scope="session")
def odd_db(grounded_dir: Path) -> Path:
    return make_odd(grounded_dir / "odd names.sqlite")


@pytest.fixture(scope="session")
def messy_db(grounded_dir: Path) -> Path:
    return make_messy(grounded_dir / "messy.sqlite")


@pytest.fixture(scope="session")
def warehouse_db(grounded_dir: Path) -> Path:
    return make_warehouse(grounded_dir / "warehouse.sqlite")


@pytest.fixture(scope="session")
def wide_db(grounded_dir: Path) -> Path:
    return make_wide(grounded_dir / "wide.sqlite", tables=200)


@pytest.fixture(scope="session")
def big_db(grounded_dir: Path) -> Path:
    return make_big(grounded_dir / "big.sqlite", rows=1_000_000)
