#!/usr/bin/env bash
# Copyright (c) medchain developers.
# etcd_bench.sh: the replicated put rate of a 3-member etcd cluster on
# 127.0.0.1 (Debian's etcd-server 3.4, fsync on), for comparison with
# medchain's replicated commit rate (bench/cluster_bench.py runs both).
#
#   bench/etcd_bench.sh [--puts N] [--concurrency C] [--value-bytes B] [--members M]
#
# Three members (ports picked by the OS), each with its own data folder under
# a temporary directory, default timeouts. The load goes to the leader over
# etcd's HTTP/JSON gateway (POST /v3/kv/put), C keep-alive connections, each
# sending its next put when the previous one returned (closed loop, like
# `medchain bench submit`): a put returns once the entry is committed by a
# quorum and applied by the leader. Distinct keys, B-byte values.
#
# No Go toolchain or etcd benchmark tool is installed, so the client is a
# small asyncio program (Python standard library) embedded below; its CPU use
# is reported, since the client shares the machine's two cores with etcd.
#
# Prints a table, and as its LAST line
#   {"system":"etcd","members":3,"puts":N,"concurrency":C,"tx_per_s":X,"p50_ms":X,"p99_ms":X}
set -euo pipefail

PUTS=30000
CONC=200
VALUE=200
MEMBERS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --puts) PUTS="$2"; shift 2 ;;
    --concurrency) CONC="$2"; shift 2 ;;
    --value-bytes) VALUE="$2"; shift 2 ;;
    --members) MEMBERS="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v etcd >/dev/null || { echo "etcd not found (apt install etcd-server)" >&2; exit 2; }

DIR=$(mktemp -d /tmp/etcd-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

CLIENT=()
PEER=()
INITIAL=""
for ((i = 1; i <= MEMBERS; i++)); do
  CLIENT[$i]=$(free_port)
  PEER[$i]=$(free_port)
  INITIAL+="${INITIAL:+,}m$i=http://127.0.0.1:${PEER[$i]}"
done
for ((i = 1; i <= MEMBERS; i++)); do
  etcd --name "m$i" --data-dir "$DIR/m$i" \
    --listen-client-urls "http://127.0.0.1:${CLIENT[$i]}" \
    --advertise-client-urls "http://127.0.0.1:${CLIENT[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${PEER[$i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${PEER[$i]}" \
    --initial-cluster "$INITIAL" --initial-cluster-state new \
    --initial-cluster-token "bench-$$" --log-level error >"$DIR/m$i.log" 2>&1 &
  PIDS+=($!)
done
ENDPOINTS=""
for ((i = 1; i <= MEMBERS; i++)); do
  ENDPOINTS+="${ENDPOINTS:+,}http://127.0.0.1:${CLIENT[$i]}"
done

# Wait (polling, with a deadline) until every member is healthy.
deadline=$((SECONDS + 60))
until ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1; do
  if ((SECONDS > deadline)); then
    echo "etcd did not become healthy; logs in $DIR" >&2
    cat "$DIR"/m*.log >&2
    exit 1
  fi
  sleep 0.2
done
LEADER=$(ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint status -w json |
  python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["Status"]["leader"] == e["Status"]["header"]["member_id"]:
        print(e["Endpoint"])')
echo "etcd $(etcd --version | head -1 | awk '{print $3}'): $MEMBERS members, leader $LEADER" >&2

python3 - "$LEADER" "$PUTS" "$CONC" "$VALUE" "$MEMBERS" <<'EOF'
import asyncio, base64, json, os, resource, sys, time

url, puts, conc, value_bytes, members = sys.argv[1], *map(int, sys.argv[2:6])
host, port = url[len("http://"):].split(":")
value = base64.b64encode(os.urandom(value_bytes)).decode()

def request(i):
    key = base64.b64encode(f"bench/{i:010d}".encode()).decode()
    body = json.dumps({"key": key, "value": value}).encode()
    return (f"POST /v3/kv/put HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(length or 0)
    return status, body

async def worker(queue, latencies, errors):
    reader, writer = await asyncio.open_connection(host, int(port))
    while True:
        try:
            i = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        t0 = time.perf_counter()
        writer.write(request(i))
        status, body = await read_response(reader)
        if status != 200 or b"header" not in body:
            errors.append((status, body[:200]))
            continue
        latencies.append(time.perf_counter() - t0)
    writer.close()

async def run(n, offset):
    queue = asyncio.Queue()
    for i in range(offset, offset + n):
        queue.put_nowait(i)
    latencies, errors = [], []
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(queue, latencies, errors) for _ in range(conc)))
    return time.perf_counter() - t0, latencies, errors

asyncio.run(run(min(2000, puts), 10**9))  # warm-up
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
wall, lat, errors = asyncio.run(run(puts, 0))
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0
cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
rate = len(lat) / wall
print(f"  etcd puts: {len(lat)} in {wall:.2f} s: {rate:.0f} puts/s; p50 {pct(0.5):.1f} ms, "
      f"p99 {pct(0.99):.1f} ms; errors {len(errors)}; client CPU {100 * cpu / wall:.0f}% of a core",
      file=sys.stderr)
if errors:
    print(f"  first error: {errors[0]}", file=sys.stderr)
print(json.dumps({"system": "etcd", "members": members, "puts": len(lat), "concurrency": conc,
                  "tx_per_s": round(rate, 1), "p50_ms": round(pct(0.5), 2),
                  "p99_ms": round(pct(0.99), 2), "client_cpu": round(cpu / wall, 2)}))
sys.exit(1 if errors else 0)
EOF
