#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Only a valid signature of a registered participant puts an entry in a
patient's trail (issue 10, point 4; docs/security.md), against a real
`medchaind --dev` loaded by `medchain demo`:

- POST /v1/reads with a flipped signature, an all-zero signature under
  dr-demo's public key, or signed by a key registered nowhere: 401, the log
  size and pat-demo's trail unchanged;
- a refused read by dr-demo (registered, signing correctly) is committed and
  in the trail, naming dr-demo;
- refused reads are limited per participant on each node
  (api.refused_reads_per_minute, default 20): past the limit a read that
  would be refused, or a replay, gets 429 and commits nothing, while a read
  the rules allow still works.

Usage: access_reads_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import tempfile

import mcutil

PASS = mcutil.DEV_PASSPHRASE
LIMIT = 20  # api.refused_reads_per_minute's default (docs/configuration.md)


class Reads:
    def __init__(self, args, node, tmp, t):
        self.bin, self.node, self.tmp, self.t = args.bin_dir, node, tmp, t
        self.n = 0

    def cli(self, *args):
        return mcutil.run_cli(self.bin, list(args), passphrase=PASS)

    def sign_read(self, key, body):
        """Canonical bytes of a read_record signed by `key`, not submitted."""
        self.n += 1
        out = os.path.join(self.tmp, f"read-{self.n}.bin")
        p = self.cli("submit", "--node", self.node.url, "--key", key, "--type", "read_record",
                     "--body", json.dumps(body), "--out", out)
        assert p.returncode == 0, p.stderr
        with open(out, "rb") as f:
            return f.read()

    def post(self, raw):
        return self.node.post("/v1/reads", raw, content_type="application/octet-stream")

    def log_size(self):
        return self.node.tip()[1]

    def trail(self):
        return self.node.get_json("/v1/patients/pat-demo/audit")["entries"]


def error_of(r):
    j = r.json()
    return j.get("error") if isinstance(j, dict) else None


def main():
    args = mcutil.parse_args()
    t = mcutil.Checker("access_reads")
    with mcutil.DevNode(args.bin_dir) as node, tempfile.TemporaryDirectory() as tmp:
        a = Reads(args, node, tmp, t)
        p = a.cli("demo", "--node", node.url, "--dir", node.data_dir)
        t.check(p.returncode == 0, "medchain demo loads dr-demo, pat-demo and records", p.stderr)
        recs = node.get_json("/v1/patients/pat-demo/records")["records"]
        by_type = {r["type"]: r["record_id"] for r in recs}
        obs, cond = by_type["Observation"], by_type["Condition"]
        dr = os.path.join(node.data_dir, "keys", "dr-demo.key")

        t.section("reads that fail authentication leave no trace")
        good = a.sign_read(dr, {"record_id": obs, "purpose": "treatment"})
        sig_at = mcutil.decode_tx(good)["unsigned_len"]
        flipped = good[:-1] + bytes([good[-1] ^ 1])
        zeros = good[:sig_at] + bytes(64)
        stranger = os.path.join(tmp, "stranger.key")
        k = a.cli("keygen", "--out", stranger, "--fast-kdf")
        t.check(k.returncode == 0, "a key registered nowhere", k.stderr)
        foreign = a.sign_read(stranger, {"record_id": obs, "purpose": "treatment"})
        before_size, before_trail = a.log_size(), a.trail()
        for name, raw, must in (("a flipped signature", flipped, "signature"),
                                ("an all-zero signature under dr-demo's key", zeros, "signature"),
                                ("a key registered nowhere", foreign, "no registered participant")):
            r = a.post(raw)
            t.check(r.status == 401 and error_of(r) == "unauthenticated"
                    and must in r.json().get("message", ""),
                    f"POST /v1/reads with {name}: 401 naming why", r)
            for _ in range(3):  # repeated, as a flood would
                a.post(raw)
        t.check(a.log_size() == before_size, "the log size is unchanged",
                (before_size, a.log_size()))
        t.check(a.trail() == before_trail, "pat-demo's trail is unchanged")
        t.check(node.get("/v1/transactions/" + mcutil.tx_id(zeros)).status == 404,
                "the forged request is not a transaction of the ledger")

        t.section("a refused read of a registered participant is recorded")
        r = a.post(a.sign_read(dr, {"record_id": cond, "purpose": "treatment"}))
        t.check(r.status == 403 and error_of(r) == "permission_denied"
                and "recorded" in r.json().get("message", ""),
                "dr-demo reading the Condition (no grant covers it): 403, recorded", r)
        t.check(a.log_size() == before_size + 1, "one entry more in the log",
                (before_size, a.log_size()))
        last = [e for e in a.trail() if e.get("refused")]
        t.check(any(e.get("actor") == "dr-demo" and e.get("record_id") == cond for e in last),
                "the refusal is in pat-demo's trail, naming dr-demo", last)

        t.section(f"refused reads are limited to {LIMIT} a minute per participant and node")
        # Signed beforehand, then sent back to back: the bucket refills one
        # token every 60/LIMIT seconds, so the counts below allow one of slack.
        batch = [a.sign_read(dr, {"record_id": cond, "purpose": "treatment"})
                 for _ in range(LIMIT + 5)]
        allowed = a.sign_read(dr, {"record_id": obs, "purpose": "treatment"})
        size = a.log_size()
        codes = [a.post(raw).status for raw in batch]
        recorded = codes.count(403)
        t.check(LIMIT - 1 <= recorded <= LIMIT + 1 and codes == [403] * recorded
                + [429] * (len(codes) - recorded),
                f"about {LIMIT} refusals a minute recorded (403), then 429", codes)
        t.check(a.log_size() == size + recorded,
                "each 403 added one entry to the log, each 429 none",
                (size, recorded, a.log_size()))
        size = a.log_size()
        r = a.post(a.sign_read(dr, {"record_id": cond, "purpose": "treatment"}))
        t.check(r.status == 429 and error_of(r) == "resource_exhausted"
                and "dr-demo" in r.json().get("message", "")
                and "not recorded" in r.json().get("message", "")
                and a.log_size() == size,
                "over the limit: 429 naming the participant, the log size unchanged",
                (r, size, a.log_size()))
        r = a.post(allowed)
        t.check(r.status == 200 and len(r.json().get("records", [])) == 1,
                "a read the rules allow (the granted Observation) still works over the limit", r)
        size = a.log_size()
        r = a.post(allowed)
        t.check(r.status == 429 and a.log_size() == size,
                "a replay of it over the limit: 429, nothing recorded", (r, size, a.log_size()))
        limited = len(codes) - recorded + 2
        metrics = node.get("/metrics").text()
        t.check(f"medchain_reads_limited_total {limited}\n" in metrics,
                "/metrics counts the limited reads (medchain_reads_limited_total)", limited)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
