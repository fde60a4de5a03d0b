"""Runner configuration: intervals a timer thread can actually wait for."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import ConfigError
from charter.runner.config import load_config, parse_config

HEAD = '[stack]\nconstitution = "c"\n'


@pytest.mark.parametrize("key", ["watchdog_interval", "refresh_interval"])
@pytest.mark.parametrize("value", ['"inf"', "inf", "1e308", '"1e308s"', "nan", '"nan"', "0",
                                   "-1", '"0s"', '"8d"', "604801"])  # fmt: skip
def test_non_finite_or_out_of_range_intervals_are_config_errors(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_config(f"{key} = {value}\n" + HEAD)


@pytest.mark.parametrize(
    ("value", "seconds"), [("0.05", 0.05), ('"5m"', 300.0), ('"1h"', 3600.0), ("604800", 604800.0)]
)
def test_intervals_in_range_are_accepted(value: str, seconds: float) -> None:
    config = parse_config(f"watchdog_interval = {value}\nrefresh_interval = {value}\n" + HEAD)
    assert config.watchdog_interval == config.refresh_interval == seconds


def test_charter_runner_refuses_an_infinite_watchdog_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "runner.toml"
    config.write_text('watchdog_interval = "inf"\n' + HEAD)
    assert main(["runner", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "watchdog_interval" in err and "Traceback" not in err


def test_a_config_saved_with_a_bom_loads(tmp_path: Path) -> None:
    config = tmp_path / "runner.toml"
    config.write_bytes(b"\xef\xbb\xbf" + b'watchdog_interval = "2s"\n' + HEAD.encode())
    loaded = load_config(config)
    assert loaded.watchdog_interval == 2.0 and loaded.constitution is not None


@pytest.mark.parametrize(
    ("table", "key", "field"),
    [
        ("approvals", "claim_lease", "approval_lease"),
        ("budget", "refresh_interval", "budget_refresh"),
    ],
)
def test_shared_state_durations(table: str, key: str, field: str) -> None:
    assert (
        getattr(parse_config(HEAD), field) == {"approval_lease": 60.0, "budget_refresh": 1.0}[field]
    )
    config = parse_config(HEAD + f'\n[{table}]\n{key} = "250ms"\n')
    assert getattr(config, field) == 0.25
    for bad in ('"0s"', '"inf"', '"soon"', "true"):
        with pytest.raises(ConfigError, match=f"{table}.{key}"):
            parse_config(HEAD + f"\n[{table}]\n{key} = {bad}\n")
    with pytest.raises(ConfigError, match="budget"):
        parse_config(HEAD + "\n[budget]\nlimit = 5\n")
