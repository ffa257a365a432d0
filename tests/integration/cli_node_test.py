#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""The CLI against a node, driven as a user would.

`medchain init` creates a network and `medchaind --config` runs its node;
then `medchain submit` (signed JSON bodies, raw bytes, --no-wait, --out),
`tx`, `block`, `proof inclusion|consistency` (ok with the key from init, from
the genesis, or trusted on first use; fail with a wrong --vkey, a wrong
--root1, another network's genesis) and `watch` (sees a new block, stops on
SIGINT). Exit codes: 0 ok, 1 refused / check failed, 2 bad arguments or no
node.

Usage: cli_node_test.py --bin-dir BUILD/bin --testdata PATH
"""
import base64
import hashlib
import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading

import mcutil

PASS = "correct horse battery"


def note_vkey(name, public_key):
    """A signed-note verifier key "<name>+<hash>+<base64(0x01 || key)>"."""
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    encoded = base64.b64encode(b"\x01" + public_key).decode()
    return f"{name}+{key_hash.hex()}+{encoded}"


class Cli:
    def __init__(self, bin_dir, t):
        self.bin_dir = bin_dir
        self.t = t

    def run(self, *args, passphrase=PASS):
        p = mcutil.run_cli(self.bin_dir, list(args), passphrase=passphrase)
        print(f"$ medchain {' '.join(args)[:150]} -> {p.returncode}", flush=True)
        return p

    def expect(self, what, args, code, out_has=(), err_has=(), passphrase=PASS):
        """Runs medchain; checks the exit code and that stdout/stderr hold strings."""
        p = self.run(*args, passphrase=passphrase)
        ok = p.returncode == code and all(s in p.stdout for s in out_has) \
            and all(s in p.stderr for s in err_has)
        self.t.check(ok, what, f"exit {p.returncode}, want {code}\n     stdout: {p.stdout[-800:]!r}"
                                f"\n     stderr: {p.stderr[-800:]!r}")
        return p


def test_init(cli, t, net, port):
    t.section("medchain init")
    p = cli.expect("init writes a network", ["init", "--dir", net, "--fast-kdf", "--base-port",
                                             str(port), "--orgs", "city-hospital,lab-7",
                                             "--consortium", "Test consortium"], 0,
                   out_has=["genesis.json", "city-hospital.key", "lab-7.key", "node-1.key",
                            "admin.key", "medchaind --config " + os.path.join(net, "node1",
                                                                            "medchaind.toml")])
    for f in ["genesis.json", "passphrase", "node1/medchaind.toml", "keys/admin.key",
              "keys/city-hospital.key", "keys/lab-7.key", "keys/node-1.key"]:
        t.check(os.path.exists(os.path.join(net, f)), f"init wrote {f}")
    t.check(stat.S_IMODE(os.stat(os.path.join(net, "passphrase")).st_mode) == 0o600
            and stat.S_IMODE(os.stat(os.path.join(net, "keys", "admin.key")).st_mode) == 0o600,
            "the passphrase and key files are private (0600)")
    with open(os.path.join(net, "genesis.json")) as f:
        genesis = json.load(f)
    ids = {x["id"]: x["role"] for x in genesis["participants"]}
    t.check(genesis["consortium"] == "Test consortium"
            and ids == {"admin": "admin", "city-hospital": "organisation",
                        "lab-7": "organisation", "node-1": "node"},
            "the genesis names the consortium, the admin, both organisations and the node", ids)
    node1 = next(x for x in genesis["participants"] if x["id"] == "node-1")
    vkey = note_vkey("node-1", bytes.fromhex(node1["sign_key"]))
    t.check(vkey in p.stdout, "init prints node-1's checkpoint verifier key", vkey)
    with open(os.path.join(net, "node1", "medchaind.toml")) as f:
        toml = f.read()
    t.check(f'listen = "127.0.0.1:{port}"' in toml and "sync = true" in toml,
            "the config listens on --base-port and syncs every block")
    key_text = open(os.path.join(net, "keys", "lab-7.key")).read()
    t.check(PASS not in p.stdout and PASS not in p.stderr and PASS not in key_text,
            "the passphrase is never printed or stored in a key file")

    cli.expect("init refuses a folder that holds a network", ["init", "--dir", net, "--fast-kdf"],
               1, err_has=["already holds a network"])
    other = net + "-x"
    cli.expect("init: several nodes need --raft", ["init", "--dir", other, "--nodes", "3"], 2,
               err_has=["needs --raft"])
    cli.expect("init: a bad organisation id", ["init", "--dir", other, "--orgs", "a b"], 2,
               err_has=["not a valid id"])
    cli.expect("init without a passphrase", ["init", "--dir", other, "--fast-kdf"], 2,
               err_has=["no passphrase"], passphrase=None)
    t.check(not os.path.exists(other), "refused inits write nothing")
    cli.expect("init without --dir", ["init"], 2)
    return vkey, genesis


def test_submit(cli, t, node, tmp):
    t.section("medchain submit")
    url = node.url
    org = node.key("city-hospital")
    digest = os.urandom(32).hex()
    p = cli.expect("submit: a signed attest commits",
                   ["submit", "--node", url, "--key", org, "--type", "attest", "--body",
                    json.dumps({"digest": digest, "note": "cli test"})], 0,
                   out_has=['"status": "committed"'])
    first = json.loads(p.stdout)
    t.check(first["result"] == {"code": "ok"} and first["height"] >= 1,
            "submit prints the outcome: height, index, leaf, result", first)
    got = node.get_json("/v1/transactions/" + first["id"])
    t.check(got["body"] == {"digest": digest, "note": "cli test"} and got["type"] == "attest",
            "the node holds the body as given")

    body_file = os.path.join(tmp, "body.json")
    with open(body_file, "w") as f:
        json.dump({"digest": os.urandom(32).hex()}, f)
    p = cli.expect("submit --no-wait: pooled", ["submit", "--node", url, "--key", org, "--type",
                                                "attest", "--body", "@" + body_file, "--no-wait"],
                   0, out_has=['"status": "pending"'])
    pending = json.loads(p.stdout)["id"]
    mcutil.wait_for(lambda: node.get("/v1/transactions/" + pending).status == 200, 30,
                    "the --no-wait transaction to commit")
    t.check(True, "the --no-wait transaction commits")

    out = os.path.join(tmp, "tx.bin")
    p = cli.expect("submit --out: signs and writes the bytes, submits nothing",
                   ["submit", "--node", url, "--key", org, "--type", "attest", "--body",
                    json.dumps({"digest": os.urandom(32).hex()}), "--out", out], 0)
    form = json.loads(p.stdout)
    raw = open(out, "rb").read()
    t.check(mcutil.tx_id(raw) == form["id"] and form["signature"] == mcutil.decode_tx(raw)[
        "signature"].hex(), "--out writes the canonical bytes of the printed transaction")
    t.check(node.get("/v1/transactions/" + form["id"]).status == 404, "--out submitted nothing")
    p = cli.expect("submit --file: the bytes as they are", ["submit", "--node", url, "--file",
                                                             out], 0, out_has=['"committed"'])
    t.check(json.loads(p.stdout)["id"] == form["id"], "--file committed that transaction")
    cli.expect("submit --file again: the same outcome (idempotent)",
               ["submit", "--node", url, "--file", out], 0, out_has=[form["id"]])
    bad = os.path.join(tmp, "bad.bin")
    with open(bad, "wb") as f:
        f.write(raw[:-1])
    cli.expect("submit --file truncated bytes: the node refuses (exit 1)",
               ["submit", "--node", url, "--file", bad], 1,
               err_has=["invalid_argument", "HTTP 400"])

    nonce = str(mcutil.decode_tx(raw)["nonce"])
    cli.expect("submit --nonce reusing a nonce: refused as a replay",
               ["submit", "--node", url, "--key", org, "--type", "attest", "--body",
                json.dumps({"digest": os.urandom(32).hex()}), "--nonce", nonce], 1,
               err_has=["already_exists", "replay", "HTTP 409"])
    stranger = os.path.join(tmp, "stranger.key")
    cli.run("keygen", "--out", stranger, "--fast-kdf")
    p = cli.expect("submit by an unregistered key: committed but marked invalid (exit 1)",
                   ["submit", "--node", url, "--key", stranger, "--type", "attest", "--body",
                    json.dumps({"digest": os.urandom(32).hex()})], 1,
                   out_has=['"code": "invalid"'], err_has=["marked invalid"])
    cli.expect("submit: wrong passphrase", ["submit", "--node", url, "--key", org, "--type",
                                            "attest", "--body", json.dumps({"digest": digest})], 1,
               err_has=["wrong passphrase"], passphrase="not it")
    cli.expect("submit: unknown type", ["submit", "--node", url, "--key", org, "--type", "poem",
                                        "--body", "{}"], 2, err_has=["unknown transaction type"])
    cli.expect("submit: body not JSON", ["submit", "--node", url, "--key", org, "--type",
                                         "attest", "--body", "{nope"], 2,
               err_has=["not valid JSON"])
    cli.expect("submit: body with a bad field", ["submit", "--node", url, "--key", org, "--type",
                                                 "attest", "--body", '{"digest": 5}'], 2,
               err_has=["body.digest"])
    cli.expect("submit: missing key file", ["submit", "--node", url, "--key",
                                            os.path.join(tmp, "absent.key"), "--type", "attest",
                                            "--body", "{}"], 2)
    cli.expect("submit: --file with --key", ["submit", "--node", url, "--file", out, "--key",
                                             org], 2, err_has=["--file"])
    cli.expect("submit: neither --file nor --key", ["submit", "--node", url], 2)
    dead = f"http://127.0.0.1:{mcutil.free_port()}"
    cli.expect("submit: no node there (exit 2)", ["submit", "--node", dead, "--file", out], 2,
               err_has=["cannot reach"])
    return first


def test_tx_block(cli, t, node, first):
    t.section("medchain tx, medchain block")
    url = node.url
    p = cli.expect("tx: the transaction with its result", ["tx", "--node", url, first["id"]], 0)
    j = json.loads(p.stdout)
    t.check(j["id"] == first["id"] and j["height"] == first["height"]
            and j["result"] == {"code": "ok"}, "tx prints id, height and result", j)
    cli.expect("tx: unknown id (exit 1)", ["tx", "--node", url, "ab" * 32], 1,
               err_has=["not_found", "HTTP 404"])
    cli.expect("tx: malformed id (exit 2)", ["tx", "--node", url, "xyz"], 2,
               err_has=["64 hex digits"])
    p = cli.expect("block: header and ids", ["block", "--node", url, str(first["height"])], 0)
    b = json.loads(p.stdout)
    t.check(first["id"] in b["txs"] and b["height"] == first["height"],
            "block lists the transaction", b)
    p = cli.expect("block --full: whole transactions", ["block", "--node", url,
                                                        str(first["height"]), "--full"], 0)
    full = json.loads(p.stdout)
    t.check(any(x["id"] == first["id"] and x["result"] == {"code": "ok"} for x in full["txs"]),
            "block --full has the transaction and its result")
    cli.expect("block: beyond the tip (exit 1)", ["block", "--node", url, "99999"], 1,
               err_has=["no block at height 99999"])
    cli.expect("block: not a number (exit 2)", ["block", "--node", url, "ten"], 2)


def test_proofs(cli, t, node, vkey, genesis_file, other_genesis, first, tmp):
    t.section("medchain proof inclusion")
    url = node.url
    txid = first["id"]
    for label, trust in [("--vkey from init", ["--vkey", vkey]),
                         ("--genesis", ["--genesis", genesis_file])]:
        p = cli.expect(f"proof inclusion with {label}: ok",
                       ["proof", "inclusion", "--node", url, "--tx", txid] + trust, 0,
                       out_has=[f"ok: transaction {txid} is in the signed log", "signed by:   node-1"])
        t.check("WARNING" not in p.stderr, f"with {label}, no trust-on-first-use warning")
    p = cli.expect("proof inclusion without a key: ok, with a loud warning",
                   ["proof", "inclusion", "--node", url, "--tx", txid], 0, out_has=["ok: "],
                   err_has=["WARNING", "trust on first use", vkey])
    leaf = re.search(r"index (\d+) of (\d+), hash ([0-9a-f]{64})", p.stdout)
    t.check(leaf and int(leaf.group(1)) == first["leaf_index"],
            "it names the leaf index and the computed leaf hash", p.stdout)
    admin = next(x for x in json.load(open(genesis_file))["participants"] if x["id"] == "admin")
    wrong = note_vkey("node-1", bytes.fromhex(admin["sign_key"]))
    p = cli.expect("proof inclusion with a wrong --vkey: fail (exit 1)",
                   ["proof", "inclusion", "--node", url, "--tx", txid, "--vkey", wrong], 1,
                   out_has=["fail: checkpoint signature"])
    t.check("ok" not in p.stdout.split("\n")[0][:3], "a failed check never prints ok")
    cli.expect("proof inclusion with another network's genesis: fail (exit 1)",
               ["proof", "inclusion", "--node", url, "--tx", txid, "--genesis", other_genesis],
               1, out_has=["fail: checkpoint signature"])
    cli.expect("proof inclusion of an unknown transaction: fail (exit 1)",
               ["proof", "inclusion", "--node", url, "--tx", "ab" * 32, "--vkey", vkey], 1,
               out_has=["fail: ", "not_found"])
    cli.expect("proof inclusion: malformed --vkey (exit 2)",
               ["proof", "inclusion", "--node", url, "--tx", txid, "--vkey", "node-1+00+AA=="], 2,
               err_has=["--vkey"])
    cli.expect("proof inclusion: --vkey and --genesis (exit 2)",
               ["proof", "inclusion", "--node", url, "--tx", txid, "--vkey", vkey, "--genesis",
                genesis_file], 2)
    cli.expect("proof inclusion: no node (exit 2)",
               ["proof", "inclusion", "--node", f"http://127.0.0.1:{mcutil.free_port()}", "--tx",
                txid, "--vkey", vkey], 2)

    t.section("medchain proof consistency")
    old_note = node.get("/v1/checkpoint").text()
    old_file = os.path.join(tmp, "old-checkpoint.txt")
    with open(old_file, "w") as f:
        f.write(old_note)
    old_size = int(old_note.split("\n")[1])
    old_root = base64.b64decode(old_note.split("\n")[2]).hex()
    for _ in range(2):
        cli.run("submit", "--node", url, "--key", node.key("lab-7"), "--type", "attest",
                "--body", json.dumps({"digest": os.urandom(32).hex()}))
    _, size = node.tip()
    t.check(size == old_size + 2, "two more transactions since the old checkpoint")
    p = cli.expect("proof consistency --from 1: ok", ["proof", "consistency", "--node", url,
                                                     "--from", "1", "--vkey", vkey], 0,
                   out_has=[f"ok: the log of size 1 is a prefix of the log of size {size}"])
    cli.expect("proof consistency --from M --to N (N below the checkpoint): ok",
               ["proof", "consistency", "--node", url, "--from", "2", "--to", str(size - 1),
                "--genesis", genesis_file], 0,
               out_has=[f"the log of size 2 is a prefix of the log of size {size - 1}"])
    cli.expect("proof consistency with the trusted old root: ok, matches",
               ["proof", "consistency", "--node", url, "--from", str(old_size), "--root1",
                old_root, "--vkey", vkey], 0, out_has=["matches the trusted root"])
    cli.expect("proof consistency from a saved checkpoint: ok",
               ["proof", "consistency", "--node", url, "--old-checkpoint", old_file, "--vkey",
                vkey], 0, out_has=[f"size {old_size} is a prefix of the log of size {size}",
                                   "matches the trusted root"])
    forked = ("00" if old_root[:2] != "00" else "11") + old_root[2:]
    cli.expect("proof consistency with another root at that size: fail, forked (exit 1)",
               ["proof", "consistency", "--node", url, "--from", str(old_size), "--root1",
                forked, "--vkey", vkey], 1, out_has=["fail: ", "forked"])
    cli.expect("proof consistency with a wrong --vkey: fail (exit 1)",
               ["proof", "consistency", "--node", url, "--from", "1", "--vkey", wrong], 1,
               out_has=["fail: checkpoint signature"])
    cli.expect("proof consistency --to beyond the signed log: fail (exit 1)",
               ["proof", "consistency", "--node", url, "--from", "1", "--to", str(size + 10),
                "--vkey", vkey], 1, out_has=["fail: the signed log has"])
    cli.expect("proof consistency --from 0 (exit 2)",
               ["proof", "consistency", "--node", url, "--from", "0", "--vkey", vkey], 2)
    cli.expect("proof consistency without --from (exit 2)",
               ["proof", "consistency", "--node", url, "--vkey", vkey], 2)


def test_watch(cli, t, node):
    t.section("medchain watch")
    env = {k: v for k, v in os.environ.items() if k != "MEDCHAIN_NODE"}
    proc = subprocess.Popen([os.path.join(cli.bin_dir, "medchain"), "watch", "--node", node.url,
                             "--interval-ms", "50"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines, errors = queue.Queue(), queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [errors.put(l) for l in proc.stderr], daemon=True).start()
    try:
        started = errors.get(timeout=30)
        t.check(started.startswith("watching " + node.url), "watch says what it follows", started)
        p = cli.run("submit", "--node", node.url, "--key", node.key("city-hospital"), "--type",
                    "attest", "--body", json.dumps({"digest": os.urandom(32).hex()}))
        height = json.loads(p.stdout)["height"]
        line = lines.get(timeout=30)
        m = re.match(r"block (\d+)  hash ([0-9a-f]{16})  txs (\d+)  log (\d+)  "
                     r"time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$", line.rstrip("\n"))
        block = node.get_json(f"/v1/blocks/{height}")
        t.check(m and int(m.group(1)) == height and block["hash"].startswith(m.group(2))
                and int(m.group(3)) == block["tx_count"],
                "watch prints the new block: height, hash prefix, tx count, time", line)
        t.check(lines.empty(), "only new blocks (none before the watch started)")
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        t.check(rc == 0, "watch stops on SIGINT with exit 0", rc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    p = subprocess.Popen([os.path.join(cli.bin_dir, "medchain"), "watch", "--node", node.url,
                          "--from", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env=env)
    try:
        first_line = p.stdout.readline()
        t.check(first_line.startswith("block 0  hash "), "watch --from 0 starts at the genesis",
                first_line)
    finally:
        p.kill()
        p.wait()
    cli.expect("watch: no node (exit 2)", ["watch", "--node",
                                           f"http://127.0.0.1:{mcutil.free_port()}"], 2)


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cli_node_test")
    cli = Cli(args.bin_dir, t)
    with tempfile.TemporaryDirectory(prefix="medchain-cli-") as tmp:
        net = os.path.join(tmp, "net")
        vkey, _ = test_init(cli, t, net, mcutil.free_port())
        other = os.path.join(tmp, "other")
        cli.run("init", "--dir", other, "--fast-kdf", "--base-port", str(mcutil.free_port()))
        node = mcutil.ConfigNode(args.bin_dir, os.path.join(net, "node1", "medchaind.toml"), net,
                                 keep=args.keep)
        try:
            node.start()
            t.check(True, "medchaind --config runs the network init made")
            first = test_submit(cli, t, node, tmp)
            test_tx_block(cli, t, node, first)
            test_proofs(cli, t, node, vkey, node.genesis_file,
                        os.path.join(other, "genesis.json"), first, tmp)
            test_watch(cli, t, node)
            t.check(node.stop() == 0, "the node stops cleanly")
        except BaseException:
            print("medchaind log (last lines):\n" + node.log_tail(), flush=True)
            raise
        finally:
            node.cleanup()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
