"""How an image file becomes a model's pixels: decoded faithfully, or refused in one line.

Pillow reads the file and applies its EXIF orientation (`ImageOps.exif_transpose`, so
phone photos are upright); Pillow's own conversions turn palettes, bilevel, CMYK and
YCbCr images into grey or RGB. The stored values are then scaled to [0, 1] by the
dataset's declared `pixel_range` (the stored values that map to 0 and 1, recorded in
the split file), and resized in floating point, so that no bit depth is rounded or
saturated on the way: 16-bit grey stays 16-bit until it is a float.

Refused, naming the file and the fix: files of several frames (which one is the
sample?), alpha channels that are not fully opaque (what lies under them?), 16-bit
colour (Pillow keeps only its top 8 bits), modes Pillow cannot convert to grey or RGB,
and values outside the declared range.

`policy_of(files, pixel_range)` reads a dataset's policy from its files' headers (a
project records it with its split); `decode(path, policy, size)` serves one sample by it.
The decoding defines the numbers measured on images, so a project that uses it names this
module in its metric definition (`DEFINITION = (..., "research_rigor.images")`): a
release of research-rigor that changes it then moves the project's metric fingerprint.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from research_rigor.errors import UserError

RESAMPLING = Image.Resampling.BILINEAR  # applied to each channel as 32-bit floats
# Pillow's mode of a file -> the mode Pillow converts it to before its pixels are read.
# Palettes ("P") become RGBA when they declare transparency, else RGB (see `_converted`).
CONVERTED = {
    "1": "L",  # bilevel: 0 and 255
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "P": "RGB",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBX": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "CMYK": "RGB",  # Pillow's conversion: R = (255 - C)(255 - K) / 255, no colour profile
    "YCbCr": "RGB",
    "I;16": "I;16",
    "I;16L": "I;16",
    "I;16B": "I;16",
    "I;16N": "I;16",
    "I": "I",  # 32-bit signed integers
    "F": "F",  # 32-bit floats
}
# Modes whose pixels numpy reads as they are (Pillow's conversions between the 16-bit
# byte orders are not exact): every other mode is converted first.
READ_AS_STORED = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
GREY = frozenset({"L", "LA", "I;16", "I", "F"})  # converted modes with one colour channel
WITH_ALPHA = frozenset({"LA", "RGBA"})
# The numpy type each converted mode's samples are read as.
PIXEL_TYPES = {"L": "uint8", "LA": "uint8", "RGB": "uint8", "RGBA": "uint8"}
PIXEL_TYPES |= {"I;16": "uint16", "I": "int32", "F": "float32"}
# The range a type's values span, when the type has one; 32-bit data must declare theirs.
NATURAL_RANGES = {"uint8": (0, 255), "uint16": (0, 65535)}
WIDE_RAW_MODE = ";16"  # in a tile's raw mode: 16 bits a sample, which Pillow narrows for colour
OPAQUE = 255  # an 8-bit alpha value that hides nothing
GREY_CHANNELS, COLOUR_CHANNELS = 1, 3


@dataclass(frozen=True)
class Stored:
    """How one file stores its pixels, as its header says."""

    mode: str  # the mode Pillow converts it to (a key of PIXEL_TYPES)
    pixel_type: str  # numpy's name for its samples' type

    @property
    def grey(self) -> bool:
        return self.mode in GREY


@dataclass(frozen=True)
class Decoding:
    """A dataset's decoding policy, recorded in its split file: the metric depends on it."""

    channels: int  # 1 (every image grey) or 3
    pixel_type: str  # numpy's name for the stored samples' type, one for the whole dataset
    pixel_range: tuple[float, float]  # the stored values that map to 0 and 1

    def recorded(self) -> dict[str, Any]:
        return {"pixel_type": self.pixel_type, "pixel_range": list(self.pixel_range)}


def refuse(path: Path, problem: str, fix: str) -> UserError:
    return UserError(f"{path} {problem}: {fix}.")


def _converted(image: Image.Image) -> str:
    if image.mode == "P" and "transparency" in image.info:
        return "RGBA"
    return CONVERTED[image.mode]


def inspect(path: Path, image: Image.Image) -> Stored:
    """What `image` (opened from `path`, not yet loaded) stores; refuses what cannot be
    decoded faithfully."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise refuse(
            path, f"holds {frames} frames", "save the frame that is the sample as its own file"
        )
    if image.mode not in CONVERTED:
        raise refuse(
            path, f"has Pillow mode {image.mode}, which is not decoded", "save it as RGB or grey"
        )
    mode = _converted(image)
    _, _, _, raw_mode = image.tile[0] if image.tile else (None, None, None, "")
    # the raw codec gives (mode, stride, orientation), the others the mode alone
    raw_mode = raw_mode[0] if isinstance(raw_mode, tuple) else str(raw_mode)
    if WIDE_RAW_MODE in raw_mode and PIXEL_TYPES[mode] == "uint8":
        raise refuse(
            path,
            "stores 16-bit colour or alpha, of which Pillow reads only the top 8 bits",
            "save it as 8-bit colour, as one 16-bit grey file per channel, or store the "
            "dataset as arrays (images.npy keeps any depth)",
        )
    return Stored(mode, PIXEL_TYPES[mode])


def natural_range(path: Path, pixel_type: str) -> tuple[float, float]:
    """The stored values that map to 0 and 1 when none are declared: the type's full range."""
    if pixel_type not in NATURAL_RANGES:
        raise refuse(
            path,
            f"stores {pixel_type} pixels, which have no standard range",
            "declare the values that map to 0 and 1 (`--pixel-range LOW HIGH` on the split "
            "command, or `pixel_range: [low, high]` in the data config)",
        )
    return NATURAL_RANGES[pixel_type]


def _opaque(path: Path, pixels: np.ndarray) -> np.ndarray:
    """The colour channels of (H, W, C + 1) pixels whose alpha hides nothing."""
    if pixels[..., -1].min() < OPAQUE:
        raise refuse(
            path,
            "has transparent pixels, whose colour is undefined",
            "flatten it onto the background you mean (e.g. Pillow's Image.alpha_composite)",
        )
    return pixels[..., :-1]


def resize(image: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """(C, H, W) float32 resized to `size` (H, W), each channel as a 32-bit float image."""
    height, width = size
    return np.stack(
        [
            np.asarray(Image.fromarray(channel).resize((width, height), RESAMPLING))
            for channel in image
        ]
    )


def stored(path: Path) -> Stored:
    """What the file at `path` stores, from its header."""
    try:
        with Image.open(path) as opened:
            return inspect(path, opened)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise refuse(path, f"cannot be decoded ({error})", "replace or delete it") from None


def decode(path: Path, policy: Decoding, size: Sequence[int] | None = None) -> np.ndarray:
    """One image as (channels, H, W) float32, the stored values `pixel_range` maps to [0, 1]
    (grey repeated to three channels for a colour dataset), resized to `size` if given."""
    try:
        with Image.open(path) as opened:
            stored = inspect(path, opened)
            image = ImageOps.exif_transpose(opened)
            if image.mode not in READ_AS_STORED:
                image = image.convert(stored.mode)
            pixels = np.asarray(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise refuse(path, f"cannot be decoded ({error})", "replace or delete it") from None
    if stored.mode in WITH_ALPHA:
        pixels = _opaque(path, pixels)
    pixels = pixels.reshape(*pixels.shape[:2], -1)  # (H, W, C)
    if stored.pixel_type != policy.pixel_type:
        raise refuse(
            path,
            f"stores {stored.pixel_type} pixels, but the dataset's are {policy.pixel_type}",
            f"save it as {policy.pixel_type}, like the rest",
        )
    channels = policy.channels
    if pixels.shape[2] != channels and not (stored.grey and channels == COLOUR_CHANNELS):
        raise refuse(
            path, "is colour, but the dataset is grey", "save it as grey, or every image as RGB"
        )
    low, high = policy.pixel_range
    if pixels.min() < low or pixels.max() > high:
        raise refuse(
            path,
            f"holds values {pixels.min()}..{pixels.max()}, outside pixel_range [{low}, {high}]",
            "declare the range its data span (`pixel_range` in the data config)",
        )
    scaled = ((pixels.astype(np.float64) - low) / (high - low)).astype(np.float32)
    image = np.repeat(scaled, channels // scaled.shape[2], axis=2).transpose(2, 0, 1)
    if size is not None and image.shape[1:] != tuple(size):
        image = resize(image, size)
    return image


def policy_of(files: Sequence[Path], declared: Sequence[float] | None) -> Decoding:
    """The policy that decodes every file of a dataset, from their headers and the declared
    `pixel_range` (else their type's full range); refuses a mix of pixel types, which no
    one range scales alike."""
    if declared is not None and (len(declared) != 2 or not declared[0] < declared[1]):
        raise UserError(f"pixel_range {list(declared)} is not [low, high] with low < high.")
    examples: dict[str, Path] = {}
    grey = True
    for path in files:
        found = stored(path)
        examples.setdefault(found.pixel_type, path)
        grey = grey and found.grey
    if len(examples) > 1:
        (first, one), (second, other) = list(examples.items())[:2]
        raise UserError(
            f"the images mix {first} pixels ({one}) with {second} pixels ({other}): save them "
            "all as one type, then split again."
        )
    ((pixel_type, example),) = examples.items()
    low, high = declared if declared is not None else natural_range(example, pixel_type)
    return Decoding(GREY_CHANNELS if grey else COLOUR_CHANNELS, pixel_type, (low, high))
