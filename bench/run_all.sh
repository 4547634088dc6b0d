#!/usr/bin/env bash
# The full run behind bench/RESULTS.md: every scenario at its target size, RedBeat beside
# luasched where issue 5 asks for it. Results land in bench/results/ (JSON, PNG, text).
# Usage: bench/run_all.sh [python]   (default: python3; about 15 minutes on 2 cores)
# The last run publishes to RabbitMQ on 127.0.0.1:5672.
set -euo pipefail
PY=${1:-python3}
OUT=$(dirname "$0")/results
mkdir -p "$OUT"
export COLUMNS=${COLUMNS:-110}

run() {  # run NAME ARGS...: one scenario, its table in NAME.txt, its JSON in NAME.json
    local name=$1; shift
    echo "== $name: python -m luasched.bench $*"
    "$PY" -m luasched.bench "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
}

run claim claim
run scale scale --max-entries 1000000
run memory memory --entries 10000
run publish publish --messages 5000
run herd-1000 herd --entries 1000 --compare redbeat --plot "$OUT/herd-1000.png"
run herd-5000 herd --entries 5000 --compare redbeat --plot "$OUT/herd-5000.png"
run herd-100k herd --entries 100000 --replicas 4 --buckets 16 --plot "$OUT/herd-100k.png"
run herd-minute herd --entries 1000 --real-minute
run interval-2000 interval --entries 2000 --seconds 60 --compare redbeat
run interval-10000 interval --entries 10000 --seconds 60 --replicas 2 --buckets 8 --compare redbeat \
    --plot "$OUT/interval-10000.png"
run failover failover --compare redbeat
run failover-fast failover --member-ttl 1.5 --rescue-grace 1
run herd-5000-rabbitmq herd --entries 5000 --compare redbeat --broker amqp://guest:guest@127.0.0.1:5672//
