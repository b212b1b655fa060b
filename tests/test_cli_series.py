"""``wordrnn sine`` / ``train-series`` / ``forecast`` through Typer's CliRunner: results, plots and bad inputs."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
from wordrnn.cli.main import app

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICK_SINE = ["--points", "16", "--generate", "6", "--epochs", "20", "--until-mse", "0", "--units", "8"]
QUICK_SERIES = ["--units", "8", "--epochs", "3", "--batch-size", "2", "--window", "10", "--seed", "1", "-q"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_sine_json_has_the_figures(tmp_path):
    result = run("sine", "--json", *QUICK_SINE, "--cell", "gru", "--seed", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("mse", "mse_one_step", "train_seconds", "epochs"):
        assert isinstance(data[key], (int, float)), key
    assert data["epochs"] == 20 and data["cell"] == "gru" and data["units"] == 8
    assert [p["x"] for p in data["predictions"]] == list(range(16, 22))
    assert data["plot"] is None


def test_sine_table_and_png_plot(tmp_path):
    plot = tmp_path / "sine.png"
    result = run("sine", *QUICK_SINE, "--plot", plot, "-q")
    assert result.exit_code == 0, result.output
    for needle in ("predicted", "one-step", "expected", "mse free-running", "mse one-step-ahead", "plot written"):
        assert needle in result.stdout
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("args, needle", [
    (["--cell", "tcn"], "--cell must be one of"),
    (["--points", "1"], "--points must be between 3 and 100001"),
    (["--points", "10000000"], "--points must be between 3 and 100001"),  # not the --window it would make
    (["--until-mse", "-1"], "--until-mse must be 0 or more"),
    (["--plot", "{tmp}/out.xyz"], "unknown image format '.xyz'"),
    (["--plot", "{tmp}/no/such/dir/out.png"], "cannot write it"),
    (["--plot", "{tmp}"], "unknown image format"),
])
def test_sine_bad_options(tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert_clean_error(run("sine", *QUICK_SINE, *args), needle)


@pytest.fixture()
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    rows = "\n".join(f"2024-{i},{20 + 5 * math.sin(i / 3):.4f},{100 + 10 * math.cos(i / 4):.3f}" for i in range(60))
    path.write_text(f"date,temp,load\n{rows}\n", encoding="utf-8")
    return path


@pytest.fixture()
def series_model(tmp_path, csv_file):
    out = tmp_path / "model"
    result = run("train-series", csv_file, "--column", "temp", "-c", "load", "-o", out, *QUICK_SERIES)
    assert result.exit_code == 0, result.output
    return out


def test_train_series_then_forecast_json(series_model):
    result = run("forecast", series_model, "--steps", "4", "--json", "--runtime", "keras")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["columns"] == ["temp", "load"] and data["primed"] == 60
    assert len(data["forecast"]) == 4
    assert all(set(row) == {"temp", "load"} and all(math.isfinite(v) for v in row.values()) for row in data["forecast"])
    info = json.loads(run("info", series_model, "--json").stdout)
    assert info["kind"] == "series"


def test_forecast_table_plot_input_and_prime(series_model, tmp_path):
    recent = tmp_path / "recent.csv"
    recent.write_text("load,temp,other\n101,20,a\n105,21,x\n99,22.5,y\n", encoding="utf-8")
    plot = tmp_path / "forecast.png"
    result = run("forecast", series_model, "-n", "3", "--input", recent, "--prime", "2", "--plot", plot,
                 "--runtime", "keras")
    assert result.exit_code == 0, result.output
    assert "forecast after priming on 2 values" in result.stdout
    assert "+3" in result.stdout and "temp" in result.stdout
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("text, args, needles", [
    ("a,b\n1,2\n3,4\n5,6\n", ["--column", "z"], ["no column named 'z'", "a, b"]),
    ("a,b\n1,2\n3,4\n5,6\n", [], ["has 2 columns", "--column"]),
    ("a\n1\nhello\n3\n", ["-c", "a"], ["line 3", "not a number"]),
    ("a\n1\nNaN\n3\n", ["-c", "a"], ["line 3", "NaN"]),
    ("a\n1\n\n", ["-c", "a"], ["at least 3"]),
    ("a,b\n1,2\n,4\n5,6\n", ["-c", "a"], ["line 3", "empty"]),
    ("a\n1e308\n-1e308\n1e308\n-1e308\n", ["-c", "a"], ["line 2", "beyond ±1e+150"]),
    ("a\n1e200\n-2e200\n3e200\n4e200\n", ["-c", "a"], ["line 2", "beyond ±1e+150", "divide the column"]),
])
def test_train_series_bad_csv(tmp_path, text, args, needles):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert_clean_error(run("train-series", path, *args, "-o", out, *QUICK_SERIES), *needles)
    assert not out.exists()


def test_train_series_missing_file_and_existing_model(tmp_path, series_model, csv_file):
    assert_clean_error(run("train-series", tmp_path / "nope.csv", "-o", tmp_path / "o", *QUICK_SERIES), "no such file")
    assert_clean_error(run("train-series", csv_file, "-c", "temp", "-o", series_model, *QUICK_SERIES), "--force")
    assert_clean_error(run("train-series", csv_file, "-c", "temp", "-o", tmp_path / "o", "--cell", "x"), "--cell")


def test_forecast_bad_inputs(tmp_path, series_model, tiny_model):
    assert_clean_error(run("forecast", tiny_model, "--steps", "3"), "is a word model")
    assert_clean_error(run("forecast", tmp_path / "missing"), "no such model directory")
    assert_clean_error(run("forecast", series_model, "--steps", "0"), "--steps must be between 1 and")
    assert_clean_error(run("forecast", series_model, "--prime", "0"), "--prime must be at least 1")
    other = tmp_path / "other.csv"
    other.write_text("x\n1\n2\n", encoding="utf-8")
    assert_clean_error(run("forecast", series_model, "--input", other), "no column named 'temp'")



@pytest.fixture()
def fifo(tmp_path):
    """A FIFO nobody writes to, and an alarm that fails a test that would block on it."""
    import os
    import signal

    def expired(*_: object) -> None:
        raise TimeoutError("blocked on a FIFO")

    path = tmp_path / "fifo.csv"
    os.mkfifo(path)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_train_series_and_forecast_refuse_devices_and_fifos(tmp_path, series_model, fifo):
    """Issue 18 item 6: /dev/zero grew to 5 GB, a FIFO hung (the library test checks memory)."""
    for source in (fifo, "/dev/zero"):
        assert_clean_error(run("train-series", source, "-c", "a", "-o", tmp_path / "o", *QUICK_SERIES),
                           "not a regular file")
        assert_clean_error(run("forecast", series_model, "--input", source), "not a regular file")
    assert not (tmp_path / "o").exists()
