"""Plots of series predictions, written to image files (matplotlib, non-interactive Agg backend).

matplotlib is imported only when a plot is drawn, so no command pays for it otherwise, and the
Agg backend is selected first so plotting works without a display (servers, CI, SSH).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import ConfigError


def _pyplot():
    from wordrnn.nn.tfimport import private_library_home

    private_library_home("MPLCONFIGDIR")  # no config or font cache in ~/.config, ~/.cache unless asked
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_plot_path(path: str | Path) -> Path:
    """Refuse an image path we could not write, before any training time is spent.

    The format follows the file's extension (.png, .svg, .pdf...); the directory must exist.
    """
    from wordrnn.nn.tfimport import private_library_home

    private_library_home("MPLCONFIGDIR")  # matplotlib is first imported here when a plot is asked for
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    supported = FigureCanvasBase.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in supported:
        raise ConfigError(f"--plot {path}: unknown image format {path.suffix or '(none)'!r}; "
                          f"use one of .{', .'.join(sorted(supported))}")
    if not path.parent.is_dir():
        raise ConfigError(f"--plot {path}: cannot write it (no directory {path.parent}); choose another path")
    if path.is_dir():
        raise ConfigError(f"--plot {path}: is a directory; give an image file name")
    return path


def _save(figure: Any, path: str | Path) -> Path:
    """Write the figure in the format its extension names."""
    path = check_plot_path(path)
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise ConfigError(f"--plot {path}: cannot write it ({exc.strerror or exc}); choose another path") from None
    finally:
        _pyplot().close(figure)
    return path


def _new_figure(title: str):
    figure, axes = _pyplot().subplots(figsize=(9, 4.2), layout="constrained")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def plot_prediction(path: str | Path, x: np.ndarray, truth: np.ndarray, points: int, one_step: np.ndarray,
                    free_running: np.ndarray, fitted: np.ndarray | None = None, title: str = "") -> Path:
    """The true series, the primed region, and both prediction modes over the generated points.

    Args:
        x, truth: every position and its true value (observed, then the generated region).
        points: how many leading positions were observed (primed on).
        one_step, free_running: predictions for x[points:].
        fitted: one-step predictions over the primed region (for x[1:points + 1]), drawn faintly.
    """
    figure, axes = _new_figure(title or "series prediction")
    axes.axvspan(x[0], x[points - 1], color="0.92", label="primed (observed)")
    axes.plot(x, truth, color="0.25", linewidth=2.2, alpha=0.6, label="true series")
    if fitted is not None:
        axes.plot(x[1 : len(fitted) + 1], fitted, ".", color="tab:blue", alpha=0.35, markersize=4)
    axes.plot(x[points:], one_step, "o--", color="tab:blue", markersize=3.5, linewidth=1,
              label="one-step-ahead (from true values)")
    axes.plot(x[points:], free_running, "s-", color="tab:orange", markersize=3.5, linewidth=1.2,
              label="free-running (fed back)")
    axes.axvline(x[points - 1] + 0.5, color="0.5", linestyle=":", linewidth=1)
    axes.set_xlabel("x")
    figure.legend(loc="outside lower center", fontsize="small", ncols=4, frameon=False)
    return _save(figure, path)


def plot_forecast(path: str | Path, observed: np.ndarray, forecast: np.ndarray, columns: tuple[str, ...],
                  fitted: np.ndarray | None = None, title: str = "") -> Path:
    """Observed values (the primed region) followed by the free-running forecast, one line per column."""
    figure, axes = _new_figure(title or "forecast")
    steps_seen = len(observed)
    x_seen = np.arange(steps_seen)
    x_next = np.arange(steps_seen - 1, steps_seen + len(forecast))
    axes.axvspan(0, steps_seen - 1, color="0.92", label="primed (observed)")
    for c, name in enumerate(columns):
        line, = axes.plot(x_seen, observed[:, c], linewidth=1.3, label=f"{name} observed")
        if fitted is not None:
            axes.plot(x_seen[1:], fitted[:-1, c], ".", color=line.get_color(), alpha=0.35, markersize=4)
        axes.plot(x_next, np.concatenate([observed[-1:, c], forecast[:, c]]), "s--", color=line.get_color(),
                  markersize=3, linewidth=1.2, label=f"{name} forecast")
    axes.set_xlabel("step")
    figure.legend(loc="outside lower center", fontsize="small", ncols=min(4, 1 + 2 * len(columns)), frameon=False)
    return _save(figure, path)
