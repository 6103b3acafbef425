#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests/test_slurm.py (see ../shared/notes/slurm-single-node.md).
#   .ci/slurm-cluster.sh start   install Debian's Slurm, munge and MariaDB if missing; start munged, mariadbd,
#                                slurmdbd (accounting), slurmctld and slurmd with one scheduling-only GPU
#   .ci/slurm-cluster.sh stop    stop every daemon this script started, by its pid file
# State, logs and pid files live under $LSHBENCH_SLURM_DIR (default /tmp/lshbench-slurm); the configuration goes to
# /etc/slurm (job steps started by srun inside a job read it from there), with copies in $DIR. If the cluster cannot be brought up, the reason is written to $DIR/error and the script exits 1:
# the Slurm test then fails with that reason (it is never skipped in CI).
set -uo pipefail
DIR=${LSHBENCH_SLURM_DIR:-/tmp/lshbench-slurm}
HOST=$(hostname -s)

fail() {
  echo "$*" >"$DIR/error"
  echo "slurm-cluster: $*" >&2
  exit 1
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq "$seconds"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  fail "$what did not come up within ${seconds}s; see the logs in $DIR"
}

start() {
  stop  # daemons left by an earlier start
  rm -rf "$DIR"
  mkdir -p "$DIR"/{state,spool,log,mysql-run,munge-run}
  rm -f "$DIR/error"
  if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    echo "slurm-cluster: installing munge, Slurm and MariaDB from Debian's packages" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      munge slurmctld slurmd slurm-client slurmdbd mariadb-server) >"$DIR/log/apt.log" 2>&1 ||
      fail "apt-get could not install munge/slurm/mariadb: $(tail -3 "$DIR/log/apt.log" | tr '\n' ' ')"
  fi
  [ -f /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || fail "no munge key and mungekey failed"
  chown munge:munge "$DIR/munge-run" && chmod 755 "$DIR/munge-run"
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge  # the clients' default socket
  runuser -u munge -- /usr/sbin/munged --pid-file="$DIR/munge-run/munged.pid" --log-file="$DIR/munge-run/munged.log" ||
    fail "munged did not start: $(tail -2 "$DIR/munge-run/munged.log" 2>/dev/null)"
  cp "$DIR/munge-run/munged.pid" "$DIR/munged.pid"

  chown mysql:mysql "$DIR/mysql-run"
  /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --socket="$DIR/mysql-run/mysqld.sock" \
    --pid-file="$DIR/mysql-run/mariadbd.pid" --log-error="$DIR/mysql-run/mariadbd.log" &
  wait_for 60 "MariaDB" mariadb --socket="$DIR/mysql-run/mysqld.sock" -e "select 1"
  cp "$DIR/mysql-run/mariadbd.pid" "$DIR/mariadbd.pid"
  mariadb --socket="$DIR/mysql-run/mysqld.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;" || fail "could not create the slurm DB user"

  local memory
  memory=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)
  cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
  chmod 600 "$DIR/slurmdbd.conf"
  cat >"$DIR/slurm.conf" <<EOF
ClusterName=lshbench
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$DIR/gres.conf" <<EOF
AutoDetect=off
NodeName=$HOST Name=gpu File=/dev/null
EOF
  mkdir -p /etc/slurm
  for file in slurm.conf gres.conf slurmdbd.conf; do install -m "$([ $file = slurmdbd.conf ] && echo 600 || echo 644)" \
    "$DIR/$file" /etc/slurm/$file; done
  export SLURM_CONF=/etc/slurm/slurm.conf
  /usr/sbin/slurmdbd || fail "slurmdbd did not start: $(tail -3 "$DIR/log/slurmdbd.log")"  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 60 "slurmdbd" sacctmgr -i list cluster
  sacctmgr -i add cluster lshbench >/dev/null 2>&1 || true
  /usr/sbin/slurmctld || fail "slurmctld did not start: $(tail -3 "$DIR/log/slurmctld.log")"
  /usr/sbin/slurmd || fail "slurmd did not start: $(tail -3 "$DIR/log/slurmd.log")"
  wait_for 60 "the node" bash -c "sinfo -h -N -o %t | grep -qE '^idle'"
  echo "slurm-cluster: up (configuration in /etc/slurm)" >&2
}

stop() {
  for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
    if [ -f "$DIR/$daemon.pid" ]; then
      local pid
      pid=$(cat "$DIR/$daemon.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$DIR/$daemon.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
