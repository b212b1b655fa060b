"""The entry point imports only the called command's module; the table it uses must match the modules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from wordrnn.cli import main as cli_main


def _registered_names() -> dict[str, str]:
    """Command name -> defining module of every command on the fully registered app."""
    app = cli_main.app  # every module imported
    names = {}
    for info in app.registered_commands:
        names[info.name or info.callback.__name__.replace("_", "-")] = info.callback.__module__
    for group in app.registered_groups:
        callback = group.typer_instance.registered_commands[0].callback
        names[group.name] = callback.__module__
    return names


def test_command_table_matches_what_each_module_registers():
    expected = {name: f"wordrnn.cli.{module}" for name, module in cli_main.COMMAND_MODULES.items()}
    assert _registered_names() == expected


def test_called_command_is_the_first_argument_unless_an_option():
    assert cli_main.called_command(["complete", "the next"]) == "complete"
    assert cli_main.called_command(["--help"]) is None
    assert cli_main.called_command([]) is None


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys\nfrom wordrnn.cli import main\nmain.registered(main.called_command(sys.argv[1:]))\n"
            "print(' '.join(m for m in sys.modules if m.startswith('wordrnn.cli.')))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_complete_imports_only_its_own_command_module():
    loaded = _modules_after(["complete", "the next"])
    assert "wordrnn.cli.predict" in loaded
    assert not loaded & {"wordrnn.cli.train", "wordrnn.cli.serve", "wordrnn.cli.evaluate", "wordrnn.cli.series"}


def test_an_unknown_command_gets_every_command_for_its_message():
    loaded = _modules_after(["complet"])
    assert {f"wordrnn.cli.{m}" for m in cli_main.COMMAND_MODULES.values()} <= loaded


def test_help_still_lists_every_command():
    done = subprocess.run([sys.executable, "-c", "from wordrnn.cli.main import main; main()", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0
    for name in cli_main.COMMAND_MODULES:
        assert name in done.stdout, name
    assert isinstance(cli_main.app, typer.Typer)


def test_the_console_script_pauses_the_collector_for_start_up_and_only_complete_runs_without_it():
    """``cli.entry`` starts with the cyclic collector off (start-up frees nothing); ``cli.main`` turns
    it back on for every command but a one-shot ``complete``."""
    check = ("import gc, sys\nfrom wordrnn.cli.entry import main\nsys.argv = ['wordrnn', *sys.argv[1:]]\n"
             "import atexit\natexit.register(lambda: print('collector', gc.isenabled()))\nmain()\n")
    results = {}
    for args in (["complete", "the next", "-m", "/nonexistent"], ["--version"], ["info", "/nonexistent"]):
        done = subprocess.run([sys.executable, "-c", check, *args], capture_output=True, text=True, timeout=120)
        results[args[0]] = done.stdout.strip().splitlines()[-1]
    assert results == {"complete": "collector False", "--version": "collector True", "info": "collector True"}


def test_the_installed_console_script_is_the_entry_module():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "wordrnn"]
    assert script.value == "wordrnn.cli.entry:main"


TEARDOWN_MARK = ("import atexit, sys\natexit.register(lambda: print('teardown ran', flush=True))\n"
                 "sys.argv = ['wordrnn', *sys.argv[1:]]\nfrom wordrnn.cli.entry import main\nmain()\n")


def _console_script(args: list[object], stdout) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-c", TEARDOWN_MARK, *map(str, args)], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=300)


def test_a_successful_complete_ends_without_teardown_and_its_whole_answer_written(tmp_path, tiny_model):
    """A one-shot ``complete`` skips Python's teardown (18 ms of a cold start) once its output is
    flushed, even into a file; failures and the TensorFlow runtime end normally, clean-up included."""
    from wordrnn.runtime.export import export_model

    tiny_model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    export_model(tiny_model)  # the LiteRT path, as the bundled model runs
    answer = tmp_path / "answer.json"
    with open(answer, "w", encoding="utf-8") as handle:
        done = _console_script(["complete", "the", "-m", tiny_model, "--json"], handle)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(answer.read_text(encoding="utf-8"))["suggestions"]) == 3  # nothing after the JSON
    failed = _console_script(["complete", "the", "-m", tmp_path / "missing"], subprocess.PIPE)
    assert failed.returncode == 1 and "teardown ran" in failed.stdout
    keras = _console_script(["complete", "the", "-m", tiny_model, "--runtime", "keras"], subprocess.PIPE)
    assert keras.returncode == 0, keras.stderr
    assert "suggestion" in keras.stdout and keras.stdout.rstrip().endswith("teardown ran")
