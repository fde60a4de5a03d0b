"""The local budget store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from charter.actions.budget import Budget, BudgetError
from charter.core.errors import InputError


def test_record_and_sum(tmp_path: Path) -> None:
    store = Budget(tmp_path / "b.json", run_id="r1")
    store.record(1.25)
    store.record(0.75, "r2")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    store.record(10, now=yesterday)
    assert store.spent_today() == pytest.approx(2.0)
    assert store.spent_run() == pytest.approx(11.25)
    assert store.spent_run("r2") == pytest.approx(0.75)


def test_bad_costs_and_corrupt_store(tmp_path: Path) -> None:
    store = Budget(tmp_path / "b.json")
    for bad in (-1, float("nan"), float("inf"), True):
        with pytest.raises(InputError):
            store.record(bad)
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(BudgetError):
        store.spent_today()
