"""Slow tier: the default bake's SLURM path on a real one-node SLURM cluster on this machine.

munge, slurmctld and slurmd start once for the module from the bake's own
`scripts/local_slurm.sh` (what a user runs to try SLURM on a laptop), with their
config and state in a temporary directory and ports of their own; the commands
below are the ones docs/scaling-out.md shows. Needs Debian's slurm-wlm and munge
(`make test` installs them) and root, or passwordless sudo as on GitHub's runners: the
script starts the daemons with sudo and the jobs run as the user who runs the tests.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TEMPLATE, run

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's package
SCRIPT = Path("scripts") / "local_slurm.sh"
# The config's own sizes (1 CPU and 2 GB a CPU process) fit the local cluster's node.
ON_LOCAL_CLUSTER = ("hydra/launcher=slurm", "hydra.launcher.partition=local")
FAST = ("+profile=fast", "logger.mode=offline")
PREEMPTED_EPOCHS = "8"  # long enough that the signal lands while it trains
WAIT_S = 180  # for a job to write its first checkpoint or to finish
POLL_S = 0.2
START_S = 120  # the script gives up after 60 s without an idle node, then stops the daemons
IDLE_S = 30  # for sinfo to show the node idle once the script has returned
SINFO_S = 10  # one sinfo call, which retries a controller that does not answer
COMPARED = ("val/acc", "test/acc", "test/loss", "epochs", "global_step")
NEVER_S = 60  # a job no node could hold ends the sweep within this
MB_PER_GB = 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def repo(cookies_session) -> Path:
    """A fresh default bake (run from its own src/, not installed), its data prepared once
    so that the jobs only read them."""
    result = cookies_session.bake(template=str(TEMPLATE))
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    command = [sys.executable, "-m", f"{PACKAGE}.data.digits", "data/digits"]
    run(command, project, env=environment(project))
    return project


@pytest.fixture(scope="module")
def cluster(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A one-node cluster for the module, from the bake's script: the path of its slurm.conf."""
    if not shutil.which("sbatch"):
        pytest.fail("SLURM is not installed: apt-get install slurm-wlm munge (`make test` does)")
    if os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], check=False).returncode:
        pytest.fail("the SLURM daemons need root: run as root or as a user with passwordless sudo")
    state = tmp_path_factory.mktemp("slurm")
    script = str(repo / SCRIPT)
    ports = {"SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    try:
        started = bounded(["bash", script, "start", str(state)], repo, {**os.environ, **ports})
        if started.returncode:
            pytest.fail(f"the local SLURM cluster did not start: {last_line(started.stderr)}")
        wait_until_idle(state / "slurm.conf")
        yield state / "slurm.conf"
    finally:
        stopped = bounded(["bash", script, "stop", str(state)], repo, dict(os.environ))
        assert stopped.returncode == 0, f"stopping the cluster: {last_line(stopped.stderr)}"
    assert not (state / "pids").exists()


def bounded(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The script, which waits for the cluster itself; a start that hangs fails in one line."""
    try:
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=START_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command)}` did not return within {START_S} s")


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"


def wait_until_idle(slurm_conf: Path) -> None:
    """The node accepts jobs: sinfo shows it idle within IDLE_S, or the module fails in one line."""
    env = {**os.environ, "SLURM_CONF": str(slurm_conf)}
    command = ["sinfo", "--noheader", "--format=%t"]
    deadline = time.monotonic() + IDLE_S
    state = ""
    while state != "idle":
        if time.monotonic() > deadline:
            logs = slurm_conf.parent / "log"
            pytest.fail(f"the local SLURM node is {state or 'unknown'} after {IDLE_S} s: {logs}")
        time.sleep(POLL_S)
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=SINFO_S, check=False
            )
            state = done.stdout.strip()
        except subprocess.TimeoutExpired:
            state = "not answering"


def environment(repo: Path, slurm_conf: Path | None = None) -> dict[str, str]:
    """The copy's code first on the path, one thread per run, and the cluster's config."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("WANDB_MODE", None)
    return {**env, "SLURM_CONF": str(slurm_conf)} if slurm_conf else env


def train(repo: Path, cluster: Path, *overrides: str, check: bool = True):
    command = [sys.executable, "train.py", *overrides]
    return run(command, repo, check=check, env=environment(repo, cluster))


def slurm(cluster: Path, *command: str) -> str:
    return run(list(command), Path.cwd(), env={**os.environ, "SLURM_CONF": str(cluster)}).stdout


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "provenance.json").read_text())


def test_the_local_cluster_runs_a_two_task_job(cluster):
    assert slurm(cluster, "sinfo", "--noheader", "--format=%P %t").split() == ["local*", "idle"]
    tasks = slurm(cluster, "srun", "--ntasks=2", "printenv", "SLURM_PROCID").split()
    assert sorted(tasks) == ["0", "1"]


def test_a_sweep_runs_each_seed_as_its_own_slurm_job(repo, cluster, tmp_path):
    sweep = tmp_path / "sweep"
    train(repo, cluster, "-m", *ON_LOCAL_CLUSTER, "seed=0,1", *FAST, f"hydra.sweep.dir={sweep}")
    jobs = sorted(path.parent for path in sweep.glob("*/provenance.json"))
    assert [record(job)["seed"] for job in jobs] == [0, 1]
    for job in jobs:
        assert metrics(job)["status"] == "completed"
        assert len(list(job.glob("wandb/offline-run-*"))) == 1
    # Two SLURM jobs (tasks of one job array), each with its own log.
    logs = sorted(path.name for path in sweep.glob(".submitit/*/*_log.err"))
    assert len(logs) == 2 and logs[0] != logs[1]


def test_experiments_seeds_on_slurm_give_the_local_numbers(repo, cluster, tmp_path):
    results = {}
    for where, launcher in (("local", ()), ("slurm", ON_LOCAL_CLUSTER)):
        out = tmp_path / where
        command = [sys.executable, "-m", "research_rigor", "seeds", "--seeds", "2"]
        common = ["--common", "logger.mode=disabled", *launcher]
        run([*command, "--out", str(out), *common], repo, env=environment(repo, cluster))
        results[where] = json.loads((out / "seeds.json").read_text())
    local, on_slurm = results["local"], results["slurm"]
    assert [r["test/acc"] for r in on_slurm["runs"]] == [r["test/acc"] for r in local["runs"]]
    assert on_slurm["summary"] == local["summary"]
    assert list((tmp_path / "slurm").rglob(".submitit"))  # it did go through SLURM


def test_a_two_task_ddp_job_trains_one_run(repo, cluster, tmp_path):
    sweep = tmp_path / "ddp"
    train(
        repo, cluster, "-m", *ON_LOCAL_CLUSTER, "trainer=ddp_sim", *FAST, f"hydra.sweep.dir={sweep}"
    )
    (run_dir,) = [path for path in sweep.iterdir() if path.name != ".submitit" and path.is_dir()]
    assert len(list(sweep.rglob("provenance.json"))) == 1
    assert len(list(run_dir.glob("wandb/offline-run-*"))) == 1
    # SLURM started both processes (Lightning's SLURMEnvironment), Lightning started none.
    logs = (run_dir / "train.log").read_text()  # Hydra's job log: both tasks write to it
    assert "MEMBER: 1/2" in logs and "MEMBER: 2/2" in logs
    assert "SLURM auto-requeueing enabled" in logs
    assert len(list(sweep.glob(".submitit/*/*_log.err"))) == 2  # one job, two tasks
    # Each task tested half of the split: together, what one process measures.
    out = tmp_path / "evaluated"
    best = run_dir / "checkpoints" / "best.ckpt"
    run([sys.executable, "evaluate.py", str(best), "--out", str(out)], repo, env=environment(repo))
    evaluated = json.loads((out / "metrics.json").read_text())
    assert metrics(run_dir)["test/acc"] == pytest.approx(evaluated["test/acc"])


def wait_for(path: Path, job: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert job.poll() is None, f"the sweep ended before {path} was written"
        assert time.monotonic() < deadline, f"no {path} after {WAIT_S} s"
        time.sleep(POLL_S)


def test_a_preempted_job_requeues_and_ends_with_the_uninterrupted_numbers(repo, cluster, tmp_path):
    longer = ("seed=0", f"trainer.max_epochs={PREEMPTED_EPOCHS}", "logger.mode=disabled")
    sweep = tmp_path / "preempted"
    command = [sys.executable, "train.py", "-m", *ON_LOCAL_CLUSTER, "+profile=fast", *longer]
    log = tmp_path / "sweep.log"
    with log.open("w") as output:
        job = subprocess.Popen(
            [*command, f"hydra.sweep.dir={sweep}"],
            cwd=repo,
            env=environment(repo, cluster),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            run_dir = sweep / "0_cnn_s0"
            wait_for(run_dir / "checkpoints" / "last.ckpt", job)
            (job_id,) = slurm(cluster, "squeue", "--noheader", "--format=%i").split()
            slurm(cluster, "scancel", "--signal=USR2", job_id)  # what SLURM sends before the limit
            assert job.wait(timeout=WAIT_S) == 0, log.read_text()[-3000:]
        finally:
            if job.poll() is None:
                job.kill()
    job_log = (run_dir / "train.log").read_text()
    assert "this job is preempted" in job_log and "Requeued job" in job_log
    assert f"Restored all states from the checkpoint at {run_dir}/checkpoints/last.ckpt" in job_log
    assert "Restarts=1" in slurm(cluster, "scontrol", "show", "job", job_id)

    before = set((repo / "outputs" / "runs").glob("*"))
    train(repo, cluster, "+profile=fast", *longer)  # the same run, uninterrupted, no SLURM
    (uninterrupted,) = set((repo / "outputs" / "runs").glob("*")) - before
    resumed, reference = metrics(run_dir), metrics(uninterrupted)
    assert {key: resumed[key] for key in COMPARED} == {key: reference[key] for key in COMPARED}


def last_error(done: subprocess.CompletedProcess) -> str:
    """The command's last line on stderr, after checking it failed without a traceback."""
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


def test_an_unknown_partition_is_one_line(repo, cluster):
    launcher = (*ON_LOCAL_CLUSTER, "hydra.launcher.partition=gpu")
    done = train(repo, cluster, "-m", *launcher, *FAST, check=False)
    assert last_error(done) == (
        "error: SLURM refused the jobs: Batch job submission failed: Invalid partition name "
        "specified (partition: gpu; SLURM_CONF and sinfo show the cluster); nothing was "
        "submitted."
    )


def test_an_unreachable_controller_is_one_line(repo, cluster, tmp_path):
    elsewhere = tmp_path / "slurm.conf"  # the same cluster, on a port nothing listens on
    port = next(line for line in cluster.read_text().splitlines() if "SlurmctldPort" in line)
    elsewhere.write_text(cluster.read_text().replace(port, f"SlurmctldPort={free_port()}"))
    done = train(repo, elsewhere, "-m", *ON_LOCAL_CLUSTER, *FAST, check=False)
    assert last_error(done).startswith(
        "error: SLURM refused the jobs: Batch job submission failed: Unable to contact slurm "
        "controller (connect failure)"
    )


def test_no_slurm_installed_is_one_line(repo, cluster):
    command = [sys.executable, "train.py", "-m", *ON_LOCAL_CLUSTER, *FAST]
    env = {**environment(repo, cluster), "PATH": str(repo / "no-slurm-here")}
    done = run(command, repo, check=False, env=env)
    assert last_error(done).startswith("error: SLURM is not installed here (sbatch is not on PATH)")


def test_a_job_that_fails_on_its_node_is_one_line_naming_its_log(repo, cluster, tmp_path):
    sweep = tmp_path / "failing"
    overrides = ("-m", *ON_LOCAL_CLUSTER, "+profile=fast", "logger.mode=typo")
    done = train(repo, cluster, *overrides, f"hydra.sweep.dir={sweep}", check=False)
    message = last_error(done)
    assert message.startswith("error: SLURM job ")
    assert "failed on its node: logger.mode='typo': choose one of" in message
    log = Path(message.split("its log: ")[1].split(" (")[0])
    assert log.is_file() and log.is_relative_to(sweep / ".submitit")
    assert "logger.mode='typo'" in log.read_text()


def node(cluster: Path) -> tuple[int, int]:
    """The local node's CPUs and memory in MB, as sinfo tells them."""
    cpus, memory_mb = slurm(cluster, "sinfo", "--noheader", "--format=%c %m").split()
    return int(cpus), int(memory_mb)


def timed_failure(repo: Path, cluster: Path, *overrides: str, path: str | None = None):
    """The sweep's last error line and its seconds, after checking it left no job behind."""
    env = environment(repo, cluster)
    if path is not None:
        env["PATH"] = path
    command = [sys.executable, "train.py", "-m", *ON_LOCAL_CLUSTER, *FAST, *overrides]
    started = time.monotonic()
    done = run(command, repo, check=False, env=env)
    seconds = time.monotonic() - started
    assert slurm(cluster, "squeue", "--noheader").strip() == ""  # nothing left pending
    return last_error(done), seconds


def test_a_job_no_node_could_hold_is_refused_in_one_line_before_submitting(repo, cluster, tmp_path):
    cpus, memory_mb = node(cluster)
    too_much = (cpus + 2, memory_mb // MB_PER_GB + 8)  # more CPUs and more memory than it has
    sweep = tmp_path / "too-big"
    message, seconds = timed_failure(
        repo,
        cluster,
        f"hydra.launcher.cpus_per_task={too_much[0]}",
        f"hydra.launcher.mem_gb={too_much[1]}",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
    )
    print(f"refused in {seconds:.1f} s: {message}")
    assert seconds < NEVER_S
    offer = f"{cpus} CPUs, {round(memory_mb / MB_PER_GB, 1):g} GB and no GPU"
    assert message == (
        f"error: SLURM would never start these jobs: each job asks for {too_much[0]} CPUs, "
        f"{too_much[1]} GB and no GPU per node, but partition local has 1 node with {offer}: "
        f"ask for what a node has (hydra.launcher.cpus_per_task={cpus}, "
        f"hydra.launcher.mem_gb={memory_mb // MB_PER_GB}), or choose another partition "
        "(hydra.launcher.partition; sinfo lists them); nothing was submitted."
    )
    assert not (sweep / ".submitit").exists()


def test_a_submitted_job_that_would_never_start_is_cancelled_within_a_minute(
    repo, cluster, tmp_path
):
    """Where sinfo cannot judge the request (here it fails), the job pends with reason
    PartitionConfig: the sweep cancels it and ends in one line instead of waiting."""
    no_sinfo = tmp_path / "no-sinfo"
    no_sinfo.mkdir()
    (no_sinfo / "sinfo").write_text("#!/bin/sh\necho 'sinfo: error: not here' >&2\nexit 1\n")
    (no_sinfo / "sinfo").chmod(0o755)
    cpus, _ = node(cluster)
    message, seconds = timed_failure(
        repo,
        cluster,
        f"hydra.launcher.cpus_per_task={cpus + 2}",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path / 'pending'}",
        path=f"{no_sinfo}:{os.environ['PATH']}",
    )
    print(f"cancelled in {seconds:.1f} s: {message}")
    assert seconds < NEVER_S
    assert message.startswith("error: SLURM would never start job ")
    assert "(pending: PartitionConfig, it asks for more than the partition's nodes have" in message
    assert f"each job asks for {cpus + 2} CPUs, 2 GB and no GPU per node for 240 minutes" in message
    assert "; the sweep's jobs were cancelled (scancel " in message
