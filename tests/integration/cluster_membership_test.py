#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Membership changes through the ledger, under load.

Part 1, with `medchain bench submit --ack-file` running through a follower:
- node-4 is registered on the ledger (`medchain cluster register`: key, Raft
  id and addresses), started with an empty folder and no bootstrap (it
  fetches the ledger from peers), and made a voter (`medchain cluster add`:
  an admin-signed membership transaction, then the leader's AddServer);
- the leader itself is removed (`medchain cluster remove`): it steps down, a
  new leader takes over;
- the load never stops; nothing acknowledged is lost; the remaining three
  voters hold the same chain; /v1/cluster shows the new roles.

Part 2, a leader change between the ledger and Raft: node-5 is added while
it is not running (the membership transaction commits; Raft cannot promote
an absent server), then the leader is killed. The next leader reconciles the
Raft configuration with the ledger; once node-5 starts it becomes a voter.

Part 3: `medchain cluster assign --role standby` turns a voter into a
non-voting replica that still forwards writes and applies every block.

Usage: cluster_membership_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import time

import cluster_harness as ch
import mcutil

TXS = 3000


def roles(node):
    return {n["id"]: n["role"] for n in node.cluster_view()["nodes"]}


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_membership")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, keep=args.keep) as c:
        leader = c.wait_leader()
        via = next(n for n in c.nodes if n is not leader)
        admin = c.key("admin")

        t.section("part 1: add node-4 and remove the leader under load")
        n4 = c.new_node(4)
        p = c.register(n4, via)
        t.check(p.returncode == 0, "node-4 registered on the ledger", p.stdout + p.stderr)
        acks = os.path.join(c.dir, "acks.txt")
        bench = c.bench(via.url, txs=TXS, concurrency=8, ack_file=acks)
        mcutil.wait_for(lambda: len(ch.read_acks(acks)) >= 200, 120, "load running")

        n4.start()
        t.check("fetched the ledger up to height" in n4.log_text(),
                "node-4 fetched the ledger from peers before starting Raft")
        p = c.cli("cluster", "add", "--node", via.url, "--key", admin, "--id", "node-4",
                  "--timeout", "120")
        t.check(p.returncode == 0 and "node-4 is follower" in p.stdout,
                "cluster add node-4: a voter (follower)", p.stdout + p.stderr)
        p = c.cli("cluster", "remove", "--node", via.url, "--key", admin, "--id", leader.id,
                  "--timeout", "120")
        t.check(p.returncode == 0 and f"{leader.id} is none" in p.stdout,
                f"cluster remove {leader.id} (the leader)", p.stdout + p.stderr)
        remaining = [n for n in c.nodes if n is not leader]
        new = c.wait_leader(among=remaining, timeout=60)
        t.check(new is not leader, f"{new.id} leads after the old leader's removal")
        out, _ = bench.communicate(timeout=300)
        last = out.strip().splitlines()[-1] if out.strip() else ""
        res = json.loads(last) if last.startswith("{") else {}
        t.check(bench.returncode == 0 and res.get("committed") == TXS,
                f"the load never failed: {TXS} committed", out[-600:])
        leader.stop()
        tip = c.wait_same_tip(nodes=remaining)
        acked = ch.read_acks(acks)
        missing = ch.committed_everywhere(remaining, acked)
        t.check(len(acked) == TXS and not missing,
                f"all {len(acked)} acknowledged transactions on the three voters", missing[:5])
        hashes = [c.block_hashes(n, tip) for n in remaining]
        t.check(all(h == hashes[0] for h in hashes), f"same chain 0..{tip} on the three voters")
        r = roles(new)
        t.check(r.get(leader.id) == "none" and
                sorted(r[n.id] for n in remaining) == ["follower", "follower", "leader"],
                "/v1/cluster: removed node none; the three others leader/follower", r)
        view = new.cluster_view()
        t.check(view["leader"] == new.url, "/v1/cluster names the new leader", view)
        p = c.cli("cluster", "list", "--node", n4.url)
        t.check(p.returncode == 0 and "node-4" in p.stdout, "cluster list", p.stdout + p.stderr)
        print(p.stdout)

        t.section("part 2: a leader change between the ledger and Raft")
        n5 = c.new_node(5)
        p = c.register(n5, new)
        t.check(p.returncode == 0, "node-5 registered", p.stdout + p.stderr)
        p = c.cli("cluster", "add", "--node", new.url, "--key", admin, "--id", "node-5",
                  "--timeout", "2")
        t.check(p.returncode == 1 and "the ledger has the change" in p.stderr,
                "membership transaction committed; node-5 (not running) not a voter yet",
                p.stdout + p.stderr)
        new.sigkill()
        survivors = [n for n in remaining if n is not new]
        third = c.wait_leader(among=survivors, timeout=60)
        print(f"killed {new.id}; {third.id} leads ({ch.elapsed(start)})")
        n5.start()
        mcutil.wait_for(lambda: roles(third).get("node-5") in ("follower", "leader"), 120,
                        "node-5 to become a voter")
        t.check(True, f"the new leader {third.id} made node-5 a voter")
        t.check("membership: the ledger asks to" in third.log_text(),
                "the new leader's log shows the reconciliation")
        rc, out = c.submit_load(n5.url, txs=200, concurrency=4)
        t.check(rc == 0, "200 transactions through node-5 commit", out[-300:])
        new.start()
        tip = c.wait_same_tip(nodes=survivors + [n5, new], timeout=120)
        hashes = [c.block_hashes(n, tip) for n in survivors + [n5, new]]
        t.check(all(h == hashes[0] for h in hashes), f"four voters, same chain 0..{tip}")

        t.section("part 3: a voter becomes a non-voting replica")
        members = survivors + [n5, new]
        lead = c.wait_leader(among=members)
        replica = next(n for n in members if n is not lead)
        p = c.cli("cluster", "assign", "--node", lead.url, "--key", admin, "--id", replica.id,
                  "--role", "standby", "--timeout", "60")
        t.check(p.returncode == 0 and f"{replica.id} is standby" in p.stdout,
                f"cluster assign {replica.id} standby", p.stdout + p.stderr)
        r = roles(lead)
        t.check(sorted(r[n.id] for n in members) == ["follower", "follower", "leader", "standby"],
                "/v1/cluster: three voters and one standby", r)
        rc, out = c.submit_load(replica.url, txs=100, concurrency=4)
        t.check(rc == 0, "the standby accepts writes (forwarded) and commits", out[-300:])
        tip = c.wait_same_tip(nodes=members)
        hashes = [c.block_hashes(n, tip) for n in members]
        t.check(all(h == hashes[0] for h in hashes), f"the standby applies every block 0..{tip}")
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
