"""Write a dataset's split beside it:
`python -m {{ cookiecutter.package_name }}.data split data/<name> [--folds K]`.

The split (data/<name>.split.json) follows the protocol: deterministic, stratified, with
the training split's per-channel normalization statistics. With `--folds K` it also holds
K stratified folds: `data.fold=i` tests on fold i and trains on the others. An existing
split is kept when it matches and refused when it does not: the split defines the metric.
The first time, the dataset's config is written too (configs/data/<name>.yaml), from what
was found. It is the DVC `split` stage (`dvc exp run -S data=<name>` runs it for another
dataset).
"""

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf
from research_rigor import splits
from research_rigor.errors import UserError
from research_rigor.project import Project
from research_rigor.splits import Scan

from {{ cookiecutter.package_name }}.data import arrays, folders

CONFIG_DIR = Path("configs") / "data"  # under the project root
DEFAULT_BATCH_SIZE = 64
DEFAULT_WORKERS = 2  # processes decoding images while the model trains

FOLDER_CONFIG = """\
# {name}: {samples} images of {classes} classes, one folder per class under {data_dir}/.
# Written by `python -m {package}.data split {data_dir}`; review it, then commit it with the split.
_target_: {package}.data.folders.ImageFolderDataModule
data_dir: {data_dir}  # relative to the project root
image_size: {image_size}  # (height, width) every image is resized to, in every split
pixel_range: {pixel_range}  # the stored {pixel_type} values that map to 0 and 1, as split
goal_error: 0.0  # the error you believe reachable (human-level): the report's baseline
fold: null  # k-fold (`split --folds K`): the fold held out as the test split, 0..K-1
batch_size: {batch_size}  # each mode sets its own
num_workers: {workers}  # processes decoding images while the model trains
pin_memory: false  # true speeds up copies to a GPU; on the CPU it only costs
"""
ARRAY_CONFIG = """\
# {name}: {samples} samples of {classes} classes, as arrays in {data_dir}/ (memory-mapped).
# Written by `python -m {package}.data split {data_dir}`; review it, then commit it with the split.
_target_: {package}.data.arrays.ArrayDataModule
data_dir: {data_dir}  # relative to the project root
num_classes: {classes}  # labels are 0..num_classes-1
goal_error: 0.0  # the error you believe reachable (human-level): the report's baseline
fold: null  # k-fold (`split --folds K`): the fold held out as the test split, 0..K-1
batch_size: {batch_size}  # each mode sets its own
num_workers: 0  # reading a memory map is cheap: worker processes would only add start-up time
pin_memory: false  # true speeds up copies to a GPU; on the CPU it only costs
"""


def scan(data_dir: Path, pixel_range: list[float] | None = None) -> Scan:
    """Arrays are served as stored; image files are decoded by `pixel_range` (research-rigor)."""
    if arrays.is_arrays(data_dir):
        return arrays.scan(data_dir)
    return folders.scan(data_dir, pixel_range)


def declared_range(config: Path, given: list[float] | None) -> list[float] | None:
    """The pixel range given on the command line, else the one the data config declares."""
    written = OmegaConf.load(config).get("pixel_range") if config.is_file() else None
    written = list(written) if written is not None else None
    if given is not None and written is not None and given != written:
        raise UserError(
            f"--pixel-range {given} contradicts pixel_range {written} in {config}: "
            "change one of them."
        )
    return given if given is not None else written


def write_config(scan: Scan, split: dict, config: Path, root: Path) -> None:
    """A data config from what the split found: its classes, and its smallest image size
    (shrinking mixed sizes loses less than inventing pixels)."""
    height, width = min(split["image_sizes"], key=lambda size: size[0] * size[1])
    data_dir = scan.data_dir.resolve()
    shown = data_dir.relative_to(root) if data_dir.is_relative_to(root) else data_dir
    template = ARRAY_CONFIG if scan.format == arrays.FORMAT else FOLDER_CONFIG
    config.write_text(
        template.format(
            name=config.stem,
            samples=len(scan),
            classes=len(scan.classes),
            data_dir=shown.as_posix(),
            package=__package__.rsplit(".", 1)[0],
            image_size=f"[{height}, {width}]",
            pixel_range=split.get("pixel_range"),
            pixel_type=split.get("pixel_type"),
            batch_size=DEFAULT_BATCH_SIZE,
            workers=DEFAULT_WORKERS,
        )
    )


def split(
    data_dir: Path,
    project: Project,
    pixel_range: list[float] | None = None,
    folds: int | None = None,
) -> None:
    config = project.root / CONFIG_DIR / f"{data_dir.name}.yaml"
    found = scan(data_dir, declared_range(config, pixel_range))
    target, written = splits.write(found, folds)
    written_split = json.loads(target.read_text())
    shown = ", ".join(f"{name} {len(written_split[name])}" for name in splits.SPLITS)
    recorded_folds = written_split.get(splits.FOLDS_KEY, [])
    if recorded_folds:
        tested = "/".join(str(len(fold["test"])) for fold in recorded_folds)
        shown += f"; {len(recorded_folds)} folds tested on {tested} (data.fold=0..)"
    state = "written" if written else "unchanged"
    print(f"{target}: {state} ({shown}; {len(found.classes)} classes)")
    if not config.exists():
        write_config(found, written_split, config, project.root)
        print(f"{config.relative_to(project.root)}: written; review image_size and goal_error")


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("split", help="write data/<name>.split.json beside the data")
    command.add_argument("data_dir", type=Path, help="the dataset's folder, e.g. data/my_images")
    command.add_argument(
        "--pixel-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="image files: the stored values that map to 0 and 1 (default: the data config's "
        "pixel_range, else 0..255 for 8-bit and 0..65535 for 16-bit images; 32-bit need it)",
    )
    command.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="also write K stratified folds: data.fold=i tests on fold i and trains on the "
        "others (default: the existing split's folds, else none)",
    )
    arguments = parser.parse_args()
    try:
        project = Project.find(Path.cwd())  # the checkout this command is run in
        project.check_code()  # its own code splits, and its own configs/data/ gets the config
        split(arguments.data_dir, project, arguments.pixel_range, arguments.folds)
    except UserError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
