"""Bad inputs to the command line are one clear line and a non-zero exit, never a traceback:
data files ``init`` is pointed at, text holding Rich markup, out-of-range options."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailorkit.data.simulators.applicants import simulate_applicants
from tests.conftest import tk


def assert_user_error(done, *fragments: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def _bad_files(folder: Path) -> dict[str, str]:
    """File name -> what the error says about it (missing, empty, binary)."""
    (folder / "empty.csv").write_bytes(b"")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 8)
    return {"missing.csv": "not found", "empty.csv": "no data", "binary.csv": "binary"}


GOOD_EVENTS = "user_id,item_id,timestamp\n1,2,3\n1,3,4\n2,2,5\n"
GOOD_SENSORS = "unit,cycle,s1\n1,1,0.5\n1,2,0.6\n2,1,0.4\n"


@pytest.mark.parametrize(
    "command",
    [
        ("recommendation", "--interactions", "{bad}"),
        ("recommendation", "--interactions", "events.csv", "--items", "{bad}"),
        ("recommendation", "--interactions", "events.csv", "--users", "{bad}"),
        (
            "maintenance",
            "--sensors",
            "sensors.csv",
            "--asset-col",
            "unit",
            "--time-col",
            "cycle",
            "--failures",
            "{bad}",
        ),  # fmt: skip
        (
            "diagnosis",
            "--data",
            "patients.csv",
            "--target",
            "default",
            "--visits",
            "{bad}",
            "--patient-col",
            "application_id",
            "--time-col",
            "age",
        ),  # fmt: skip
    ],
)
def test_init_stops_on_a_missing_empty_or_binary_data_file(tmp_path: Path, command):
    (tmp_path / "events.csv").write_text(GOOD_EVENTS)
    (tmp_path / "sensors.csv").write_text(GOOD_SENSORS)
    simulate_applicants(40, random_state=0).to_csv(tmp_path / "patients.csv", index=False)
    for name, problem in _bad_files(tmp_path).items():
        args = [a.replace("{bad}", name) for a in command]
        done = tk(tmp_path, "init", *args, ok=False)
        assert_user_error(done, name, problem)
        assert not (tmp_path / "tailorkit.yaml").exists()


def test_text_with_rich_markup_is_printed_as_it_is(tmp_path: Path):
    frame = simulate_applicants(120, random_state=1)
    frame["id[/x]"] = range(len(frame))  # a note names this column: '[/x]' closes no tag
    frame.to_csv(tmp_path / "a.csv", index=False)
    tk(tmp_path, "init", "credit_risk", "--data", "a.csv", "--target", "default")
    done = tk(tmp_path, "validate")
    assert "id[/x]" in done.stderr and "Traceback" not in done.stderr
    missing = tk(tmp_path, "validate", "--spec", "[/x].yaml", ok=False)
    assert_user_error(missing, "[/x].yaml")


def test_note_warn_and_say_print_markup_as_text(capsys):
    from tailorkit.console import note, say, warn

    for show in (note, warn, say):
        show("column '[/x]' and [bold]this[/bold]")
    err = capsys.readouterr().err
    assert err.count("[/x]") == 3 and err.count("[bold]this[/bold]") == 3


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_rejects_a_port_outside_1_to_65535(tmp_path: Path, port: str):
    done = tk(tmp_path, "serve", "--port", port, ok=False, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--port'" in done.stderr, done.stderr


def test_serve_names_a_bad_monitor_window(tmp_path: Path):
    done = tk(tmp_path, "serve", "--monitor-window", "24x", ok=False, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert "--monitor-window '24x'" in done.stderr + done.stdout
