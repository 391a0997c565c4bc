"""Writing the report's figures: PNG and SVG, byte for byte the same for the same figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

FIGURE_DPI = 110
SVG_SALT = "pmarl-bench"  # fixed ids in SVG files


def save(fig, folder: Path, name: str) -> str:
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(folder / f"{name}.png", dpi=FIGURE_DPI, metadata={"Software": None})
        fig.savefig(folder / f"{name}.svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return name
