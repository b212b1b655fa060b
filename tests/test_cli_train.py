"""``wordrnn train`` / ``info`` through Typer's CliRunner: help, success, and every bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_text
from wordrnn.cli.main import app

runner = CliRunner()
TINY = ["--units", "8", "--embedding", "4", "--batch-size", "4", "--window", "5", "--epochs", "1", "-q", "--seed", "1"]


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def _command_paths(command, prefix=()):
    yield prefix
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _command_paths(sub, prefix + (name,))


def test_every_command_has_help():
    import typer

    paths = list(_command_paths(typer.main.get_command(app)))
    assert {("train",), ("info",), ("evaluate",), ("interpolate",), ("baseline", "train"), ("baseline", "evaluate"),
            ("sine",), ("train-series",), ("forecast",)} <= set(paths)
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage" in result.output


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(150), encoding="utf-8")
    return path


def test_train_then_info(tmp_path, corpus):
    out = tmp_path / "m"
    result = run("train", str(corpus), "-o", str(out), *TINY)
    assert result.exit_code == 0, result.output
    info = run("info", str(out), "--json")
    assert info.exit_code == 0
    data = json.loads(info.stdout)
    assert data["vocab_size"] > 10 and data["parameters"] > 0 and len(data["history"]) == 1
    assert data["config"]["train"]["batch_size"] == 4


def test_train_reads_standard_input(tmp_path):
    out = tmp_path / "m"
    result = run("train", "-", "-o", str(out), *TINY, input=make_text(150))
    assert result.exit_code == 0, result.output
    assert (out / "wordrnn.json").is_file()


@pytest.mark.parametrize("data, needle", [(b"text\x00\x01\x02 binary\n", "binary"), (b"caf\xe9 au lait\n", "byte 3")])
def test_bad_standard_input_is_named_as_such(tmp_path, data, needle):
    result = run("train", "-", "-o", str(tmp_path / "m"), *TINY, input=data)
    assert_clean_error(result, "standard input", needle)
    assert "wordrnn-stdin" not in result.stderr and "/tmp" not in result.stderr  # not the spooled copy's name


def test_existing_model_is_not_overwritten_without_force(tmp_path, corpus):
    out = tmp_path / "m"
    assert run("train", str(corpus), "-o", str(out), *TINY).exit_code == 0
    before = (out / "wordrnn.json").read_bytes()
    assert_clean_error(run("train", str(corpus), "-o", str(out), *TINY), "--force", "--resume")
    assert (out / "wordrnn.json").read_bytes() == before
    assert run("train", str(corpus), "-o", str(out), *TINY, "--force").exit_code == 0


def test_resume_continues_training(tmp_path, corpus):
    out = tmp_path / "m"
    assert run("train", str(corpus), "-o", str(out), *TINY).exit_code == 0
    resumed = [a if a != "1" or TINY[i - 1] != "--epochs" else "2" for i, a in enumerate(TINY)]
    result = run("train", str(corpus), "-o", str(out), *resumed, "--resume")
    assert result.exit_code == 0, result.output
    history = json.loads(run("info", str(out), "--json").stdout)["history"]
    assert [h["epoch"] for h in history] == [1, 2]


def test_resume_refuses_settings_that_cannot_change_and_names_them(tmp_path, corpus):
    out = tmp_path / "m"
    assert run("train", str(corpus), "-o", str(out), *TINY).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    changed = ["--units", "512", "--cell", "gru", "--batch-size", "2", "--embedding", "4", "--epochs", "3"]
    result = run("train", str(corpus), "-o", str(out), *changed, "-q", "--resume")
    assert_clean_error(result, "--units (512; the checkpoint has 8)", "--cell ('gru'; the checkpoint has 'lstm')",
                       "--batch-size (2; the checkpoint has 4)", "--force", "given here and applied: --epochs")
    assert "--embedding (" not in result.stderr  # the same as the checkpoint's: no conflict
    assert sorted(p.name for p in out.iterdir()) == before


def test_resume_says_which_given_options_apply_and_keeps_the_rest(tmp_path, corpus):
    out = tmp_path / "m"
    two_epochs = [a if a != "1" or TINY[i - 1] != "--epochs" else "2" for i, a in enumerate(TINY)]
    first = run("train", str(corpus), "-o", str(out), *two_epochs, "--max-steps", "5", "--no-export")
    assert first.exit_code == 0, first.output  # stopped after step 5, which ends epoch 1
    result = run("train", str(corpus), "-o", str(out), "--max-steps", "100000", "--no-export", "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming with --max-steps 100000; every other setting is the checkpoint's" in result.stderr
    data = json.loads(run("info", str(out), "--json").stdout)
    assert len(data["history"]) == 2 and data["config"]["train"]["epochs"] == 2  # not the default 10 epochs
    assert data["config"]["train"]["max_steps"] == 100000 and data["config"]["model"]["units"] == 8


@pytest.mark.parametrize(
    "make, needles",
    [
        (lambda d: d / "missing.txt", ["missing.txt", "no such file"]),
        (lambda d: (d / "empty_dir").mkdir() or d / "empty_dir", ["no *.txt files"]),
        (lambda d: (d / "e.txt").write_text("") and d / "e.txt" or d / "e.txt", ["no words"]),
        (lambda d: (d / "w.txt").write_text("  \n\t\n") and d / "w.txt", ["no words"]),
        (lambda d: (d / "b.txt").write_bytes(b"\x00\x01\x02abc") and d / "b.txt", ["binary", "b.txt"]),
        (lambda d: (d / "l.txt").write_bytes(b"caf\xe9 au lait") and d / "l.txt", ["l.txt", "byte 3", "--encoding"]),
        (lambda d: (d / "s.txt").write_text("just a few words here\n") and d / "s.txt", ["has", "needs at least"]),
    ],
)
def test_bad_corpus_inputs(tmp_path, make, needles):
    path = make(tmp_path)
    out = tmp_path / "out"
    assert_clean_error(run("train", str(path), "-o", str(out), *TINY), *needles)
    assert not out.exists()


@pytest.mark.parametrize(
    "option, value, needle",
    [
        ("--units", "0", "--units"),
        ("--units", "100000000", "unreasonably large"),
        ("--epochs", "-1", "--epochs"),
        ("--window", "0", "--window"),
        ("--batch-size", "0", "--batch-size"),
        ("--learning-rate", "0", "--learning-rate"),
        ("--dropout", "1.5", "--dropout"),
        ("--cell", "transformer", "--cell"),
        ("--max-vocab", "1", "--max-vocab"),
        ("--min-count", "0", "--min-count"),
        ("--eos", "sometimes", "eos"),
        ("--warmup-steps", "-3", "--warmup-steps"),
        ("--ema", "1", "--ema"),
        ("--ema", "nan", "--ema"),
        ("--fresh-state", "1.5", "--fresh-state"),
        ("--fresh-state", "-0.5", "--fresh-state"),
    ],
)
def test_bad_hyper_parameters(tmp_path, corpus, option, value, needle):
    out = tmp_path / "out"
    args = [a for a in TINY]
    if option in args:
        i = args.index(option)
        del args[i : i + 2]
    assert_clean_error(run("train", str(corpus), "-o", str(out), *args, option, value), needle)
    assert not out.exists()


@pytest.mark.parametrize(
    "option, value, needles",
    [
        # warm-up counts from each epoch's state reset across windows: 1000 covers all ~200 steps of every stream
        ("--warmup-steps", "1000", ["--warmup-steps 1000", "no target would carry a loss", "below"]),
        ("--min-count", "100000", ["--min-count 100000", "no word", "at most"]),
    ],
)
def test_settings_that_leave_nothing_to_learn_are_refused(tmp_path, corpus, option, value, needles):
    out = tmp_path / "out"
    result = run("train", str(corpus), "-o", str(out), *TINY, option, value)
    assert_clean_error(result, *needles)
    assert not out.exists()


def test_unwritable_output(tmp_path, corpus):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_clean_error(run("train", str(corpus), "-o", str(blocker / "m"), *TINY), "not a directory")
    assert_clean_error(run("train", str(corpus), "-o", str(blocker), *TINY), "not a directory")


def test_resume_without_checkpoint(tmp_path, corpus):
    assert_clean_error(run("train", str(corpus), "-o", str(tmp_path / "new"), *TINY, "--resume"), "nothing to resume")


def test_info_on_bad_directories(tmp_path):
    assert_clean_error(run("info", str(tmp_path / "nope")), "no such model directory")
    (tmp_path / "wordrnn.json").write_text("{broken")
    assert_clean_error(run("info", str(tmp_path)), "not valid JSON")


@pytest.mark.parametrize("minutes", ["0", "-1", "nan", "0.1"])
def test_a_time_budget_that_cannot_work_is_refused_before_any_work(tmp_path, corpus, minutes):
    out = tmp_path / "m"
    result = run("train", str(corpus), "-o", str(out), f"--time-budget={minutes}")
    assert_clean_error(result, "--time-budget")
    assert not out.exists()


def test_the_recipe_line_names_what_was_chosen_and_not_what_was_given(tmp_path, corpus):
    result = run("train", str(corpus), "-o", str(tmp_path / "m"), "--units", "8", "--epochs", "1", "--seed", "1",
                 "--no-export")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("recipe for"))
    assert "--min-count 1" in line and "--layers 1" in line and "--tied" in line and "--sampled-softmax 0" in line
    assert "--units" not in line and "--epochs" not in line  # the user's own settings
    config = json.loads(run("info", str(tmp_path / "m"), "--json").stdout)["config"]
    assert config["model"]["units"] == 8 and config["model"]["tied"] is True and config["model"]["layers"] == 1


def test_a_budget_with_epochs_says_the_budget_wins(tmp_path, corpus):
    out = tmp_path / "m"
    result = run("train", str(corpus), "-o", str(out), "--time-budget", "0.25", "--epochs", "1", "--units", "8",
                 "--embedding", "4", "--seed", "1", "--no-export")
    assert result.exit_code == 0, result.output
    assert "--time-budget decides how long training runs; --epochs 1 is ignored" in result.stderr
    assert "plan: about" in result.stderr
    data = json.loads(run("info", str(out), "--json").stdout)
    assert len(data["history"]) > 1 and data["config"]["train"]["time_budget"] == 0.25


def test_the_progress_of_a_budgeted_run_shows_the_time_left_and_the_plan():
    from rich.console import Console

    from wordrnn.cli.progress import RichProgress

    console = Console(record=True, force_terminal=True, width=200)
    progress = RichProgress(console)
    progress.on_train_begin({"epochs": None, "windows": 10, "epoch": 0, "window": 0, "seconds_left": 300.0})
    progress.on_step({"epoch": 0, "window": 3, "step": 3, "loss": 5.0, "targets": 100.0, "seconds_left": 65.4})
    progress.on_plan({"epochs": 2.5, "steps": 25, "seconds_per_step": 0.25, "train_seconds": 240.0,
                      "final_learning_rate": 2e-4})
    progress.on_epoch_end({"epoch": 1, "loss": 5.0, "val_loss": 5.1, "learning_rate": 1e-3, "seconds": 3.0})
    progress.on_epoch_end({"epoch": 2, "loss": 4.9, "val_loss": 5.0, "learning_rate": 5e-4, "seconds": 3.0,
                           "windows": 4})
    progress.on_train_end({})
    text = console.export_text()
    assert "1:05 left" in text
    assert "plan: about 2.5 epochs (25 steps of 250 ms) in 4.0 minutes of training, learning rate decaying to 2.0e-04" in text
    assert "epoch 2 (4/10 windows): train ppl" in text  # a part-epoch says so
    assert "epoch 3/~3" in text  # the plan's estimate never shows fewer epochs than are running


def test_a_budget_is_refused_across_workers(tmp_path, corpus):
    """Each worker would read its own clock and stop after another step; the run would hang."""
    result = run("train", str(corpus), "-o", str(tmp_path / "m"), "--time-budget", "1", "--strategy", "multiworker")
    assert_clean_error(result, "--time-budget", "--strategy multiworker", "--epochs")
    assert not (tmp_path / "m").exists()


def test_a_second_train_cannot_replace_the_model_of_one_still_reading_its_corpus(tmp_path, corpus):
    """`train big.txt -o X` still tokenizing and `train small.txt -o X` in another shell: the second is
    refused while the first holds the directory, and X ends up with the first's model (issue 18 item 1)."""
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.store.saved import SavedModel
    from wordrnn.train.jobs import train_text

    out, other = tmp_path / "m", tmp_path / "other.txt"
    other.write_text(make_text(150, seed=9), encoding="utf-8")
    second = []

    def stage(name: str) -> None:
        if name == "counting words":  # the first run is reading its corpus
            second.append(run("train", str(other), "-o", str(out), *TINY, "--no-export"))

    train_text([corpus], out, model_config=ModelConfig(vocab_size=1, units=8, embedding=4),
               train_config=TrainConfig(epochs=1, batch_size=4, window=5, seed=1), on_stage=stage)
    assert_clean_error(second[0], "already training into it")
    assert SavedModel.load(out).manifest["corpus"]["files"] == [str(corpus)]


def test_kill_9_while_reading_standard_input_leaves_no_copy_of_it(tmp_path):
    """`cat corpus | wordrnn train -` killed while it tokenises: no copy of standard input may be left in
    the temporary directory (issue 18 item 20)."""
    import os
    import signal
    import subprocess
    import sys

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "wordrnn", "train", "-", "-o", str(tmp_path / "m"), *TINY[:-3]]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        try:
            proc.stdin.write(make_text(20000).encode())
            proc.stdin.close()
            for line in proc.stderr:  # the stage lines: kill it once it reads what it copied
                if b"counting words" in line:
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in temp.iterdir() if "stdin" in p.name] == []


def _trained_then_resumed_with(tmp_path, corpus, option: str, first: str, second: str):
    """Train 2 tiny epochs with ``option first``, then ask to resume for 3 with ``option second``:
    the saved model and the resume's result."""
    from wordrnn.store.saved import SavedModel

    out = tmp_path / "m"
    at = TINY.index("--epochs")
    tiny = TINY[:at] + TINY[at + 2:]
    result = run("train", str(corpus), "-o", str(out), *tiny, "--epochs", "2", option, first, "--no-export")
    assert result.exit_code == 0, result.output
    return SavedModel.load(out), run("train", str(corpus), "-o", str(out), *tiny, "--epochs", "3", option, second, "--resume")


def test_fresh_state_is_recorded_and_a_resume_keeps_it(tmp_path, corpus):
    saved, changed = _trained_then_resumed_with(tmp_path, corpus, "--fresh-state", "0.5", "0")
    assert saved.train_config.fresh_state == 0.5
    assert_clean_error(changed, "--fresh-state (0.0; the checkpoint has 0.5)")


def test_state_reset_is_recorded_and_a_resume_keeps_it(tmp_path, corpus):
    saved, changed = _trained_then_resumed_with(tmp_path, corpus, "--state-reset", "3", "0")
    assert saved.train_config.state_reset == 3
    assert_clean_error(changed, "--state-reset (0; the checkpoint has 3)")


def test_ema_saves_the_weights_that_validated_better_and_a_resume_can_change_its_momentum(tmp_path, corpus):
    from wordrnn.store.saved import SavedModel

    saved, changed = _trained_then_resumed_with(tmp_path, corpus, "--ema", "0.9", "0.5")
    assert saved.train_config.ema == 0.9
    assert all({"val_loss_trained", "val_loss_averaged"} <= record.keys() for record in saved.history)
    assert changed.exit_code == 0, changed.output
    assert SavedModel.load(tmp_path / "m").train_config.ema == 0.5


def test_a_resume_can_start_averaging_but_not_stop_it(tmp_path, corpus):
    from wordrnn.store.saved import SavedModel

    saved, started = _trained_then_resumed_with(tmp_path, corpus, "--ema", "0", "0.9")
    assert saved.train_config.ema == 0.0
    assert started.exit_code == 0, started.output
    resumed = SavedModel.load(tmp_path / "m")
    assert resumed.train_config.ema == 0.9 and len(resumed.history) == 3
    assert "val_loss_averaged" not in resumed.history[1] and "val_loss_averaged" in resumed.history[2]
    stop = run("train", str(corpus), "-o", str(tmp_path / "m"), *TINY[:TINY.index("--epochs")],
               *TINY[TINY.index("--epochs") + 2:], "--epochs", "4", "--ema", "0", "--resume")
    assert_clean_error(stop, "--ema (0, off; the checkpoint averages with 0.9")


def test_ema_start_without_ema_is_refused_before_any_work(tmp_path, corpus):
    result = run("train", str(corpus), "-o", str(tmp_path / "m"), *TINY, "--ema-start", "0.5")
    assert_clean_error(result, "--ema-start")
    assert not (tmp_path / "m").exists()


def test_resuming_a_run_that_early_stopping_ended_says_nothing_was_trained(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(400), encoding="utf-8")
    out = tmp_path / "m"
    settings = ["--units", "16", "--embedding", "8", "--batch-size", "8", "--window", "10", "--seed", "1",
                "--learning-rate", "0.05", "--epochs", "60", "--early-stopping", "1", "--no-export"]
    first = run("train", str(corpus), "-o", str(out), *settings)
    assert first.exit_code == 0, first.output
    assert "early_stopping" in first.stderr
    again = run("train", str(corpus), "-o", str(out), "--resume", "--epochs", "60")
    assert again.exit_code == 0, again.output
    assert "nothing trained: this run had already ended by early stopping" in again.stderr
    assert "--early-stopping" in again.stderr
