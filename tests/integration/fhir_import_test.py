#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""FHIR bundle import and export through a real `medchaind --dev` (docs/fhir.md,
"Import and export").

Every Synthea bundle of ../shared/testdata/fhir/synthea is imported with
`medchain fhir import --json`: the report counts exactly the bundle's
resources by type, refuses none, and the node holds one record per resource
(the Patient first, under the new patient's pseudonym). Each import is
exported again with the patient's new key file (`medchain fhir export`) and
compared with the original by `medchain fhir diff` (fhir::SemanticDifference,
references renamed one-to-one); one is also exported by the custodian. The
diff is shown to catch a changed value and a swapped reference. A bundle with
an invalid resource and one naming another patient imports the rest and
reports both refusals with the element; bundles that cannot be imported (two
patients, not a Bundle, an existing key file) write nothing.

Usage: fhir_import_test.py --bin-dir BUILD/bin --testdata PATH
"""
import collections
import glob
import json
import os
import shutil
import stat
import sys
import tempfile

import mcutil

PASS = mcutil.DEV_PASSPHRASE


def cli(args, *a, timeout=300):
    return mcutil.run_cli(args.bin_dir, list(a), passphrase=PASS, timeout=timeout)


def last_json(text):
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return None


def import_bundle(args, node, bundle, key_out, *extra):
    p = cli(args, "fhir", "import", "--node", node.url, "--key", node.key("dev-hospital"),
            "--bundle", bundle, "--patient-key-out", key_out, "--fast-kdf", "--json", *extra)
    return p, last_json(p.stdout)


def test_synthea(t, args, node, tmp):
    bundles = sorted(glob.glob(os.path.join(args.testdata, "fhir", "synthea", "*.json")))
    if not t.check(len(bundles) >= 1, "the Synthea bundles are there", args.testdata):
        return []
    imported = []
    for path in bundles:
        name = os.path.basename(path).split("_")[0]
        with open(path) as f:
            original = json.load(f)
        want = collections.Counter(e["resource"]["resourceType"] for e in original["entry"])
        key_out = os.path.join(tmp, name + ".patient.key")
        p, report = import_bundle(args, node, path, key_out)
        if not t.check(p.returncode == 0 and report is not None,
                       f"{name}: medchain fhir import exits 0 with a JSON report",
                       p.stdout[-500:] + p.stderr[-2000:]):
            continue
        t.check(list(report) == ["patient", "written", "refused", "by_type"],
                f"{name}: the report is {{patient, written, refused, by_type}}", list(report))
        got = {k: v["written"] for k, v in report["by_type"].items()}
        t.check(report["written"] == len(original["entry"]) and report["refused"] == 0
                and got == dict(want)
                and all(v["refused"] == 0 for v in report["by_type"].values()),
                f"{name}: {len(original['entry'])} written, 0 refused, counts by type match",
                (report, dict(want)))
        patient = report["patient"]
        recs = node.get_json(f"/v1/patients/{patient}/records")["records"]
        t.check(len(recs) == len(original["entry"])
                and collections.Counter(r["type"] for r in recs) == want
                and all(r["custodian"] == "dev-hospital" for r in recs),
                f"{name}: the node holds one record per resource, custodian dev-hospital",
                len(recs))
        writes = [e for e in node.get_json(f"/v1/patients/{patient}/audit")["entries"]
                  if e.get("record_id")]
        t.check(writes and writes[0]["record_id"] == patient,
                f"{name}: the Patient is the patient's first record (id = the pseudonym)",
                writes[:1])
        mode = stat.S_IMODE(os.stat(key_out).st_mode) if os.path.exists(key_out) else None
        t.check(mode == 0o600, f"{name}: the patient's key file was written, mode 0600", mode)
        imported.append((name, path, patient, key_out))
    return imported


def test_round_trip(t, args, node, tmp, imported):
    for name, path, patient, key_out in imported:
        out = os.path.join(tmp, name + ".export.json")
        p = cli(args, "fhir", "export", "--node", node.url, "--key", key_out, "--patient", patient,
                "--out", out)
        if not t.check(p.returncode == 0 and os.path.exists(out),
                       f"{name}: the patient exports their records", p.stderr[-2000:]):
            continue
        with open(out) as f:
            exported = json.load(f)
        t.check(exported.get("resourceType") == "Bundle" and exported.get("type") == "collection",
                f"{name}: the export is a collection Bundle")
        d = cli(args, "fhir", "diff", path, out)
        t.check(d.returncode == 0 and d.stdout.startswith("equal: "),
                f"{name}: export is semantically equal to the imported bundle ({d.stdout.strip()})",
                d.stdout[-3000:] + d.stderr)
    if not imported:
        return
    # The custodian may read them too (reads recorded with its purpose).
    name, path, patient, _ = imported[0]
    out = os.path.join(tmp, name + ".custodian.json")
    p = cli(args, "fhir", "export", "--node", node.url, "--key", node.key("dev-hospital"),
            "--patient", patient, "--out", out, "--purpose", "audit-test")
    d = cli(args, "fhir", "diff", out, path)
    t.check(p.returncode == 0 and d.returncode == 0,
            f"{name}: the custodian's export is equal too (diff B A)", p.stderr + d.stdout)
    trail = node.get_json(f"/v1/patients/{patient}/audit")["entries"]
    t.check(any(e.get("purpose") == "audit-test" for e in trail),
            "the export's reads are in the patient's audit trail with their purpose")

    # The diff is not blind: a changed value and a swapped reference differ.
    with open(out) as f:
        exported = json.load(f)
    obs = [e for e in exported["entry"] if e["resource"]["resourceType"] == "Observation"]
    enc = [e for e in exported["entry"] if e["resource"]["resourceType"] == "Encounter"]
    changed = json.loads(json.dumps(exported))
    for e in changed["entry"]:
        if e["resource"]["id"] == obs[0]["resource"]["id"]:
            e["resource"]["status"] = "cancelled" if e["resource"]["status"] != "cancelled" \
                else "final"
    bad = os.path.join(tmp, "changed.json")
    with open(bad, "w") as f:
        json.dump(changed, f)
    d = cli(args, "fhir", "diff", path, bad)
    t.check(d.returncode == 1 and "Observation.status" in d.stdout,
            "diff: a changed value differs, naming Observation.status", d.stdout[-1000:])
    moved = [e for e in obs if e["resource"].get("encounter")]
    if len(enc) >= 2 and moved:
        swapped = json.loads(json.dumps(exported))
        target = moved[0]["resource"]["id"]
        current = moved[0]["resource"]["encounter"]["reference"]
        other = next("Encounter/" + e["resource"]["id"] for e in enc
                     if "Encounter/" + e["resource"]["id"] != current)
        for e in swapped["entry"]:
            if e["resource"]["id"] == target:
                e["resource"]["encounter"]["reference"] = other
        with open(bad, "w") as f:
            json.dump(swapped, f)
        d = cli(args, "fhir", "diff", path, bad)
        t.check(d.returncode == 1 and "reference" in d.stdout,
                "diff: a reference to another (existing) resource differs", d.stdout[-1000:])


def test_refusals(t, args, node, tmp, testdata):
    t.section("refusals")
    synthea = sorted(glob.glob(os.path.join(testdata, "fhir", "synthea", "*.json")))
    with open(synthea[0]) as f:
        bundle = json.load(f)
    patient_url = next(e["fullUrl"] for e in bundle["entry"]
                       if e["resource"]["resourceType"] == "Patient")
    # An invalid Observation and a Condition of another patient.
    broken = json.loads(json.dumps(bundle))
    obs_i = next(i for i, e in enumerate(broken["entry"])
                 if e["resource"]["resourceType"] == "Observation")
    del broken["entry"][obs_i]["resource"]["status"]
    cond_i = next(i for i, e in enumerate(broken["entry"])
                  if e["resource"]["resourceType"] == "Condition")
    broken["entry"][cond_i]["resource"]["subject"] = {"reference": "Patient/someone-else"}
    path = os.path.join(tmp, "broken.json")
    with open(path, "w") as f:
        json.dump(broken, f)
    p, report = import_bundle(args, node, path, os.path.join(tmp, "broken.key"))
    t.check(p.returncode == 1 and report is not None and report["refused"] == 2
            and report["written"] == len(bundle["entry"]) - 2
            and report["by_type"]["Observation"]["refused"] == 1
            and report["by_type"]["Condition"]["refused"] == 1,
            "one invalid and one foreign resource: 2 refused, the rest written, exit 1",
            (p.returncode, report))
    t.check(f"entry {obs_i} (Observation): Observation.status: missing required element"
            in p.stderr, "the refusal names the entry and the element", p.stderr[-2000:])
    t.check(f"entry {cond_i} (Condition): Condition.subject: names another patient" in p.stderr,
            "the foreign resource is refused naming Condition.subject", p.stderr[-2000:])
    t.check(patient_url.startswith("urn:uuid:"), "the test bundle uses urn:uuid fullUrls")

    before = node.tip()[1]
    two = json.loads(json.dumps(bundle))
    extra = json.loads(json.dumps(next(e for e in bundle["entry"]
                                       if e["resource"]["resourceType"] == "Patient")))
    extra["fullUrl"] = "urn:uuid:5a0c7a64-17a8-4b57-9d8c-0a5f1f0b7c11"
    extra["resource"]["id"] = "5a0c7a64-17a8-4b57-9d8c-0a5f1f0b7c11"
    two["entry"].append(extra)
    path = os.path.join(tmp, "two.json")
    with open(path, "w") as f:
        json.dump(two, f)
    key_out = os.path.join(tmp, "two.key")
    p, _ = import_bundle(args, node, path, key_out)
    t.check(p.returncode == 2 and "2 Patient" in p.stderr and not os.path.exists(key_out),
            "a bundle with two patients: exit 2, no key file", p.stderr)
    path = os.path.join(tmp, "obs.json")
    with open(path, "w") as f:
        json.dump(bundle["entry"][obs_i]["resource"], f)
    p, _ = import_bundle(args, node, path, os.path.join(tmp, "obs.key"))
    t.check(p.returncode == 2 and "not a FHIR Bundle" in p.stderr, "not a Bundle: exit 2", p.stderr)
    existing = os.path.join(tmp, "existing.key")
    with open(existing, "w") as f:
        f.write("keep me")
    p, _ = import_bundle(args, node, synthea[0], existing)
    with open(existing) as f:
        kept = f.read() == "keep me"
    t.check(p.returncode == 2 and "already exists" in p.stderr and kept,
            "an existing --patient-key-out is never overwritten", p.stderr)
    t.check(node.tip()[1] == before, "none of these wrote to the ledger")


def test_bundle_types(t, args, node, tmp):
    t.section("collection and searchset bundles")
    synthea = sorted(glob.glob(os.path.join(args.testdata, "fhir", "synthea", "*.json")))
    with open(synthea[0]) as f:
        bundle = json.load(f)
    for kind in ("collection", "searchset"):
        b = json.loads(json.dumps(bundle))
        b["type"] = kind
        for e in b["entry"]:
            e.pop("request", None)
            if kind == "searchset":
                e["search"] = {"mode": "match"}
        if kind == "searchset":
            b["entry"].append({
                "fullUrl": "urn:uuid:7d1c7e2a-4b7e-4f0e-9d8e-2f4f5b1c9a01",
                "resource": {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "information", "code": "informational",
                     "diagnostics": "from the search"}]},
                "search": {"mode": "outcome"}})
        path = os.path.join(tmp, kind + ".json")
        with open(path, "w") as f:
            json.dump(b, f)
        key_out = os.path.join(tmp, kind + ".key")
        p, report = import_bundle(args, node, path, key_out)
        ok = p.returncode == 0 and report and report["written"] == len(bundle["entry"]) \
            and report["refused"] == 0 and "OperationOutcome" not in report["by_type"]
        t.check(ok, f"a {kind} bundle imports completely"
                + (" (its outcome entry skipped)" if kind == "searchset" else ""),
                (p.returncode, report, p.stderr[-1000:]))
        if not ok:
            continue
        out = os.path.join(tmp, kind + ".export.json")
        e = cli(args, "fhir", "export", "--node", node.url, "--key", key_out,
                "--patient", report["patient"], "--out", out)
        d = cli(args, "fhir", "diff", path, out)
        t.check(e.returncode == 0 and d.returncode == 0,
                f"the {kind} bundle round-trips ({d.stdout.strip()})", e.stderr + d.stdout)


def test_several_bundles(t, args, node, tmp):
    t.section("several bundles in one command")
    bundles = sorted(glob.glob(os.path.join(args.testdata, "fhir", "synthea", "*.json")),
                     key=os.path.getsize)[:2]
    if not t.check(len(bundles) == 2, "two Synthea bundles"):
        return
    d = os.path.join(tmp, "several")
    os.makedirs(d)
    copies = []
    for b in bundles:
        copies.append(os.path.join(d, os.path.basename(b)))
        shutil.copyfile(b, copies[-1])
    before = node.tip()
    p = cli(args, "fhir", "import", "--node", node.url, "--key", node.key("dev-hospital"),
            "--bundle", copies[0], "--bundle", copies[1], "--patient-key-out",
            os.path.join(d, "one.key"), "--json")
    t.check(p.returncode == 2 and "single --bundle" in p.stderr and node.tip() == before
            and not os.path.exists(os.path.join(d, "one.key")),
            "--patient-key-out with two bundles: exit 2, nothing written", p.stderr)
    # The default (interactive) Argon2id cost: the two key files share one run.
    p = cli(args, "fhir", "import", "--node", node.url, "--key", node.key("dev-hospital"),
            "--bundle", copies[0], "--bundle", copies[1], "--parallel", "2", "--json")
    reports = [json.loads(ln) for ln in p.stdout.strip().splitlines() if ln.startswith("{")]
    t.check(p.returncode == 0 and len(reports) == 2, "exit 0, one JSON line per bundle",
            p.stdout[-500:] + p.stderr[-1500:])
    if len(reports) != 2:
        return
    salts = []
    for copy, report in zip(copies, reports):
        with open(copy) as f:
            entries = len(json.load(f)["entry"])
        name = os.path.basename(copy).split("_")[0]
        t.check(report["written"] == entries and report["refused"] == 0,
                f"{name}: {entries} written, in the order the bundles were given", report)
        key_out = copy + ".patient.key"
        with open(key_out) as f:
            salts.append(json.load(f)["kdf"]["salt"])
        g = cli(args, "record", "get", "--node", node.url, "--key", key_out, "--patient",
                report["patient"], "--type", "Patient", "--purpose", "self")
        t.check(g.returncode == 0 and report["patient"] in g.stdout,
                f"{name}: its key file (BUNDLE.patient.key) opens the patient's records",
                g.stdout[-300:] + g.stderr[-300:])
    t.check(reports[0]["patient"] != reports[1]["patient"], "two different patients")
    t.check(salts[0] == salts[1], "the two key files share one Argon2id derivation (salt)")


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("fhir_import_test")
    if not args.testdata:
        t.check(False, "--testdata is given")
        return t.finish()
    with tempfile.TemporaryDirectory(prefix="medchain-fhir-import-") as tmp, \
            mcutil.DevNode(args.bin_dir, keep=args.keep) as node:
        print(f"medchaind --dev at {node.url}, data in {node.data_dir}", flush=True)
        t.section("import every Synthea bundle")
        imported = test_synthea(t, args, node, tmp)
        t.section("export and compare")
        test_round_trip(t, args, node, tmp, imported)
        test_bundle_types(t, args, node, tmp)
        test_refusals(t, args, node, tmp, args.testdata)
        test_several_bundles(t, args, node, tmp)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
