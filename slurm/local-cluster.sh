#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests and CI: `up` (default), `down`, `status`.
#
#   bash slurm/local-cluster.sh up       # install if needed, configure, start, wait until the node is idle
#   bash slurm/local-cluster.sh status   # what runs; exit 0 when the cluster is ready
#   bash slurm/local-cluster.sh down     # stop every daemon `up` started
#
# Needs root on a Debian-like system without systemd (CI machines, containers): it installs Debian's
# packages (SLURM 22.05, munge, slurmdbd, MariaDB) with apt-get when they are missing, writes the
# configuration and starts the daemons directly. Accounting (slurmdbd + MariaDB) is on because submitit
# polls job states with `sacct`. `up` is idempotent: with everything running it only checks and returns.
#
# Everything lives in Debian's standard places: /etc/slurm/{slurm,slurmdbd}.conf, /etc/munge/munge.key,
# /var/lib/slurm (controller state, slurmd spool), /var/log/slurm (daemon logs, and local-cluster.log with
# the output of apt-get and of each daemon start), pid files in /run, the accounting database in MariaDB's
# /var/lib/mysql. The node is this machine (`hostname -s`, reached at 127.0.0.1) with 8 CPUs declared
# whatever the machine has, so several array tasks run at once; the partition is `debug`.
set -euo pipefail

# ---- settings -------------------------------------------------------------------------------------------
CLUSTER=swastbench            # ClusterName; changing it later needs the controller state cleared
PARTITION=debug
NODE_CPUS=8                   # declared, not measured (SlurmdParameters=config_overrides)
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
WAIT_S=60                     # how long to wait for each daemon / the node before giving up

CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
STATE=/var/lib/slurm/slurmctld
SPOOL=/var/lib/slurm/slurmd
LOGDIR=/var/log/slurm
LOG=$LOGDIR/local-cluster.log
MUNGE_KEY=/etc/munge/munge.key
DB=slurm_acct_db

START=$(date +%s.%N)

say() { echo "local-cluster: $*"; }
die() { echo "local-cluster: error: $*" >&2; exit 1; }
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }'; }
# The last line a daemon wrote to its log, to say why it did not come up.
last_line() { [[ -r $1 ]] && tail -n 1 "$1" | cut -c1-200 || echo "(no log at $1)"; }

# ---- preconditions --------------------------------------------------------------------------------------
preconditions() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts system daemons)"
    if [[ ! -r /etc/debian_version ]] || ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
        die "needs a Debian-like system with apt-get and dpkg (no /etc/debian_version or apt-get here)"
    fi
}

# ---- helpers --------------------------------------------------------------------------------------------

# running PIDFILE NAME: the process in PIDFILE exists, is NAME and is not a zombie (a dead daemon can
# linger as a zombie where nothing reaps orphans, so `kill -0` would say it is alive).
running() {
    local pid
    [[ -r $1 ]] || return 1
    pid=$(tr -dc '0-9' 2>/dev/null <"$1") || return 1
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
    [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; fail after SECONDS.
wait_for() {
    local seconds=$1 i
    shift
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# start NAME COMMAND...: start a daemon with its start-up output appended to $LOG (never to our stdout:
# a caller that captures our output must not wait on a pipe the daemon keeps open).
start() {
    local name=$1
    shift
    echo "== $(date -Is) starting $name: $*" >>"$LOG"
    "$@" </dev/null >>"$LOG" 2>&1 || die "$name failed to start; see $LOG: $(last_line "$LOG")"
}

# stop NAME PIDFILE: TERM, wait, then KILL.
stop() {
    local name=$1 pidfile=$2 pid i
    if ! running "$pidfile" "$name"; then
        say "$name: not running"
        return 0
    fi
    pid=$(tr -dc '0-9' 2>/dev/null <"$pidfile") || true
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        running "$pidfile" "$name" || break
        sleep 0.2
    done
    if running "$pidfile" "$name"; then
        kill -KILL "$pid" 2>/dev/null || true
        say "$name: killed (did not stop within 20 s)"
    else
        say "$name: stopped"
    fi
    rm -f "$pidfile"
}

# put_file MODE OWNER PATH < CONTENT: write PATH only when its content changes. Returns 0 when it wrote.
put_file() {
    local mode=$1 owner=$2 path=$3 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        chmod "$mode" "$path" && chown "$owner" "$path"
        return 1
    fi
    install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$path" || die "cannot write $path"
    rm -f "$tmp"
    return 0
}

# ---- packages -------------------------------------------------------------------------------------------
install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} (apt-get)"
    mkdir -p "$LOGDIR"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for the package lock rather than fail when another apt-get runs.
    local lock=(-o DPkg::Lock::Timeout=300)
    local apt=(apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}")
    # apt-get update only when there are no package lists yet, or when installing from them fails
    # (stale lists name versions the mirror no longer has).
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get "${lock[@]}" update -q >>"$LOG" 2>&1 || die "apt-get update failed; see $LOG"
    fi
    if ! "${apt[@]}" >>"$LOG" 2>&1; then
        apt-get "${lock[@]}" update -q >>"$LOG" 2>&1 || die "apt-get update failed; see $LOG"
        "${apt[@]}" >>"$LOG" 2>&1 || die "apt-get install ${missing[*]} failed; see $LOG: $(last_line "$LOG")"
    fi
}

# ---- munge: authentication between the SLURM daemons and commands ---------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

up_munge() {
    # munged refuses a key or directory that others can read.
    if [[ ! -s $MUNGE_KEY ]]; then
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge "$MUNGE_KEY"
    chmod 0700 /etc/munge
    chmod 0600 "$MUNGE_KEY"
    install -d -m 0755 -o munge -g munge /run/munge
    install -d -m 0700 -o munge -g munge /var/lib/munge /var/log/munge
    munge_ok && return 0
    start munged runuser -u munge -- /usr/sbin/munged
    wait_for "$WAIT_S" munge_ok || die "munged did not answer within $WAIT_S s; see /var/log/munge/munged.log"
    say "munged: started"
}

# ---- MariaDB: the accounting database -------------------------------------------------------------------
db_ok() { mariadb-admin ping >/dev/null 2>&1; }

up_mariadb() {
    db_ok && return 0
    install -d -m 0755 -o mysql -g mysql /run/mysqld
    install -d -m 0750 -o mysql -g adm /var/log/mysql
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        echo "== $(date -Is) initialising /var/lib/mysql" >>"$LOG"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG" 2>&1 \
            || die "mariadb-install-db failed; see $LOG"
    fi
    # mariadbd does not daemonise itself: detach it into its own session, its output away from ours.
    echo "== $(date -Is) starting mariadbd" >>"$LOG"
    setsid /usr/sbin/mariadbd --user=mysql --log-error=/var/log/mysql/error.log </dev/null >>"$LOG" 2>&1 &
    wait_for "$WAIT_S" db_ok \
        || die "MariaDB did not answer within $WAIT_S s; see /var/log/mysql/error.log: $(last_line /var/log/mysql/error.log)"
    say "mariadbd: started"
}

# ---- configuration --------------------------------------------------------------------------------------
write_slurm_conf() {
    local node mem_total mem
    node=$(hostname -s)
    mem_total=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)  # MB, the total of `free -m`
    mem=$((mem_total - (mem_total / 10 > 512 ? mem_total / 10 : 512)))  # keep 10% (at least 512 MB) back
    put_file 0644 root:root "$CONF" <<EOF
# Written by slurm/local-cluster.sh: a one-node test cluster on this machine. Edits are overwritten.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
# No cgroups here: track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# Cores and memory are consumable, so several small jobs share the node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Start a batch job as soon as it is submitted (the default waits up to a few seconds).
SchedulerParameters=batch_sched_delay=0
# Use the node's declared CPUs and memory below, not what the machine reports.
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
NodeName=$node NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

write_slurmdbd_conf() {
    local pass=""
    # Keep the database password of an earlier run; make one the first time.
    [[ -r $DBD_CONF ]] && pass=$(sed -n 's/^StoragePass=//p' "$DBD_CONF")
    [[ -n $pass ]] || pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    DB_PASS=$pass
    put_file 0600 slurm:slurm "$DBD_CONF" <<EOF
# Written by slurm/local-cluster.sh: accounting for the one-node test cluster. Edits are overwritten.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$pass
StorageLoc=$DB
EOF
}

# ---- SLURM daemons --------------------------------------------------------------------------------------
dbd_ok() { sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q UP; }
node_state() { sinfo -h -n "$(hostname -s)" -o %T 2>/dev/null | head -n 1; }
registered() { sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; }

slurmd_ok() { running /run/slurmd.pid slurmd; }  # the node's state says the rest (wait_node)

# The database and its user for slurmdbd (the password is the one in slurmdbd.conf).
db_user() {
    mariadb -e "CREATE DATABASE IF NOT EXISTS $DB;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB.* TO 'slurm'@'localhost';" || die "could not create the accounting database user"
}

# up_daemon NAME CHANGED READY: restart the SLURM daemon NAME when its configuration CHANGED (yes/no),
# start it when it is not running or READY (a command) fails, and wait until READY succeeds.
up_daemon() {
    local name=$1 changed=$2 ready=$3 pidfile=/run/$1.pid
    if [[ $changed == yes ]] && running "$pidfile" "$name"; then
        stop "$name" "$pidfile"
    fi
    running "$pidfile" "$name" && "$ready" && return 0
    start "$name" "$name"
    wait_for "$WAIT_S" "$ready" \
        || die "$name did not answer within $WAIT_S s; see $LOGDIR/$name.log: $(last_line "$LOGDIR/$name.log")"
    say "$name: started"
}

# Wait until the node takes jobs: idle (or busy with jobs already). A node left down or drained by an
# earlier run is resumed once.
wait_node() {
    local node state i resumed=no
    node=$(hostname -s)
    for ((i = 0; i < WAIT_S * 5; i++)); do
        state=$(node_state)
        case $state in
            idle | mixed | allocated | completing) return 0 ;;
            down | drained | draining | drain | fail)
                if [[ $resumed == no ]]; then
                    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
                    resumed=yes
                fi
                ;;
        esac
        sleep 0.2
    done
    die "node $node is '${state:-unknown}' after $WAIT_S s; see $LOGDIR/slurmd.log: $(last_line "$LOGDIR/slurmd.log")"
}

# ---- commands -------------------------------------------------------------------------------------------
cmd_up() {
    preconditions
    install_packages
    id slurm >/dev/null 2>&1 || die "the packages did not create the 'slurm' user"
    install -d -m 0755 -o slurm -g slurm "$LOGDIR" "$STATE"
    install -d -m 0755 -o root -g root "$SPOOL"
    up_munge
    up_mariadb
    local conf_changed=no dbd_changed=no
    write_slurmdbd_conf && dbd_changed=yes
    write_slurm_conf && conf_changed=yes
    [[ $dbd_changed == no ]] || say "wrote $DBD_CONF"
    [[ $conf_changed == no ]] || say "wrote $CONF"
    if [[ $dbd_changed == yes ]] || ! running /run/slurmdbd.pid slurmdbd; then
        db_user
    fi
    up_daemon slurmdbd "$dbd_changed" dbd_ok
    up_daemon slurmctld "$conf_changed" ctld_ok
    up_daemon slurmd "$conf_changed" slurmd_ok
    wait_node
    # slurmctld registers the cluster with slurmdbd by itself; sacct answers once it has.
    wait_for "$WAIT_S" registered \
        || die "cluster $CLUSTER is not registered in accounting after $WAIT_S s; see $LOGDIR/slurmctld.log"
    say "ready: node $(hostname -s) $(node_state) in partition $PARTITION, $NODE_CPUS CPUs," \
        "accounting on for cluster $CLUSTER ($(elapsed))"
}

cmd_down() {
    preconditions
    stop slurmd /run/slurmd.pid
    stop slurmctld /run/slurmctld.pid
    stop slurmdbd /run/slurmdbd.pid
    if db_ok; then
        mariadb-admin shutdown >/dev/null 2>&1 || die "mariadb-admin shutdown failed"
        say "mariadbd: stopped"
    else
        say "mariadbd: not running"
    fi
    stop munged /run/munge/munged.pid
}

cmd_status() {
    local ok=0 name pidfile
    for pair in munged:/run/munge/munged.pid slurmdbd:/run/slurmdbd.pid slurmctld:/run/slurmctld.pid \
        slurmd:/run/slurmd.pid; do
        name=${pair%%:*} pidfile=${pair#*:}
        if running "$pidfile" "$name"; then
            say "$name: running (pid $(tr -dc '0-9' 2>/dev/null <"$pidfile"))"
        else
            say "$name: stopped"
            ok=1
        fi
    done
    if command -v mariadb-admin >/dev/null && db_ok; then say "mariadbd: running"; else say "mariadbd: stopped"; ok=1; fi
    if command -v sinfo >/dev/null && ctld_ok; then
        say "node $(hostname -s): $(node_state)"
        sinfo -h -o "partition %P: %a, %D node(s), %c CPUs, %m MB" | sed 's/^/local-cluster: /'
    else
        say "node: unknown (slurmctld does not answer)"
        ok=1
    fi
    if command -v sacctmgr >/dev/null && registered; then
        say "accounting: cluster $CLUSTER registered"
    else
        say "accounting: not answering"
        ok=1
    fi
    return $ok
}

case ${1:-up} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h | --help | help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (use: up, down, status)" ;;
esac
