#!/usr/bin/env bash
# Runs the load generator's scenarios against fastwsd and its peers (the
# FastAPI original's design, Node ws), several runs each, and writes a
# report with the medians and the fastwsd/peer ratios.
#
#   tests/bench/run.sh            full: 3 runs, ~15 min  -> tests/bench/RESULTS.md
#   BENCH_QUICK=1 tests/bench/run.sh   1 run, < 3 min   -> $BUILD/bench/RESULTS-quick.md
#   tests/bench/run.sh --idle     idle connections with heartbeats (up to 100000)
#                                                        -> tests/bench/RESULTS-idle.md
#
# Environment: BUILD (build), BENCH_RUNS, BENCH_SERVERS ("fastwsd fastapi node"),
# BENCH_OUT (report path), IDLE_N (100000 for --idle), BENCH_NO_PIN=1 (no taskset).
# Traffic goes to 127.0.0.0/8 only; every server and generator run is bounded
# in time and is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
FASTWSD=${FASTWSD:-$BUILD/fastwsd}
LOADGEN=${LOADGEN:-$BUILD/bench/loadgen}
PY=/usr/bin/python3 # Debian's Python: python3-fastapi and python3-uvicorn live there
PEERS=tests/bench/peers

MODE=full
[ "${BENCH_QUICK:-0}" = 1 ] && MODE=quick
[ "${1:-}" = --idle ] && MODE=idle
[ "${1:-}" = --quick ] && MODE=quick

case $MODE in
  full)
    RUNS=${BENCH_RUNS:-3}
    CONNECT_N=10000 CONNECT_CAP=20
    SUITE_N=1000 SUITE_D=7 SUITE_CAP=90
    PP_D=5
    IDLE_N=${IDLE_N:-5000} IDLE_D=8 IDLE_HB=2 IDLE_CAP=120
    SCENARIOS="connect suite pingpong idle"
    OUT=${BENCH_OUT:-tests/bench/RESULTS.md} ;;
  quick)
    RUNS=${BENCH_RUNS:-1}
    CONNECT_N=2000 CONNECT_CAP=8
    SUITE_N=200 SUITE_D=3 SUITE_CAP=20
    PP_D=2
    IDLE_N=${IDLE_N:-2000} IDLE_D=4 IDLE_HB=1 IDLE_CAP=60
    SCENARIOS="connect suite pingpong idle"
    OUT=${BENCH_OUT:-$BUILD/bench/RESULTS-quick.md} ;;
  idle)
    RUNS=${BENCH_RUNS:-1}
    IDLE_N=${IDLE_N:-100000} IDLE_D=30 IDLE_HB=5 IDLE_CAP=300
    SCENARIOS="idle"
    OUT=${BENCH_OUT:-tests/bench/RESULTS-idle.md} ;;
esac
SERVERS=${BENCH_SERVERS:-fastwsd fastapi node}

WORK=$(mktemp -d /tmp/fastwsd-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
SPID=
cleanup() {
  if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# --- build and dependencies ---------------------------------------------
[ -x "$FASTWSD" ] || make -s "$FASTWSD"
[ -x "$LOADGEN" ] || make -s "$LOADGEN"

SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
have_fastapi() { $PY -c 'import fastapi, uvicorn' 2>/dev/null; }
have_ws() { [ -f "$PEERS/node_modules/ws/package.json" ]; }
if [[ " $SERVERS " == *" fastapi "* ]] && ! have_fastapi; then
  log "installing python3-fastapi python3-uvicorn"
  { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
      python3-fastapi python3-uvicorn; } >&2 || true
  have_fastapi || { log "FastAPI peer unavailable: skipped"; SERVERS=${SERVERS/fastapi/}; }
fi
if [[ " $SERVERS " == *" node "* ]] && ! have_ws; then
  log "npm ci in $PEERS"
  (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error) >&2 || true
  have_ws || { log "Node ws peer unavailable: skipped"; SERVERS=${SERVERS/node/}; }
fi

# --- limits, pinning ------------------------------------------------------
# Every connection is a descriptor on both sides. Root may lift the hard
# limit (with CAP_SYS_RESOURCE); otherwise the soft limit goes up to it.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
IDLE_NOTE=
if [ "$NOFILE" != unlimited ] && [ "$IDLE_N" -gt $((NOFILE - 200)) ]; then
  IDLE_NOTE="idle clients capped at $((NOFILE - 200)) (asked $IDLE_N): open files limit $NOFILE cannot be raised here"
  IDLE_N=$((NOFILE - 200))
  log "$IDLE_NOTE"
fi
PIN_SRV=() PIN_GEN=() PIN_NOTE="not pinned"
if [ "${BENCH_NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SRV=(taskset -c 0) PIN_GEN=(taskset -c 1)
  PIN_NOTE="server on CPU 0, load generator on CPU 1 (taskset)"
fi

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME HEARTBEAT: sets SPID and SPORT, waits until GET / answers.
start_server() {
  local name=$1 hb=$2 i
  SPORT=$(free_port)
  case $name in
    fastwsd)
      cat >"$WORK/fastwsd.conf" <<EOF
[server]
listen = 127.0.0.1:$SPORT
static_dir = $ROOT/static
log_level = warn
echo_path = /echo
[websocket]
max_send_buffer = 268435456
heartbeat_interval = $hb
idle_timeout = 0
handshake_timeout = 60
permessage_deflate = off
rate_limit = 0
[limits]
max_connections = 1000000
max_connections_per_ip = 0
EOF
      "${PIN_SRV[@]}" "$FASTWSD" -c "$WORK/fastwsd.conf" 2>>"$WORK/$name.log" &
      ;;
    fastapi)
      "${PIN_SRV[@]}" $PY "$PEERS/fastapi_peer.py" --port "$SPORT" --heartbeat "$hb" \
        --echo-path /echo 2>>"$WORK/$name.log" &
      ;;
    node)
      "${PIN_SRV[@]}" node "$PEERS/node_ws_peer.js" --port "$SPORT" --heartbeat "$hb" \
        --echo-path /echo 2>>"$WORK/$name.log" &
      ;;
  esac
  SPID=$!
  for i in $(seq 1 150); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SPORT/"; then return 0; fi
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start; its log:"
  tail -n 20 "$WORK/$name.log" >&2 || true
  return 1
}

stop_server() {
  # The measurement is over: no graceful drain (that would replay a
  # user_left storm for every client the generator drops).
  if [ -n "$SPID" ]; then
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=
}

# gen RUN SERVER SCENARIO CAP ARGS...: one generator run, killed after CAP
# seconds at worst; its lines go to RESULTS, a summary to stderr.
gen() {
  local run=$1 server=$2 sc=$3 cap=$4 out rc=0
  shift 4
  out=$(timeout -k 5 "$cap" "${PIN_GEN[@]}" "$LOADGEN" "$sc" --port "$SPORT" --pid "$SPID" \
        --label "$server" "$@" 2>>"$WORK/loadgen.log") || rc=$?
  if [ -z "$out" ]; then
    log "  $server $sc run $run: no result (exit $rc); generator log:"
    tail -n 5 "$WORK/loadgen.log" >&2 || true
    echo "{\"run\":$run,\"scenario\":\"$sc\",\"server\":\"$server\",\"error\":\"exit $rc\"}" >>"$RESULTS"
    return
  fi
  sed "s/^{/{\"run\":$run,/" <<<"$out" >>"$RESULTS"
  $PY tests/bench/report.py --summary <<<"$out" >&2 || true
}

CMDS=$WORK/commands.txt
: >"$CMDS"
note_cmd() { grep -qxF -- "$*" "$CMDS" || echo "$*" >>"$CMDS"; }

run_scenario() {
  local run=$1 server=$2 sc=$3 hb=0
  [ "$sc" = idle ] && hb=$IDLE_HB
  start_server "$server" "$hb" || {
    echo "{\"run\":$run,\"scenario\":\"$sc\",\"server\":\"$server\",\"error\":\"server did not start\"}" >>"$RESULTS"
    return
  }
  local args cap
  case $sc in
    connect) args=(-n "$CONNECT_N" --setup-timeout "$CONNECT_CAP")
             cap=$((CONNECT_CAP + 30)) ;;
    suite) args=(-n "$SUITE_N" -k 10 -w 4 -r 20 -d "$SUITE_D" --drain-timeout 5
                 --setup-timeout "$SUITE_CAP" --phases broadcast,openloop,private)
           cap=$((SUITE_CAP + 3 * (SUITE_D + 5) + 30)) ;;
    pingpong) args=(-n 1 -d "$PP_D")
              cap=$((PP_D + 30)) ;;
    idle) args=(-n "$IDLE_N" -d "$IDLE_D" --echo-path /echo --setup-timeout "$IDLE_CAP")
          cap=$((IDLE_CAP + IDLE_D + 30)) ;;
  esac
  note_cmd "loadgen $sc --port PORT --pid SERVER_PID ${args[*]}   # server heartbeat $hb s"
  gen "$run" "$server" "$sc" "$cap" "${args[@]}"
  stop_server
}

START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "mode $MODE, $RUNS run(s), servers: $SERVERS; $PIN_NOTE; open files $NOFILE"
for run in $(seq 1 "$RUNS"); do
  for sc in $SCENARIOS; do
    for server in $SERVERS; do
      log "run $run/$RUNS: $sc on $server"
      run_scenario "$run" "$server" "$sc"
    done
  done
done
END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$OUT")"
REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- server protocol config 2>/dev/null || REV="$REV+uncommitted"
# The settings go into the .jsonl too, so report.py can regenerate the report.
$PY - "$MODE" "$RUNS" "$SERVERS" "$PIN_NOTE" "$CMDS" $((END - START)) "$LOAD_START" \
  "$LOAD_END" "$NOFILE" "$IDLE_NOTE" "$REV" >>"$RESULTS" <<'EOF'
import json, sys
k = ["mode", "runs", "servers", "pin", "commands", "elapsed", "load_start", "load_end",
     "nofile", "note", "fastwsd_rev"]
meta = dict(zip(k, sys.argv[1:]))
meta["commands"] = open(meta["commands"]).read().splitlines()
print(json.dumps({"meta": meta}))
EOF
cp "$RESULTS" "${OUT%.md}.jsonl"
$PY tests/bench/report.py --results "$RESULTS" --out "$OUT"
log "wrote $OUT (raw lines in ${OUT%.md}.jsonl) in $((END - START)) s"
