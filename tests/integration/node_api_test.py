#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""The HTTP API v1 of a real `medchaind --dev` (docs/api.md), endpoint by endpoint.

Every endpoint answers what docs/api.md says; a table of bad inputs (malformed,
truncated or oversize bodies, bad signatures, replays, unknown types, unknown
or ill-typed JSON fields, wrong content types, bad ids, unknown endpoints) each
gets the documented HTTP status and a JSON {"error", "message"} whose message
names what was wrong, and changes nothing (height and log size unchanged, the
transaction unknown). /metrics has the Prometheus series and moves with
commits; a checkpoint verifies through `medchain proof`.

Transactions are signed by the CLI (`medchain submit --out`): the standard
library has no Ed25519.

Usage: node_api_test.py --bin-dir BUILD/bin --testdata PATH
"""
import base64
import hashlib
import json
import os
import re
import sys
import tempfile
import time

import mcutil

PASS = mcutil.DEV_PASSPHRASE

# Bad inputs the node does not refuse yet: case name -> the reported issue.
# A listed case that starts being refused fails the test until it leaves this
# list (Checker.known_issue).
KNOWN_ISSUES = {}


class Api:
    """The node, the CLI and a scratch folder for one test run."""

    def __init__(self, args, node, tmp, t):
        self.bin = args.bin_dir
        self.node = node
        self.tmp = tmp
        self.t = t
        self.counter = 0

    def cli(self, *args, passphrase=PASS):
        return mcutil.run_cli(self.bin, list(args), passphrase=passphrase)

    def path(self, name):
        self.counter += 1
        return os.path.join(self.tmp, f"{self.counter:03d}-{name}")

    def sign(self, key, tx_type, body, nonce=None):
        """Signs without submitting: (canonical bytes, JSON form)."""
        out = self.path("tx.bin")
        args = ["submit", "--node", self.node.url, "--key", key, "--type", tx_type,
                "--body", json.dumps(body), "--out", out]
        if nonce is not None:
            args += ["--nonce", str(nonce)]
        p = self.cli(*args)
        if p.returncode != 0:
            raise AssertionError(f"signing {tx_type} failed: {p.stderr}")
        with open(out, "rb") as f:
            return f.read(), json.loads(p.stdout)

    def keygen(self, name):
        """A fresh key file (passphrase "dev"): (path, signing key hex, box key hex)."""
        path = os.path.join(self.tmp, name + ".key")
        p = self.cli("keygen", "--out", path, "--fast-kdf")
        assert p.returncode == 0, p.stderr
        sign = re.search(r"signing public key:\s+([0-9a-f]{64})", p.stdout).group(1)
        box = re.search(r"encryption public key:\s+([0-9a-f]{64})", p.stdout).group(1)
        return path, sign, box

    def submit(self, data, content_type, wait=True):
        return self.node.post("/v1/transactions" + ("?wait=commit" if wait else ""), data,
                              content_type=content_type)

    def commit(self, key, tx_type, body, sidecar=None):
        """Signs and submits (waiting for the block); returns (bytes, outcome)."""
        raw, _ = self.sign(key, tx_type, body)
        r = self.submit(mcutil.submission(raw, sidecar), "application/vnd.medchain.submission")
        j = r.json()
        if r.status != 200 or j.get("status") != "committed" or j["result"]["code"] != "ok":
            raise AssertionError(f"{tx_type} did not commit: {r!r}")
        return raw, j


def attest_body():
    return {"digest": os.urandom(32).hex(), "note": "functional test"}


def is_error(reply, status, code, message_has):
    """The reply is `status` with a JSON {"error": code, "message": ...}
    whose message contains every string in message_has."""
    j = reply.json()
    if reply.status != status or not isinstance(j, dict):
        return False
    if set(j) != {"error", "message"} or j["error"] != code:
        return False
    if not reply.content_type.startswith("application/json"):
        return False
    return all(s in j["message"] for s in message_has)


# ---- Sidecars (docs/format.md): u8 1 | bytes ciphertext | varint n | keys ----

def encode_keys(keys):
    out = mcutil.varint(len(keys))
    for record_id, version, recipient, sealed in keys:
        out += mcutil.encode_bytes(record_id.encode()) + version.to_bytes(4, "big")
        out += mcutil.encode_bytes(recipient.encode()) + mcutil.encode_bytes(sealed)
    return out


def sidecar(ciphertext, keys):
    return b"\x01" + mcutil.encode_bytes(ciphertext) + encode_keys(keys)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).hexdigest()


# ---- Sections ----

def test_node_endpoints(a):
    t, node = a.t, a.node
    t.section("node, genesis, cluster, health")
    r = node.get("/v1/healthz")
    j = r.json()
    t.check(r.status == 200 and j["status"] == "ok" and j["height"] == 0 and j["log_size"] == 1,
            "GET /v1/healthz: ok at height 0 with the genesis transaction", r)
    info = node.get_json("/v1/node")
    t.check(info["node_id"] == "node-1" and info["url"] == node.url,
            "GET /v1/node: node id and URL", info)
    t.check(re.fullmatch(r"node-1\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*", info["verifier_key"]) is not None,
            "GET /v1/node: a signed-note verifier key", info["verifier_key"])
    t.check(info["origin"].startswith("medchain/medchain-dev-consortium/")
            and info["genesis_hash"].startswith(info["origin"].rsplit("/", 1)[1]),
            "GET /v1/node: origin names the consortium and the genesis hash", info)
    g = node.get_json("/v1/genesis")
    ids = {p["id"]: p["role"] for p in g["participants"]}
    t.check(g["format"] == "medchain-genesis" and ids == {"admin": "admin",
                                                         "dev-hospital": "organisation",
                                                         "node-1": "node"},
            "GET /v1/genesis: the dev network's participants", ids)
    with open(node.genesis_file) as f:
        on_disk = json.load(f)
    t.check(g == on_disk, "GET /v1/genesis equals the genesis.json the node was started with")
    c = node.get_json("/v1/cluster")
    t.check(c["leader"] == node.url and [n["id"] for n in c["nodes"]] == ["node-1"]
            and c["nodes"][0]["role"] == "leader",
            "GET /v1/cluster: a single node, leading", c)

    t.section("blocks and checkpoints of the genesis")
    b0 = node.get_json("/v1/blocks/0")
    t.check(b0["height"] == 0 and b0["prev_hash"] == "00" * 32 and len(b0["txs"]) == 1
            and b0["hash"] == info["genesis_hash"],
            "GET /v1/blocks/0: the genesis block", b0)
    full = node.get_json("/v1/blocks/0?txs=full")
    t.check(full["txs"][0]["type"] == "genesis" and full["txs"][0]["id"] == b0["txs"][0],
            "GET /v1/blocks/0?txs=full: the genesis transaction in full", full["txs"][0]["type"])
    r = node.get("/v1/checkpoint")
    lines = r.text().split("\n")
    t.check(r.status == 200 and r.content_type.startswith("text/plain")
            and lines[0] == info["origin"] and lines[1] == "1" and lines[3] == "height 0"
            and lines[4] == "block " + b0["hash"] and lines[6].startswith("\u2014 node-1 "),
            "GET /v1/checkpoint: a C2SP signed checkpoint of the genesis", r.text())
    r0 = node.get("/v1/checkpoints/0")
    t.check(r0.status == 200 and r0.body == r.body, "GET /v1/checkpoints/0 is that checkpoint")
    for query in ("", "?local=1"):
        cps = node.get_json("/v1/checkpoints" + query)
        t.check(cps["origin"] == info["origin"] and len(cps["checkpoints"]) == 1
                and cps["checkpoints"][0]["node_id"] == "node-1"
                and cps["checkpoints"][0]["note"] == r.text()
                and cps["checkpoints"][0]["size"] == 1 and cps["checkpoints"][0]["height"] == 0,
                f"GET /v1/checkpoints{query}: every node's latest signed checkpoint", cps)


def test_submissions(a):
    t, node = a.t, a.node
    key = node.key("dev-hospital")
    t.section("submitting: JSON, octet-stream, submission envelope")
    raw, form = a.sign(key, "attest", attest_body())
    r = a.submit(form, "application/json")
    j = r.json()
    t.check(r.status == 200 and j["status"] == "committed" and j["id"] == form["id"]
            and j["result"] == {"code": "ok"} and j["height"] >= 1 and j["index"] == 0,
            "POST application/json ?wait=commit: 200 committed, with height, index, leaf", r)
    first = j
    t.check(form["id"] == mcutil.tx_id(raw), "the id is SHA-256 of the unsigned encoding")
    got = node.get_json("/v1/transactions/" + form["id"])
    t.check(got["body"] == form["body"] and got["signature"] == form["signature"]
            and got["height"] == first["height"] and got["leaf_index"] == first["leaf_index"]
            and got["result"] == {"code": "ok"},
            "GET /v1/transactions/ID: the transaction, where it is, its result", got)
    got_upper = node.get("/v1/transactions/" + form["id"].upper())
    t.check(got_upper.status == 200 and got_upper.json()["id"] == form["id"],
            "GET /v1/transactions/ID accepts upper-case hex")

    # Idempotent: the same transaction again, in every form, answers its first outcome.
    for ct, body in [("application/json", form),
                     ("application/octet-stream", raw),
                     ("application/vnd.medchain.submission", mcutil.submission(raw)),
                     ("application/json", {"tx_base64": base64.b64encode(raw).decode()})]:
        for wait in (True, False):
            r = a.submit(body, ct, wait=wait)
            j = r.json()
            t.check(r.status == 200 and j == first,
                    f"duplicate submission ({ct}, wait={wait}): 200 with the first outcome", r)

    raw2, form2 = a.sign(key, "attest", attest_body())
    r = a.submit(raw2, "application/octet-stream", wait=False)
    j = r.json()
    t.check(r.status == 202 and j == {"id": form2["id"], "status": "pending"},
            "POST application/octet-stream without wait: 202 pending", r)
    got2 = mcutil.wait_for(lambda: node.get("/v1/transactions/" + form2["id"]).status == 200
                           and node.get_json("/v1/transactions/" + form2["id"]), 30,
                           "the pooled transaction to commit")
    t.check(got2["result"] == {"code": "ok"}, "the pooled transaction commits")

    raw3, form3 = a.sign(key, "attest", attest_body())
    r = a.submit(mcutil.submission(raw3), "application/vnd.medchain.submission; charset=binary")
    t.check(r.status == 200 and r.json()["status"] == "committed",
            "POST application/vnd.medchain.submission (with a parameter): committed", r)
    raw4, form4 = a.sign(key, "attest", attest_body())
    r = a.submit({"tx_base64": base64.b64encode(raw4).decode()}, "application/json")
    t.check(r.status == 200 and r.json()["id"] == form4["id"],
            "POST application/json {\"tx_base64\"}: committed", r)

    t.section("invalid is not broken: a rule violation commits, marked invalid")
    stranger, _, _ = a.keygen("stranger")
    raw5, form5 = a.sign(stranger, "attest", attest_body())
    r = a.submit(raw5, "application/octet-stream")
    j = r.json()
    t.check(r.status == 200 and j["status"] == "committed" and j["result"]["code"] == "invalid"
            and "no registered participant" in j["result"]["reason"],
            "an unregistered author's attest commits marked invalid, with the reason", r)

    t.section("blocks")
    h = first["height"]
    b = node.get_json(f"/v1/blocks/{h}")
    t.check(form["id"] in b["txs"] and b["height"] == h and len(b["signature"]) == 128,
            f"GET /v1/blocks/{h}: lists the transaction, signed by the proposer", b)
    prev = node.get_json(f"/v1/blocks/{h - 1}")
    t.check(b["prev_hash"] == prev["hash"], "each block links to the previous block's hash")
    bf = node.get_json(f"/v1/blocks/{h}?txs=full")
    mine = [x for x in bf["txs"] if x["id"] == form["id"]]
    t.check(len(mine) == 1 and mine[0]["result"] == {"code": "ok"}
            and mine[0]["body"] == form["body"],
            "GET /v1/blocks/H?txs=full: transactions with their results", bf)
    tip_h, tip_size = node.tip()
    page = node.get_json("/v1/blocks?from=0&limit=2")
    t.check(page["height"] == tip_h and [x["height"] for x in page["blocks"]] == [0, 1]
            and "txs" not in page["blocks"][0] and page["blocks"][1]["prev_hash"]
            == page["blocks"][0]["hash"],
            "GET /v1/blocks?from=0&limit=2: two headers", page)
    latest = node.get_json("/v1/blocks")
    t.check(latest["blocks"][-1]["height"] == tip_h and latest["blocks"][-1]["log_size"] == tip_size,
            "GET /v1/blocks: the latest headers, up to the tip", latest)
    big = node.get_json("/v1/blocks?from=0&limit=5000")
    t.check(len(big["blocks"]) == min(tip_h + 1, 1000), "GET /v1/blocks: limit is capped at 1000")
    sync = node.get(f"/v1/sync/{h}")
    t.check(sync.status == 200 and sync.content_type == "application/octet-stream"
            and raw in sync.body,
            "GET /v1/sync/H: the block's bytes (with the transaction's canonical bytes)", sync)
    return first, raw


def test_records_and_reads(a):
    t, node = a.t, a.node
    hospital = node.key("dev-hospital")
    t.section("participants, records, wrapped keys, reads, grants, audit")
    pkey, psign, pbox = a.keygen("patient")
    a.commit(pkey, "register_participant",
             {"id": "pt-1", "role": "patient", "sign_key": psign, "box_key": pbox})
    p = node.get_json("/v1/participants/pt-1")
    t.check(p["role"] == "patient" and p["sign_key"] == psign and p["suspended"] is False,
            "GET /v1/participants/ID: a self-registered patient", p)
    p2 = node.get_json("/v1/participants?key=" + psign)
    t.check(p2["id"] == "pt-1", "GET /v1/participants?key=: found by signing key")

    ciphertext = os.urandom(300)
    sealed = {"dev-hospital": os.urandom(80), "pt-1": os.urandom(80)}
    keys = [("rec-1", 1, r, sealed[r]) for r in sorted(sealed)]
    body = {"record_id": "rec-1", "patient": "pt-1", "type": "Observation", "version": 1,
            "ciphertext_hash": hashlib.sha256(ciphertext).hexdigest(),
            "ciphertext_size": len(ciphertext), "commitment": os.urandom(32).hex(),
            "recipients": sorted(sealed), "keys_hash": hashlib.sha256(encode_keys(keys)).hexdigest()}
    sc = sidecar(ciphertext, keys)
    _, put = a.commit(hospital, "put_record", body, sc)
    t.check(put["result"] == {"code": "ok"}, "put_record with its sidecar commits")
    recs = node.get_json("/v1/patients/pt-1/records")
    t.check([x["record_id"] for x in recs["records"]] == ["rec-1"]
            and recs["records"][0]["custodian"] == "dev-hospital",
            "GET /v1/patients/ID/records: the record and its custodian", recs)
    t.check(node.get_json("/v1/patients/pt-1/records?type=Condition")["records"] == [],
            "GET /v1/patients/ID/records?type=: filters by type")
    rec = node.get_json("/v1/records/rec-1")
    t.check(rec["version"] == 1 and rec["history"][0]["tx"] == put["id"]
            and rec["history"][0]["ciphertext_hash"] == body["ciphertext_hash"],
            "GET /v1/records/ID: head and history (provenance)", rec)
    wk = node.get_json("/v1/records/rec-1/keys/pt-1?version=1")
    t.check(base64.b64decode(wk["wrapped_key"]) == sealed["pt-1"],
            "GET /v1/records/ID/keys/RECIPIENT?version=: the key wrapped for the patient")
    r = node.get("/v1/records/rec-1/keys/pt-1")
    t.check(is_error(r, 400, "invalid_argument", ["version"]),
            "wrapped key without ?version: 400", r)
    sync = node.get(f"/v1/sync/{put['height']}")
    t.check(sync.status == 200 and ciphertext not in sync.body
            and sealed["pt-1"] not in sync.body,
            "GET /v1/sync/H without a node's signature: the block, no ciphertext or wrapped key")

    height_before, _ = node.tip()
    read_raw, read = a.sign(pkey, "read_record",
                            {"record_id": "rec-1", "version": 1, "purpose": "self-review"})
    r = node.post("/v1/reads", read_raw, content_type="application/octet-stream")
    j = r.json()
    t.check(r.status == 200 and j["access"]["status"] == "committed"
            and j["access"]["id"] == read["id"] and len(j["records"]) == 1
            and base64.b64decode(j["records"][0]["ciphertext"]) == ciphertext
            and base64.b64decode(j["records"][0]["wrapped_key"]) == sealed["pt-1"],
            "POST /v1/reads: access committed first, then ciphertext and the wrapped key", r)
    r = node.post("/v1/reads", read_raw, content_type="application/octet-stream")
    t.check(is_error(r, 409, "already_exists", ["already served", "recorded"]),
            "POST /v1/reads replayed: 409, and the replay is recorded", r)
    forged = bytearray(read_raw)
    forged[-1] ^= 1
    r = node.post("/v1/reads", bytes(forged), content_type="application/octet-stream")
    t.check(is_error(r, 401, "unauthenticated", ["signature", "nothing recorded"]),
            "POST /v1/reads with a bad signature: 401, and nothing is recorded", r)
    r = node.post("/v1/reads", read_raw, content_type="text/plain")
    t.check(is_error(r, 415, "invalid_argument", ["Content-Type"]), "POST /v1/reads text/plain: 415")
    height_after, _ = node.tip()
    t.check(height_after >= height_before + 2,
            "the replay is committed to the ledger (access_refused), not dropped",
            (height_before, height_after))

    audit = node.get_json("/v1/patients/pt-1/audit")
    events = [e["event"] for e in audit["entries"]]
    t.check(events.count("write") == 1 and events.count("read") == 1
            and events.count("refused") == 1,
            "GET /v1/patients/ID/audit: the write, the read and the replay's refusal", events)
    audit_p = node.get_json("/v1/patients/pt-1/audit?proofs=1")
    e0 = audit_p["entries"][0]
    t.check(all("proof" in e for e in audit_p["entries"])
            and e0["proof"]["size"] == audit_p["log_size"],
            "GET /v1/patients/ID/audit?proofs=1: an inclusion proof per entry")
    v = a.cli("merkle", "verify-inclusion", "--leaf-hash", e0["proof"]["leaf_hash"],
              "--index", str(e0["leaf_index"]), "--size", str(e0["proof"]["size"]),
              "--root", e0["proof"]["root"], "--proof", ",".join(e0["proof"]["hashes"]))
    t.check(v.returncode == 0, "an audit entry's proof verifies (medchain merkle)", v.stderr)

    t.check(node.get_json("/v1/patients/pt-1/grants")["grants"] == [],
            "GET /v1/patients/ID/grants: none yet")
    gkeys = [("rec-1", 1, "dev-hospital", os.urandom(80))]
    grant = {"patient": "pt-1", "grantee": "dev-hospital", "scope_types": ["Observation"],
             "purpose": "treatment", "expiry_ms": int(time.time() * 1000) + 86400000,
             "keys": [{"record_id": "rec-1", "version": 1}],
             "keys_hash": hashlib.sha256(encode_keys(gkeys)).hexdigest()}
    _, g = a.commit(pkey, "grant", grant, sidecar(b"", gkeys))
    grants = node.get_json("/v1/patients/pt-1/grants")["grants"]
    t.check(len(grants) == 1 and grants[0]["grant_id"] == g["id"]
            and grants[0]["status"] == "active" and grants[0]["grantee"] == "dev-hospital",
            "GET /v1/patients/ID/grants: the patient's grant, active", grants)
    return body, sc


def test_batches(a):
    t, node = a.t, a.node
    key = node.key("dev-hospital")
    t.section("POST /v1/transactions/batch: one outcome per submission, in order")
    raws = [a.sign(key, "attest", attest_body())[0] for _ in range(3)]
    stranger, _, _ = a.keygen("batch-stranger")
    foreign, _ = a.sign(stranger, "attest", attest_body())
    forged_src, _ = a.sign(key, "attest", attest_body())
    forged = forged_src[:-1] + bytes([forged_src[-1] ^ 1])
    items = [raws[0], raws[1], forged, foreign, raws[2], raws[0]]
    body = mcutil.batch([mcutil.submission(r) for r in items])
    r = node.post("/v1/transactions/batch?wait=commit", body,
                  content_type="application/vnd.medchain.batch")
    j = r.json()
    res = j.get("results") if isinstance(j, dict) else None
    t.check(r.status == 200 and isinstance(res, list) and len(res) == len(items),
            "200 with one result per submission", r)
    if not (isinstance(res, list) and len(res) == len(items)):
        return
    for k in (0, 1, 4):
        got = res[k]
        t.check(got.get("status") == "committed" and got.get("id") == mcutil.tx_id(items[k])
                and got.get("result") == {"code": "ok"} and got.get("http_status") == 200
                and got.get("height", 0) >= 1,
                f"submission {k}: committed ok, with its id and height", got)
        stored = node.get("/v1/transactions/" + mcutil.tx_id(items[k]))
        t.check(stored.status == 200 and stored.json()["height"] == got.get("height"),
                f"submission {k} is in the ledger where the answer says", stored)
    t.check(res[2].get("error") == "unauthenticated" and res[2].get("http_status") == 401
            and "signature" in res[2].get("message", ""),
            "a forged signature: that submission alone refused (401 unauthenticated)", res[2])
    t.check(node.get("/v1/transactions/" + mcutil.tx_id(forged)).status == 404,
            "the forged transaction is not in the ledger")
    t.check(res[3].get("status") == "committed" and res[3]["result"].get("code") == "invalid"
            and "no registered participant" in res[3]["result"].get("reason", ""),
            "an unregistered author: committed marked invalid, with the reason", res[3])
    t.check(res[5] == res[0], "the same transaction twice in a batch: the same outcome", res[5])

    raws2 = [a.sign(key, "attest", attest_body())[0] for _ in range(2)]
    r = node.post("/v1/transactions/batch", mcutil.batch([mcutil.submission(x) for x in raws2]),
                  content_type="application/vnd.medchain.batch")
    j = r.json()
    t.check(r.status == 200 and [x.get("status") for x in j.get("results", [])]
            == ["pending", "pending"] and all(x.get("http_status") == 202 for x in j["results"]),
            "without wait: 200, each submission pending (202)", r)
    for x in raws2:
        got = mcutil.wait_for(lambda: node.get("/v1/transactions/" + mcutil.tx_id(x)).status == 200
                              and node.get_json("/v1/transactions/" + mcutil.tx_id(x)), 30,
                              "a pooled batch transaction to commit")
        t.check(got["result"] == {"code": "ok"}, "a pooled batch transaction commits")


def table_cases(a, committed_raw, put_body, put_sidecar):
    """(name, method, path, body, content type, status, error code, message parts, tx bytes)."""
    key = a.node.key("dev-hospital")
    raw, form = a.sign(key, "attest", attest_body())
    cases = []

    def post(name, body, ct, status, code, parts, tx=None, path="/v1/transactions?wait=commit"):
        cases.append((name, "POST", path, body, ct, status, code, parts, tx))

    def get(name, path, status, code, parts):
        cases.append((name, "GET", path, None, None, status, code, parts, None))

    post("malformed bytes", b"\x07not a transaction", "application/octet-stream", 400,
         "invalid_argument", ["transaction", "version"])
    post("empty body", b"", "application/octet-stream", 400, "invalid_argument", ["transaction"])
    post("truncated transaction", raw[:-10], "application/octet-stream", 400, "invalid_argument",
         ["transaction", "signature"], raw)
    post("trailing bytes", raw + b"\x00", "application/octet-stream", 400, "invalid_argument",
         ["trailing"], raw)
    post("trailing bytes in the envelope", mcutil.submission(raw) + b"\x00",
         "application/vnd.medchain.submission", 400, "invalid_argument", ["submission", "trailing"],
         raw)
    post("envelope version 2", b"\x02" + mcutil.submission(raw)[1:],
         "application/vnd.medchain.submission", 400, "invalid_argument", ["version"], raw)
    post("oversize payload (3 MiB > max_body_bytes)", os.urandom(3 << 20),
         "application/octet-stream", 413, "resource_exhausted", ["exceeds the limit", "2097152"])
    big_raw, _ = a.sign(key, "attest", {"digest": "00" * 32, "note": "x" * 70000})
    post("body above the transaction limit (64 KiB)", big_raw, "application/octet-stream", 400,
         "invalid_argument", ["transaction", "exceeds the limit of 65792"], big_raw)
    long_raw, _ = a.sign(key, "attest", {"digest": "00" * 32, "note": "x" * 2000})
    post("note above its limit (1024)", long_raw, "application/octet-stream", 400,
         "invalid_argument", ["note", "1024"], long_raw)
    bad_sig = bytearray(raw)
    bad_sig[-1] ^= 0x01
    post("bad signature", bytes(bad_sig), "application/octet-stream", 401, "unauthenticated",
         ["signature does not verify"], raw)
    bad_sig_json = dict(form, signature=("00" if form["signature"][:2] != "00" else "11")
                        + form["signature"][2:])
    post("bad signature (JSON)", bad_sig_json, "application/json", 401, "unauthenticated",
         ["signature"], raw)
    # A replay: same author and nonce as a committed transaction, other content.
    nonce = mcutil.decode_tx(committed_raw)["nonce"]
    replay, _ = a.sign(key, "attest", attest_body(), nonce=nonce)
    post("replayed nonce", replay, "application/octet-stream", 409, "already_exists",
         [f"nonce {nonce}", "replay"], replay)
    unknown_type = bytearray(raw)
    unknown_type[1:3] = (999).to_bytes(2, "big")
    post("unknown transaction type (binary)", bytes(unknown_type), "application/octet-stream", 400,
         "invalid_argument", ["type"])
    post("unknown transaction type (JSON)", dict(form, type="frobnicate"), "application/json",
         400, "invalid_argument", ['unknown transaction type "frobnicate"'])
    post("genesis type", dict(form, type="genesis"), "application/json", 400, "invalid_argument",
         ["genesis"])
    # Their own transactions: a node that ignores the field commits them.
    raw_u1, form_u1 = a.sign(key, "attest", attest_body())
    post("JSON: unknown field in the transaction", dict(form_u1, colour="blue"),
         "application/json", 400, "invalid_argument", ["colour"], raw_u1)
    raw_u2, form_u2 = a.sign(key, "attest", attest_body())
    post("JSON: unknown field in the body", dict(form_u2, body=dict(form_u2["body"], colour="blue")),
         "application/json", 400, "invalid_argument", ["colour"], raw_u2)
    post("JSON: nonce is a string", dict(form, nonce=str(form["nonce"])), "application/json", 400,
         "invalid_argument", ["transaction.nonce", "integer"], raw)
    post("JSON: negative nonce", dict(form, nonce=-1), "application/json", 400,
         "invalid_argument", ["transaction.nonce"], raw)
    post("JSON: digest is a number", dict(form, body={"digest": 5}), "application/json", 400,
         "invalid_argument", ["body.digest", "string"], raw)
    post("JSON: short digest", dict(form, body={"digest": "abcd"}), "application/json", 400,
         "invalid_argument", ["body.digest", "64 hex digits"], raw)
    post("JSON: author missing", {k: v for k, v in form.items() if k != "author"},
         "application/json", 400, "invalid_argument", ["transaction.author", "required"], raw)
    post("JSON: id does not match", dict(form, id="00" * 32), "application/json", 400,
         "invalid_argument", ["transaction.id", "canonical"], raw)
    post("JSON: not JSON", b"{not json", "application/json", 400, "invalid_argument",
         ["not valid JSON"])
    post("JSON: an array", b"[1, 2]", "application/json", 400, "invalid_argument",
         ["JSON object"])
    post("JSON: tx_base64 not base64", {"tx_base64": "***"}, "application/json", 400,
         "invalid_argument", ["tx_base64"])
    post("JSON: tx_base64 a number", {"tx_base64": 7}, "application/json", 400,
         "invalid_argument", ["tx_base64", "string"])
    post("JSON: sidecar not base64", dict(form, sidecar="***"), "application/json", 400,
         "invalid_argument", ["sidecar"], raw)
    post("wrong Content-Type", raw, "text/plain", 415, "invalid_argument",
         ["Content-Type must be"], raw)
    post("no Content-Type", raw, None, 415, "invalid_argument", ["Content-Type"], raw)
    post("form Content-Type", b"a=b", "application/x-www-form-urlencoded", 415,
         "invalid_argument", ["Content-Type"])
    post("a sidecar on an attest", mcutil.submission(raw, sidecar(b"", [])),
         "application/vnd.medchain.submission", 400, "invalid_argument", ["carry no sidecar"], raw)
    # put_record of records that do not exist yet.
    put2 = a.sign(key, "put_record", dict(put_body, record_id="rec-2"))[0]
    post("put_record without its sidecar", put2, "application/octet-stream", 400,
         "invalid_argument", ["need a sidecar"], put2)
    tampered = bytearray(put_sidecar)
    tampered[5] ^= 0xFF  # a ciphertext byte
    post("sidecar that does not match the body", mcutil.submission(put2, bytes(tampered)),
         "application/vnd.medchain.submission", 400, "invalid_argument", ["sidecar", "hash"], put2)
    post("malformed sidecar", mcutil.submission(put2, b"\x09junk"),
         "application/vnd.medchain.submission", 400, "invalid_argument", ["sidecar"], put2)

    get("bad hex id (short)", "/v1/transactions/abc", 400, "invalid_argument", ["64 hex digits"])
    get("bad hex id (65 digits)", "/v1/transactions/" + "a" * 65, 400, "invalid_argument",
        ["64 hex digits"])
    get("id that is not hex", "/v1/transactions/xyz", 404, "not_found", ["no such endpoint"])
    get("unknown transaction", "/v1/transactions/" + "ab" * 32, 404, "not_found",
        ["no committed transaction"])
    get("block beyond the tip", "/v1/blocks/999999", 404, "not_found", ["no block at height 999999"])
    get("block height out of range", "/v1/blocks/99999999999999999999999", 400, "invalid_argument",
        ["height"])
    get("blocks: from not a number", "/v1/blocks?from=x", 400, "invalid_argument", ["from"])
    get("blocks: negative limit", "/v1/blocks?limit=-1", 400, "invalid_argument", ["limit"])
    get("checkpoint beyond the tip", "/v1/checkpoints/999999", 404, "not_found", ["checkpoint"])
    get("inclusion without tx", "/v1/proofs/inclusion", 400, "invalid_argument", ["tx"])
    get("inclusion with a bad id", "/v1/proofs/inclusion?tx=xyz", 400, "invalid_argument",
        ["tx", "64 hex digits"])
    get("inclusion of an unknown tx", "/v1/proofs/inclusion?tx=" + "ab" * 32, 404, "not_found",
        ["no committed transaction"])
    get("inclusion beyond the log", "/v1/proofs/inclusion?tx=" + mcutil.tx_id(committed_raw)
        + "&size=999999", 400, "invalid_argument", ["beyond the log"])
    get("inclusion in a log too small", "/v1/proofs/inclusion?tx=" + mcutil.tx_id(committed_raw)
        + "&size=1", 400, "invalid_argument", ["not in a log of size 1"])
    get("consistency without from", "/v1/proofs/consistency", 400, "invalid_argument", ["from"])
    get("consistency from 0", "/v1/proofs/consistency?from=0&to=1", 400, "invalid_argument",
        ["from"])
    get("consistency from > to", "/v1/proofs/consistency?from=3&to=2", 400, "invalid_argument",
        ["from <= to"])
    get("consistency beyond the log", "/v1/proofs/consistency?from=1&to=999999", 400,
        "invalid_argument", ["log size"])
    get("participants without key", "/v1/participants", 400, "invalid_argument", ["key"])
    get("participants with a bad key", "/v1/participants?key=zz", 400, "invalid_argument",
        ["64 hex digits"])
    get("unknown participant", "/v1/participants/nobody", 404, "not_found", ["nobody"])
    get("unknown record", "/v1/records/nothing", 404, "not_found", ["nothing"])
    get("unknown endpoint", "/v1/nope", 404, "not_found", ["no such endpoint: GET /v1/nope"])
    get("unknown API version", "/v2/healthz", 404, "not_found", ["no such endpoint"])
    bpath = "/v1/transactions/batch?wait=commit"
    bct = "application/vnd.medchain.batch"
    env = mcutil.submission(raw)
    post("batch: wrong content type", mcutil.batch([env]), "application/octet-stream", 415,
         "invalid_argument", ["application/vnd.medchain.batch"], raw, path=bpath)
    post("batch: version 2", b"\x02" + mcutil.batch([env])[1:], bct, 400, "invalid_argument",
         ["batch", "version"], raw, path=bpath)
    post("batch: no submissions", mcutil.batch([]), bct, 400, "invalid_argument",
         ["count", "between 1 and 4096"], path=bpath)
    post("batch: 4097 submissions", b"\x01" + (4097).to_bytes(4, "big") + env * 4097, bct, 400,
         "invalid_argument", ["count", "between 1 and 4096"], raw, path=bpath)
    post("batch: count larger than the body", b"\x01" + (3).to_bytes(4, "big") + mcutil.encode_bytes(env),
         bct, 400, "invalid_argument", ["batch"], raw, path=bpath)
    post("batch: trailing bytes", mcutil.batch([env]) + b"\x00", bct, 400, "invalid_argument",
         ["batch", "trailing"], raw, path=bpath)
    post("batch: a malformed second submission refuses the whole batch",
         mcutil.batch([env, b"\x01\x05junk\x00"]), bct, 400, "invalid_argument",
         ["submission 1"], raw, path=bpath)
    get("root", "/", 404, "not_found", ["no such endpoint"])
    post("POST to a read-only endpoint", b"{}", "application/json", 404, "not_found",
         ["no such endpoint"], path="/v1/blocks")
    return cases


def test_bad_inputs(a, committed_raw, put_body, put_sidecar):
    t, node = a.t, a.node
    t.section("bad inputs: status, JSON error naming the problem, nothing changed")
    cases = table_cases(a, committed_raw, put_body, put_sidecar)
    for name, method, path, body, ct, status, code, parts, tx in cases:
        before = node.tip()
        if method == "GET":
            r = node.get(path)
        else:
            r = node.post(path, body, content_type=ct)
        after = node.tip()
        ok = is_error(r, status, code, parts)
        unchanged = before == after
        unknown = tx is None or node.get("/v1/transactions/" + mcutil.tx_id(tx)).status == 404
        good = ok and unchanged and unknown
        detail = (f"want {status} {code} with {parts}; got {r.status} {r.body[:300]!r}; "
                  f"tip {before} -> {after}; tx unknown: {unknown}")
        if name in KNOWN_ISSUES:
            t.known_issue(good, f"{name}: {status} {code}", KNOWN_ISSUES[name], detail)
        else:
            t.check(good, f"{name}: {status} {code}", detail)
    # The replay was refused; the original stays committed with its own body.
    t.check(node.get("/v1/transactions/" + mcutil.tx_id(committed_raw)).status == 200,
            "the replayed nonce's first transaction is still there")


def parse_metrics(text):
    """{series name with labels: value} and {metric: type} of Prometheus text."""
    values, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values, types


def test_metrics(a):
    t, node = a.t, a.node
    t.section("GET /metrics (Prometheus text format)")
    r = node.get("/metrics")
    t.check(r.status == 200 and r.content_type.startswith("text/plain; version=0.0.4"),
            "GET /metrics: 200 text/plain; version=0.0.4", r.content_type)
    before, types = parse_metrics(r.text())
    want = {"medchain_blocks_total": "counter", "medchain_txs_total": "counter",
            "medchain_pool_size": "gauge", "medchain_height": "gauge",
            "medchain_log_size": "gauge", "medchain_commit_latency_ms": "histogram"}
    for name, kind in want.items():
        t.check(types.get(name) == kind, f"metric {name} is a {kind}", types.get(name))
    buckets = [(k, v) for k, v in before.items() if k.startswith("medchain_commit_latency_ms_bucket")]
    counts = [v for _, v in buckets]
    t.check(len(buckets) >= 5 and buckets[-1][0].endswith('{le="+Inf"}')
            and counts == sorted(counts)
            and counts[-1] == before["medchain_commit_latency_ms_count"],
            "the latency histogram's buckets are cumulative up to +Inf = count", buckets)
    height, size = node.tip()
    t.check(before["medchain_height"] == height and before["medchain_log_size"] == size,
            "medchain_height and medchain_log_size are the tip's")
    a.commit(node.key("dev-hospital"), "attest", attest_body())
    after, _ = parse_metrics(node.get("/metrics").text())
    t.check(after["medchain_txs_total"] == before["medchain_txs_total"] + 1
            and after["medchain_blocks_total"] == before["medchain_blocks_total"] + 1
            and after["medchain_commit_latency_ms_count"]
            == before["medchain_commit_latency_ms_count"] + 1
            and after["medchain_commit_latency_ms_sum"] > before["medchain_commit_latency_ms_sum"]
            and after["medchain_pool_size"] == 0,
            "one more commit: txs, blocks and the histogram count move by one; the pool is empty",
            (before, after))


def test_proofs(a, committed_raw):
    t, node = a.t, a.node
    t.section("proofs: raw endpoints checked here, and `medchain proof`")
    txid = mcutil.tx_id(committed_raw)
    _, size = node.tip()
    p = node.get_json(f"/v1/proofs/inclusion?tx={txid}&size={size}")
    t.check(p["leaf_hash"] == leaf_hash(committed_raw) and p["size"] == size,
            "inclusion proof: the leaf hash is H(0x00 || transaction bytes)", p)
    v = a.cli("merkle", "verify-inclusion", "--leaf-hash", leaf_hash(committed_raw),
              "--index", str(p["leaf_index"]), "--size", str(size), "--root", p["root"],
              "--proof", ",".join(p["proof"]))
    t.check(v.returncode == 0, "the inclusion proof verifies", v.stderr)
    latest = node.get_json("/v1/blocks")["blocks"][-1]
    t.check(p["root"] == latest["log_root"], "its root is the tip block's log root")
    c = node.get_json(f"/v1/proofs/consistency?from=2&to={size}")
    v = a.cli("merkle", "verify-consistency", "--size1", "2", "--size2", str(size),
              "--root1", c["root1"], "--root2", c["root2"], "--proof", ",".join(c["proof"]))
    t.check(v.returncode == 0 and c["root2"] == p["root"], "the consistency proof verifies",
            v.stderr)
    c2 = node.get_json("/v1/proofs/consistency?from=2")
    t.check(c2["to"] == size, "consistency: `to` defaults to the log size")
    v = a.cli("proof", "inclusion", "--node", node.url, "--tx", txid,
              "--genesis", node.genesis_file)
    t.check(v.returncode == 0 and v.stdout.startswith("ok: transaction " + txid),
            "medchain proof inclusion: the checkpoint verifies and the proof holds", v.stdout + v.stderr)
    v = a.cli("proof", "consistency", "--node", node.url, "--from", "1",
              "--genesis", node.genesis_file)
    t.check(v.returncode == 0 and v.stdout.startswith("ok: "),
            "medchain proof consistency: ok from the genesis to the signed size", v.stdout + v.stderr)


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("node_api_test")
    with tempfile.TemporaryDirectory(prefix="medchain-api-") as tmp, \
            mcutil.DevNode(args.bin_dir, keep=args.keep) as node:
        print(f"medchaind --dev at {node.url}, data in {node.data_dir}", flush=True)
        a = Api(args, node, tmp, t)
        test_node_endpoints(a)
        first, committed_raw = test_submissions(a)
        put_body, put_sidecar = test_records_and_reads(a)
        test_batches(a)
        test_bad_inputs(a, committed_raw, put_body, put_sidecar)
        test_metrics(a)
        test_proofs(a, committed_raw)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
