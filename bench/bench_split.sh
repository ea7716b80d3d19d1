#!/usr/bin/env bash
# The split link on the loopback: `hnd serve --bundle` with a small student
# (C=3, the demo's widths, transform 128/256) and `hnd split-detect` clients
# running the bundle's plain-C head.
#  1. load: 1, 4 and 16 concurrent clients, each a separate split-detect
#     process (one connection, --threads 1) sending its images one request at
#     a time; requests/s = all requests / (last reply - first send) over the
#     clients' --timings (one monotonic clock), and the p50/p95 of the
#     request latency (network + server: send start to reply received, so the
#     server's queueing is in it).
#  2. the latency model: one client at --rate-mbps 1 and 10 (the sends paced
#     as over a link of that rate); measured total per image (head + encode +
#     network+server) against head + 8 bytes / rate + tail from the same
#     run's measured head and tail (the model of hnd bench-latency); medians
#     and their ratio measured/model.
# usage: bench/bench_split.sh [BUILD_DIR] [IMAGES_PER_CLIENT]
set -euo pipefail
build=${1:-build}; per=${2:-6}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=${HND_PYTHON:-/usr/bin/python3}
hnd="$build/hnd"
tmp=$(mktemp -d)
srv_pid=""
cleanup() { [ -n "$srv_pid" ] && kill -INT "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

(cd "$here/../tests/py" && "$py" make_teacher.py "$tmp/S.h5" --student 3 --mask --fpn-channels 64 \
    --representation-size 256 --mask-channels 64 --anchor-sizes 8,16,32,64,128 >/dev/null)
"$hnd" synth --out "$tmp/syn" --train 0 --val "$per" --size 320x240 --quiet
"$hnd" export "$tmp/S.h5" --out "$tmp/B" --format c --min-size 128 --max-size 256 --quiet
"$hnd" serve --bundle "$tmp/B" --port 0 --max-conns 32 --quiet >"$tmp/serve.log" 2>&1 &
srv_pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$tmp/serve.log")
  [ -n "$port" ] && break
  kill -0 "$srv_pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "hnd serve did not start" >&2; cat "$tmp/serve.log" >&2; exit 1; }
server=127.0.0.1:$port
imgs="$tmp/syn/val"
# warm-up (the server's first request pays libtorch's lazy initialisation)
"$hnd" split-detect --head "$tmp/B" --server "$server" --out "$tmp/warm.json" --quiet --threads 1 "$imgs"

echo "bench_split: loopback, bundle C=3 8 bits (transform 128/256, 320x240 synth images), plain-C head"
echo "  load: N concurrent split-detect processes, $per requests each"
printf "  %8s %10s %10s %12s %12s\n" clients requests req/s "p50 ms" "p95 ms"
for n in 1 4 16; do
  pids=()
  for i in $(seq "$n"); do
    "$hnd" split-detect --head "$tmp/B" --server "$server" --out "$tmp/c$n-$i.json" --timings "$tmp/c$n-$i.csv" \
        --quiet --threads 1 "$imgs" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$py" - "$n" "$tmp"/c"$n"-*.csv <<'EOF'
import csv, sys
import numpy as np
rows = [r for f in sys.argv[2:] for r in csv.DictReader(open(f))]
t0 = min(float(r["t_start_ms"]) + float(r["head_ms"]) + float(r["encode_ms"]) for r in rows)   # first send
t1 = max(float(r["t_end_ms"]) for r in rows)
net = np.array([float(r["net_ms"]) for r in rows])
print("  %8s %10d %10.2f %12.1f %12.1f" % (sys.argv[1], len(rows), 1e3 * len(rows) / (t1 - t0),
                                            np.percentile(net, 50), np.percentile(net, 95)))
EOF
done

echo "  the latency model (one client): total = head + encode + network+server, model = head + 8 bytes / rate + tail"
printf "  %10s %10s %10s %10s %12s %12s %10s\n" "rate Mb/s" "head ms" "tail ms" "bytes" "measured ms" "model ms" ratio
for rate in 1 10; do
  "$hnd" split-detect --head "$tmp/B" --server "$server" --rate-mbps "$rate" --out "$tmp/r$rate.json" \
      --timings "$tmp/r$rate.csv" --quiet --threads 1 "$imgs"
  "$py" - "$rate" "$tmp/r$rate.csv" <<'EOF'
import csv, sys
import numpy as np
rate = float(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2])))
f = lambda k: np.array([float(r[k]) for r in rows])
head, tail, b, total = f("head_ms"), f("tail_ms"), f("bytes_sent"), f("total_ms")
model = head + 8 * b / (rate * 1e3) + tail
m, p = np.median(total), np.median(model)
print("  %10g %10.1f %10.1f %10.0f %12.1f %12.1f %10.3f" % (rate, np.median(head), np.median(tail), np.median(b),
                                                           m, p, m / p))
EOF
done
