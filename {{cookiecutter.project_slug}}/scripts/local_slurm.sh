#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try the project's SLURM path on a laptop
# (and the template's tests use it). Needs Debian/Ubuntu's `slurm-wlm` and `munge`
# packages. Run it as yourself: the three daemons run as root (through sudo when you are
# not root; SLURM needs root to start jobs as their user), on the loopback address only,
# and your jobs run as you.
#
#   scripts/local_slurm.sh start /tmp/slurm        # munge, slurmctld, slurmd; waits for `idle`
#   export SLURM_CONF=/tmp/slurm/slurm.conf        # what sbatch, srun, squeue, sinfo read
#   scripts/local_slurm.sh stop /tmp/slurm         # cancels its jobs, stops what start started
#
# Everything (config, state, logs, the munge key) lives in the given directory; the
# processes started are listed in <dir>/pids and stopped by those ids alone, and stop
# gives what root wrote there back to you. SLURMCTLD_PORT and SLURMD_PORT choose other
# ports than SLURM's usual 6817 and 6818.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"  # where Debian puts the daemons
PARTITION=local
READY_SECONDS=60  # slurmd registers within seconds; this is the give-up point
SINFO_SECONDS=5   # one `sinfo` call, which retries a controller that does not answer
PID_SECONDS=10    # for a started daemon to write its id
STOP_SECONDS=30   # for cancelled jobs to end (SIGKILL comes KillWait=5 s after SIGTERM)

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

fail() {
    echo "error: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || usage
command=$1
dir=$(realpath -m "$2")
owner="$(id -u):$(id -g)"

# Root's commands: directly as root, through sudo otherwise (sudo resets the environment,
# so each command is given SLURM_CONF itself).
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -- "$@"; fi
}

# Start the daemon NAME (the command after it) as root, in the background of this script,
# its output in $dir/log/NAME.out, and append its own id (not sudo's) to $dir/pids.
launch() {
    local name=$1 before
    shift
    before=$(pid_count)
    as_root bash -c 'echo $$ >>"$0" && exec "${@:2}" >>"$1" 2>&1' \
        "$dir/pids" "$dir/log/$name.out" "$@" </dev/null >/dev/null 2>&1 &
    local deadline=$((SECONDS + PID_SECONDS))
    until (($(pid_count) > before)); do
        ((SECONDS < deadline)) || fail "$name did not start within ${PID_SECONDS}s"
        sleep 0.1
    done
}

pid_count() {
    if [[ -f $dir/pids ]]; then wc -l <"$dir/pids"; else echo 0; fi
}

running() {
    [[ -d /proc/$1 ]]
}

# The first daemon that has exited, if any.
exited() {
    local name pid index=0
    for name in munged slurmctld slurmd; do
        index=$((index + 1))
        pid=$(sed -n "${index}p" "$dir/pids" 2>/dev/null)
        if [[ -n $pid ]] && ! running "$pid"; then
            echo "$name"
            return
        fi
    done
}

start() {
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || fail "$tool is not installed: apt-get install slurm-wlm munge"
    done
    [[ ! -s $dir/pids ]] || fail "$dir/pids exists: a cluster may run there ($0 stop $dir first)"
    if [[ $EUID -ne 0 ]]; then
        sudo -v 2>/dev/null || fail "the daemons run as root: run $0 as root or with sudo rights"
    fi
    mkdir -p "$dir"/{state,spool,log}
    trap '(($? == 0)) || stop' EXIT  # a start that fails stops what it started
    # The key is root's alone; clients reach the socket through the folder.
    as_root bash -c 'umask 077 && mkdir -p "$0" && chmod 711 "$0" &&
        dd if=/dev/urandom of="$0/munge.key" bs=1024 count=1 status=none' "$dir/munge"

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
# The daemons run as root (sudo); each job runs as the user who submitted it.
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

    launch munged munged --foreground --force --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log"
    # In the foreground (-D) so that the recorded id is their own.
    launch slurmctld env SLURM_CONF="$SLURM_CONF" slurmctld -D -i
    launch slurmd env SLURM_CONF="$SLURM_CONF" slurmd -D -N "$host"

    local deadline=$((SECONDS + READY_SECONDS)) state="" gone
    until [[ $state == idle ]]; do
        gone=$(exited)
        [[ -z $gone ]] || fail "$gone exited at start: see $dir/log/$gone.*"
        ((SECONDS < deadline)) || fail "the node is ${state:-unknown to sinfo}, not idle," \
            "after ${READY_SECONDS}s; logs in $dir/log"
        sleep 1
        state=$(timeout "$SINFO_SECONDS" sinfo --noheader --partition="$PARTITION" --format=%t \
            2>/dev/null) || state=""
    done
    trap - EXIT
    echo "SLURM runs: export SLURM_CONF=$SLURM_CONF (partition $PARTITION, $cpus CPUs)"
}

stop() {
    [[ -f $dir/pids ]] || return 0
    export SLURM_CONF=$dir/slurm.conf
    local jobs
    jobs=$(timeout "$SINFO_SECONDS" squeue --noheader --format=%A 2>/dev/null) || jobs=""
    [[ -z $jobs ]] || as_root env SLURM_CONF="$SLURM_CONF" scancel --full $jobs 2>/dev/null || true
    # slurmd relays the cancel to the jobs' processes: it stops once they are gone.
    local deadline=$((SECONDS + STOP_SECONDS))
    while [[ -n $jobs ]] && ((SECONDS < deadline)); do
        sleep 1
        jobs=$(timeout "$SINFO_SECONDS" squeue --noheader --format=%A 2>/dev/null) || jobs=""
    done
    local pids
    pids=$(tac "$dir/pids")  # slurmd, slurmctld, then munged
    for pid in $pids; do
        running "$pid" || continue
        as_root kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            running "$pid" || break
            sleep 0.1
        done
        ! running "$pid" || as_root kill -9 "$pid" 2>/dev/null || true
    done
    # What root wrote there (key, state, logs) goes back to the user who runs this.
    as_root chown -R "$owner" "$dir"
    rm -f "$dir/pids"
}

case $command in
start) start ;;
stop) stop ;;
*) usage ;;
esac
