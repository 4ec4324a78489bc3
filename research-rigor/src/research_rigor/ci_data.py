"""CI's data step: pull every dataset tracked with `dvc add`, so the tests run on it.

Without this step, a clone holds no data and every data-driven test skips: CI would stay
green without ever seeing the data the project trains on. So each `.dvc` file in the
checkout (`data/<name>.dvc`) is pulled from its DVC remote, and a dataset that cannot be
pulled fails the step in one line naming the dataset, the remote and the fix. A dataset
config (`<config folder>/data/<name>.yaml` with a `data_dir` key) whose folder is neither
in the checkout, tracked, nor made by a `dvc.yaml` stage fails the same way. Outputs of
`dvc.yaml` stages are made by code, so they need no remote.

The workflow's env sets DATA_IN_CI to "false" to skip all this: the tests of these
datasets then skip, as they do on a clone before `dvc pull`.

    research-rigor ci-data
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from research_rigor.errors import UserError
from research_rigor.project import Project

SWITCH = "DATA_IN_CI"  # the opt-out, set in the workflow's env
ON, OFF = "true", "false"
WORKFLOW = ".github/workflows/ci.yml"  # where a generated project sets the switch
DATA_GROUP = "data"  # the config group whose options name a dataset's folder
DATA_DIR_KEY = "data_dir"
MISSING_FILES = "Missing cache files"  # DVC's warning when the remote lacks the files
INTERPOLATION = "${"  # a Hydra value resolved at run time, not a path to check here
DVC_ERROR = re.compile(r"^ERROR:\s*(.*?):?\s*$", re.MULTILINE)
FIX = (
    "push it to storage CI can reach and give CI its credentials as repository secrets "
    f'(README: "Data in CI"), or set {SWITCH}: "{OFF}" in {WORKFLOW} to run CI without it'
)


@dataclass(frozen=True)
class Dataset:
    """A folder `dvc add` tracks, and the remote it is pushed to."""

    dvc_file: str  # relative to the project root, e.g. data/<name>.dvc
    path: str  # the folder or file it tracks, e.g. data/<name>
    remote: str  # its DVC remote's name ("" when none is configured)
    url: str  # that remote's location


def relative(path: str | Path, root: Path) -> str:
    """A path as the project names it, whatever the working directory."""
    return Path(os.path.relpath(path, root)).as_posix()


def opted_in() -> bool:
    """Whether CI pulls the data: DATA_IN_CI is "true" (or unset) or "false"."""
    value = os.environ.get(SWITCH, ON).strip().lower()
    if value not in (ON, OFF):
        raise UserError(f'{SWITCH}={value!r}: set it to "{ON}" or "{OFF}" in {WORKFLOW}')
    return value == ON


def tracked(root: Path) -> tuple[list[Dataset], set[str]]:
    """The datasets of the `.dvc` files (`dvc add`, `dvc import`), and the paths that
    `dvc.yaml` stages write (made by code, so not pulled)."""
    from dvc.repo import Repo  # DVC loads in seconds: only this step needs it
    from dvc.stage import PipelineStage

    datasets, made = [], set()
    with Repo(str(root)) as repo:
        default = repo.config["core"].get("remote", "")
        remotes = repo.config["remote"]
        for stage in repo.index.stages:
            for out in stage.outs:
                path = relative(out.fs_path, root)
                if isinstance(stage, PipelineStage):
                    made.add(path)
                    continue
                remote = out.remote or default
                url = remotes.get(remote, {}).get("url", "")
                datasets.append(Dataset(relative(stage.path, root), path, remote, url))
    return sorted(datasets, key=lambda dataset: dataset.path), made


def local(url: str) -> bool:
    """A remote in a folder (no scheme such as s3://): on the machine that pushed only."""
    return "://" not in url or url.startswith("file://")


def pull(dataset: Dataset, root: Path) -> str | None:
    """Pull one dataset with DVC's own command; None when done, else why not (one line)."""
    command = [sys.executable, "-m", "dvc", "pull", dataset.dvc_file]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    output = done.stdout + done.stderr
    if MISSING_FILES in output:
        return "its files are not there (never pushed, or the remote is out of reach)"
    errors = DVC_ERROR.findall(output)
    return " ".join(errors[0].split()) if errors else f"`dvc pull` exited {done.returncode}"


def failure(dataset: Dataset, why: str) -> str:
    """The one line that names the dataset, the remote and the fix."""
    if not dataset.remote:
        where = "no DVC remote is configured"
    else:
        folder = ", a folder on the machine that pushed" if local(dataset.url) else ""
        where = f"DVC remote '{dataset.remote}' ({dataset.url}{folder}): {why}"
    return f"error: {dataset.path} ({dataset.dvc_file}) cannot be pulled in CI, {where}. Fix: {FIX}"


def unprovided(project: Project, datasets: list[Dataset], made: set[str]) -> list[str]:
    """One line per dataset config whose folder is absent, untracked and made by no stage."""
    root = project.root
    covered = made | {dataset.path for dataset in datasets}
    lines = []
    for config in sorted((project.config_dir / DATA_GROUP).glob("*.yaml")):
        settings = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
        data_dir = settings.get(DATA_DIR_KEY) if isinstance(settings, dict) else None
        if not isinstance(data_dir, str) or INTERPOLATION in data_dir:
            continue  # none, or one Hydra resolves at run time
        if relative(root / data_dir, root) in covered or (root / data_dir).exists():
            continue
        lines.append(
            f"error: {relative(config, root)}: {data_dir} is neither in the checkout nor "
            f"tracked by DVC. Fix: `dvc add {data_dir}`, commit {data_dir}.dvc and "
            f'`dvc push`, or set {SWITCH}: "{OFF}" in {WORKFLOW} to run CI without it'
        )
    return lines


def run(project: Project) -> None:
    """Pull every tracked dataset; print what was pulled, and exit 1 with one line per
    dataset that could not be."""
    switched_on = opted_in()
    datasets, made = tracked(project.root)
    names = ", ".join(dataset.path for dataset in datasets) or "none"
    if not switched_on:
        print(f'{SWITCH} is "{OFF}": not pulling the datasets DVC tracks ({names})')
        return
    failures = unprovided(project, datasets, made)
    for dataset in datasets:
        why = pull(dataset, project.root) if dataset.remote else "no remote"
        if why is None:
            print(f"{dataset.path}: pulled from DVC remote '{dataset.remote}' ({dataset.url})")
        else:
            failures.append(failure(dataset, why))
    if not datasets:
        print("no datasets tracked with `dvc add` (data/<name>.dvc): nothing to pull")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
