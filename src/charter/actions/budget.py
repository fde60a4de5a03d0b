"""The API-cost budget: a small local state store of what was spent.

``charter budget record --cost X`` appends a spend; the gate denies every
decision once ``max_api_cost_per_day`` (UTC day) or ``max_api_cost_per_run``
(per run id, from ``--run`` or ``CHARTER_RUN_ID``) is spent. The store is a
JSON file (default ``~/.charter/budget.json``, or ``CHARTER_BUDGET``) updated
under an exclusive ``flock`` and replaced atomically, so concurrent agents
never lose a record. An unreadable store fails closed: it counts as spent.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.core.errors import CharterError, InputError

#: Records older than this are dropped when the store is rewritten.
KEEP = timedelta(days=35)


class BudgetError(CharterError):
    """The budget store cannot be read or written."""


def default_location() -> Path:
    env = os.environ.get("CHARTER_BUDGET")
    return Path(env).expanduser() if env else Path("~/.charter/budget.json").expanduser()


def default_run_id() -> str | None:
    return os.environ.get("CHARTER_RUN_ID") or None


@dataclass(frozen=True)
class Spend:
    time: str
    cost: float
    run: str | None


class Budget:
    """Spends recorded in one JSON file."""

    def __init__(self, path: str | Path | None = None, run_id: str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_location()
        self.run_id = run_id if run_id is not None else default_run_id()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise BudgetError(
                f"{self.path}: cannot lock the budget store ({exc.strerror})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[Spend]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise BudgetError(f"{self.path}: unreadable budget store ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("spends"), list):
            raise BudgetError(f"{self.path}: not a budget store")
        out: list[Spend] = []
        for item in data["spends"]:
            if not isinstance(item, dict) or not isinstance(item.get("cost"), (int, float)):
                raise BudgetError(f"{self.path}: malformed budget record {item!r}")
            out.append(Spend(str(item.get("time", "")), float(item["cost"]), item.get("run")))
        return out

    def spends(self) -> list[Spend]:
        with self._locked():
            return self._read()

    def record(
        self, cost: float, run_id: str | None = None, *, now: datetime | None = None
    ) -> Spend:
        if (
            isinstance(cost, bool)
            or not isinstance(cost, (int, float))
            or not math.isfinite(cost)
            or cost < 0
        ):
            raise InputError(f"cost must be a non-negative number, got {cost!r}")
        moment = now or datetime.now(UTC)
        spend = Spend(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), float(cost), run_id or self.run_id)
        with self._locked():
            spends = [s for s in self._read() if _parse(s.time) >= moment - KEEP]
            spends.append(spend)
            doc: dict[str, Any] = {
                "version": 1,
                "spends": [{"time": s.time, "cost": s.cost, "run": s.run} for s in spends],
            }
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".budget-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(doc, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                raise BudgetError(f"{self.path}: cannot write the budget store ({exc})") from exc
        return spend

    def spent_today(self, now: datetime | None = None) -> float:
        day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        return sum(s.cost for s in self.spends() if s.time.startswith(day))

    def spent_run(self, run_id: str | None = None) -> float:
        run = run_id or self.run_id
        if run is None:
            return 0.0
        return sum(s.cost for s in self.spends() if s.run == run)

    def summary(self) -> dict[str, Any]:
        return {
            "store": str(self.path),
            "run": self.run_id,
            "spent_today": round(self.spent_today(), 6),
            "spent_run": round(self.spent_run(), 6),
        }


def _parse(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)
