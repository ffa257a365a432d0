#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""A node down for 10,000 transactions catches up through a Raft snapshot.

Three nodes with tiny Raft snapshots ([raft] snapshot_threshold = 16,
snapshot_trailing = 16: the Raft log keeps at most ~32 blocks). One follower
stops; 10,000 transactions commit without it, so the leader's Raft log no
longer holds what the follower misses (checked: the leader's snapshot index
is past the follower's applied index plus the trailing entries). When the
follower restarts, libraft sends it a snapshot: the node installs it
(Restore), fetches the missing blocks from peers (GET /v1/sync/H), validates
and applies each, and ends with a byte-identical chain. Asserted from the
node's metrics (medchain_snapshot_restores_total,
medchain_catchup_blocks_total) and its log, not only from the heights.

Usage: cluster_snapshot_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import time

import cluster_harness as ch
import mcutil

TXS = 10000
TRAILING = 16


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_snapshot")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, snapshot_threshold=16, snapshot_trailing=TRAILING,
                    keep=args.keep) as c:
        leader = c.wait_leader()
        lagger = next(n for n in c.nodes if n is not leader)
        c.submit_load(leader.url, txs=50, concurrency=4)
        c.wait_same_tip()
        applied_before = lagger.metric("medchain_raft_applied_index")
        height_before = lagger.height()
        lagger.stop()
        print(f"stopped {lagger.id} at height {height_before}, Raft index {applied_before:.0f} "
              f"({ch.elapsed(start)})")

        # A record written while it is down: its ciphertext and wrapped keys
        # must reach the node through the catch-up (a node-signed GET /v1/sync).
        pkey = os.path.join(c.dir, "keys", "pat-snap.key")
        plain = os.path.join(c.dir, "snap-record.json")
        with open(plain, "w") as f:
            f.write('{"resourceType":"Observation","status":"final","id":"snap"}')
        steps = [c.cli("keygen", "--out", pkey, "--participant-id", "pat-snap", "--fast-kdf"),
                 c.cli("identity", "register", "--node", leader.url, "--key", pkey,
                       "--id", "pat-snap", "--role", "patient"),
                 c.cli("record", "put", "--node", leader.url, "--key", c.key("dev-hospital"),
                       "--patient", "pat-snap", "--type", "Observation", "--file", plain,
                       "--record", "rec-snap")]
        t.check(all(p.returncode == 0 for p in steps),
                "a patient and an encrypted record are written while it is down",
                "".join(p.stderr for p in steps)[-500:])

        rc, out = c.submit_load(leader.url, txs=TXS, concurrency=64, timeout=600)
        res = json.loads(out.strip().splitlines()[-1])
        t.check(rc == 0 and res["committed"] == TXS,
                f"{TXS} transactions committed while it was down ({res.get('tx_per_s')} tx/s)",
                out[-500:])
        live = [n for n in c.nodes if n is not lagger]
        height = c.wait_same_tip(nodes=live)
        size = leader.get_json(f"/v1/blocks/{height}")["log_size"]
        t.check(size - leader.get_json(f"/v1/blocks/{height_before}")["log_size"] >= TXS,
                f"the ledger grew by >= {TXS} transactions ({height - height_before} blocks)")
        snap = leader.metric("medchain_raft_snapshot_index")
        t.check(snap > applied_before + TRAILING,
                f"the leader's Raft log was compacted past the stopped node (snapshot at index "
                f"{snap:.0f}, node at {applied_before:.0f})")

        lagger.start()
        caught = c.wait_same_tip(at_least=height, timeout=300)
        t.check(caught >= height, f"{lagger.id} caught up to height {caught}")
        restores = lagger.metric("medchain_snapshot_restores_total")
        fetched = lagger.metric("medchain_catchup_blocks_total")
        t.check(restores >= 1, f"it installed a Raft snapshot (restores: {restores:.0f})")
        t.check(fetched >= height - height_before - 2 * TRAILING,
                f"it fetched the missed blocks from peers ({fetched:.0f} blocks)")
        log = lagger.log_text()
        t.check("restore: installing Raft snapshot" in log and "restore: done" in log,
                "its log shows the restore and the catch-up")
        hashes = [c.block_hashes(n, caught) for n in c.nodes]
        t.check(hashes[0] == hashes[1] == hashes[2],
                f"byte-identical chains: the same block hash at every height 0..{caught}")
        tips = {(n.get_json(f"/v1/blocks/{caught}")["hash"],
                 n.get_json(f"/v1/blocks/{caught}")["log_root"]) for n in c.nodes}
        t.check(len(tips) == 1, "same tip hash and log root")
        got = c.cli("record", "get", "--node", lagger.url, "--key", pkey, "--record", "rec-snap",
                    "--purpose", "self")
        t.check(got.returncode == 0 and '"id":"snap"' in got.stdout,
                "the record written while it was down is read through it (its ciphertext came "
                "with the catch-up)", got.stdout[-300:] + got.stderr[-300:])
        # It keeps applying after the restore.
        rc, out = c.submit_load(lagger.url, txs=100, concurrency=4)
        t.check(rc == 0, "100 more through the restored node commit", out[-300:])
        after = c.wait_same_tip(at_least=caught + 1)
        t.check(after > caught, "and every node applies them")
        c.stop_all()
        p = c.verify(lagger)
        t.check(p.returncode == 0 and p.stdout.startswith("ok:"),
                f"medchain verify --data-dir {lagger.id}: its caught-up chain verifies",
                p.stdout + p.stderr)
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
