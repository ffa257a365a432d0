#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Three medchaind nodes on Raft: writes and reads through every node.

- A transaction submitted with ?wait=commit to any node (leader or follower)
  is answered only once THAT node applied it: it is readable there at once.
- Without wait, a follower answers 202 and the transaction commits.
- A record written through one follower is read (POST /v1/reads, with its
  access event committed) through another.
- Load through all three nodes at once; then every node holds the same
  chain: the same block hash at every height.
- GET /v1/cluster: one leader, the others followers, every field present.
- GET /v1/checkpoints from a follower: every node's own signed checkpoint;
  `medchain audit-cluster` finds them consistent (exit 0).

Usage: cluster_replication_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import tempfile
import time

import cluster_harness as ch
import mcutil


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_replication")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, keep=args.keep) as c:
        leader = c.wait_leader()
        followers = [n for n in c.nodes if n is not leader]
        print(f"leader {leader.id}, followers {[f.id for f in followers]} ({ch.elapsed(start)})")

        t.section("?wait=commit through every node answers after that node applied it")
        for node in [leader] + followers:
            body = json.dumps({"digest": os.urandom(32).hex(), "note": f"via {node.id}"})
            p = c.cli("submit", "--node", node.url, "--key", c.key("admin"), "--type", "attest",
                      "--body", body)
            ok = p.returncode == 0
            out = json.loads(p.stdout) if ok else {}
            t.check(ok and out.get("status") == "committed",
                    f"{node.id}: submit with wait commits", p.stdout + p.stderr)
            if not ok:
                continue
            r = node.get(f"/v1/transactions/{out['id']}")
            t.check(r.status == 200 and r.json()["height"] == out["height"],
                    f"{node.id}: the transaction is readable there as soon as the answer came",
                    repr(r))

        t.section("without wait a follower answers 202, and the transaction commits")
        body = json.dumps({"digest": os.urandom(32).hex(), "note": "no wait"})
        p = c.cli("submit", "--node", followers[0].url, "--key", c.key("admin"), "--type",
                  "attest", "--body", body, "--no-wait")
        out = json.loads(p.stdout) if p.returncode == 0 else {}
        t.check(out.get("status") == "pending", "follower answers pending", p.stdout + p.stderr)
        if out:
            committed = mcutil.wait_for(
                lambda: followers[1].get(f"/v1/transactions/{out['id']}").status == 200, 30,
                "the unwaited transaction to commit on the other follower")
            t.check(committed, "it commits and reaches the other follower")

        t.section("a record written through one follower, read through the other")
        with tempfile.TemporaryDirectory() as tmp:
            pkey = os.path.join(tmp, "patient.key")
            p = c.cli("keygen", "--out", pkey, "--fast-kdf")
            t.check(p.returncode == 0, "patient key", p.stderr)
            p = c.cli("identity", "register", "--node", followers[0].url, "--key", pkey, "--id",
                      "patient-cl1", "--role", "patient")
            t.check(p.returncode == 0, "patient registers through follower 1", p.stdout + p.stderr)
            doc = os.path.join(tmp, "obs.json")
            with open(doc, "w") as f:
                f.write('{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"}}')
            p = c.cli("record", "put", "--node", followers[0].url, "--key",
                      c.key("dev-hospital"), "--patient", "patient-cl1", "--type", "Observation",
                      "--file", doc, "--record", "rec-cl1")
            t.check(p.returncode == 0, "custodian writes a record through follower 1",
                    p.stdout + p.stderr)
            p = c.cli("record", "get", "--node", followers[1].url, "--key", pkey, "--record",
                      "rec-cl1", "--purpose", "my own record")
            t.check(p.returncode == 0 and "HbA1c" in p.stdout,
                    "the patient reads and decrypts it through follower 2", p.stdout + p.stderr)
            audit = followers[1].get_json("/v1/patients/patient-cl1/audit")
            t.check(any(e.get("event") == "read" and e.get("record_id") == "rec-cl1" and
                        e.get("actor") == "patient-cl1" for e in audit["entries"]),
                    "the read's access event is on follower 2's ledger", json.dumps(audit)[:400])

        t.section("load through all three nodes at once")
        benches = [c.bench(n.url, txs=400, concurrency=8) for n in c.nodes]
        for n, b in zip(c.nodes, benches):
            out, _ = b.communicate(timeout=240)
            last = out.strip().splitlines()[-1] if out.strip() else ""
            res = json.loads(last) if last.startswith("{") else {}
            t.check(b.returncode == 0 and res.get("committed") == 400,
                    f"bench through {n.id}: 400 committed", out[-600:])

        t.section("batches (POST /v1/transactions/batch) through every node")
        acks = [os.path.join(c.dir, f"batch-acks-{n.id}.txt") for n in c.nodes]
        benches = [c.bench(n.url, txs=300, concurrency=2, batch=50, ack_file=f)
                   for n, f in zip(c.nodes, acks)]
        for n, b, f in zip(c.nodes, benches, acks):
            out, _ = b.communicate(timeout=240)
            last = out.strip().splitlines()[-1] if out.strip() else ""
            res = json.loads(last) if last.startswith("{") else {}
            t.check(b.returncode == 0 and res.get("committed") == 300,
                    f"batches through {n.id}: 300 committed", out[-600:])
            with open(f) as fh:
                ids = [line.strip() for line in fh if line.strip()]
            # ?wait=commit answers after the node that took the batch applied it.
            missing = [i for i in ids if n.get("/v1/transactions/" + i).status != 200]
            t.check(len(ids) == 300 and not missing,
                    f"every acknowledged transaction is already on {n.id}",
                    f"{len(ids)} acks, missing {missing[:3]}")
        height = c.wait_same_tip()
        hashes = [c.block_hashes(n, height) for n in c.nodes]
        t.check(len(hashes[0]) == height + 1, f"{height + 1} blocks listed")
        t.check(hashes[0] == hashes[1] == hashes[2],
                f"all three nodes hold the same block hash at every height 0..{height}")
        logs = {n.get_json(f"/v1/blocks/{height}")["log_root"] for n in c.nodes}
        t.check(len(logs) == 1, "same Merkle log root at the tip")

        t.section("GET /v1/cluster")
        view = followers[1].cluster_view()
        roles = sorted(n["role"] for n in view["nodes"])
        t.check(view["leader"] == leader.url, "names the leader's URL", json.dumps(view))
        t.check(roles == ["follower", "follower", "leader"], "one leader, two followers", roles)
        t.check(all(all(k in n and n[k] is not None for k in ("id", "url", "role", "term",
                                                              "applied"))
                    for n in view["nodes"]), "id, url, role, term, applied for every node")
        t.check(len({n["term"] for n in view["nodes"]}) == 1, "every node in the same term")

        t.section("checkpoints from every node")
        cps = followers[0].get_json("/v1/checkpoints")
        by_node = {x["node_id"]: x for x in cps["checkpoints"]}
        t.check(set(by_node) == {"node-1", "node-2", "node-3"}, "one checkpoint per node",
                json.dumps(cps)[:500])
        t.check(all(x.get("note", "").count("\u2014 " + nid + " ") == 1
                    for nid, x in by_node.items()),
                "each note is signed by its own node")
        t.check(len({x.get("size") for x in by_node.values()}) == 1,
                "all at the same log size (idle cluster)")
        p = c.cli("audit-cluster", "--nodes", ",".join(n.url for n in c.nodes))
        t.check(p.returncode == 0 and "consistent" in p.stdout, "audit-cluster: consistent",
                p.stdout + p.stderr)
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
