#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try the project's SLURM path on a laptop
# (and the template's tests use it). Needs Debian/Ubuntu's `slurm-wlm` and `munge`
# packages, and root: SLURM runs its jobs as root here, on the loopback address only.
#
#   sudo scripts/local_slurm.sh start /tmp/slurm   # munge, slurmctld, slurmd; waits for `idle`
#   export SLURM_CONF=/tmp/slurm/slurm.conf        # what sbatch, srun, squeue, sinfo read
#   sudo scripts/local_slurm.sh stop /tmp/slurm    # cancels its jobs, stops what start started
#
# Everything (config, state, logs, the munge key) lives in the given directory; the
# processes started are listed in <dir>/pids and stopped by those ids alone.
# SLURMCTLD_PORT and SLURMD_PORT choose other ports than SLURM's usual 6817 and 6818.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"  # where Debian puts the daemons
PARTITION=local
READY_SECONDS=60  # slurmd registers within seconds; this is the give-up point
STOP_SECONDS=30  # for cancelled jobs to end (SIGKILL comes KillWait=5 s after SIGTERM)

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
command=$1
dir=$(realpath -m "$2")

start() {
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || {
            echo "error: $tool is not installed: apt-get install slurm-wlm munge" >&2
            exit 1
        }
    done
    if [[ -s $dir/pids ]]; then
        echo "error: $dir/pids exists: a cluster may run there ($0 stop $dir first)" >&2
        exit 1
    fi
    mkdir -p "$dir"/{munge,state,spool,log}
    chmod 711 "$dir/munge"  # clients reach the socket; only root reads the key
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"

    local host cpus memory_mb
    host=$(hostname -s)
    cpus=$(nproc)
    memory_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
    cat >"$dir/slurm.conf" <<CONF
# Written by $0: one node, $host, on the loopback address.
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again after 10 s (SLURM's default: 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups: jobs are tracked through /proc, which works in containers too.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# The node as declared here, whatever slurmd detects (containers report oddly).
SlurmdParameters=config_overrides
ReturnToService=2
# A requeued or cancelled job's processes get 5 s between SIGTERM and SIGKILL.
KillWait=5
# Finished jobs stay known for an hour (squeue, scontrol show job): there is no accounting.
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$dir/slurm.conf

    munged --foreground --force --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" \
        </dev/null >>"$dir/log/munged.out" 2>&1 &
    echo "$!" >>"$dir/pids"
    # In the foreground (-D) so that $! is their own id; their output is in the logs too.
    slurmctld -D -i </dev/null >/dev/null 2>&1 &
    echo "$!" >>"$dir/pids"
    slurmd -D -N "$host" </dev/null >/dev/null 2>&1 &
    echo "$!" >>"$dir/pids"

    local waited=0
    until [[ $(sinfo --noheader --partition="$PARTITION" --format=%t 2>/dev/null) == idle ]]; do
        if ((waited++ >= READY_SECONDS)); then
            echo "error: the node is not idle after ${READY_SECONDS}s; logs in $dir/log" >&2
            stop
            exit 1
        fi
        sleep 1
    done
    echo "SLURM runs: export SLURM_CONF=$SLURM_CONF (partition $PARTITION, $cpus CPUs)"
}

stop() {
    [[ -f $dir/pids ]] || return 0
    export SLURM_CONF=$dir/slurm.conf
    local jobs
    jobs=$(squeue --noheader --format=%A 2>/dev/null) || true
    [[ -z $jobs ]] || scancel --full $jobs 2>/dev/null || true
    # slurmd relays the cancel to the jobs' processes: it stops once they are gone.
    local waited=0
    while [[ -n $jobs && $waited -lt $STOP_SECONDS ]]; do
        sleep 1
        waited=$((waited + 1))
        jobs=$(squeue --noheader --format=%A 2>/dev/null) || jobs=""
    done
    local pids
    pids=$(tac "$dir/pids")  # slurmd, slurmctld, then munged
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$dir/pids"
}

case $command in
start) start ;;
stop) stop ;;
*) usage ;;
esac
