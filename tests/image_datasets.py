"""Users' own datasets, made on the spot, unlike each other and unlike the embedded digits.

What a researcher brings is a folder per class of image files. These three are written
from what installed packages ship (nothing is downloaded), the same bytes every time,
each small enough to train in seconds yet learnable, so the bake's numbers mean something:

- `textures`: scikit-learn's two sample photographs cut into six texture classes (sky,
  lake, pagoda, trees; petals, leaves), natural RGB crops of two sizes, PNG and JPEG, some
  JPEGs stored sideways with an EXIF orientation as phones write them.
- `shapes`: 100 classes (ten shapes in ten colours) of 64x64 palette PNGs, seven images a
  class: many classes, few samples each, larger images.
- `microscopy`: 16-bit grey cells on a dark background with noise (PNG and TIFF, values
  up to about 62,000 of 65,535), four morphologies in imbalanced classes (64, 32, 16, 8).

Sorted folder order is not the order of `classes`, as with any real dataset.
"""

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sklearn.datasets import load_sample_images

SEED = 0
GOAL_LINE = re.compile(r"^goal_error: .*$", re.MULTILINE)
JPEG_QUALITY = 90
EXIF_ORIENTATION = 0x0112  # the EXIF tag a phone writes instead of rotating the pixels
ROTATED_RIGHT = 6  # "rotate 90 degrees clockwise to display": stored turned the other way


@dataclass(frozen=True)
class Dataset:
    """A generated class-per-folder dataset and what `split` must find in it."""

    name: str  # data/<name>/ and configs/data/<name>.yaml
    counts: dict[str, int]  # images per class folder
    sizes: tuple[int, ...]  # the square sizes stored, smallest first
    channels: int
    pixel_type: str  # numpy's name for the stored samples' type
    pixel_range: tuple[int, int]  # the stored values that map to 0 and 1
    goal_error: float  # what the review sets as the dataset's `goal_error`
    images: Callable[[np.random.Generator], Iterator[tuple[str, int, Image.Image, str]]]

    @property
    def classes(self) -> list[str]:
        return sorted(self.counts)

    @property
    def samples(self) -> int:
        return sum(self.counts.values())

    @property
    def image_size(self) -> list[int]:
        """The `image_size` that `split` proposes: the smallest size found."""
        return [self.sizes[0], self.sizes[0]]

    def write(self, root: Path) -> Path:
        """Write every image to `root/<class>/<n>.<format>`; return `root`."""
        for folder, n, image, suffix in self.images(np.random.default_rng(SEED)):
            path = root / folder / f"{n:03d}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if suffix == "jpg":
                exif = image.info.get("exif", b"")
                image.save(path, quality=JPEG_QUALITY, exif=exif)
            else:
                image.save(path)
        return root

    def review(self, config: Path) -> None:
        """The README's review of the config `split` wrote: keep the proposed `image_size`
        and `pixel_range`, set the goal error."""
        text = config.read_text()
        assert f"image_size: {self.image_size}" in text, f"not the smallest size:\n{text}"
        assert len(GOAL_LINE.findall(text)) == 1, f"no single goal_error line in {config}"
        config.write_text(GOAL_LINE.sub(f"goal_error: {self.goal_error}", text))


# textures: (photo, (left, top, right, bottom)) of a region of one texture in scikit-learn's
# sample photographs (640x427 each).
TEXTURE_REGIONS = {
    "sky": ("china.jpg", (380, 10, 630, 140)),
    "lake": ("china.jpg", (360, 245, 545, 300)),
    "pagoda": ("china.jpg", (95, 140, 330, 330)),
    "trees": ("china.jpg", (420, 330, 640, 427)),
    "petals": ("flower.jpg", (200, 110, 430, 330)),
    "leaves": ("flower.jpg", (0, 0, 170, 300)),  # the blurred background
}
TEXTURE_SIZES = (32, 40)  # mixed on purpose: training needs `image_size` to batch them
TEXTURES_PER_CLASS = 30
JPEG_EVERY = 3  # every third crop a JPEG, the rest PNG
EXIF_EVERY = 2  # of the JPEGs, every other one stored sideways with its orientation tag


def sideways(image: Image.Image) -> Image.Image:
    """The image as a phone stores it: pixels turned, an orientation tag to turn them back."""
    stored = image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_RIGHT
    stored.info["exif"] = exif.tobytes()
    return stored


def textures(rng: np.random.Generator) -> Iterator[tuple[str, int, Image.Image, str]]:
    shipped = load_sample_images()
    photos = dict(zip((Path(name).name for name in shipped.filenames), shipped.images, strict=True))
    for texture, (photo, (left, top, right, bottom)) in TEXTURE_REGIONS.items():
        for n in range(TEXTURES_PER_CLASS):
            size = TEXTURE_SIZES[n % len(TEXTURE_SIZES)]
            x = int(rng.integers(left, right - size + 1))
            y = int(rng.integers(top, bottom - size + 1))
            crop = Image.fromarray(photos[photo][y : y + size, x : x + size])
            if n % JPEG_EVERY:
                yield texture, n, crop, "png"
            elif n // JPEG_EVERY % EXIF_EVERY:
                yield texture, n, sideways(crop), "jpg"
            else:
                yield texture, n, crop, "jpg"


# shapes: ten shapes in ten colours, each pair a class, drawn in a palette image of two
# colours (synthetic images are often stored so).
SHAPE_SIZE = 64
SHAPES_PER_CLASS = 7  # 700 images: the protocol's test split holds every one of 100 classes
SHAPE_KINDS = (
    "circle", "ring", "semicircle", "triangle", "square",
    "pentagon", "hexagon", "star", "cross", "bar",
)  # fmt: skip
SHAPE_COLOURS = {
    "red": (220, 40, 40),
    "orange": (240, 140, 20),
    "yellow": (230, 220, 40),
    "green": (40, 170, 60),
    "teal": (30, 160, 160),
    "blue": (40, 80, 220),
    "purple": (130, 50, 200),
    "pink": (240, 120, 190),
    "white": (235, 235, 235),
    "brown": (140, 85, 40),
}
COLOUR_JITTER = 12  # per channel, around the class's colour
BACKGROUND_MAX = 110  # backgrounds are dark, of any hue
MIN_CONTRAST = 150  # summed over the channels, between a shape and its background
RADIUS = (14, 22)  # the shape's outer radius, in pixels
CENTRE_JITTER = 8  # pixels off the image's centre
STAR_INNER = 0.45  # a star's inner radius, as a share of its outer one
CROSS_ARM = 0.35  # a cross's arm width, as a share of its radius
BAR_WIDTH = 0.3  # a bar's width, as a share of its length
POLYGON_SIDES = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}
RING_WIDTH = 0.35  # of the radius


def outline(kind: str, radius: float) -> list[tuple[float, float]]:
    """The corners of a star, cross or bar of this outer radius around (0, 0)."""
    if kind == "star":
        radii = [radius if k % 2 == 0 else STAR_INNER * radius for k in range(10)]
        return [
            (r * math.cos(k * math.pi / 5), r * math.sin(k * math.pi / 5))
            for k, r in enumerate(radii)
        ]
    if kind == "bar":
        half = BAR_WIDTH * radius
        return [(radius, half), (-radius, half), (-radius, -half), (radius, -half)]
    arm = CROSS_ARM * radius
    corners = [(arm, radius), (arm, arm), (radius, arm)]  # a quarter of a plus sign
    for _ in range(3):  # and the same turned by 90 degrees, three times
        corners += [(y, -x) for x, y in corners[-3:]]
    return corners


def turned(points: list[tuple[float, float]], angle: float, centre: tuple[float, float]):
    """The points turned by `angle` radians around (0, 0), then moved to `centre`."""
    cos, sin = math.cos(angle), math.sin(angle)
    return [(centre[0] + x * cos - y * sin, centre[1] + x * sin + y * cos) for x, y in points]


def shape_colours(rng: np.random.Generator, colour: tuple[int, ...]) -> list[int]:
    """A palette of two: a dark background of any hue, and the class's colour, jittered."""
    while True:
        background = rng.integers(0, BACKGROUND_MAX + 1, size=3)
        foreground = np.clip(
            np.array(colour) + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3), 0, 255
        )
        if np.abs(foreground - background).sum() >= MIN_CONTRAST:
            return [*background.tolist(), *foreground.tolist()]


def shape(rng: np.random.Generator, kind: str, colour: tuple[int, ...]) -> Image.Image:
    """One shape of one colour, of random size, place and angle, on a random dark background."""
    image = Image.new("P", (SHAPE_SIZE, SHAPE_SIZE), 0)
    image.putpalette(shape_colours(rng, colour))
    draw = ImageDraw.Draw(image)
    radius = float(rng.uniform(*RADIUS))
    centre = tuple(SHAPE_SIZE / 2 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, 2))
    angle = float(rng.uniform(0, 2 * math.pi))
    box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
    if kind == "circle":
        draw.ellipse(box, fill=1)
    elif kind == "ring":
        draw.ellipse(box, outline=1, width=round(RING_WIDTH * radius))
    elif kind == "semicircle":
        start = math.degrees(angle)
        draw.pieslice(box, start, start + 180, fill=1)
    elif kind in POLYGON_SIDES:
        draw.regular_polygon((*centre, radius), POLYGON_SIDES[kind], math.degrees(angle), fill=1)
    else:
        draw.polygon(turned(outline(kind, radius), angle, centre), fill=1)
    return image


def shapes(rng: np.random.Generator) -> Iterator[tuple[str, int, Image.Image, str]]:
    for kind in SHAPE_KINDS:
        for name, colour in SHAPE_COLOURS.items():
            for n in range(SHAPES_PER_CLASS):
                yield f"{name}_{kind}", n, shape(rng, kind, colour), "png"


# microscopy: cells of four morphologies in 16-bit grey, as a fluorescence camera stores
# them; the classes are imbalanced, as cell populations are.
CELL_COUNTS = {"round": 64, "dividing": 32, "rod": 16, "fragmented": 8}
CELL_SIZE = 32
BACKGROUND = (800, 3000)  # the camera's offset and the medium's glow
BRIGHTNESS = (12000, 60000)  # a cell's peak, above the background: most of the 16-bit range
READ_NOISE = 120.0  # the camera's, in counts
SHOT_NOISE = 1.5  # x sqrt(signal): photon noise grows with the light
EDGE = 0.8  # pixels: how soft a cell's edge is
TEXTURE = 0.15  # the cytoplasm's graininess, as a share of the brightness
CELLS = {  # cells per image, and their radii (along, across) in pixels
    "round": ((2, 4), (3.5, 5.0), 1.0),
    "dividing": ((1, 2), (3.0, 4.0), 1.0),
    "rod": ((2, 3), (6.0, 8.0), 0.35),
    "fragmented": ((8, 14), (1.0, 1.8), 1.0),
}
DIVIDING_OFFSET = 1.6  # a dividing cell's daughters sit this many radii apart
TIFF_EVERY = 3  # every third image a TIFF, the rest PNG


def cell(grid: tuple[np.ndarray, np.ndarray], centre, along: float, across: float, angle: float):
    """A soft-edged ellipse of height 1 (an elongated or a round cell)."""
    y, x = grid[0] - centre[0], grid[1] - centre[1]
    u = (x * math.cos(angle) + y * math.sin(angle)) / along
    v = (-x * math.sin(angle) + y * math.cos(angle)) / across
    distance = (np.hypot(u, v) - 1) * min(along, across)  # pixels outside the edge
    return 1 / (1 + np.exp(distance / EDGE))


def micrograph(rng: np.random.Generator, morphology: str) -> Image.Image:
    (fewest, most), radii, aspect = CELLS[morphology]
    grid = np.mgrid[0:CELL_SIZE, 0:CELL_SIZE].astype(np.float64)
    light = np.zeros((CELL_SIZE, CELL_SIZE))
    for _ in range(int(rng.integers(fewest, most + 1))):
        along = float(rng.uniform(*radii))
        centre = rng.uniform(along, CELL_SIZE - along, 2)
        angle = float(rng.uniform(0, math.pi))
        brightness = float(rng.uniform(*BRIGHTNESS))
        grain = 1 + TEXTURE * rng.standard_normal(light.shape)
        if morphology == "dividing":
            offset = DIVIDING_OFFSET * along / 2 * np.array([math.sin(angle), math.cos(angle)])
            body = cell(grid, centre - offset, along, along, angle)
            body = np.maximum(body, cell(grid, centre + offset, along, along, angle))
        else:
            body = cell(grid, centre, along, along * aspect, angle)
        light = np.maximum(light, brightness * body * grain)
    signal = float(rng.uniform(*BACKGROUND)) + light
    noisy = signal + rng.standard_normal(signal.shape) * (READ_NOISE + SHOT_NOISE * np.sqrt(signal))
    return Image.fromarray(np.clip(noisy, 0, np.iinfo(np.uint16).max).round().astype(np.uint16))


def microscopy(rng: np.random.Generator) -> Iterator[tuple[str, int, Image.Image, str]]:
    for morphology, count in CELL_COUNTS.items():
        for n in range(count):
            yield (
                morphology,
                n,
                micrograph(rng, morphology),
                "tif" if n % TIFF_EVERY == 0 else "png",
            )


TEXTURES = Dataset(
    name="textures",
    counts=dict.fromkeys(TEXTURE_REGIONS, TEXTURES_PER_CLASS),
    sizes=TEXTURE_SIZES,
    channels=3,
    pixel_type="uint8",
    pixel_range=(0, 255),
    goal_error=0.05,  # a person tells most crops apart; lake and sky meet in the haze
    images=textures,
)
SHAPES = Dataset(
    name="shapes",
    counts=dict.fromkeys(
        (f"{name}_{kind}" for kind in SHAPE_KINDS for name in SHAPE_COLOURS), SHAPES_PER_CLASS
    ),
    sizes=(SHAPE_SIZE,),
    channels=3,
    pixel_type="uint8",
    pixel_range=(0, 255),
    goal_error=0.0,  # drawn without ambiguity: a person names every one
    images=shapes,
)
MICROSCOPY = Dataset(
    name="microscopy",
    counts=CELL_COUNTS,
    sizes=(CELL_SIZE,),
    channels=1,
    pixel_type="uint16",
    pixel_range=(0, 65535),
    goal_error=0.02,  # a biologist's disagreement with a second reading of the same cells
    images=microscopy,
)
DATASETS = (TEXTURES, SHAPES, MICROSCOPY)


if __name__ == "__main__":  # python -m tests.image_datasets <dir>: look at them
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    for dataset in DATASETS:
        print(dataset.write(out / dataset.name))
