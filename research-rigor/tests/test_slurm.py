"""A SLURM job that no node of its partition could hold is named before it is submitted.

The launcher runs sinfo and squeue; these tests give research_rigor.slurm their output,
as SLURM writes it, and check the decision and its one line.
"""

import pytest

from research_rigor import slurm

# `sinfo --noheader --exact --format=%P|%D|%c|%m|%G` on a one-node cluster of 2 CPUs
ONE_SMALL_NODE = "local*|1|2|21694|(null)\n"
# ... and on a cluster with a default CPU partition and a GPU partition of two kinds
CLUSTER = (
    "cpu*|40|64|257000|(null)\n"
    "gpu|8|32|515000|gpu:a100:4(S:0-1)\n"
    "gpu|2|64|1030000|gpu:h100:8(S:0-1),mps:400\n"
)
# What slurm.yaml asked for before it was sized from the trainer: 4 CPUs and 32 GB.
OLD_DEFAULTS = {"partition": None, "nodes": 1, "tasks_per_node": 1, "cpus_per_task": 4}


def asking(**params) -> slurm.Request:
    found = slurm.request({**OLD_DEFAULTS, "mem_gb": 32, **params})
    assert found is not None
    return found


def test_the_old_defaults_never_fit_a_two_cpu_node_and_the_line_says_so():
    nodes = slurm.partition_nodes(ONE_SMALL_NODE, None)
    assert nodes == [slurm.Nodes("local", 1, 2, 21694, 0)]
    assert slurm.shortfall(asking(), nodes) == (
        "each job asks for 4 CPUs, 32 GB and no GPU per node, but partition local has 1 node "
        "with 2 CPUs, 21.2 GB and no GPU: ask for what a node has "
        "(hydra.launcher.cpus_per_task=2, hydra.launcher.mem_gb=21), or choose another "
        "partition (hydra.launcher.partition; sinfo lists them)"
    )


def test_what_a_node_has_fits():
    nodes = slurm.partition_nodes(ONE_SMALL_NODE, "local")
    assert slurm.shortfall(asking(cpus_per_task=2, mem_gb=21), nodes) is None
    assert slurm.shortfall(asking(cpus_per_task=1, mem_gb=None), nodes) is None  # its default


def test_cpus_count_per_task_on_every_task_of_the_node():
    nodes = slurm.partition_nodes(ONE_SMALL_NODE, "local")
    two_tasks = asking(cpus_per_task=2, tasks_per_node=2, mem_gb=1)
    assert two_tasks.cpus == 4
    assert "hydra.launcher.cpus_per_task=1" in slurm.shortfall(two_tasks, nodes)


def test_the_default_partition_is_the_one_sinfo_marks():
    nodes = slurm.partition_nodes(CLUSTER, None)
    assert [(group.partition, group.count) for group in nodes] == [("cpu", 40)]
    gpus = asking(gpus_per_node=4)
    assert "no GPU" in slurm.shortfall(gpus, nodes)  # the fix: no GPU, or another partition


def test_gpus_are_counted_from_the_gres_of_each_kind_of_node():
    nodes = slurm.partition_nodes(CLUSTER, "gpu")
    assert [(group.count, group.gpus) for group in nodes] == [(8, 4), (2, 8)]
    assert slurm.shortfall(asking(partition="gpu", gpus_per_node=8), nodes) is None
    too_many = slurm.shortfall(asking(partition="gpu", gpus_per_node=16), nodes)
    assert "16 GPUs per node" in too_many and "hydra.launcher.gpus_per_node=8" in too_many
    assert "2 nodes with 64 CPUs, 1005.9 GB and 8 GPUs; 8 nodes with 32 CPUs" in too_many


def test_a_job_of_more_nodes_than_can_hold_it_never_starts():
    nodes = slurm.partition_nodes(CLUSTER, "gpu")
    three = asking(partition="gpu", nodes=3, gpus_per_node=8)
    assert "per node on each of 3 nodes" in slurm.shortfall(three, nodes)
    assert "hydra.launcher.nodes=2" in slurm.shortfall(three, nodes)
    assert slurm.shortfall(asking(partition="gpu", nodes=10, gpus_per_node=4), nodes) is None


def test_memory_per_cpu_and_per_gpu_count_as_memory_per_node():
    assert asking(mem_gb=None, mem_per_cpu="8G").memory_mb == 4 * 8 * 1024
    assert asking(mem_gb=None, gpus_per_node=2, mem_per_gpu="1000").memory_mb == 2000
    assert asking(mem_gb=0.5).memory_mb == 512


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [("(null)", 0), ("gpu:4", 4), ("gpu:a100:4(S:0-1)", 4), ("gpu:a:2,gpu:b:2,mps:400", 4)],
)
def test_gres_strings_give_their_gpus(gres, gpus):
    assert slurm.gres_gpus(gres) == gpus


def test_what_cannot_be_read_is_left_to_slurm():
    # sinfo grouped nodes that differ ("2+"), or the partition is unknown: no judgement
    assert slurm.partition_nodes("local*|2|2+|21694|(null)\n", None) is None
    assert slurm.partition_nodes(ONE_SMALL_NODE, "gpu") is None
    # sbatch flags the model does not know
    assert slurm.request({**OLD_DEFAULTS, "additional_parameters": {"ntasks-per-node": 8}}) is None
    assert slurm.request({**OLD_DEFAULTS, "mem_per_cpu": "lots"}) is None


def test_pending_reasons_that_no_waiting_ends():
    assert "more than the partition's nodes have" in slurm.never_reason("PartitionConfig")
    assert slurm.never_reason("PartitionTimeLimit") is not None
    assert slurm.never_reason("Priority") is None
    assert slurm.never_reason("Resources") is None and slurm.judged_reason("Resources")
    assert slurm.judged_reason("ReqNodeNotAvail,_UnavailableNodes:node1")


def test_a_cpu_trainer_asks_little_and_a_gpu_trainer_one_gpu_per_device():
    assert slurm.cpus_per_task(0) == 1 and slurm.cpus_per_task("4") == 5
    assert slurm.mem_gb("cpu", 1) == slurm.CPU_PROCESS_MEM_GB
    assert slurm.mem_gb("gpu", "4") == 4 * slurm.GPU_PROCESS_MEM_GB
    assert slurm.gpus_per_node("cpu", 2) is None and slurm.gpus_per_node("gpu", "4") == 4


def watching(monkeypatch, pending: str, sinfo: str | None):
    """The project's launcher with SLURM's commands answered from strings, and the
    commands it ran."""
    from hydra_plugins.research_rigor_slurm import launcher

    ran: list[list[str]] = []
    answers = {launcher.QUEUE: pending, launcher.NODES: sinfo, launcher.CANCEL: ""}

    def query(command: list[str]) -> str | None:
        ran.append(command)
        return answers[command[0]]

    monkeypatch.setattr(launcher, "query", query)
    params = {**OLD_DEFAULTS, "partition": "local", "mem_gb": 1, "timeout_min": 240}
    return launcher, launcher.SlurmLauncher(**params), ran


def test_a_submitted_job_pending_for_a_reason_no_waiting_ends_is_cancelled(monkeypatch):
    launcher, watcher, ran = watching(
        monkeypatch, "7_0|PartitionConfig\n7_1|PartitionConfig\n", None
    )
    with pytest.raises(launcher.NeverStartsError) as raised:
        watcher.end_if_never(["7_0", "7_1"])
    assert str(raised.value) == (
        "error: SLURM would never start job 7_0 (pending: PartitionConfig, it asks for more "
        "than the partition's nodes have or its limits allow): each job asks for 4 CPUs, 1 GB "
        "and no GPU per node for 240 minutes (hydra.launcher.timeout_min); sinfo -N -l shows "
        "what the nodes of the partition have; the sweep's jobs were cancelled (scancel 7)."
    )
    assert ran[-1] == ["scancel", "7"]  # by id, once for the whole array


def test_a_job_waiting_for_resources_a_node_has_keeps_waiting(monkeypatch):
    _, watcher, ran = watching(monkeypatch, "7_0|Resources\n7_1|Priority\n", ONE_SMALL_NODE)
    watcher.params["cpus_per_task"] = 2
    watcher.end_if_never(["7_0", "7_1"])  # 2 CPUs asked of a busy 2-CPU node: it may come
    assert not any(command[0] == "scancel" for command in ran)


def test_a_job_waiting_for_resources_no_node_has_is_cancelled(monkeypatch):
    launcher, watcher, ran = watching(monkeypatch, "7_0|Resources\n", ONE_SMALL_NODE)
    watcher.params["cpus_per_task"] = 8
    with pytest.raises(launcher.NeverStartsError, match=r"pending: Resources, no node of the"):
        watcher.end_if_never(["7_0"])
    assert ran[-1] == ["scancel", "7"]
