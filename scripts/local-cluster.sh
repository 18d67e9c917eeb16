#!/usr/bin/env bash
# Starts a 3-process PapaActors cluster on 127.0.0.1 -- an averager node and two member nodes (members 0,1
# and 2,3) -- runs one small run, waits for it, and stops every process it started, also on failure or Ctrl-C.
#   scripts/local-cluster.sh [--out DIR] [--port PORT] [--config FILE] [--set key=value ...]
# Defaults: hocon/local-cluster.conf, port 4053, run folder runs/<time>-cluster. Exit code: the averager's.
# PAPA_DLL=path/to/papa.dll uses that build instead of building src/Host (the tests do this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/hocon/local-cluster.conf"
port=4053
out="$root/runs/$(date +%Y%m%d-%H%M%S)-cluster"
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

if [ -z "${PAPA_DLL:-}" ]; then
  "$root/papa" --version >/dev/null # builds when needed
  PAPA_DLL="$root/src/Host/bin/Release/net10.0/papa.dll"
fi
papa=(dotnet "$PAPA_DLL")
logs="$(mktemp -d)"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
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
trap 'exit 130' INT TERM

seed="akka.tcp://papa@127.0.0.1:$port"
"${papa[@]}" node --role averager --port "$port" --config "$config" "${sets[@]}" --out "$out" >"$logs/averager.log" 2>&1 &
averager=$!
pids+=("$averager")
for _ in $(seq 1 120); do
  grep -q "averager node at" "$logs/averager.log" 2>/dev/null && break
  kill -0 "$averager" 2>/dev/null || { echo "the averager node stopped before listening" >&2; exit 1; }
  sleep 0.5
done
echo "averager node up at $seed"

for members in 0,1 2,3; do
  "${papa[@]}" node --role member --seed-node "$seed" --members "$members" >"$logs/members-$members.log" 2>&1 &
  pids+=("$!")
  echo "member node for members $members started"
done

status=0
wait "$averager" || status=$?
cat "$logs/averager.log"
for pid in "${pids[@]:1}"; do
  # member nodes stop by themselves once the averager has ended the run
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
done
exit "$status"
