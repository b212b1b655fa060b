"""Messages name an option once and each audience reads its own spelling of it.

``errors.option`` leaves a marker in a message: ``str()`` of an error (what a Python caller sees)
spells it as the keyword argument, the CLI as its flag. One error per layer is checked both
ways, REPL replies and warnings too, and two scans of the source keep it so: no module outside
``wordrnn/cli`` spells a flag itself, and every option a message names is a real flag.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from wordrnn.cli.app import FLAG_VALUES, FLAGS, cli_text, flag_spelling, warnings_to_stderr
from wordrnn.cli.main import app
from wordrnn.config import TokenizerConfig, TrainConfig
from wordrnn.errors import (ConfigError, Option, WordRNNError, WordRNNWarning, in_library_terms, option,
                            render)

PACKAGE = Path(__file__).resolve().parents[1] / "wordrnn"
runner = CliRunner()


@pytest.mark.parametrize("marked, library, flag", [
    (option("min_count"), "min_count", "--min-count"),
    (option("force", True), "force=True", "--force"),
    (option("export", False), "export=False", "--no-export"),
    (option("runtime", "keras"), "runtime='keras'", "--runtime keras"),
    (option("batch_size", np.int64(64)), "batch_size=64", "--batch-size 64"),
    (option("cache_path", metavar="FILE"), "cache_path=FILE", "--cache FILE"),
    (option("cache", None), "cache=None", "--no-adapt"),
    (option("n_words"), "n_words", "-n"),
    (option("beam_width"), "beam_width", "--beam"),
    (option("until_loss"), "until_loss", "--until-mse"),
])
def test_an_option_has_a_library_and_a_command_line_spelling(marked, library, flag):
    assert in_library_terms(f"use {marked}.") == f"use {library}."
    assert cli_text(f"use {marked}.") == f"use {flag}."


def test_the_marker_survives_formatting_and_str_shows_library_terms():
    exc = ConfigError(f"{option('top_k')} " + "must be" + f" {option('weight', float('nan'))}")
    assert str(exc) == "top_k must be weight='nan'"  # NaN has no literal: shown as its text, never a crash
    assert "\x0e" in exc.marked and "\x0e" not in str(exc) and "\x0e" not in f"{exc}"
    assert cli_text(exc) == "--top-k must be --adapt-weight nan"
    with pytest.warns(WordRNNWarning, match=r"^pass runtime='keras'$"):
        warnings.warn(f"pass {option('runtime', 'keras')}", WordRNNWarning)
    assert render(option("x_y", 3), lambda opt: f"<{opt.name}:{opt.value}>") == "<x_y:3>"
    assert Option("k").has_value is False and Option("k", None).has_value is True


def _raises(call) -> WordRNNError:  # noqa: ANN001
    with pytest.raises(WordRNNError) as info:
        call()
    return info.value


def _prepare_output(tmp_path: Path) -> None:
    from wordrnn.store.checkpoint import prepare_output

    (tmp_path / "afile").write_text("x")
    prepare_output(Path("afile"), force=False, resume=False)  # relative: the test runs in tmp_path


def _check_size() -> None:
    from wordrnn.train.resources import check_size

    check_size(10, TrainConfig(batch_size=4, window=5))


def _open_runner() -> None:
    from wordrnn.runtime.runner import open_runner

    open_runner(None, "gpu")  # type: ignore[arg-type]  (refused before the model is looked at)


def _check_options() -> None:
    from wordrnn.predict.sampling import check_options

    check_options(0)


def _read_tokens() -> None:
    from wordrnn.evaluation.streams import read_tokens
    from wordrnn.text.tokenizer import Tokenizer

    read_tokens([], Tokenizer(TokenizerConfig()), limit=0)


def _check_weight() -> None:
    from wordrnn.keyboard.adapt import check_weight

    check_weight(2)


def _check_limits() -> None:
    from wordrnn.text.vocab import check_limits

    check_limits(None, 0)


LAYERS = {  # one error per layer: (raise it, its message in library terms, the CLI's)
    "config": (lambda tmp: TrainConfig(early_stopping=-1),
               "early_stopping must be 0 or more", "--early-stopping must be 0 or more"),
    "text": (lambda tmp: _check_limits(), "min_count must be 1 or more, got 0", "--min-count must be 1 or more, got 0"),
    "store": (_prepare_output, "afile: exists and is not a directory; choose another out_dir",
              "afile: exists and is not a directory; choose another -o"),
    "train": (lambda tmp: _check_size(),
              "the training text has 10 tokens but batch_size=4 x window=5 needs at least 21; use more text or lower "
              "batch_size/window",
              "the training text has 10 tokens but --batch-size 4 x --window 5 needs at least 21; use more text or "
              "lower --batch-size/--window"),
    "runtime": (lambda tmp: _open_runner(), "runtime must be auto, keras or litert, got 'gpu'",
                "--runtime must be auto, keras or litert, got 'gpu'"),
    "predict": (lambda tmp: _check_options(), "temperature must be a number above 0, got 0 (use top_k=1 for greedy)",
                "--temperature must be a number above 0, got 0 (use --top-k 1 for greedy)"),
    "evaluation": (lambda tmp: _read_tokens(), "limit must be 1 or more, got 0", "--limit must be 1 or more, got 0"),
    "keyboard": (lambda tmp: _check_weight(), "weight must be above 0 and below 1, got 2 (use cache=None to turn it off)",
                 "--adapt-weight must be above 0 and below 1, got 2 (use --no-adapt to turn it off)"),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_one_error_per_layer_reads_in_library_terms_and_in_flags_at_the_cli(layer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make, library, cli = LAYERS[layer]
    exc = _raises(lambda: make(tmp_path))
    assert str(exc) == library
    assert cli_text(exc) == cli


def test_repl_replies_name_options_both_ways():
    from wordrnn.keyboard.commands import Commands

    commands = Commands(SimpleNamespace(cache=None))  # type: ignore[arg-type]  (a session without adaptation)
    off = commands.run(":forget")
    assert off.kind == "error" and off.text == "adaptation is off (cache=None): there is nothing to forget"
    assert cli_text(off.message) == "adaptation is off (--no-adapt): there is nothing to forget"
    cached = Commands(SimpleNamespace(cache=object()))  # type: ignore[arg-type]
    ask = cached.run(":save-cache")
    assert ask.text == "give a file: :save-cache FILE (or start with cache_path=FILE)"
    assert cli_text(ask.message) == "give a file: :save-cache FILE (or start with --cache FILE)"
    bad = commands.run(":temp 0")  # a command's own argument: named as the command, not as a flag, both ways
    assert bad.text.startswith(":temp must be a number above 0, got 0") and cli_text(bad.message) == bad.text


def test_the_cli_prints_errors_and_warnings_with_its_flags(tmp_path, capsys):
    result = runner.invoke(app, ["train", str(tmp_path / "none.txt"), "-o", str(tmp_path / "m"), "--min-count", "0"])
    assert result.exit_code == 2 and result.stderr == "error: --min-count must be 1 or more, got 0\n"
    with warnings_to_stderr():
        warnings.warn(f"or use {option('runtime', 'keras')}", WordRNNWarning)
    assert capsys.readouterr().err == "warning: or use --runtime keras\n"


# A flag of another program, cited in advice on how to call wordrnn's HTTP API.
OTHER_PROGRAMS = ("curl: --json",)
_FLAG = re.compile(r"(?<![\w-])-{1,2}[a-z]")
_COMMAND_EXAMPLE = re.compile(r"`wordrnn [^`]*`")  # a whole command line to run, e.g. `wordrnn train corpus.txt -o DIR`


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal that is not a docstring, an f-string's parts joined around ``{}``."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    inside_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and id(node) not in inside_fstrings):
            found.append((node.lineno, node.value))
    return found


def test_no_module_outside_the_cli_spells_a_flag():
    """Messages name options with ``errors.option`` (the grep of issue 14, on string literals only)."""
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            text = _COMMAND_EXAMPLE.sub("", text)
            for allowed in OTHER_PROGRAMS:
                text = text.replace(allowed, "")
            if _FLAG.search(text):
                spelled.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}")
    assert not spelled, "use errors.option(...) instead:\n" + "\n".join(spelled)


def _cli_flags() -> set[str]:
    flags: set[str] = set()
    commands = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        commands.extend(getattr(command, "commands", {}).values())
        for param in command.params:
            flags.update(param.opts, param.secondary_opts)
    return flags


def _named_options() -> list[Option]:
    """Every ``option("name", ...)`` in the library's source with a literal name (values stand in as 1)."""
    named = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "option"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            metavar = next((k.value.value for k in node.keywords if k.arg == "metavar"), None)
            if len(node.args) > 1:
                value = node.args[1].value if isinstance(node.args[1], ast.Constant) else 1
                named.append(Option(node.args[0].value, value))
            else:
                named.append(Option(node.args[0].value, metavar=metavar))
    return named


def test_every_option_a_message_names_is_a_flag_of_the_cli():
    flags, named = _cli_flags(), _named_options()
    assert len(named) > 40  # the scan finds them
    unknown = {f"{opt.name} -> {flag_spelling(opt)}" for opt in named if flag_spelling(opt).split()[0] not in flags}
    assert not unknown, f"no such flag; add the option to cli.app.FLAGS: {sorted(unknown)}"
    assert set(FLAGS.values()) | set(FLAG_VALUES.values()) <= flags
