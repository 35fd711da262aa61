#!/usr/bin/env bash
# Stop the single-node Slurm cluster .ci/slurm-up.sh started (slurmd, slurmctld, munged), by the
# pids their pid files name; nothing else is signalled.
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
echo "slurm-down: stopped"
