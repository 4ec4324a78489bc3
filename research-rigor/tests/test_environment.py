"""Each run records its environment; comparisons mark sides that ran in different ones."""

import copy
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from packaging.version import Version

from research_rigor import provenance
from research_rigor.experiments import compare
from research_rigor.experiments.environments import DIGEST_SHOWN, RUNTIME_DIFFER, differences
from research_rigor.experiments.runs import Plan, Run, Variant
from research_rigor.project import Project
from research_rigor.run_dirs import COMPLETED, METRICS_FILE

PROJECT = Project(Path("/project"), "probe")  # its declared metric: test/acc, val/acc
METRIC_VERSION = 3
SEEDS = (0, 1, 2)
CHANGED_PACKAGE = "numpy"
OTHER_VERSION = "0.0.1"
# What `pip install torch==2.13.0` from PyPI installs on Linux beside torch (its CUDA 13.0
# build: `torch.__version__` 2.13.0+cu130, its distribution metadata 2.13.0), as recorded.
CUDA_RUNTIME = {
    "cuda-bindings": "13.5.0",
    "cuda-pathfinder": "1.9.1",
    "cuda-toolkit": "13.0.3.0",
    "nvidia-cublas": "13.1.1.3",
    "nvidia-cuda-cupti": "13.0.85",
    "nvidia-cuda-nvrtc": "13.0.88",
    "nvidia-cuda-runtime": "13.0.96",
    "nvidia-cudnn-cu13": "9.20.0.48",
    "nvidia-cufft": "12.0.0.61",
    "nvidia-cufile": "1.15.1.6",
    "nvidia-curand": "10.4.0.35",
    "nvidia-cusolver": "12.0.4.66",
    "nvidia-cusparse": "12.6.3.3",
    "nvidia-cusparselt-cu13": "0.8.1",
    "nvidia-nccl-cu13": "2.29.7",
    "nvidia-nvjitlink": "13.5.37",
    "nvidia-nvshmem-cu13": "3.4.5",
    "nvidia-nvtx": "13.0.85",
    "triton": "3.7.1",
}
CPU_STACK = {"torch": "2.13.0+cpu"}, {"cuda": None, "cudnn": None}
CUDA_STACK = {"torch": "2.13.0", **CUDA_RUNTIME}, {"cuda": "13.0", "cudnn": 92000}


def public(version: str) -> str:
    """A version without its local label: torch's CUDA wheels from PyPI say `2.13.0+cu130` in
    `torch.__version__` and `2.13.0` in their distribution metadata, one release."""
    return Version(version).public


def test_a_local_version_label_is_the_same_release_and_another_release_is_not():
    assert public("2.13.0+cu130") == public("2.13.0") == public("2.13.0+cpu")
    assert public("2.13.1+cu130") != public("2.13.0")


def test_the_environment_lists_every_package_the_platform_and_the_torch_stack():
    found = provenance.environment()
    assert public(found["packages"]["torch"]) == public(torch.__version__)
    assert found["packages"]["hydra-core"] == metadata.version("hydra-core")
    names = {d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()}
    assert found["packages"].keys() == {name.replace(".", "-") for name in names}
    assert found["packages_digest"] == provenance.digest(found["packages"])
    assert found["digest"] == provenance.digest({k: v for k, v in found.items() if k != "digest"})
    assert found["python"]["version"] == platform.python_version()
    assert found["os"]["machine"] == platform.machine() and found["cpu"]["model"]
    assert found["torch"]["threads"] == torch.get_num_threads()
    assert found["torch"]["cuda"] == torch.version.cuda
    assert len(found["torch"]["gpus"]) == torch.cuda.device_count()


def with_package_version(environment: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    """The same environment with one package at another version, digests recomputed."""
    changed = copy.deepcopy(environment)
    changed["packages"][name] = version
    changed["packages_digest"] = provenance.digest(changed["packages"])
    del changed["digest"]
    return {"digest": provenance.digest(changed), **changed}


def with_torch_build(environment: dict[str, Any], build: tuple[dict, dict]) -> dict[str, Any]:
    """The same environment on another torch build (its packages and its torch stack), whatever
    build this one has, digests recomputed."""
    changed = copy.deepcopy(environment)
    packages, stack = build
    kept = {name: v for name, v in changed["packages"].items() if name not in CUDA_RUNTIME}
    changed["packages"] = dict(sorted((kept | packages).items()))
    changed["packages_digest"] = provenance.digest(changed["packages"])
    changed["torch"] |= stack
    del changed["digest"]
    return {"digest": provenance.digest(changed), **changed}


def write_run(directory: Path, seed: int, environment: dict[str, Any]) -> Run:
    """A run directory as train.py leaves it, reduced to what comparisons read."""
    directory.mkdir(parents=True)
    versions = {"metric_version": METRIC_VERSION, "data_version": "d1"}
    metrics = {"status": COMPLETED, PROJECT.metric: 0.9, PROJECT.monitor: 0.9, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "git_branch": "main", "profile": "fast"}
    record |= {"seed": seed, "environment": environment, **versions}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / provenance.RECORD_FILE).write_text(json.dumps(record))
    return Run.load(directory, PROJECT)


def what_ran(tmp_path: Path, baseline_env: dict, experiment_env: dict):
    results = {
        "baseline": [write_run(tmp_path / "b" / str(s), s, baseline_env) for s in SEEDS],
        "experiment": [write_run(tmp_path / "e" / str(s), s, experiment_env) for s in SEEDS],
    }
    variants = [Variant("baseline", "main"), Variant("experiment", "exp/change")]
    return compare.what_ran("compare", variants, results, Plan(PROJECT, SEEDS, "fast"))


def test_compare_marks_sides_whose_environments_differ_by_one_package(tmp_path):
    here = provenance.environment()
    there = with_package_version(here, CHANGED_PACKAGE, OTHER_VERSION)
    table = what_ran(tmp_path, here, there)

    env = table.columns.index("env")
    shown = [side["digest"][:DIGEST_SHOWN] for side in (here, there)]
    assert [row[env] for row in table.rows] == shown
    (note,) = [note for note in table.notes if "environments" in note]
    assert note.startswith("Different environments (marked, not refused)")
    current = here["packages"][CHANGED_PACKAGE]
    assert f": {CHANGED_PACKAGE} {current} vs {OTHER_VERSION})" in note  # that one, nothing else


def test_a_cpu_and_a_cuda_build_of_torch_differ_first_in_the_torch_stack(tmp_path):
    """PyPI's CUDA build brings NVIDIA's runtime as nineteen packages: they count as one
    difference, after the torch stack that names the build, so the note shows what differs."""
    here = provenance.environment()
    cpu, cuda = with_torch_build(here, CPU_STACK), with_torch_build(here, CUDA_STACK)
    found = differences(cpu, cuda)
    assert found[:3] == [
        "torch cuda None vs 13.0",
        "torch cudnn None vs 92000",
        f"{len(CUDA_RUNTIME)} {RUNTIME_DIFFER}",
    ]
    assert "torch 2.13.0+cpu vs 2.13.0" in found
    assert not [line for line in found if line.startswith(("nvidia-", "cuda-", "triton"))]

    (note,) = [note for note in what_ran(tmp_path, cpu, cuda).notes if "environments" in note]
    assert "torch cuda None vs 13.0; torch cudnn None vs 92000; 19 CUDA runtime" in note
    assert "torch 2.13.0+cpu vs 2.13.0" in note


def test_sides_from_one_environment_carry_no_mark(tmp_path):
    here = provenance.environment()
    assert not [note for note in what_ran(tmp_path, here, here).notes if "environments" in note]
