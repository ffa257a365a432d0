#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""The FHIR R4 facade of a real `medchaind --dev` (docs/fhir.md, "The REST facade").

1. A FHIR client written by others, fhir-kit-client (npm, pinned in
   tests/integration/fhir_client), run by node: capability statement, create,
   read, update, vread, history, search, $everything, a transaction with
   urn:uuid references, and the errors it sees (400, 401, 404, 422).
2. Refusals over raw HTTP: invalid resources, unknown types, wrong content
   types, missing and bad tokens, references to missing resources, urn:
   references outside a transaction, a transaction with one bad entry, a
   stale If-Match, DELETE, unknown endpoints. Each is an OperationOutcome
   with the documented status naming what was wrong, and the ledger's log
   size does not move.
3. Consent: a record of another organisation is refused (403) and the
   refusal is committed and shown as an AuditEvent with outcome 4; after the
   patient grants the node's organisation, the same read succeeds. A record
   written by the facade opens with the patient's escrowed key through the
   CLI, and one written by the CLI reads through the facade (one envelope
   format). An erased record answers 410.
4. The ledger as FHIR: AuditEvent?patient=, Provenance?target=,
   Consent?patient= and reads by id are valid R4 (`medchain fhir validate`)
   and carry the transaction id and an inclusion-proof link that resolves.

Usage: fhir_facade_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import mcutil

PASS = mcutil.DEV_PASSPHRASE
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "fhir_client")
FHIR_JSON = "application/fhir+json"


class Fhir:
    """The facade of one dev node, with its token."""

    def __init__(self, node, tmp, bin_dir):
        self.node = node
        self.tmp = tmp
        self.bin = bin_dir
        with open(os.path.join(node.data_dir, "fhir-token")) as f:
            self.token = f.read().strip()
        self.base = node.url + "/fhir/r4"

    def call(self, method, path, body=None, token=True, content_type=FHIR_JSON, headers=None):
        hdrs = dict(headers or {})
        if token is True:
            hdrs["Authorization"] = "Bearer " + self.token
        elif token:
            hdrs["Authorization"] = token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return mcutil.request(method, self.base + path, data,
                              content_type=content_type if data is not None else None,
                              headers=hdrs)

    def log_size(self):
        return self.node.tip()[1]

    def cli(self, *args, passphrase=PASS):
        return mcutil.run_cli(self.bin, list(args), passphrase=passphrase)

    def validate(self, name, resource):
        """`medchain fhir validate` on a resource: (valid, output)."""
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(resource, f)
        p = self.cli("fhir", "validate", path)
        return p.returncode == 0, p.stdout + p.stderr


def outcome(reply, status, code=None, expression=None, text=None):
    """The reply is `status` with an OperationOutcome in application/fhir+json,
    with an issue of `code` (and `expression`, and `text` in its diagnostics)."""
    j = reply.json()
    if reply.status != status or not isinstance(j, dict):
        return False
    if j.get("resourceType") != "OperationOutcome" or not j.get("issue"):
        return False
    if not reply.content_type.startswith(FHIR_JSON):
        return False
    for i in j["issue"]:
        if code and i.get("code") != code:
            continue
        if expression and expression not in i.get("expression", []):
            continue
        if text and text not in i.get("diagnostics", ""):
            continue
        return True
    return False


def observation(patient, **extra):
    o = {"resourceType": "Observation", "status": "final", "code": {"text": "Body weight"},
         "subject": {"reference": f"Patient/{patient}"},
         "valueQuantity": {"value": 70, "unit": "kg"}}
    o.update(extra)
    return o


# ---- 1. fhir-kit-client ----

def ensure_client(t):
    """npm ci of the pinned fhir-kit-client, when not installed yet."""
    if os.path.isfile(os.path.join(CLIENT_DIR, "node_modules", "fhir-kit-client", "package.json")):
        return True
    npm = shutil.which("npm")
    if not npm:
        t.check(False, "npm is installed (scripts/setup.sh installs nodejs and npm)")
        return False
    p = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=CLIENT_DIR,
                       capture_output=True, text=True, timeout=300)
    return t.check(p.returncode == 0, "npm ci installs the pinned fhir-kit-client", p.stderr[-2000:])


def test_fhir_kit_client(t, f):
    t.section("a real FHIR client: fhir-kit-client")
    if not ensure_client(t):
        return None
    node = shutil.which("node")
    if not t.check(node is not None, "node (Node.js) is installed"):
        return None
    p = subprocess.run([node, os.path.join(CLIENT_DIR, "scenario.js"), f.base, f.token],
                       capture_output=True, text=True, timeout=300)
    try:
        result = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        t.check(False, "the fhir-kit-client scenario prints its results", p.stdout + p.stderr)
        return None
    for c in result["checks"]:
        t.check(c["ok"], "fhir-kit-client: " + c["what"], c.get("detail"))
    return result["ids"]


# ---- 2. Refusals change nothing ----

def test_refusals(t, f, patient):
    t.section("refusals: OperationOutcomes, nothing written")
    before = f.log_size()
    cases = [
        ("an invalid resource (no status)",
         f.call("POST", "/Observation", {"resourceType": "Observation", "code": {"text": "x"},
                                         "subject": {"reference": f"Patient/{patient}"}}),
         400, "required", "Observation.status", "missing required element"),
        ("a value of the wrong FHIR type",
         f.call("POST", "/Patient", {"resourceType": "Patient", "birthDate": "12/04/1975"}),
         400, None, "Patient.birthDate", "date"),
        ("an unknown element",
         f.call("POST", "/Patient", {"resourceType": "Patient", "nickname": "x"}),
         400, "structure", "Patient.nickname", "unknown element"),
        ("an unknown resource type in the URL",
         f.call("POST", "/Frobnicate", {"resourceType": "Frobnicate"}),
         404, "not-supported", None, "Frobnicate"),
        ("GET of an unknown resource type",
         f.call("GET", f"/Frobnicate?patient={patient}"), 404, "not-supported", None, None),
        ("resourceType differs from the URL",
         f.call("POST", "/Condition", observation(patient)), 400, "invariant", None, "Condition"),
        ("not JSON", f.call("POST", "/Observation", "{not json"), 400, None, None, "JSON"),
        ("wrong content type (text/plain)",
         f.call("POST", "/Observation", json.dumps(observation(patient)), content_type="text/plain"),
         415, "not-supported", None, "application/fhir+json"),
        ("no content type",
         f.call("POST", "/Observation", json.dumps(observation(patient)), content_type=None),
         415, None, None, None),
        ("no token", f.call("POST", "/Observation", observation(patient), token=None),
         401, "login", None, "Bearer"),
        ("a wrong token",
         f.call("POST", "/Observation", observation(patient), token="Bearer " + "0" * 64),
         401, "login", None, "invalid bearer token"),
        ("another scheme than Bearer",
         f.call("POST", "/Observation", observation(patient), token="Basic " + f.token),
         401, "login", None, "Bearer"),
        ("a reference to a missing Patient",
         f.call("POST", "/Observation", observation("no-such-patient")),
         422, "not-found", "Observation.subject", "does not exist"),
        ("a reference to a missing Encounter",
         f.call("POST", "/Observation",
                observation(patient, encounter={"reference": "Encounter/no-such-encounter"})),
         422, "not-found", "Observation.encounter", "Encounter/no-such-encounter"),
        ("a urn:uuid reference outside a transaction",
         f.call("POST", "/Observation", observation(patient, encounter={
             "reference": "urn:uuid:2b4ff8d0-36b1-4c21-a3d8-5b0a9f3b10a1"})),
         422, "processing", "Observation.encounter", "transaction"),
        ("a record that names no patient",
         f.call("POST", "/Organization", {"resourceType": "Organization", "name": "Clinic"}),
         422, "processing", None, "patient"),
        ("a write of a ledger view",
         f.call("POST", "/AuditEvent", {"resourceType": "AuditEvent"}), 405, "not-supported", None,
         "ledger"),
        ("PUT with an id differing from the URL",
         f.call("PUT", "/Observation/abc", dict(observation(patient), id="xyz")),
         400, "invariant", None, "id"),
        ("DELETE", f.call("DELETE", f"/Patient/{patient}"), 405, "not-supported", None, None),
        ("an unknown endpoint", f.call("GET", "/Patient/x/y/z"), 404, "not-supported", None, None),
        ("a batch Bundle",
         f.call("POST", "", {"resourceType": "Bundle", "type": "batch"}),
         400, "not-supported", "Bundle.type", "transaction"),
        ("a search with no patient",
         f.call("GET", "/Observation?code=1234"), 400, "not-supported", None, "patient"),
    ]
    for name, reply, status, code, expression, text in cases:
        t.check(outcome(reply, status, code, expression, text),
                f"{name}: {status} OperationOutcome", reply)
    r = f.call("POST", "/Observation", observation(patient), token=None)
    t.check(r.headers.get("www-authenticate", "").startswith("Bearer"),
            "401 answers carry WWW-Authenticate: Bearer", r.headers)

    # A transaction with one bad entry among good ones writes nothing.
    entries = [
        {"fullUrl": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1a01",
         "resource": {"resourceType": "Patient", "name": [{"family": "Atomic"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1a02",
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "ok"},
                      "subject": {"reference": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1a01"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1a03",
         "resource": {"resourceType": "Observation", "code": {"text": "no status"},
                      "subject": {"reference": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1a01"}},
         "request": {"method": "POST", "url": "Observation"}},
    ]
    r = f.call("POST", "", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    t.check(outcome(r, 400, "required", "Bundle.entry[2].resource.status"),
            "a transaction with one invalid entry: 400 naming Bundle.entry[2].resource.status", r)
    dangling = json.loads(json.dumps(entries[:2]))
    dangling[1]["resource"]["encounter"] = {
        "reference": "urn:uuid:0f6b5e4c-0c0d-4a43-9f59-2d0c3fbb1aff"}
    r = f.call("POST", "", {"resourceType": "Bundle", "type": "transaction", "entry": dangling})
    t.check(outcome(r, 422, "not-found", "Bundle.entry[1].resource.encounter", "no entry"),
            "a transaction referencing a missing entry: 422 naming the element", r)
    t.check(f.log_size() == before, "none of these refusals wrote to the ledger",
            (before, f.log_size()))


# ---- 3. Consent, envelope compatibility, erasure ----

def new_key(f, name):
    path = os.path.join(f.tmp, name + ".key")
    p = f.cli("keygen", "--out", path, "--fast-kdf")
    assert p.returncode == 0, p.stderr
    return path


def test_consent(t, f, patient, obs_id):
    t.section("consent rules, key escrow, one envelope format")
    node = f.node
    escrow = os.path.join(node.data_dir, "keys", "patient-keys", patient + ".key")
    t.check(os.path.isfile(escrow), "POST /Patient escrowed the new patient's key file", escrow)
    if os.path.isfile(escrow):
        mode = stat.S_IMODE(os.stat(escrow).st_mode)
        t.check(mode == 0o600, "the escrowed key file is 0600", oct(mode))

    # A record the facade wrote opens with the patient's key through the CLI.
    out = os.path.join(f.tmp, "obs.json")
    p = f.cli("record", "get", "--node", node.url, "--key", escrow, "--record", obs_id,
              "--purpose", "self", "--out", out)
    ok = p.returncode == 0
    if ok:
        with open(out) as fh:
            got = json.load(fh)
        ok = got.get("id") == obs_id and got.get("resourceType") == "Observation"
    t.check(ok, "the patient opens a facade-written record with `medchain record get`",
            p.stderr)

    # A record the CLI wrote (as the same organisation) reads through the facade.
    doc = os.path.join(f.tmp, "cli-obs.json")
    with open(doc, "w") as fh:
        json.dump(dict(observation(patient), id="cli-written-obs"), fh)
    p = f.cli("record", "put", "--node", node.url, "--key", node.key("dev-hospital"),
              "--patient", patient, "--type", "Observation", "--file", doc,
              "--record", "cli-written-obs")
    t.check(p.returncode == 0, "medchain record put writes an Observation as dev-hospital", p.stderr)
    r = f.call("GET", "/Observation/cli-written-obs")
    t.check(r.status == 200 and r.json().get("valueQuantity", {}).get("value") == 70,
            "the facade reads the CLI-written record", r)

    # Another organisation's record: refused and recorded.
    admin = node.key("admin")
    other_key = new_key(f, "other-clinic")
    p = f.cli("identity", "register", "--node", node.url, "--key", admin, "--id", "other-clinic",
              "--role", "organisation", "--name", "Other Clinic", "--subject-key", other_key)
    t.check(p.returncode == 0, "the admin registers a second organisation", p.stderr)
    p = f.cli("record", "put", "--node", node.url, "--key", other_key, "--patient", patient,
              "--type", "Observation", "--file", doc, "--record", "other-clinic-obs")
    t.check(p.returncode == 0, "the other organisation writes an Observation of the patient",
            p.stderr)
    before = f.log_size()
    r = f.call("GET", "/Observation/other-clinic-obs")
    t.check(outcome(r, 403, "forbidden", text="refusal recorded"),
            "the facade's read of another organisation's record: 403", r)
    t.check(f.log_size() == before + 1, "the refusal was committed (one transaction)",
            (before, f.log_size()))
    audit = f.call("GET", f"/AuditEvent?patient={patient}").json()
    refused = [e["resource"] for e in audit.get("entry", [])
               if e["resource"].get("outcome") == "4"
               and any(x.get("what", {}).get("reference") == "Observation/other-clinic-obs"
                       for x in e["resource"].get("entity", []))]
    t.check(len(refused) == 1, "the refusal is an AuditEvent with outcome 4 naming the record",
            audit)
    # Search: the patient's Observations the organisation may read, not the other's.
    r = f.call("GET", f"/Observation?patient={patient}")
    ids = sorted(e["resource"]["id"] for e in r.json().get("entry", [])
                 if e["search"]["mode"] == "match")
    t.check(r.status == 200 and "other-clinic-obs" not in ids and obs_id in ids,
            "a search by patient returns only what the consent rules release", ids)

    # The patient grants the node's organisation: now the read succeeds.
    p = f.cli("grant", "add", "--node", node.url, "--key", escrow, "--grantee", "dev-hospital",
              "--types", "Observation", "--purpose", "treatment", "--expires", "1d")
    t.check(p.returncode == 0, "the patient grants dev-hospital Observations", p.stderr)
    r = f.call("GET", "/Observation/other-clinic-obs")
    t.check(r.status == 200 and r.json().get("id") == "other-clinic-obs",
            "with the grant, the facade reads the other organisation's record", r)
    r = f.call("PUT", "/Observation/other-clinic-obs",
               dict(observation(patient), id="other-clinic-obs"))
    t.check(outcome(r, 403, "forbidden", text="other-clinic"),
            "but it may not write a new version of it (custodian other-clinic): 403", r)
    consent = f.call("GET", f"/Consent?patient={patient}")
    cs = [e["resource"] for e in consent.json().get("entry", [])]
    t.check(consent.status == 200 and len(cs) == 1 and cs[0]["status"] == "active",
            "Consent?patient= shows the active grant", consent)
    if cs:
        valid, why = f.validate("consent", cs[0])
        t.check(valid, "the Consent is valid R4", why)
        one = f.call("GET", "/Consent/" + cs[0]["id"])
        t.check(one.status == 200 and one.json() == cs[0], "GET /Consent/{id} is the same resource",
                one)

    # Erasure: 410 Gone.
    p = f.cli("record", "erase", "--node", node.url, "--key", escrow, "--record", "cli-written-obs",
              "--reason", "test")
    t.check(p.returncode == 0, "the patient erases a record", p.stderr)
    r = f.call("GET", "/Observation/cli-written-obs")
    t.check(outcome(r, 410, "deleted"), "reading an erased record: 410 OperationOutcome", r)


# ---- 4. The ledger as FHIR ----

def test_ledger_views(t, f, patient, obs_id):
    t.section("the ledger as AuditEvent, Provenance, Consent")
    node = f.node
    audit = f.call("GET", f"/AuditEvent?patient={patient}")
    events = [e["resource"] for e in audit.json().get("entry", [])]
    t.check(audit.status == 200 and audit.json().get("type") == "searchset" and len(events) >= 5,
            "AuditEvent?patient=: a searchset of the patient's access events", len(events))
    valid, why = f.validate("audit", audit.json())
    t.check(valid, "the AuditEvent bundle is valid R4", why)
    tx_ids = []
    for e in events:
        details = {d["type"]: d.get("valueString") for x in e.get("entity", [])
                   for d in x.get("detail", [])}
        if "tx" in details and details.get("inclusion-proof", "").endswith(details["tx"]):
            tx_ids.append((e["id"], details["tx"], details["inclusion-proof"]))
    t.check(len(tx_ids) == len(events) and all(i == tx for i, tx, _ in tx_ids),
            "every AuditEvent carries its transaction id and an inclusion-proof link", events[:1])
    if tx_ids:
        _, tx, link = tx_ids[0]
        proof = node.get(link)
        t.check(proof.status == 200 and proof.json().get("tx") == tx,
                "the inclusion-proof link answers a proof of that transaction", proof)
        one = f.call("GET", "/AuditEvent/" + tx)
        t.check(one.status == 200 and one.json().get("id") == tx, "GET /AuditEvent/{tx id}", one)
    reads_by_me = [e for e in events if e.get("outcome") == "0"
                   and any(a.get("who", {}).get("identifier", {}).get("value") == "dev-hospital"
                           for a in e.get("agent", []))]
    t.check(reads_by_me, "the facade's own reads appear, with dev-hospital as the agent")

    prov = f.call("GET", f"/Provenance?target=Observation/{obs_id}")
    ps = [e["resource"] for e in prov.json().get("entry", [])]
    acts = sorted(p["activity"]["coding"][0]["code"] for p in ps)
    t.check(prov.status == 200 and acts == ["CREATE", "UPDATE"],
            "Provenance?target=Observation/id: the create and the update", acts)
    valid, why = f.validate("provenance", prov.json())
    t.check(valid, "the Provenance bundle is valid R4", why)
    ext_ok = True
    for p in ps:
        ext = {x["url"]: x for x in p.get("extension", [])}
        ledger = ext.get("urn:medchain:fhir:ledger-entry", {})
        sub = {x["url"]: x for x in ledger.get("extension", [])}
        ext_ok &= sub.get("tx", {}).get("valueString") == p["id"]
        ext_ok &= "inclusion-proof" in sub
    t.check(ps and ext_ok, "each Provenance names its transaction and inclusion proof", ps[:1])
    bare = f.call("GET", f"/Provenance?target={obs_id}")
    t.check(bare.status == 200 and bare.json().get("total") == 2,
            "Provenance?target=<record id> finds the same two", bare)
    if ps:
        one = f.call("GET", "/Provenance/" + ps[0]["id"])
        t.check(one.status == 200 and one.json() == ps[0], "GET /Provenance/{tx id}", one)
    r = f.call("GET", "/AuditEvent")
    t.check(outcome(r, 400, "required", text="patient"), "AuditEvent without patient=: 400", r)
    r = f.call("POST", "/Consent", {"resourceType": "Consent"})
    t.check(outcome(r, 405, "not-supported"), "Consent is read-only: 405", r)


def test_metadata(t, f):
    t.section("metadata, versions")
    r = f.call("GET", "/metadata", token=None)
    cs = r.json()
    t.check(r.status == 200 and cs.get("resourceType") == "CapabilityStatement"
            and r.content_type.startswith(FHIR_JSON),
            "GET /metadata needs no token and answers a CapabilityStatement", r)
    valid, why = f.validate("capability", cs)
    t.check(valid, "the CapabilityStatement is valid R4", why)
    security = json.dumps(cs.get("rest", [{}])[0].get("security", {}))
    t.check("Bearer" in security or "bearer" in security.lower(),
            "it declares bearer-token security", security)


def test_versions(t, f, patient):
    t.section("updates and version conflicts")
    r = f.call("POST", "/Observation", observation(patient), content_type="application/json")
    t.check(r.status == 201 and r.headers.get("etag") == 'W/"1"'
            and "/_history/1" in r.headers.get("location", ""),
            "application/json is accepted too; 201 with ETag and Location", r)
    oid = r.json()["id"]
    body = dict(observation(patient), id=oid, status="amended")
    r = f.call("PUT", f"/Observation/{oid}", body, headers={"If-Match": 'W/"1"'})
    t.check(r.status == 200 and r.json()["meta"]["versionId"] == "2", "PUT with If-Match: v2", r)
    before = f.log_size()
    r = f.call("PUT", f"/Observation/{oid}", body, headers={"If-Match": 'W/"1"'})
    t.check(outcome(r, 409, "conflict", text="version"), "a stale If-Match: 409", r)
    r = f.call("PUT", f"/Patient/{oid}", {"resourceType": "Patient", "id": oid})
    t.check(outcome(r, 409, "conflict", text="another type"),
            "PUT /Patient/{an Observation's id}: 409, no patient registered", r)
    t.check(f.log_size() == before, "the conflicts wrote nothing", (before, f.log_size()))
    r = mcutil.request("POST", f.base + "/Observation/_search", f"patient={patient}&_id={oid}",
                       content_type="application/x-www-form-urlencoded",
                       headers={"Authorization": "Bearer " + f.token})
    t.check(r.status == 200 and r.json().get("total") == 1,
            "POST /Observation/_search with form parameters", r)
    r = f.call("GET", f"/Observation/{oid}/_history?_count=1")
    h = r.json()
    t.check(r.status == 200 and h.get("total") == 2 and len(h.get("entry", [])) == 1
            and h["entry"][0]["resource"]["meta"]["versionId"] == "2",
            "_history?_count=1: the newest version of 2", r)
    r = f.call("GET", f"/Observation/{oid}/_history/3")
    t.check(outcome(r, 404, "not-found"), "vread of a version that does not exist: 404", r)
    r = f.call("PUT", "/Observation/client-chosen-id", dict(observation(patient),
                                                            id="client-chosen-id"))
    t.check(r.status == 201 and r.json()["id"] == "client-chosen-id",
            "PUT to a new id creates it (update as create): 201", r)
    return oid


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("fhir_facade_test")
    with tempfile.TemporaryDirectory(prefix="medchain-fhir-") as tmp, \
            mcutil.DevNode(args.bin_dir, keep=args.keep) as node:
        print(f"medchaind --dev at {node.url}, data in {node.data_dir}", flush=True)
        if not t.check(os.path.isfile(os.path.join(node.data_dir, "fhir-token")),
                       "the dev node enables the facade and writes DIR/fhir-token",
                       node.log_tail()):
            return t.finish()
        mode = stat.S_IMODE(os.stat(os.path.join(node.data_dir, "fhir-token")).st_mode)
        t.check(mode == 0o600, "DIR/fhir-token is 0600", oct(mode))
        f = Fhir(node, tmp, args.bin_dir)
        test_metadata(t, f)
        ids = test_fhir_kit_client(t, f)
        r = f.call("POST", "/Patient", {"resourceType": "Patient", "name": [{"family": "Raw"}]})
        t.check(r.status == 201, "POST /Patient over raw HTTP: 201", r)
        patient = r.json()["id"]
        test_refusals(t, f, patient)
        oid = test_versions(t, f, patient)
        test_consent(t, f, patient, oid)
        test_ledger_views(t, f, patient, oid)
        if ids and ids.get("patient"):
            r = f.call("GET", f"/AuditEvent?patient={ids['patient']}")
            n = len(r.json().get("entry", []))
            t.check(r.status == 200 and n >= 6,
                    "the fhir-kit-client scenario's reads are in its patient's audit trail", n)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
