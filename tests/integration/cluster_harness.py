# Copyright (c) medchain developers.
"""A Raft cluster of real medchaind processes on 127.0.0.1, for the
cluster_*_test.py functional tests (Python 3 standard library only).

    import mcutil, cluster_harness as ch

    with ch.Cluster(args.bin_dir, nodes=3) as c:      # created, started, leader elected
        leader = c.leader()                           # a ClusterNode
        c.submit_load(c.nodes[1].url, txs=500)        # `medchain bench submit`
        c.wait_same_tip()
        hashes = c.block_hashes(c.nodes[0])           # every block hash, height 0..tip
        c.nodes[2].sigkill(); c.nodes[2].start()

The folder is made by `medchain devnet --init-only` with ports the OS just
handed out (mcutil.free_port), then each node's medchaind.toml is adjusted
(faster elections, small snapshots, a short commit wait: see Cluster()).
Nodes are started one process each (`medchaind --config`), so a test can
kill -9, stop and restart any of them. Every process started is killed on
exit (context manager, and mcutil's atexit hook).
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import mcutil

PASS = mcutil.DEV_PASSPHRASE


class ClusterNode:
    """One medchaind of the cluster: nodeK/ in the cluster folder."""

    def __init__(self, cluster, k, api_port, raft_port):
        self.cluster = cluster
        self.k = k
        self.id = f"node-{k}"
        self.api_port = api_port
        self.raft_port = raft_port
        self.dir = os.path.join(cluster.dir, f"node{k}")
        self.config = os.path.join(self.dir, "medchaind.toml")
        self.log_path = os.path.join(self.dir, "medchaind.log")
        self.proc = None
        self.env = {}
        self._log = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def raft_address(self):
        return f"127.0.0.1:{self.raft_port}"

    def key(self):
        return os.path.join(self.cluster.dir, "keys", self.id + ".key")

    def start(self, env=None):
        """Starts the process; returns once its API answers (any status: a
        Raft node says 503 until it knows a leader)."""
        assert not self.running(), f"{self.id} is already running"
        if env is not None:
            self.env = dict(env)
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.pop("MEDCHAIN_TEST_TAMPER_APPLY", None)
        full_env["MEDCHAIN_PASSPHRASE"] = PASS
        full_env.update(self.env)
        self.proc = subprocess.Popen(
            [os.path.join(self.cluster.bin_dir, "medchaind"), "--config", self.config],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env)
        mcutil._live_processes.append(self.proc)

        def answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.id} exited with {self.proc.returncode} while starting:\n"
                                   + self.log_tail())
            try:
                mcutil.request("GET", self.url + "/v1/healthz", timeout=5)
                return True
            except OSError:
                return False

        mcutil.wait_for(answers, 120, f"{self.id}'s API to answer")
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def sigkill(self):
        """kill -9: no shutdown code runs."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self._close_log()

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- API --
    def get(self, path, timeout=30):
        return mcutil.request("GET", self.url + path, timeout=timeout)

    def get_json(self, path, timeout=30):
        r = self.get(path, timeout)
        if r.status != 200 or r.json() is None:
            raise AssertionError(f"{self.id} GET {path}: {r!r}")
        return r.json()

    def health(self):
        """(HTTP status, JSON) of /v1/healthz; (0, None) when unreachable."""
        try:
            r = self.get("/v1/healthz", timeout=5)
            return r.status, r.json()
        except OSError:
            return 0, None

    def height(self):
        status, j = self.health()
        return j["height"] if j else -1

    def metric(self, name):
        """The value of an unlabelled Prometheus series."""
        text = self.get("/metrics").text()
        m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def cluster_view(self):
        return self.get_json("/v1/cluster", timeout=10)


class Cluster:
    """N medchaind processes forming one Raft cluster (see module doc).

    Config overrides (written into every nodeK/medchaind.toml):
      election_ms / heartbeat_ms   Raft timeouts (fast failover on loopback)
      snapshot_threshold/trailing  Raft snapshot policy (small: snapshots early)
      wait_timeout_ms              how long ?wait=commit waits
      max_delay_ms                 block cutter's delay
    """

    def __init__(self, bin_dir, nodes=3, election_ms=300, heartbeat_ms=30,
                 snapshot_threshold=None, snapshot_trailing=None, wait_timeout_ms=None,
                 max_delay_ms=None, keep=False, start=True):
        self.bin_dir = bin_dir
        self.n = nodes
        self.dir = tempfile.mkdtemp(prefix="medchain-cluster-")
        self.keep = keep
        self.overrides = {
            "election_timeout_ms": election_ms,
            "heartbeat_timeout_ms": heartbeat_ms,
            "snapshot_threshold": snapshot_threshold,
            "snapshot_trailing": snapshot_trailing,
            "wait_timeout_ms": wait_timeout_ms,
            "max_delay_ms": max_delay_ms,
        }
        self.autostart = start
        self.nodes = []
        self._bench = []

    # -- life cycle --
    def create(self):
        api = [mcutil.free_port() for _ in range(self.n)]
        raft = [mcutil.free_port() for _ in range(self.n)]
        p = self.cli("devnet", "--nodes", str(self.n), "--dir", self.dir,
                     "--api-ports", ",".join(map(str, api)),
                     "--raft-ports", ",".join(map(str, raft)), "--fast-kdf", "--init-only")
        if p.returncode != 0:
            raise RuntimeError("devnet --init-only failed: " + p.stderr)
        for k in range(1, self.n + 1):
            node = ClusterNode(self, k, api[k - 1], raft[k - 1])
            self.configure(node)
            self.nodes.append(node)
        return self

    def configure(self, node):
        with open(node.config) as f:
            text = f.read()
        for key, value in self.overrides.items():
            if value is None:
                continue
            text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
            if n == 0:
                section = {"wait_timeout_ms": "api", "max_delay_ms": "blocks"}.get(key, "raft")
                text = text.replace(f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
        with open(node.config, "w") as f:
            f.write(text)

    def start_all(self):
        for node in self.nodes:
            node.start()
        self.wait_leader()
        return self

    def stop_all(self):
        for node in self.nodes:
            node.stop()

    def cleanup(self):
        for b in self._bench:
            if isinstance(b, ClusterNode):
                b.sigkill()
            elif b.poll() is None:
                b.kill()
                b.wait()
        for node in self.nodes:
            node.sigkill()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"kept {self.dir}")

    def __enter__(self):
        try:
            self.create()
            if self.autostart:
                self.start_all()
            return self
        except BaseException:
            self.dump_logs()
            self.cleanup()
            raise

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_logs()
        self.cleanup()
        return False

    def dump_logs(self, lines=40):
        for node in self.nodes:
            print(f"---- {node.id} log (last {lines} lines)\n{node.log_tail(lines)}", flush=True)

    def new_node(self, k):
        """Prepares node k of a later membership change: its key file
        (keys/node-k.key), ports and nodeK/medchaind.toml (a copy of node 1's
        settings, no bootstrap: it is not in the genesis). Not registered,
        not started: returns the ClusterNode."""
        node = ClusterNode(self, k, mcutil.free_port(), mcutil.free_port())
        p = self.cli("keygen", "--out", node.key(), "--label", node.id, "--fast-kdf")
        if p.returncode != 0:
            raise RuntimeError("keygen failed: " + p.stderr)
        os.makedirs(node.dir, exist_ok=True)
        with open(self.nodes[0].config) as f:
            text = f.read()
        text = re.sub(r'^id = ".*"$', f'id = "{node.id}"', text, flags=re.M)
        text = re.sub(r'^key_file = ".*"$', f'key_file = "../keys/{node.id}.key"', text, flags=re.M)
        text = re.sub(r'^listen = ".*"$', f'listen = "127.0.0.1:{node.api_port}"', text, flags=re.M)
        text = re.sub(r'^public_url = ".*"$', f'public_url = "{node.url}"', text, flags=re.M)
        text = re.sub(r'^address = ".*"$', f'address = "{node.raft_address}"', text, flags=re.M)
        with open(node.config, "w") as f:
            f.write(text)
        self.nodes.append(node)
        return node

    def register(self, node, via):
        """`medchain cluster register` of a node prepared by new_node()."""
        return self.cli("cluster", "register", "--node", via.url, "--key", self.key("admin"),
                        "--id", node.id, "--subject-key", node.key(), "--org", "dev-hospital",
                        "--raft-id", str(node.k), "--raft-address", node.raft_address,
                        "--api-url", node.url)

    # -- CLI --
    def cli(self, *args, timeout=300):
        p = mcutil.run_cli(self.bin_dir, list(args), passphrase=PASS, timeout=timeout)
        return p

    def key(self, name):
        return os.path.join(self.dir, "keys", name + ".key")

    # -- state --
    def live(self):
        return [n for n in self.nodes if n.running()]

    def leader(self, among=None):
        """The node every live node (or `among`) names as leader, or None."""
        urls = set()
        for node in among or self.live():
            try:
                urls.add(node.cluster_view()["leader"])
            except (OSError, AssertionError, KeyError):
                return None
        if len(urls) != 1 or None in urls:
            return None
        url = urls.pop()
        for node in self.nodes:
            if node.url == url:
                return node
        return None

    def wait_leader(self, among=None, timeout=60, exclude=None):
        def ready():
            leader = self.leader(among)
            if leader is None or leader is exclude or not leader.running():
                return None
            status, _ = leader.health()
            return leader if status == 200 else None
        return mcutil.wait_for(ready, timeout, "a leader known to every live node")

    def wait_same_tip(self, nodes=None, timeout=120, at_least=0):
        """Waits until `nodes` (default: the live ones) report the same height
        (>= at_least) and the same block hash there; returns the height."""
        nodes = nodes or self.live()

        def same():
            heights = {n.height() for n in nodes}
            if len(heights) != 1:
                return None
            h = heights.pop()
            if h < at_least:
                return None
            hashes = {n.get_json(f"/v1/blocks/{h}")["hash"] for n in nodes}
            return (h,) if len(hashes) == 1 else None
        return mcutil.wait_for(same, timeout, "every node at the same tip")[0]

    def block_hashes(self, node, upto=None):
        """[hash of block 0, 1, ..., upto] as `node` stores them."""
        upto = node.height() if upto is None else upto
        out = []
        h = 0
        while h <= upto:
            j = node.get_json(f"/v1/blocks?from={h}&limit=1000")
            for b in j["blocks"]:
                if b["height"] > upto:
                    break
                assert b["height"] == len(out), (b["height"], len(out))
                out.append(b["hash"])
            if not j["blocks"]:
                break
            h = len(out)
        return out

    # -- load --
    def bench(self, url, txs, concurrency=16, ack_file=None, retry_for=90, batch=1):
        """Starts `medchain bench submit` in the background; returns the Popen
        (stdout: its report, the last line JSON)."""
        args = [os.path.join(self.bin_dir, "medchain"), "bench", "submit", "--node", url,
                "--txs", str(txs), "--concurrency", str(concurrency), "--json",
                "--retry-for", str(retry_for), "--sign-threads", "1", "--batch", str(batch)]
        if ack_file:
            args += ["--ack-file", ack_file]
        env = {k: v for k, v in os.environ.items() if k != "MEDCHAIN_NODE"}
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL, env=env)
        mcutil._live_processes.append(p)
        self._bench.append(p)
        return p

    def submit_load(self, url, txs, concurrency=16, timeout=300):
        """Runs a bench to completion; returns (exit code, output)."""
        p = self.bench(url, txs, concurrency)
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out

    def verify(self, node):
        """`medchain verify --data-dir` on a stopped node's folder."""
        return self.cli("verify", "--data-dir", node.dir)


def read_acks(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if len(line.strip()) == 64]
    except OSError:
        return []


def committed_everywhere(nodes, ids):
    """The ids not committed on some node: [(node id, tx id)]. One keep-alive
    connection per node."""
    missing = []
    for node in nodes:
        conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=30)
        try:
            for tx in ids:
                conn.request("GET", f"/v1/transactions/{tx}")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    missing.append((node.id, tx))
        finally:
            conn.close()
    return missing


def elapsed(start):
    return f"{time.monotonic() - start:.1f} s"
