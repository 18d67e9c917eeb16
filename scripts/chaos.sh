#!/usr/bin/env bash
# A chaos run. The same PAPA run twice on a local cluster of an averager node and three member nodes
# (members 0,1 / 2,3 / 4,5) on 127.0.0.1: once without faults, then with a seeded schedule of faults every
# ~INTERVAL seconds (each kind once per round of four, in a seeded order):
#   kill-member    kill -9 of a member node, then a replacement (for the same indices, or --members auto)
#   stop-member    SIGSTOP of a member node past the failure detector's limit, then SIGCONT: the node
#                  is downed, starts afresh and joins again by itself
#   kill-averager  kill -9 of the averager node, then `papa node --role averager --resume` on its port
#   throw          a member made to throw (papa.fault-injection.throw-file)
# Passes (exit 0) when the faulted run's soups and journal are bit-identical to the fault-free run's; prints
# the goodput (fault-free wall time / faulted wall time) and, per fault, the time to detection and to
# training again. With --every-rounds N, the faults come every ~N rounds of training instead (rounds the faulted
# run's journal gained since the previous fault): at the same points of the run on any machine (the tests use it).
#   scripts/chaos.sh [--faults N] [--interval SECONDS | --every-rounds N] [--seed N] [--out DIR] [--port PORT] [--config FILE] [--set key=value ...]
# Defaults: 10 faults every ~30 s, seed 1, port 4060, hocon/chaos.conf, run folders under runs/<time>-chaos.
# PAPA_DLL=path/to/papa.dll uses that build instead of building src/Host (the tests do this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/hocon/chaos.conf"
faults=10
interval=30
every_rounds=0
seed=1
port=4060
out="$root/runs/$(date +%Y%m%d-%H%M%S)-chaos"
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --faults) faults="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --every-rounds) every_rounds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
for number in "$faults" "$interval" "$every_rounds" "$seed" "$port"; do
  [[ "$number" =~ ^[0-9]+$ ]] || { echo "--faults, --interval, --every-rounds, --seed and --port take whole numbers, not '$number'" >&2; exit 2; }
done
[ -e "$out" ] && { echo "$out already exists; choose another --out" >&2; exit 2; }

source "$root/scripts/papa-command.sh"
seed_node="akka.tcp://papa@127.0.0.1:$port"
groups=(0,1 2,3 4,5)
logs="$out/logs"
mkdir -p "$logs"
trigger="$out/throw-member"
sets+=(--set "fault-injection.throw-file=$trigger")
# Every wait below ends: a stopped node or averager must never hold the script.
run_limit=$((45 * 60))

averager=""
nodes=()
incarnation=0
cleanup() {
  for pid in $averager "${nodes[@]}"; do signal_child CONT "$pid"; signal_child KILL "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Starts the averager (fresh, or resuming its folder) and waits until it listens; retries while the port is still held.
start_averager() {
  local folder="$1" mode="$2" log
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    incarnation=$((incarnation + 1))
    log="$logs/averager-$incarnation.log"
    if [ "$mode" = fresh ]; then
      "${papa[@]}" node --role averager --port "$port" --config "$config" "${sets[@]}" --out "$folder" >"$log" 2>&1 &
    else
      "${papa[@]}" node --role averager --port "$port" --resume "$folder" >"$log" 2>&1 &
    fi
    averager=$!
    for _ in $(seq 1 120); do
      grep -q "averager node at" "$log" 2>/dev/null && return 0
      own_child "$averager" || break
      sleep 0.5
    done
    signal_child KILL "$averager"
    wait "$averager" 2>/dev/null || true
    sleep 1
  done
  echo "the averager node did not start (last log: $log)" >&2
  tail -n 20 "$log" >&2
  exit 1
}

start_node() { # slot, --members value
  incarnation=$((incarnation + 1))
  "${papa[@]}" node --role member --seed-node "$seed_node" --members "$2" --config "$config" >"$logs/node-$1-$incarnation.log" 2>&1 &
  nodes[$1]=$!
}

run_over() { ! own_child "$averager"; }

journal_rounds() { # rounds in the journal of run folder $1 so far
  local count
  count=$(grep -c '"type":"round"' "$1/schedule.jsonl" 2>/dev/null) || true
  echo "${count:-0}"
}

# Until the next fault: ~INTERVAL seconds, or ~N more rounds in the journal of run folder $1 (a rollback cuts the
# journal back: the rounds played again count again), or the end of the run.
await_next_fault() {
  local share="$RANDOM" target started
  if [ "$every_rounds" -eq 0 ]; then
    sleep "$(awk -v i="$interval" -v r="$share" 'BEGIN { printf "%.1f", i * (0.5 + r / 32767) }')"
    return
  fi
  target=$(($(journal_rounds "$1") + $(awk -v n="$every_rounds" -v r="$share" 'BEGIN { printf "%.0f", n * (0.5 + r / 32767) }')))
  started=$(now)
  while [ "$(journal_rounds "$1")" -lt "$target" ] && ! run_over; do
    if [ "$(awk -v s="$(seconds_since "$started")" -v l="$run_limit" 'BEGIN { print (s > l) }')" = 1 ]; then
      echo "the run gained no $every_rounds rounds within $run_limit s" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# Waits for the averager to end the run and the member nodes to stop; returns the averager's exit code.
finish() {
  local status=0 started
  started=$(now)
  while ! run_over; do
    sleep 1
    if [ "$(awk -v s="$(seconds_since "$started")" -v l="$run_limit" 'BEGIN { print (s > l) }')" = 1 ]; then
      echo "the run did not end within $run_limit s" >&2
      return 1
    fi
  done
  wait "$averager" || status=$?
  for pid in "${nodes[@]}"; do
    for _ in $(seq 1 60); do own_child "$pid" || break; sleep 0.5; done
  done
  return "$status"
}

# ---- 1. The run without faults.
echo "fault-free run: averager and 3 member nodes ($config)"
reference="$out/fault-free"
clean_start=$(now)
start_averager "$reference" fresh
for slot in 0 1 2; do start_node "$slot" "${groups[$slot]}"; done
finish || { echo "the fault-free run failed (logs in $logs)" >&2; exit 1; }
clean_wall=$(seconds_since "$clean_start")
echo "fault-free run: ${clean_wall} s"

# ---- 2. The same run with faults.
RANDOM=$seed
kinds=(kill-member stop-member kill-averager throw)
schedule=()
while [ ${#schedule[@]} -lt "$faults" ]; do
  round=("${kinds[@]}")
  for ((i = ${#round[@]} - 1; i > 0; i--)); do # a seeded shuffle, so every kind comes once per four faults
    j=$((RANDOM % (i + 1)))
    swap=${round[$i]}; round[$i]=${round[$j]}; round[$j]=$swap
  done
  schedule+=("${round[@]}")
done
schedule=("${schedule[@]:0:$faults}")
echo "faulted run, seed $seed: ${schedule[*]}"
faulted="$out/faulted"
events="$logs/faults.tsv"
: >"$events"
chaos_start=$(now)
start_averager "$faulted" fresh
for slot in 0 1 2; do start_node "$slot" "${groups[$slot]}"; done
injected=0
# Past the failure detector's limit: acceptable-heartbeat-pause + stable-after of hocon/chaos.conf, with margin.
pause_seconds=20
kills=0
for kind in "${schedule[@]}"; do
  await_next_fault "$faulted"
  run_over && break
  slot=$((RANDOM % 3))
  at=$(now)
  case "$kind" in
    kill-member)
      signal_child KILL "${nodes[$slot]}"; wait "${nodes[$slot]}" 2>/dev/null || true
      members=$([ $((kills % 2)) = 0 ] && echo "${groups[$slot]}" || echo auto)
      kills=$((kills + 1))
      start_node "$slot" "$members"
      target="node ${groups[$slot]} (replaced with --members $members)" ;;
    stop-member)
      signal_child STOP "${nodes[$slot]}"; sleep "$pause_seconds"; signal_child CONT "${nodes[$slot]}"
      target="node ${groups[$slot]} for ${pause_seconds} s" ;;
    kill-averager)
      signal_child KILL "$averager"; wait "$averager" 2>/dev/null || true
      start_averager "$faulted" resume
      target="averager (resumed on port $port)" ;;
    throw)
      member=$((RANDOM % 6))
      echo "$member" >"$trigger.partial" && mv "$trigger.partial" "$trigger"
      target="member $member" ;;
  esac
  injected=$((injected + 1))
  printf '%s\t%s\t%s\n' "$at" "$kind" "$target" >>"$events"
  echo "fault $injected/$faults at +$(awk -v a="$chaos_start" -v b="$at" 'BEGIN { printf "%.0f", b - a }') s: $kind $target"
done
finish || true
chaos_wall=$(seconds_since "$chaos_start")

# ---- 3. Verdict and figures.
status=0
if [ "$injected" -lt "$faults" ]; then
  echo "only $injected of $faults faults were injected before the run ended: make the run longer (--set epochs=...) or --interval or --every-rounds shorter" >&2
  status=1
fi
if [ ! -f "$faulted/soup-greedy.safetensors" ]; then
  echo "the faulted run did not complete (logs in $logs):" >&2
  tail -n 20 "$logs/averager-$incarnation.log" "$logs"/averager-*.log 2>/dev/null | tail -n 40 >&2
  exit 1
fi
for file in soup-average.safetensors soup-greedy.safetensors schedule.jsonl; do
  expected=$(sha256sum "$reference/$file" | cut -d' ' -f1)
  actual=$(sha256sum "$faulted/$file" | cut -d' ' -f1)
  if [ "$expected" = "$actual" ]; then
    echo "$file: sha256 $actual, identical to the fault-free run"
  else
    echo "$file: sha256 $actual differs from the fault-free run's $expected" >&2
    status=1
  fi
done

# Per fault: the first loss the averager recorded after it, and when every member was training again (faults
# closer together than a recovery share these events).
echo "per fault: seconds to detection (the averager records the lost member) and to training again"
to_epoch() { date -d "$1" +%s.%N; }
mapfile -t losses < <(grep '"kind":"member-lost"' "$faulted/faults.jsonl" | sed 's/.*"time":"\([^"]*\)".*/\1/' | while read -r t; do to_epoch "$t"; done)
mapfile -t resumed < <(grep -h "every member is back at round" "$faulted/run.log" | cut -c1-24 | while read -r t; do to_epoch "$t"; done)
first_after() { # time, list...: the first list entry after time
  local t="$1"; shift
  for x in "$@"; do [ "$(awk -v a="$x" -v b="$t" 'BEGIN { print (a > b) }')" = 1 ] && { echo "$x"; return; }; done
  echo ""
}
while IFS=$'\t' read -r at kind target; do
  lost=$(first_after "$at" "${losses[@]}")
  back=$(first_after "$at" "${resumed[@]}")
  # A lost averager is no member loss: its members are found again by the resumed averager.
  detection=$([ -n "$lost" ] && [ "$kind" != kill-averager ] && awk -v a="$at" -v b="$lost" 'BEGIN { printf "%.1f s", b - a }' || echo "-")
  training=$([ -n "$back" ] && awk -v a="$at" -v b="$back" 'BEGIN { printf "%.1f s", b - a }' || echo "-")
  printf '  %-14s %-45s detection %-8s training again %s\n' "$kind" "$target" "$detection" "$training"
done <"$events"
echo "faults recorded by the averager: $(wc -l <"$faulted/faults.jsonl") lines in $faulted/faults.jsonl"
echo "wall time: fault-free ${clean_wall} s, with $injected faults ${chaos_wall} s; goodput $(awk -v a="$clean_wall" -v b="$chaos_wall" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
exit "$status"
