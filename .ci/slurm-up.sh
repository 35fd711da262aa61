#!/usr/bin/env bash
# A single-node Slurm cluster on this host for the queue's Slurm tests (issue 24): Debian's
# slurm-wlm and munge, a minimal slurm.conf (this host, two job slots, no GPU, no accounting
# daemon), munged + slurmctld + slurmd, then wait until `sinfo` shows the node idle.
# Idempotent: installs only what is missing, starts only daemons that are not running (and
# restarts them when slurm.conf changed under them).
# Exits 0 with "skipped: ..." where apt (or root) is unavailable. Stop it with .ci/slurm-down.sh.
set -euo pipefail

say() { echo "slurm-up: $*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ]; then say "skipped: not root, cannot install slurm-wlm and munge"; exit 0; fi
  if ! command -v apt-get >/dev/null; then say "skipped: apt-get is unavailable"; exit 0; fi
  say "installing slurm-wlm and munge (apt)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >/tmp/slurm-up-apt.log 2>&1; then
    say "skipped: apt could not install slurm-wlm and munge (see /tmp/slurm-up-apt.log)"; exit 0
  fi
fi
if [ "$(id -u)" != 0 ]; then say "skipped: the daemons need root"; exit 0; fi

host=$(hostname -s)
# Two job slots whatever the hardware: the Slurm tests run two jobs at once and hold a third
# PENDING. Not `nproc`, which honours OMP_NUM_THREADS (1 in a test worker) and gave a one-slot
# node in CI; config_overrides lets slurmd register the configured count on any machine.
cpus=2
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat >/etc/slurm/slurm.conf.new <<CONF
ClusterName=hybridtui-ci
SlurmctldHost=${host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=${host} CPUs=${cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Daemons started from another slurm.conf (an older version of this script) keep it until they
# restart: a changed file restarts them, an unchanged one leaves them running.
if cmp -s /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf; then
  rm /etc/slurm/slurm.conf.new
else
  mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    say "slurm.conf changed: restarting the daemons"
    bash "$(dirname "$0")/slurm-down.sh" >/dev/null
  fi
fi

if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  if [ "$state" = idle ]; then say "node ${host} idle (${cpus} CPUs)"; exit 0; fi
  if [[ "$state" == down* || "$state" == drain* ]]; then scontrol update nodename="$host" state=resume 2>/dev/null || true; fi
  sleep 1
done
say "error: node ${host} is not idle after 60 s (state '${state:-none}'); see /var/log/slurm/"
exit 1
