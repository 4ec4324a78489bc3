"""Every image format research data come in is decoded faithfully or refused in one line.

Each file is written here from a numpy array (by Pillow, or byte by byte where Pillow
cannot write the format), decoded by `research_rigor.images` as a project's split and
loaders decode it, and compared with the array it was written from: the stored values
scaled by the declared `pixel_range`. What cannot be decoded faithfully must stop with
one line that names the file and the fix.
"""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from research_rigor.errors import UserError
from research_rigor.images import decode, policy_of

HEIGHT, WIDTH = 6, 5  # not square: a transposed image shows
EXACT = 1e-6  # float32 rounding of exactly scaled values
CMYK_ROUNDING = 0.5 / 255  # Pillow rounds its CMYK -> RGB conversion to 8 bits
EXIF_ORIENTATION = 0x0112  # the EXIF tag; 6: the camera was turned a quarter clockwise
TURNED_CLOCKWISE = 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_RGB, PNG_GREY_ALPHA = 2, 4  # PNG colour types
TWELVE_BIT = [0, 4095]  # a 12-bit camera's range, stored in 16-bit files
RNG = np.random.default_rng(0)


def values(dtype: str, channels: int = 0, high: int | None = None) -> np.ndarray:
    """Random pixels of `dtype`, (H, W) or (H, W, channels), spanning the type's range."""
    shape = (HEIGHT, WIDTH, channels) if channels else (HEIGHT, WIDTH)
    if dtype == "float32":
        return RNG.uniform(-2.0, 3.0, shape).astype(np.float32)
    top = high if high is not None else np.iinfo(dtype).max
    return RNG.integers(0, top, shape, endpoint=True).astype(dtype)


def saved(path: Path, image: Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def sixteen_bit_png(path: Path, pixels: np.ndarray, colour_type: int) -> Path:
    """A 16-bit-per-sample PNG written byte by byte (Pillow cannot write 16-bit colour)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def decoded(path: Path, pixel_range: list[float] | None = None) -> np.ndarray:
    """The file decoded as the split decodes a dataset of it alone: (C, H, W)."""
    return decode(path, policy_of([path], pixel_range))


def expected(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """(H, W[, C]) stored values scaled to [0, 1] by the range, as (C, H, W)."""
    scaled = (pixels.astype(np.float64) - low) / (high - low)
    return (scaled[None] if scaled.ndim == 2 else scaled.transpose(2, 0, 1)).astype(np.float32)


def refusal(path: Path, pixel_range: list[float] | None = None) -> str:
    with pytest.raises(UserError) as error:
        decoded(path, pixel_range)
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    return message


@pytest.mark.parametrize(
    ("name", "dtype", "channels", "low", "high"),
    [
        ("grey8.png", "uint8", 0, 0, 255),
        ("grey16.png", "uint16", 0, 0, 65535),
        ("grey16.tif", "uint16", 0, 0, 65535),
        ("rgb8.png", "uint8", 3, 0, 255),
        ("rgb8.tif", "uint8", 3, 0, 255),
    ],
)
def test_8_and_16_bit_images_scale_by_their_types_full_range(
    tmp_path, name, dtype, channels, low, high
):
    pixels = values(dtype, channels)
    path = saved(tmp_path / name, Image.fromarray(pixels))
    np.testing.assert_allclose(decoded(path), expected(pixels, low, high), atol=EXACT)


def test_16_bit_grey_keeps_every_level_instead_of_saturating(tmp_path):
    """What convert("L") did: every value above 255 became white."""
    pixels = values("uint16", high=TWELVE_BIT[1])
    path = saved(tmp_path / "twelve.png", Image.fromarray(pixels))
    image = decoded(path, TWELVE_BIT)
    np.testing.assert_allclose(image, expected(pixels, *TWELVE_BIT), atol=EXACT)
    assert len(np.unique(image)) == len(np.unique(pixels)) > 2


@pytest.mark.parametrize(("dtype", "pixel_range"), [("int32", [-5, 2**20]), ("float32", [-2, 3])])
def test_32_bit_images_need_a_declared_range_and_keep_it_exactly(tmp_path, dtype, pixel_range):
    pixels = values(dtype, high=2**20)
    path = saved(tmp_path / f"{dtype}.tif", Image.fromarray(pixels))
    assert "--pixel-range LOW HIGH" in refusal(path)
    np.testing.assert_allclose(
        decoded(path, pixel_range), expected(pixels, *pixel_range), atol=EXACT
    )


def test_bilevel_images_are_zero_and_one(tmp_path):
    pixels = values("uint8") > 127
    path = saved(tmp_path / "bilevel.png", Image.fromarray(pixels))
    np.testing.assert_array_equal(decoded(path), pixels[None].astype(np.float32))


def test_palette_images_are_their_palettes_colours(tmp_path):
    palette = values("uint8", 3)[0, :4]  # four colours
    indices = RNG.integers(0, len(palette), (HEIGHT, WIDTH)).astype(np.uint8)
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette(palette.flatten().tolist())
    path = saved(tmp_path / "palette.png", image)
    assert Image.open(path).mode == "P"
    np.testing.assert_allclose(decoded(path), expected(palette[indices], 0, 255), atol=EXACT)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_an_opaque_alpha_channel_is_dropped(tmp_path, mode):
    colour = values("uint8", len(mode) - 1)
    pixels = np.dstack([colour, np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)])
    path = saved(tmp_path / f"{mode}.png", Image.fromarray(pixels, mode=mode))
    np.testing.assert_allclose(decoded(path), expected(colour.squeeze(), 0, 255), atol=EXACT)


def test_transparency_is_refused(tmp_path):
    pixels = values("uint8", 4)
    pixels[0, 0, 3] = 0
    path = saved(tmp_path / "rgba.png", Image.fromarray(pixels, mode="RGBA"))
    assert "transparent pixels" in refusal(path) and "alpha_composite" in refusal(path)
    palette = Image.fromarray(values("uint8") % 4, mode="L").convert("P")
    assert "transparent" in refusal(saved(tmp_path / "p.png", palette, transparency=0))


def test_cmyk_is_converted_as_pillow_documents(tmp_path):
    inks = values("uint8", 4)
    path = saved(tmp_path / "cmyk.tif", Image.fromarray(inks, mode="CMYK"))
    cyan_magenta_yellow, black = inks[..., :3].astype(np.float64), inks[..., 3:]
    rgb = (255 - cyan_magenta_yellow) * (255 - black) / 255
    np.testing.assert_allclose(decoded(path), expected(rgb, 0, 255), atol=CMYK_ROUNDING)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_exif_orientation_is_applied(tmp_path, dtype):
    pixels = values(dtype)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = TURNED_CLOCKWISE
    path = saved(tmp_path / "phone.png", Image.fromarray(pixels), exif=exif)
    high = np.iinfo(dtype).max
    np.testing.assert_allclose(decoded(path), expected(np.rot90(pixels, -1), 0, high), atol=EXACT)


@pytest.mark.parametrize("name", ["frames.tif", "frames.gif"])
def test_files_of_several_frames_are_refused(tmp_path, name):
    first, second = (Image.fromarray(values("uint8")) for _ in range(2))
    path = saved(tmp_path / name, first, save_all=True, append_images=[second])
    assert "holds 2 frames" in refusal(path)


@pytest.mark.parametrize(("colour_type", "channels"), [(PNG_RGB, 3), (PNG_GREY_ALPHA, 2)])
def test_16_bit_colour_is_refused_not_narrowed(tmp_path, colour_type, channels):
    path = sixteen_bit_png(tmp_path / "wide.png", values("uint16", channels), colour_type)
    assert "top 8 bits" in refusal(path)


def test_values_outside_the_declared_range_are_refused(tmp_path):
    pixels = values("uint16", high=TWELVE_BIT[1])
    pixels[0, 0] = TWELVE_BIT[1] + 1
    path = saved(tmp_path / "thirteen.png", Image.fromarray(pixels))
    assert "outside pixel_range [0, 4095]" in refusal(path, TWELVE_BIT)


def test_grey_images_in_a_colour_dataset_repeat_their_channel(tmp_path):
    grey = saved(tmp_path / "grey.png", Image.fromarray(values("uint8")))
    colour = saved(tmp_path / "colour.png", Image.fromarray(values("uint8", 3)))
    policy = policy_of([grey, colour], None)
    assert policy.channels == 3
    image = decode(grey, policy)
    np.testing.assert_array_equal(image[0], image[1])
    np.testing.assert_array_equal(image[0], image[2])
