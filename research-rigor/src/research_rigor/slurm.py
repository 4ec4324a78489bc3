"""What a SLURM job asks for, and whether any node of its partition could ever give it.

Free of torch, like run_dirs: Hydra resolves the launcher config before the
training code loads. The launcher (hydra_plugins.research_rigor_slurm) runs the
SLURM commands; this module only reads their output and decides, so that the
decision is tested without a cluster.
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

GPUS_RESOLVER = "slurm_gpus"
CPUS_RESOLVER = "slurm_cpus"
MEM_RESOLVER = "slurm_mem_gb"
GPU_ACCELERATORS = ("gpu", "cuda")
# Memory per training process: a CPU process of a small model needs little; a GPU
# process stages batches in host memory and pins it.
CPU_PROCESS_MEM_GB = 2
GPU_PROCESS_MEM_GB = 16

# `sinfo --exact` lists each partition's nodes, one line per distinct configuration:
# partition (the default one marked *), how many nodes, CPUs, memory in MB, GRES.
SINFO_FORMAT = "%P|%D|%c|%m|%G"
SINFO_FIELDS = 5
DEFAULT_MARK = "*"
MB_PER_GB = 1024  # SLURM's G
GRES_GPU = "gpu"
MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)B?$", re.IGNORECASE)
SHOWN_CONFIGURATIONS = 3  # a cluster's biggest kinds of node, in the one-line error
# Keys of the launcher's additional_parameters that change the request in ways this
# module does not model: with any of them, only SLURM itself judges the request.
UNMODELLED = frozenset(
    {
        "mem",
        "mem_per_cpu",
        "mem_per_gpu",
        "cpus_per_task",
        "cpus_per_gpu",
        "ntasks",
        "ntasks_per_node",
        "nodes",
        "gres",
        "gpus",
        "gpus_per_node",
        "gpus_per_task",
    }
)
# squeue's pending reasons that no amount of waiting ends (SLURM's "Resource Limits"
# and "Job Reason Codes" pages), and what each means for the sweep.
NEVER_REASONS = {
    "PartitionConfig": "it asks for more than the partition's nodes have or its limits allow",
    "PartitionNodeLimit": "it asks for more nodes than the partition has or allows",
    "PartitionTimeLimit": "its time limit (hydra.launcher.timeout_min) exceeds the partition's",
    "BadConstraints": "no node of the partition has the features it asks for",
}
# Pending reasons that mean "never" only when no node of the partition could hold the job;
# otherwise the job waits for nodes that are busy, down or reserved.
JUDGED_REASONS = ("Resources", "ReqNodeNotAvail")


@dataclass(frozen=True)
class Request:
    """What one job of the sweep asks of each of its nodes."""

    nodes: int
    tasks: int  # per node
    cpus: int  # per node
    memory_mb: float | None  # per node; None: the partition's default
    gpus: int  # per node
    partition: str | None  # None: the cluster's default partition


@dataclass(frozen=True)
class Nodes:
    """Nodes of a partition that share one configuration (one line of `sinfo --exact`)."""

    partition: str
    count: int
    cpus: int
    memory_mb: int
    gpus: int


def gpus_per_node(accelerator: str, devices: int | str) -> int | None:
    """One GPU per device when the trainer trains on GPUs, none otherwise: a CPU partition
    refuses any GPU request ("Invalid generic resource (gres) specification")."""
    return int(devices) if accelerator in GPU_ACCELERATORS else None


def cpus_per_task(num_workers: int | str) -> int:
    """The training process and its data-loading workers: a CPU each, and no more, so
    that a CPU trainer's job fits a small node (a job asking more CPUs than a node has
    never starts)."""
    return 1 + int(num_workers)


def mem_gb(accelerator: str, devices: int | str) -> int:
    """Host memory per node for one process per device (a few GB for a CPU trainer)."""
    per_process = GPU_PROCESS_MEM_GB if accelerator in GPU_ACCELERATORS else CPU_PROCESS_MEM_GB
    return per_process * int(devices)


def register_resolver() -> None:
    """The resolvers slurm.yaml uses to size a job from the trainer and data configs."""
    for name, resolver in (
        (GPUS_RESOLVER, gpus_per_node),
        (CPUS_RESOLVER, cpus_per_task),
        (MEM_RESOLVER, mem_gb),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


def memory_mb(value: Any) -> float | None:
    """A SLURM memory size in MB ("4G", "4000", 4000), or None when it is not one."""
    found = MEMORY.match(str(value).strip())
    if not found:
        return None
    return float(found.group(1)) * MEMORY_UNITS[found.group(2).upper() or "M"]


def gres_gpus(gres: str) -> int | None:
    """GPUs in a GRES string ("gpu:4", "gpu:a100:4(S:0-1),mps:400", "(null)"), or None
    when a count cannot be read."""
    total = 0
    for entry in gres.split(","):
        entry = entry.split("(", 1)[0].strip()  # "(null)", or "(S:0-1)" after a count
        if not entry:
            continue
        name, *rest = entry.split(":")
        if name != GRES_GPU:
            continue
        count = rest[-1] if rest else "1"
        if not count.isdigit():
            if len(rest) == 1:  # "gpu:a100": a type, one GPU
                count = "1"
            else:
                return None
        total += int(count)
    return total


def request(params: Mapping[str, Any]) -> Request | None:
    """What each job of the sweep asks of a node, from the launcher's resolved parameters
    (Hydra's submitit_slurm keys), or None when they cannot be judged here."""
    extra = {str(key).replace("-", "_") for key in params.get("additional_parameters") or {}}
    if extra & UNMODELLED:
        return None
    tasks = int(params.get("tasks_per_node") or 1)
    gres = gres_gpus(str(params["gres"])) if params.get("gres") else 0
    per_node = params.get("gpus_per_node")
    if isinstance(per_node, str):  # "a100:4"
        per_node = per_node.rsplit(":", 1)[-1]
    if gres is None or (per_node is not None and not str(per_node).isdigit()):
        return None
    gpus = max(int(per_node or 0), int(params.get("gpus_per_task") or 0) * tasks, gres)
    cpus = max(
        int(params.get("cpus_per_task") or 1) * tasks, int(params.get("cpus_per_gpu") or 0) * gpus
    )
    memories = []
    if params.get("mem_gb") is not None:
        memories.append(float(params["mem_gb"]) * MB_PER_GB)
    for key, count in (("mem_per_cpu", cpus), ("mem_per_gpu", gpus)):
        if params.get(key) is not None:
            per = memory_mb(params[key])
            if per is None:
                return None
            memories.append(per * count)
    return Request(
        nodes=int(params.get("nodes") or 1),
        tasks=tasks,
        cpus=cpus,
        memory_mb=max(memories) if memories else None,
        gpus=gpus,
        partition=params.get("partition") or None,
    )


def partition_nodes(sinfo: str, partition: str | None) -> list[Nodes] | None:
    """The nodes of the partition (a comma-separated list of them, or the default one for
    None) from `sinfo --noheader --exact --format=SINFO_FORMAT`; None when the output
    does not say (an unknown partition: sbatch refuses it in its own words)."""
    wanted = set(partition.split(",")) if partition else None
    groups = []
    for line in sinfo.splitlines():
        fields = line.strip().split("|")
        if len(fields) != SINFO_FIELDS:
            continue
        name, count, cpus, memory, gres = fields
        if wanted is None and not name.endswith(DEFAULT_MARK):
            continue
        if wanted is not None and name.rstrip(DEFAULT_MARK) not in wanted:
            continue
        gpus = gres_gpus(gres)
        if not (count.isdigit() and cpus.isdigit() and memory.isdigit()) or gpus is None:
            return None  # "2+": sinfo grouped nodes that differ; do not guess
        groups.append(Nodes(name.rstrip(DEFAULT_MARK), int(count), int(cpus), int(memory), gpus))
    return groups or None


def holds(nodes: Nodes, asked: Request) -> bool:
    memory_fits = asked.memory_mb is None or asked.memory_mb <= nodes.memory_mb
    return asked.cpus <= nodes.cpus and memory_fits and asked.gpus <= nodes.gpus


def gigabytes(mb: float) -> str:
    return f"{round(mb / MB_PER_GB, 1):g} GB"


def offer(cpus: int, memory: float | None, gpus: int) -> str:
    """ "4 CPUs, 32 GB and no GPU" """
    parts = [f"{cpus} CPU{'s' * (cpus != 1)}"]
    if memory is not None:
        parts.append(gigabytes(memory))
    gpu_part = f"{gpus} GPU{'s' * (gpus != 1)}" if gpus else "no GPU"
    return f"{', '.join(parts)} and {gpu_part}"


def shortfall(asked: Request, groups: Sequence[Nodes]) -> str | None:
    """Why no node of the partition can ever hold the job, naming the request, what the
    nodes have and the overrides that fit; None when enough nodes could."""
    able = sum(group.count for group in groups if holds(group, asked))
    if able >= asked.nodes:
        return None
    names = sorted({group.partition for group in groups})
    where = f"partition{'s' * (len(names) > 1)} {','.join(names)}"
    many = f" on each of {asked.nodes} nodes" if asked.nodes > 1 else ""
    biggest = sorted(groups, key=lambda g: (g.gpus, g.cpus, g.memory_mb), reverse=True)
    kinds = [
        f"{g.count} node{'s' * (g.count != 1)} with {offer(g.cpus, g.memory_mb, g.gpus)}"
        for g in biggest[:SHOWN_CONFIGURATIONS]
    ]
    if len(biggest) > SHOWN_CONFIGURATIONS:
        kinds.append(f"{len(biggest) - SHOWN_CONFIGURATIONS} other kinds of node")
    fixes = []
    most_cpus = max(g.cpus for g in groups)
    most_memory = max(g.memory_mb for g in groups)
    most_gpus = max(g.gpus for g in groups)
    if asked.cpus > most_cpus and most_cpus >= asked.tasks:
        fixes.append(f"hydra.launcher.cpus_per_task={most_cpus // asked.tasks}")
    if asked.memory_mb is not None and asked.memory_mb > most_memory:
        fixes.append(f"hydra.launcher.mem_gb={max(1, math.floor(most_memory / MB_PER_GB))}")
    if asked.gpus > most_gpus:
        fixes.append(f"hydra.launcher.gpus_per_node={most_gpus}" if most_gpus else "no GPU")
    if not fixes and 0 < able < asked.nodes:
        fixes.append(f"hydra.launcher.nodes={able}")
    fix = f"ask for what a node has ({', '.join(fixes)})" if fixes else "ask for less"
    return (
        f"each job asks for {offer(asked.cpus, asked.memory_mb, asked.gpus)} per node{many}, "
        f"but {where} has {'; '.join(kinds)}: {fix}, or choose another partition "
        "(hydra.launcher.partition; sinfo lists them)"
    )


def never_reason(reason: str) -> str | None:
    """What a pending reason means when it is one that no waiting ends, else None."""
    return NEVER_REASONS.get(reason.split(",", 1)[0])


def judged_reason(reason: str) -> bool:
    """A pending reason that means "never" only if no node could hold the job."""
    return reason.split(",", 1)[0] in JUDGED_REASONS
