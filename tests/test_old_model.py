"""A model directory in the format written before the package became layered subpackages still works.

``tests/data/old-model`` was written by ``wordrnn train`` at commit b6b71df (eight lines of text,
``--units 8 --embedding 8 --epochs 1 --batch-size 2 --window 5 --seed 1 --no-export``), keeping
the model's manifest and its files (the resumable checkpoint left out). The manifest and file
format did not change with the reorganisation, so users' existing models must load, suggest and be
described, and reading them must never write to them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

import wordrnn
from wordrnn.cli.main import app

OLD = Path(__file__).resolve().parent / "data" / "old-model"
WORDS = {"the", ".", "cat", "dog", "a", "mat", "on", "friend", "likes", "my", "ran", "sat", "saw", "to", "house", "rug"}


def _fingerprint() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(OLD.iterdir())}


def test_an_old_model_loads_and_suggests_its_words():
    before = _fingerprint()
    predictor = wordrnn.load(str(OLD), runtime="keras")  # it has no LiteRT export (trained with --no-export)
    suggestions = predictor.suggest("the cat ", k=3)
    assert len(suggestions) == 3
    assert {word for word, _ in suggestions} <= WORDS
    assert all(0 < p <= 1 for _, p in suggestions)
    assert _fingerprint() == before


def test_info_describes_an_old_model():
    before = _fingerprint()
    runner = CliRunner()
    described = runner.invoke(app, ["info", str(OLD), "--json"])
    assert described.exit_code == 0, described.output
    data = json.loads(described.stdout)
    assert data["kind"] == "tokens" and data["vocab_size"] == len(WORDS) + 2 and data["parameters"] > 0
    assert data["config"]["model"]["units"] == 8 and data["config"]["model"]["embedding"] == 8
    assert [record["epoch"] for record in data["history"]] == [1]
    table = runner.invoke(app, ["info", str(OLD)], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert f"model {OLD}" in table.stdout and "training history" in table.stdout
    assert _fingerprint() == before
