"""The API-cost budget: a small local state store of what was spent.

``charter budget record --cost X`` appends a spend; the gate denies every
decision once ``max_api_cost_per_day`` (UTC day) or ``max_api_cost_per_run``
(per run id, from ``--run`` or ``CHARTER_RUN_ID``) is spent. The store is a
JSON file (default ``~/.charter/budget.json``, or ``CHARTER_BUDGET``) updated
under an exclusive ``flock`` and replaced atomically, so concurrent agents
never lose a record. An unreadable store fails closed: it counts as spent.

Spends are also fed automatically from an agent's own usage records:
:meth:`Budget.feed_transcript` reads the lines a Claude Code transcript gained since
the last call (the offset is kept in the store), prices each API request's ``usage``
with a :class:`Pricing` the operator configures (``--pricing FILE`` or
``CHARTER_PRICING``; Charter ships no prices) and records the cost. Streamed entries
of one request repeat its usage, so a request (``requestId``, else ``message.id``)
is charged once, at its largest cost seen.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import stat
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.core.errors import CharterError, InputError

#: Records older than this are dropped when the store is rewritten.
KEEP = timedelta(days=35)
#: The environment variable naming the pricing file.
PRICING_ENV = "CHARTER_PRICING"
#: Most bytes of a transcript read in one call (the rest is read by the next call).
MAX_TRANSCRIPT_READ = 32 * 1024 * 1024
#: API requests remembered per transcript, so a request is never charged twice.
REMEMBER = 512
#: Price keys of one model, in USD (or the operator's currency) per million tokens.
PRICE_KEYS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


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

    def _read_doc(self) -> tuple[list[Spend], dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [], {}
        except (OSError, ValueError) as exc:
            raise BudgetError(f"{self.path}: unreadable budget store ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("spends"), list):
            raise BudgetError(f"{self.path}: not a budget store")
        out: list[Spend] = []
        for item in data["spends"]:
            if not isinstance(item, dict) or not isinstance(item.get("cost"), (int, float)):
                raise BudgetError(f"{self.path}: malformed budget record {item!r}")
            out.append(Spend(str(item.get("time", "")), float(item["cost"]), item.get("run")))
        transcripts = data.get("transcripts", {})
        if not isinstance(transcripts, dict):
            raise BudgetError(f"{self.path}: malformed transcript offsets")
        return out, transcripts

    def _read(self) -> list[Spend]:
        return self._read_doc()[0]

    def _write(self, spends: list[Spend], transcripts: Mapping[str, Any], moment: datetime) -> None:
        kept = [s for s in spends if _parse(s.time) >= moment - KEEP]
        doc: dict[str, Any] = {
            "version": 1,
            "spends": [{"time": s.time, "cost": s.cost, "run": s.run} for s in kept],
        }
        if transcripts:
            doc["transcripts"] = dict(transcripts)
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
        spend = Spend(_stamp(moment), float(cost), run_id or self.run_id)
        with self._locked():
            spends, transcripts = self._read_doc()
            self._write([*spends, spend], transcripts, moment)
        return spend

    def feed_transcript(
        self, transcript: str | Path, pricing: Pricing, *, now: datetime | None = None
    ) -> float:
        """Record the cost of the API requests ``transcript`` gained since the last call.

        Returns the cost recorded (0 when nothing new was priced). A transcript that does
        not exist yet costs nothing; one that is not a regular file, a malformed line, or
        usage of a model ``pricing`` does not name is a :class:`BudgetError` (fail closed).
        """
        moment = now or datetime.now(UTC)
        name = os.path.realpath(os.path.expanduser(str(transcript)))
        with self._locked():
            spends, transcripts = self._read_doc()
            state = _transcript_state(transcripts.get(name))
            lines, state = _new_lines(name, state)
            if lines is None:
                return 0.0
            total = _charge(lines, pricing, state["requests"], name)
            state["seen"] = _stamp(moment)
            transcripts[name] = state
            _forget_old(transcripts, moment)
            if total > 0:
                spends.append(Spend(_stamp(moment), total, self.run_id))
            self._write(spends, transcripts, moment)
        return total

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


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


# ------------------------------------------------------------------ pricing


@dataclass(frozen=True)
class Price:
    """What one model costs, per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float | None = None


@dataclass(frozen=True)
class Pricing:
    """Prices by model name: an exact name, or a prefix ending in ``*`` (longest wins)."""

    models: Mapping[str, Price]
    source: str = "<pricing>"

    def price(self, model: str) -> Price:
        if model in self.models:
            return self.models[model]
        prefixes = [m for m in self.models if m.endswith("*") and model.startswith(m[:-1])]
        if not prefixes:
            raise BudgetError(
                f"{self.source}: no price for model {model!r}",
                hint="add it under [models] in the pricing file",
            )
        return self.models[max(prefixes, key=len)]

    def cost(self, model: str, usage: Mapping[str, Any]) -> float:
        """The cost of one API response's ``usage`` (Anthropic Messages API fields)."""
        tokens = {
            key: _tokens(usage, key, self.source)
            for key in (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            )
        }
        write_5m, write_1h = tokens["cache_creation_input_tokens"], 0
        split = usage.get("cache_creation")
        if isinstance(split, dict):
            write_5m = _tokens(split, "ephemeral_5m_input_tokens", self.source)
            write_1h = _tokens(split, "ephemeral_1h_input_tokens", self.source)
        if not any((*tokens.values(), write_5m, write_1h)):
            return 0.0  # nothing was used (an API error, a synthetic message)
        price = self.price(model)
        if write_1h and price.cache_write_1h is None:
            raise BudgetError(
                f"{self.source}: no cache_write_1h price for model {model!r}",
                hint="the transcript shows 1-hour cache writes; add their price",
            )
        return (
            tokens["input_tokens"] * price.input
            + tokens["output_tokens"] * price.output
            + tokens["cache_read_input_tokens"] * price.cache_read
            + write_5m * price.cache_write_5m
            + write_1h * (price.cache_write_1h or 0.0)
        ) / 1_000_000


def load_pricing(path: str | Path) -> Pricing:
    """Read a pricing TOML file (docs/hooks.md, 'Costs'); anything malformed is refused."""
    where = str(path)
    try:
        document = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BudgetError(f"{where}: no such pricing file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BudgetError(f"{where}: unreadable pricing file ({exc})") from None
    unknown = set(document) - {"models", "currency", "source"}
    models = document.get("models")
    if unknown or not isinstance(models, dict) or not models:
        raise BudgetError(
            f"{where}: a pricing file has [models.NAME] tables (and optional currency, source)"
        )
    prices: dict[str, Price] = {}
    for model, table in models.items():
        if not isinstance(table, dict) or set(table) - set(PRICE_KEYS):
            raise BudgetError(f"{where}: [models.{model!r}] takes only {', '.join(PRICE_KEYS)}")
        values: dict[str, float | None] = {}
        for key in PRICE_KEYS:
            value = table.get(key)
            if value is None and key == "cache_write_1h":
                values[key] = None
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise BudgetError(
                    f"{where}: [models.{model!r}] {key} must be a non-negative number "
                    "(per million tokens)"
                )
            values[key] = float(value)
        prices[model] = Price(**values)  # type: ignore[arg-type]
    return Pricing(prices, where)


def _tokens(usage: Mapping[str, Any], key: str, source: str) -> int:
    value = usage.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BudgetError(f"{source}: usage.{key} is not a token count: {value!r}")
    return value


# ------------------------------------------------------------------ transcripts


def _transcript_state(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"dev": None, "ino": None, "offset": 0, "requests": {}}
    requests = raw.get("requests")
    offset = raw.get("offset")
    return {
        "dev": raw.get("dev"),
        "ino": raw.get("ino"),
        "offset": offset if isinstance(offset, int) and offset >= 0 else 0,
        "requests": dict(requests) if isinstance(requests, dict) else {},
    }


def _new_lines(name: str, state: dict[str, Any]) -> tuple[list[bytes] | None, dict[str, Any]]:
    """The complete lines after the stored offset, and the state advanced past them."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None, state
    except OSError as exc:
        raise BudgetError(f"{name}: cannot read the transcript ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BudgetError(f"{name}: the transcript is not a regular file")
        offset = state["offset"]
        if (info.st_dev, info.st_ino) != (state["dev"], state["ino"]) or info.st_size < offset:
            offset = 0  # another or a shortened file: re-read; known requests are not re-charged
        handle.seek(offset)
        data = handle.read(MAX_TRANSCRIPT_READ)
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
    lines = data[:end].splitlines()
    return lines, {**state, "dev": info.st_dev, "ino": info.st_ino, "offset": offset + end}


def _charge(lines: list[bytes], pricing: Pricing, requests: dict[str, Any], name: str) -> float:
    total = 0.0
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BudgetError(f"{name}: malformed transcript line ({exc})") from None
        priced = _priced(entry)
        if priced is None:
            continue
        key, model, usage = priced
        cost = pricing.cost(model, usage)
        before = requests.get(key, 0.0)
        before = before if isinstance(before, (int, float)) else 0.0
        if cost > before:
            total += cost - before
            requests.pop(key, None)
            requests[key] = cost
    while len(requests) > REMEMBER:
        requests.pop(next(iter(requests)))
    return total


def _priced(entry: object) -> tuple[str, str, Mapping[str, Any]] | None:
    """(request key, model, usage) of an assistant entry that carries usage, else None."""
    if not isinstance(entry, dict) or entry.get("type") != "assistant":
        return None
    message = entry.get("message")
    if not isinstance(message, dict):
        return None
    usage, model = message.get("usage"), message.get("model")
    if not isinstance(usage, dict) or not isinstance(model, str):
        return None
    for key in (entry.get("requestId"), message.get("id"), entry.get("uuid")):
        if isinstance(key, str) and key:
            return key, model, usage
    return f"line:{json.dumps(entry, sort_keys=True)[:200]}", model, usage


def _forget_old(transcripts: dict[str, Any], moment: datetime) -> None:
    stale = [
        name
        for name, state in transcripts.items()
        if not isinstance(state, dict) or _parse(str(state.get("seen", ""))) < moment - KEEP
    ]
    for name in stale:
        del transcripts[name]
