#!/bin/bash
# A/B of two fastwsd binaries: broadcast (1000 clients) and private
# throughput, alternating runs, medians. Loopback only, bounded by timeouts.
#   tests/bench/ab.sh OLD_BINARY NEW_BINARY [RUNS]
cd "$(dirname "$0")/../.."
OLD=$1; NEW=$2; RUNS=${3:-3}
W=$(mktemp -d /tmp/fastwsd-ab.XXXXXX)
[ -x build/bench/loadgen ] || make -s build/bench/loadgen
for run in $(seq 1 $RUNS); do
 for label in old new; do
  bin=$OLD; [ $label = new ] && bin=$NEW
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > $W/c.conf <<C
[server]
listen = 127.0.0.1:$port
static_dir = static
log_level = warn
[websocket]
max_send_buffer = 268435456
heartbeat_interval = 0
idle_timeout = 0
handshake_timeout = 60
permessage_deflate = off
rate_limit = 0
[limits]
max_connections = 1000000
C
  taskset -c 0 $bin -c $W/c.conf 2>>$W/srv.log & pid=$!
  for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.1; done
  timeout -k 5 150 taskset -c 1 build/bench/loadgen suite --port $port --pid $pid --label $label -n 1000 -k 10 -w 4 -r 20 -d 7 --drain-timeout 5 --setup-timeout 90 --phases broadcast,private 2>>$W/gen.log | sed "s/^{/{\"run\":$run,/" >> $W/res.jsonl
  kill -9 $pid; wait $pid 2>/dev/null
 done
done
python3 - $W/res.jsonl <<'P'
import json,sys,statistics
rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys=set()
for r in rows: keys|=set(k for k,v in r.items() if isinstance(v,(int,float)))
by={}
for r in rows:
    by.setdefault((r.get('label') or r.get('server'), r.get('phase') or r.get('scenario')),[]).append(r)
for k,v in sorted(by.items(), key=lambda kv: str(kv[0])):
    for f in ('deliveries_per_s','msgs_per_s'):
        vals=[x[f] for x in v if f in x]
        if vals: print(k, f, 'median', statistics.median(vals), vals)
P
echo "raw: $W/res.jsonl"
