#!/usr/bin/env bash
# The main job: installs packages, builds, and runs a single-node dev network
# on the embedded store (RocksDB in ./medchain-dev) with sample data, in the
# foreground. Ctrl-C stops it; running it again resumes the same chain.
#
#   MEDCHAIN_DEV_DIR   data folder (default ./medchain-dev)
#   MEDCHAIN_LISTEN    API address (default 127.0.0.1:7070)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# The FHIR R4 definitions the node's FHIR facade and `medchain fhir` read.
./scripts/fhir-definitions.sh >/dev/null
testdata="${MEDCHAIN_TESTDATA:-$(cd .. && pwd)/shared/testdata}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDCHAIN_TESTDATA="$testdata" >/dev/null
cmake --build build -j "$(nproc)" --target medchain medchaind

dir="${MEDCHAIN_DEV_DIR:-./medchain-dev}"
listen="${MEDCHAIN_LISTEN:-127.0.0.1:7070}"
url="http://$listen"

build/bin/medchaind --dev --data-dir "$dir" --listen "$listen" &
node=$!
stop() {
  trap - EXIT INT TERM
  kill -TERM "$node" 2>/dev/null || true
  wait "$node" 2>/dev/null || true
}
trap stop EXIT INT TERM

# Wait for the node to answer (at most 30 s).
for _ in $(seq 1 300); do
  if curl -fsS "$url/v1/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$node" 2>/dev/null; then echo "medchaind exited" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS "$url/v1/healthz" >/dev/null

echo "== sample data"
examples="$testdata/fhir/examples"
build/bin/medchain demo --node "$url" --dir "$dir" --examples "$examples"

cat <<EOT

== the dev node is running at $url (data in $dir, keys in $dir/keys, passphrase dev)
   curl $url/v1/checkpoint
   MEDCHAIN_PASSPHRASE=dev build/bin/medchain audit --node $url --key $dir/keys/pat-demo.key --patient pat-demo --proofs
   MEDCHAIN_PASSPHRASE=dev build/bin/medchain record get --node $url --key $dir/keys/pat-demo.key --patient pat-demo --type Observation --purpose self
   build/bin/medchain verify --data-dir $dir/node1     (after stopping the node)
Ctrl-C stops it.
EOT
wait "$node"
