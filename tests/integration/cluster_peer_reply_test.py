#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""A peer that answers with an oversize reply is refused cleanly (issue 14).

A fake peer (a Python HTTP server on 127.0.0.1 in this process) answers every
GET with a 256 MiB body, streamed (chunked, or with its Content-Length) so
the fake itself holds none of it, and counts the bytes it got to send before
the node hung up.

Part 1, the /v1/cluster fan-out: node-4 is registered on the ledger with the
fake's URL as its API URL, so GET /v1/cluster on node-1 asks the fake for its
row. The answer is 200 at once, node-4 unreachable, node-2 and node-3
reachable; node-1 read at most about its 1 MiB bound of each reply, its RSS
(peak, VmHWM) did not grow by anything like the reply, and a burst of concurrent
/v1/cluster requests starts no thread (the fan-out runs on a fixed pool).

Part 2, catch-up block fetches: with the cluster stopped, node-5 (not in the
ledger, api.peer_reply_max_bytes = 4 MiB, raft.join = the fake) asks the
fake for the ledger's height, then for block 1, gets 256 MiB, and logs that
the peer sent a reply over 4194304 bytes, with its RSS bounded.

Usage: cluster_peer_reply_test.py --bin-dir BUILD/bin --testdata PATH
"""
import concurrent.futures
import http.server
import os
import re
import subprocess
import threading
import time

import cluster_harness as ch
import mcutil

OVERSIZE = 256 << 20
CHUNK = 64 << 10
MIB = 1 << 20


class FakePeer:
    """Answers /v1/node with a height, everything else with OVERSIZE bytes."""

    def __init__(self):
        self.mode = "chunked"  # or "length"
        self.lock = threading.Lock()
        self.sent = {}  # path -> bytes sent per request, in order
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/v1/node":
                    body = b'{"id":"fake","height":5}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                chunked = fake.mode == "chunked"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(OVERSIZE))
                self.end_headers()
                sent = 0
                piece = b"[" * CHUNK
                try:
                    while sent < OVERSIZE:
                        if chunked:
                            self.wfile.write(b"%x\r\n" % CHUNK + piece + b"\r\n")
                        else:
                            self.wfile.write(piece)
                        sent += CHUNK
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    pass  # the node hung up: what we want
                with fake.lock:
                    fake.sent.setdefault(self.path.split("?")[0], []).append(sent)
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", mcutil.free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent_to(self, path):
        with self.lock:
            return list(self.sent.get(path, []))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{field}:\s+(\d+)", f.read(), re.M)
    return int(m.group(1))


def peak_rss_mib(pid):
    """The process's peak resident set (VmHWM): a reply read whole and freed
    since would still show here, where VmRSS may have dropped back."""
    return proc_status(pid, "VmHWM") / 1024.0


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_peer_reply")
    fake = FakePeer()
    try:
        with ch.Cluster(args.bin_dir, nodes=3, keep=args.keep) as c:
            n1 = c.nodes[0]
            c.wait_leader()

            t.section("part 1: /v1/cluster asks a peer that answers 256 MiB")
            n4 = c.new_node(4)
            p = c.cli("cluster", "register", "--node", n1.url, "--key", c.key("admin"),
                      "--id", n4.id, "--subject-key", n4.key(), "--org", "dev-hospital",
                      "--raft-id", "4", "--raft-address", n4.raft_address, "--api-url", fake.url)
            t.check(p.returncode == 0, "node-4 registered with the fake peer's URL",
                    p.stdout + p.stderr)
            mcutil.wait_for(lambda: "node-4" in {r["id"] for r in n1.cluster_view()["nodes"]},
                            60, "node-4 listed by node-1")
            pid = n1.proc.pid
            rss_before = peak_rss_mib(pid)
            for mode in ("chunked", "length"):
                fake.mode = mode
                for _ in range(3):
                    start = time.monotonic()
                    r = n1.get("/v1/cluster", timeout=30)
                    took = time.monotonic() - start
                    rows = {n["id"]: n for n in r.json()["nodes"]}
                    t.check(r.status == 200 and rows["node-4"]["reachable"] is False
                            and rows["node-2"]["reachable"] is True
                            and rows["node-3"]["reachable"] is True,
                            f"{mode}: /v1/cluster answers, node-4 unreachable, node-2/3 reachable",
                            r.text())
                    t.check(took < 3.0, f"{mode}: /v1/cluster answered in {took:.2f} s (< 3 s)")
            mcutil.wait_for(lambda: len(fake.sent_to("/v1/cluster")) >= 7, 30,
                            "the fake saw all six asks end")
            sent = fake.sent_to("/v1/cluster")
            print(f"bytes the fake got to send per ask (of {OVERSIZE}): {sent}")
            t.check(len(sent) >= 6 and all(s <= 16 * MIB for s in sent),
                    "node-1 hung up after at most 16 MiB of each 256 MiB reply "
                    "(its 1 MiB bound plus what the sockets buffer)", sent)
            rss_after = peak_rss_mib(pid)
            print(f"node-1 peak RSS (VmHWM) {rss_before:.1f} MiB before, "
                  f"{rss_after:.1f} MiB after 6 asks")
            t.check(rss_after - rss_before < 48, "node-1's peak RSS grew by less than 48 MiB "
                    f"({rss_after - rss_before:.1f} MiB) for 6 replies of 256 MiB")
            h = n1.health()
            t.check(h[0] == 200, "node-1 is healthy", h)

            fake.mode = "chunked"
            threads_before = proc_status(pid, "Threads")
            most = threads_before
            with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
                futures = [ex.submit(n1.get, "/v1/cluster", 30) for _ in range(40)]
                while not all(f.done() for f in futures):
                    most = max(most, proc_status(pid, "Threads"))
                    time.sleep(0.005)  # sampling interval, not a wait for a condition
                statuses = [f.result().status for f in futures]
            print(f"node-1 threads: {threads_before} before, at most {most} during 40 "
                  "concurrent /v1/cluster requests")
            t.check(all(s == 200 for s in statuses), "40 concurrent /v1/cluster all answer 200",
                    statuses)
            t.check(most <= threads_before + 2,
                    "no thread started per /v1/cluster request (fixed fan-out pool)",
                    (threads_before, most))

            t.section("part 2: catch-up from a peer that sends a 256 MiB block")
            c.stop_all()
            n5 = c.new_node(5)
            with open(n5.config) as f:
                text = f.read()
            text = text.replace("[api]\n", "[api]\npeer_reply_max_bytes = 4194304\n", 1)
            text = re.sub(r"^join = .*\n", "", text, flags=re.M)
            text = text.replace("[raft]\n", f'[raft]\njoin = ["{fake.url}"]\n', 1)
            with open(n5.config, "w") as f:
                f.write(text)
            env = dict(os.environ, MEDCHAIN_PASSPHRASE=ch.PASS)
            log = open(n5.log_path, "ab")
            proc = subprocess.Popen([os.path.join(args.bin_dir, "medchaind"), "--config",
                                     n5.config], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
            mcutil._live_processes.append(proc)
            try:
                want = f"the peer at {fake.url} sent a reply over 4194304 bytes"
                mcutil.wait_for(lambda: want in n5.log_text() or proc.poll() is not None, 60,
                                "node-5 refused the oversize block")
                t.check(want in n5.log_text(), "node-5 logs: " + want, n5.log_tail())
                mcutil.wait_for(lambda: len(fake.sent_to("/v1/sync/1")) >= 3, 60,
                                "node-5 asked again")
                t.check(proc.poll() is None, "node-5 keeps running (retries the peers)")
                sync_sent = fake.sent_to("/v1/sync/1")
                rss5 = peak_rss_mib(proc.pid)
                print(f"/v1/sync/1 bytes sent per attempt: {sync_sent}; "
                      f"node-5 peak RSS (VmHWM) {rss5:.1f} MiB")
                t.check(all(s <= 16 * MIB for s in sync_sent),
                        "node-5 hung up after at most 16 MiB of each 256 MiB block", sync_sent)
                t.check(rss5 < 200, f"node-5's peak RSS ({rss5:.1f} MiB) is far below one reply")
                t.check(n5.log_text().count(want) == 1,
                        "the refusal is logged once per peer, not once per attempt")
            finally:
                proc.kill()
                proc.wait()
                log.close()
    finally:
        fake.close()
    t.finish()


if __name__ == "__main__":
    main()
