"""Shared helpers for report tests: PDF text and pixels through poppler's command-line tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    proc = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return proc.stdout


def pdf_page_png(pdf: bytes, tmp_path: Path, page: int = 1) -> Image.Image:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    prefix = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", str(page), "-l", str(page), "-png", str(path), str(prefix)],
        check=True,
    )
    (png,) = sorted(tmp_path.glob("page-*.png"))
    return Image.open(png).convert("L")


def ink_fraction(image: Image.Image) -> float:
    """Share of pixels that are not (near) white."""
    histogram = image.histogram()
    dark = sum(histogram[:200])
    return dark / (image.width * image.height)
