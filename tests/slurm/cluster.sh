#!/usr/bin/env bash
# A throw-away single-node Slurm cluster (slurmctld + slurmd on this machine),
# for testing the workflow through snakemake-executor-plugin-slurm.
#
#   tests/slurm/cluster.sh start DIR   generate DIR/slurm.conf, start both daemons,
#                                      wait until the node is idle
#   tests/slurm/cluster.sh stop DIR    stop the daemons started by `start DIR`
#                                      (by their pid files in DIR), nothing else
#
# Everything the daemons write (state, spool, logs, pid files) lives in DIR.
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf, but the plugin's
# job step removes SLURM_CONF before its nested `srun`, so the same file is
# also installed as /etc/slurm/slurm.conf for the lifetime of the cluster.
# An /etc/slurm/slurm.conf this script did not write is never overwritten,
# unless CLUSTER_SH_BACKUP_ETC_CONF=1: then it is saved in DIR and put back by
# `stop`.
#
# Made for Debian 12's slurm-wlm (Slurm 22.05), running as root (or through
# sudo: jobs then run as the user who submits them): no munge
# (auth/none), no slurmdbd (so no sacct: use `squeue` as status command), no
# cgroups or systemd (proctrack/linuxproc, task/none).
#
# Environment: CLUSTER_SH_CTLD_PORT (default 6817), CLUSTER_SH_SLURMD_PORT
# (default 6818), CLUSTER_SH_TIMEOUT (seconds to wait for the node, default 60).
set -euo pipefail

ETC_CONF=/etc/slurm/slurm.conf
MARKER="# Written by stepdiff tests/slurm/cluster.sh for cluster dir"

die() {
    echo "cluster.sh: error: $*" >&2
    exit 1
}

log() { echo "cluster.sh: $*" >&2; }

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

# Whether process PID exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# The pid in FILE if that process is alive and is the daemon NAME.
live_pid() {
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(tr -dc 0-9 <"$file")
    [[ -n $pid ]] || return 1
    alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    echo "$pid"
}

port_in_use() {
    # ss prints a header line plus one line per listening socket.
    (($(ss -Hltn "sport = :$1" 2>/dev/null | wc -l) > 0))
}

show_logs() {
    local dir=$1 f
    for f in "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 20 "$f" >&2
    done
}

# RealMemory must not exceed what slurmd detects, or the node is drained.
real_memory_mb() {
    local mem
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
    if [[ -z $mem ]]; then
        mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    fi
    echo "$mem"
}

write_conf() {
    local dir=$1 host=$2 mem=$3 user
    user=$(id -un)
    cat <<EOF
$MARKER $dir
ClusterName=stepdiff-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${CLUSTER_SH_CTLD_PORT:-6817}
SlurmdPort=${CLUSTER_SH_SLURMD_PORT:-6818}
SlurmUser=$user
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Start a submitted job at once (the default delays batch jobs by up to 3 s).
SchedulerParameters=batch_sched_delay=0
# Larger jobs first: the 2-CPU train job (on the critical path) is not queued
# behind every 1-CPU job submitted before it. Ties stay first come first served.
PriorityType=priority/multifactor
PriorityWeightJobSize=1000
PriorityWeightAge=0
PriorityWeightFairshare=0
PriorityWeightPartition=0
PriorityWeightQOS=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job with no memory request gets the whole node.
DefMemPerCPU=1000
# squeue shows finished jobs this long: the plugin's squeue status check needs
# them (at least 3x its status interval), the test lists them afterwards.
MinJobAge=3600
ReturnToService=2
SlurmdTimeout=60
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# Put DIR/slurm.conf at /etc/slurm/slurm.conf (see the header).
install_etc_conf() {
    local dir=$1
    if [[ -e $ETC_CONF ]]; then
        if head -n 1 "$ETC_CONF" | grep -qF "$MARKER"; then
            local other
            other=$(head -n 1 "$ETC_CONF" | sed "s|^$MARKER ||")
            if [[ $other != "$dir" ]] &&
                { live_pid "$other/slurmctld.pid" slurmctld >/dev/null ||
                    live_pid "$other/slurmd.pid" slurmd >/dev/null; }; then
                die "the cluster in $other is still running; stop it first: $0 stop $other"
            fi
            # Left over from a cluster that is gone: ours to replace.
        elif [[ ${CLUSTER_SH_BACKUP_ETC_CONF:-0} == 1 ]]; then
            cp -p "$ETC_CONF" "$dir/etc-slurm.conf.backup"
            log "saved the existing $ETC_CONF as $dir/etc-slurm.conf.backup (restored by stop)"
        else
            die "$ETC_CONF exists and was not written by this script (a real Slurm" \
                "installation?). Refusing to replace it. Set CLUSTER_SH_BACKUP_ETC_CONF=1" \
                "to move it aside for the test and restore it on stop."
        fi
    fi
    if [[ ! -d ${ETC_CONF%/*} ]]; then
        mkdir -p "${ETC_CONF%/*}" || die "cannot create ${ETC_CONF%/*} (run as root)"
        touch "$dir/etc-slurm.dir.created"
    fi
    cp "$dir/slurm.conf" "$ETC_CONF.tmp.$$" || die "cannot write $ETC_CONF (run as root)"
    mv "$ETC_CONF.tmp.$$" "$ETC_CONF"
}

# Undo install_etc_conf, touching /etc/slurm/slurm.conf only if it is ours.
restore_etc_conf() {
    local dir=$1
    if [[ -f $ETC_CONF ]] && [[ $(head -n 1 "$ETC_CONF") == "$MARKER $dir" ]]; then
        rm -f "$ETC_CONF"
    fi
    if [[ -f $dir/etc-slurm.conf.backup ]]; then
        if [[ -e $ETC_CONF ]]; then
            log "warning: $ETC_CONF changed during the test; backup left at $dir/etc-slurm.conf.backup"
        else
            mv "$dir/etc-slurm.conf.backup" "$ETC_CONF"
            log "restored $ETC_CONF"
        fi
    fi
    if [[ -f $dir/etc-slurm.dir.created ]]; then
        rmdir "${ETC_CONF%/*}" 2>/dev/null || true
        rm -f "$dir/etc-slurm.dir.created"
    fi
}

start() {
    local dir=$1 host mem port timeout state i
    command -v slurmctld >/dev/null || die "slurmctld not found (apt-get install slurm-wlm)"
    command -v slurmd >/dev/null || die "slurmd not found (apt-get install slurm-wlm)"
    command -v sinfo >/dev/null || die "sinfo not found (apt-get install slurm-client)"
    [[ $(id -u) == 0 ]] || die "must run as root (slurmd launches jobs, /etc/slurm is written)"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if live_pid "$dir/slurmctld.pid" slurmctld >/dev/null ||
        live_pid "$dir/slurmd.pid" slurmd >/dev/null; then
        die "a cluster is already running in $dir"
    fi
    for port in "${CLUSTER_SH_CTLD_PORT:-6817}" "${CLUSTER_SH_SLURMD_PORT:-6818}"; do
        if port_in_use "$port"; then
            die "port $port is already in use (another Slurm?); set CLUSTER_SH_CTLD_PORT/CLUSTER_SH_SLURMD_PORT"
        fi
    done

    host=$(hostname -s)
    mem=$(real_memory_mb)
    [[ -n $mem ]] || die "cannot determine the machine's memory"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    write_conf "$dir" "$host" "$mem" >"$dir/slurm.conf"
    install_etc_conf "$dir"
    export SLURM_CONF=$dir/slurm.conf

    # Both daemons fork into the background and write their pid files.
    if ! slurmctld -f "$dir/slurm.conf" -i; then
        show_logs "$dir"
        die "slurmctld did not start; clean up with: $0 stop $dir"
    fi
    if ! slurmd -f "$dir/slurm.conf"; then
        show_logs "$dir"
        die "slurmd did not start; clean up with: $0 stop $dir"
    fi

    timeout=${CLUSTER_SH_TIMEOUT:-60}
    state=""
    for ((i = 0; i < timeout * 2; i++)); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
        if [[ $state == idle ]]; then
            log "cluster up: node $host idle (SLURM_CONF=$dir/slurm.conf)"
            return 0
        fi
        sleep 0.5
    done
    show_logs "$dir"
    die "node $host not idle after ${timeout}s (state: '${state:-no answer}'); stop it with: $0 stop $dir"
}

stop_daemon() {
    local file=$1 name=$2 pid i
    if ! pid=$(live_pid "$file" "$name"); then
        rm -f "$file"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        alive "$pid" || break
        sleep 0.25
    done
    if alive "$pid"; then
        log "warning: $name ($pid) ignored SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Dead now; give init a moment to reap it, so that it leaves no zombie.
    for ((i = 0; i < 40; i++)); do
        [[ -e /proc/$pid ]] || break
        sleep 0.25
    done
    rm -f "$file"
}

stop() {
    local dir=$1 i
    [[ -d $dir ]] || die "no such directory: $dir"
    dir=$(cd "$dir" && pwd -P)
    [[ -f $dir/slurm.conf ]] || die "$dir holds no cluster (no slurm.conf)"
    export SLURM_CONF=$dir/slurm.conf
    # Cancel what is still queued or running in this cluster, so that no
    # job processes outlive slurmd.
    if live_pid "$dir/slurmctld.pid" slurmctld >/dev/null; then
        local jobs
        jobs=$(squeue -h -t PD,R,S,CG -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            log "cancelling jobs still in the queue: $(echo $jobs)"
            # shellcheck disable=SC2086  # one argument per job id
            scancel --quiet $jobs 2>/dev/null || true
            for ((i = 0; i < 20; i++)); do
                [[ -z $(squeue -h -t PD,R,S,CG -o %i 2>/dev/null || true) ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_daemon "$dir/slurmd.pid" slurmd
    stop_daemon "$dir/slurmctld.pid" slurmctld
    restore_etc_conf "$dir"
    # Run through sudo: hand the cluster dir back, so that it can be deleted.
    if [[ -n ${SUDO_UID:-} && -n ${SUDO_GID:-} ]]; then
        chown -R "$SUDO_UID:$SUDO_GID" "$dir"
    fi
    log "cluster in $dir stopped"
}

(($# == 2)) || usage
case $1 in
start) start "$2" ;;
stop) stop "$2" ;;
*) usage ;;
esac
