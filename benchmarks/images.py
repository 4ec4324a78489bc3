"""A large class-per-folder image dataset, written at benchmark time from scikit-learn's digits.

Each 8x8 digit is upscaled with Pillow to SIZE x SIZE RGB, drawn in one colour on another,
and textured with per-pixel noise, so that PNG cannot compress it much: the folder's size
on disk is what a dataset of photographs that large would take. Nothing is downloaded.
"""

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

SIZE = 512  # pixels a side: a typical stored size for photographs in research datasets
NOISE = 48  # +- per channel: enough entropy that a PNG keeps about 0.7 MB of its 0.79 MB
PNG_COMPRESS_LEVEL = 1  # zlib's fastest: 2 GB are written in about two minutes
DIGIT_MAX = 16  # scikit-learn's digits are 0..16
BACKGROUND = np.array([40, 60, 90], dtype=np.float32)
FOREGROUND = np.array([230, 200, 80], dtype=np.float32)


def folder_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def write(root: Path, min_bytes: int, seed: int = 0) -> int:
    """Write `root/<digit>/<n>.png` until the folder holds at least `min_bytes`; its size."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    written = 0
    for n in range(len(digits.images) * 100):  # each digit again with new noise, if need be
        index = n % len(digits.images)
        ink = (digits.images[index] * (255 / DIGIT_MAX)).astype(np.uint8)
        mask = Image.fromarray(ink, mode="L").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255
        noise = rng.integers(-NOISE, NOISE, size=(SIZE, SIZE, 3), dtype=np.int16)
        pixels = np.clip((1 - alpha) * BACKGROUND + alpha * FOREGROUND + noise, 0, 255)
        folder = root / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n:05d}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path, compress_level=PNG_COMPRESS_LEVEL)
        written += path.stat().st_size
        if written >= min_bytes:
            return written
    raise ValueError(f"{min_bytes} bytes is more than this generator writes")
