#!/usr/bin/env bash
# Starts a 3-process PapaActors cluster on 127.0.0.1 -- an averager node and two member nodes (members 0,1
# and 2,3) -- runs one small run, waits for it, and stops every process it started, also on failure or Ctrl-C.
# One Ctrl-C (or SIGTERM) is enough: the averager finishes its round, writes a checkpoint and results.json
# with the resume command, and the member nodes stop with it; a second Ctrl-C stops everything at once.
#   scripts/local-cluster.sh [--out DIR] [--port PORT] [--config FILE] [--set key=value ...] [--tls [--certs DIR]]
# Defaults: hocon/local-cluster.conf, port 4053, run folder runs/<time>-cluster. Exit code: the averager's.
# --tls: every node speaks mutual TLS (papa.cluster.tls) with a certificate of its own, all signed by the CA in
# --certs DIR (default runs/local-cluster-certs; made by `papa cert` on first use, kept so that a resumed
# averager finds them), and proves the run secret in DIR/run.secret (papa.cluster.secret-file, made on first use).
# PAPA_DLL=path/to/papa.dll uses that build instead of building src/Host (the tests do this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/hocon/local-cluster.conf"
port=4053
out="$root/runs/$(date +%Y%m%d-%H%M%S)-cluster"
sets=()
tls=0
certs="$root/runs/local-cluster-certs"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --tls) tls=1; shift ;;
    --certs) certs="$2"; shift 2 ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

source "$root/scripts/papa-command.sh"
logs="$(mktemp -d)"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do signal_child TERM "$pid"; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 60); do own_child "$pid" || break; sleep 0.5; done
    signal_child KILL "$pid" # did not stop within 30 s of SIGTERM
  done
}
on_exit() {
  local code=$?
  stop_all
  if [ "$code" -ne 0 ]; then
    for log in "$logs"/*.log; do echo "---- $(basename "$log")" >&2; tail -n 20 "$log" >&2; done
  fi
  rm -rf "$logs"
}
trap on_exit EXIT
averager=""
signals=0
on_signal() {
  signals=$((signals + 1))
  [ -n "$averager" ] && signal_child TERM "$averager"
  if [ "$signals" -eq 1 ] && [ -n "$averager" ]; then
    echo "stopping: the averager finishes its round and writes a checkpoint (Ctrl-C again to stop at once)" >&2
  else
    exit 130
  fi
}
trap on_signal INT TERM

scheme="akka.tcp"
if [ "$tls" -eq 1 ]; then
  [ -f "$certs/node-2.pfx" ] || "${papa[@]}" cert --out "$certs" --nodes 3 >/dev/null
  # The run secret every node proves when it joins the run (papa.cluster.secret-file), kept beside the certificates.
  [ -f "$certs/run.secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$certs/run.secret")
  scheme="akka.ssl.tcp"
fi
# node_sets: the TLS settings of node $1 (its own certificate, the CA they all trust) and the run secret, or none.
node_tls() {
  node_sets=()
  if [ "$tls" -eq 1 ]; then
    node_sets=(--set cluster.tls.enabled=on --set "cluster.tls.ca=$certs/ca.pem" --set "cluster.tls.certificate=$certs/node-$1.pfx"
      --set "cluster.secret-file=$certs/run.secret")
  fi
}
seed="$scheme://papa@127.0.0.1:$port"
# Each node in its own session: a Ctrl-C in the terminal reaches this script only, which stops them in order.
node_tls 0
setsid "${papa[@]}" node --role averager --port "$port" --config "$config" "${sets[@]}" "${node_sets[@]}" --out "$out" >"$logs/averager.log" 2>&1 &
averager=$!
pids+=("$averager")
for _ in $(seq 1 120); do
  grep -q "averager node at" "$logs/averager.log" 2>/dev/null && break
  own_child "$averager" || { cat "$logs/averager.log" >&2; echo "the averager node stopped before listening" >&2; exit 1; }
  sleep 0.5
done
echo "averager node up at $seed"

node=0
for members in 0,1 2,3; do
  node=$((node + 1))
  node_tls "$node"
  setsid "${papa[@]}" node --role member --seed-node "$seed" --members "$members" "${node_sets[@]}" >"$logs/members-$members.log" 2>&1 &
  pids+=("$!")
  echo "member node for members $members started"
done

status=0
while true; do
  # A signal's trap interrupts wait; wait again until the averager itself has ended.
  wait "$averager" && status=0 || status=$?
  own_child "$averager" || break
done
cat "$logs/averager.log"
for pid in "${pids[@]:1}"; do
  # member nodes stop by themselves once the averager has ended the run
  for _ in $(seq 1 60); do own_child "$pid" || break; sleep 0.5; done
done
exit "$status"
