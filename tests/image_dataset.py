"""A user's own dataset, made on the spot: class-per-folder RGB images from scikit-learn's digits.

What a researcher brings first is a folder per class of image files, of mixed sizes and
formats. This writes one from data a package ships (nothing is downloaded), the same
bytes every time: each 8x8 digit upscaled with Pillow to 20x20 or 24x24, drawn in one
random colour on another (seeded per image, so colour says nothing about the class),
saved as PNG or JPEG, in folders named by the digit's word. Sorted folder order is not
digit order (`eight` is class 0), as with any real dataset.
"""

import re
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

NAME = "rgb_digits"  # data/<NAME>/ and configs/data/<NAME>.yaml: the user's dataset
CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = (20, 24)  # mixed on purpose: training needs `image_size` to batch them
IMAGE_SIZE = (20, 20)  # the `image_size` that `split` proposes: the smallest size found
GOAL_ERROR = 0.02  # what the tests set as the dataset's `goal_error` when reviewing its config
JPEG_EVERY = 3  # every third image is a JPEG, the rest PNG
JPEG_QUALITY = 95
PER_CLASS = 40  # 400 images: a fast run trains in seconds, every split holds every class
SEED = 0
DIGIT_MAX = 16  # scikit-learn's digits are 0..16
MIN_CONTRAST = 160  # summed over the channels, between the digit's colour and the background's


def colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A background and a foreground colour far enough apart for the digit to show."""
    while True:
        background, foreground = rng.integers(0, 256, size=(2, 3))
        if np.abs(background - foreground).sum() >= MIN_CONTRAST:
            return tuple(background.tolist()), tuple(foreground.tolist())


def write(root: Path, per_class: int = PER_CLASS, seed: int = SEED) -> Path:
    """Write `per_class` images of each digit to `root/<word>/<n>.png|jpg`; return `root`."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for digit, word in enumerate(CLASSES):
        folder = root / word
        folder.mkdir(parents=True, exist_ok=True)
        for n, index in enumerate(np.flatnonzero(digits.target == digit)[:per_class]):
            ink = (digits.images[index] * (255 / DIGIT_MAX)).astype(np.uint8)
            size = SIZES[(n + digit) % len(SIZES)]
            mask = Image.fromarray(ink, mode="L").resize((size, size), Image.Resampling.BICUBIC)
            background, foreground = colours(rng)
            image = Image.composite(
                Image.new("RGB", mask.size, foreground),
                Image.new("RGB", mask.size, background),
                mask,
            )
            if n % JPEG_EVERY == 0:
                image.save(folder / f"{n:03d}.jpg", quality=JPEG_QUALITY)
            else:
                image.save(folder / f"{n:03d}.png")
    return root


def review(config: Path) -> None:
    """The README's review of the config `split` wrote: keep the proposed `image_size`, set
    the goal error (a human reads these digits about as well as the 8x8 originals)."""
    text = config.read_text()
    assert f"image_size: {list(IMAGE_SIZE)}" in text, f"not the smallest size:\n{text}"
    line = re.compile(r"^goal_error: .*$", re.MULTILINE)
    assert len(line.findall(text)) == 1, f"no single goal_error line in {config}:\n{text}"
    config.write_text(line.sub(f"goal_error: {GOAL_ERROR}  # about human level", text))


if __name__ == "__main__":  # python -m tests.image_dataset <dir>: look at it
    import sys

    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else f"data/{NAME}")))
