// Copyright (c) medchain developers.
// A real FHIR client written by others (fhir-kit-client, pinned in
// package.json) against medchain's FHIR facade: create, read, update, vread,
// search, history, $everything, a transaction, and the errors a client sees.
//
//   node scenario.js BASE_URL TOKEN
//
// Prints one JSON object: {"checks": [{"what", "ok", "detail"}], "ids": {...}}.
// fhir_facade_test.py reports every check and goes on from the ids.
'use strict';

const Client = require('fhir-kit-client');

const [baseUrl, token] = process.argv.slice(2);
const checks = [];
const ids = {};

function check(ok, what, detail) {
  checks.push({ what, ok: Boolean(ok), detail: ok ? undefined : JSON.stringify(detail) });
}

// The HTTP status and body of a failed fhir-kit-client call.
async function failure(promise) {
  try {
    const r = await promise;
    return { status: 200, data: r };
  } catch (e) {
    if (e && e.response) return { status: e.response.status, data: e.response.data };
    throw e;
  }
}

function isOutcome(data, code) {
  return data && data.resourceType === 'OperationOutcome' && Array.isArray(data.issue) &&
    data.issue.length > 0 && (!code || data.issue.some((i) => i.code === code));
}

async function main() {
  const client = new Client({ baseUrl, bearerToken: token });

  const cs = await client.capabilityStatement();
  check(cs.resourceType === 'CapabilityStatement' && cs.fhirVersion === '4.0.1',
    'capabilityStatement(): a CapabilityStatement for FHIR 4.0.1', cs.fhirVersion);
  const rest = cs.rest && cs.rest[0];
  const patientRes = rest && rest.resource.find((r) => r.type === 'Patient');
  check(patientRes && patientRes.operation.some((o) => o.name === 'everything'),
    'the CapabilityStatement lists Patient/$everything', patientRes);

  // Create.
  const patient = await client.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      name: [{ family: 'Kit', given: ['Fhir'] }],
      gender: 'female',
      birthDate: '1975-04-12',
    },
  });
  check(patient.resourceType === 'Patient' && patient.id && patient.meta.versionId === '1',
    'create(Patient): the server assigns an id, version 1', patient);
  ids.patient = patient.id;
  const obs = await client.create({
    resourceType: 'Observation',
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
      subject: { reference: `Patient/${patient.id}` },
      effectiveDateTime: '2024-03-01T10:00:00Z',
      valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    },
  });
  check(obs.id && obs.valueQuantity.value === 72.5, 'create(Observation) of that patient', obs);
  ids.observation = obs.id;
  const cond = await client.create({
    resourceType: 'Condition',
    body: {
      resourceType: 'Condition',
      subject: { reference: `Patient/${patient.id}` },
      code: { text: 'Hypertension' },
      recordedDate: '2024-03-01',
    },
  });
  check(cond.id, 'create(Condition) of that patient', cond);
  ids.condition = cond.id;

  // Read.
  const readBack = await client.read({ resourceType: 'Observation', id: obs.id });
  check(readBack.id === obs.id && readBack.valueQuantity.value === 72.5 &&
    readBack.subject.reference === `Patient/${patient.id}` && readBack.meta.versionId === '1' &&
    typeof readBack.meta.lastUpdated === 'string',
    'read(Observation): the same values, meta.versionId 1 and lastUpdated', readBack);
  const readPatient = await client.read({ resourceType: 'Patient', id: patient.id });
  check(readPatient.name[0].family === 'Kit' && readPatient.birthDate === '1975-04-12',
    'read(Patient): the same values', readPatient);

  // Update and vread.
  const updated = await client.update({
    resourceType: 'Observation',
    id: obs.id,
    body: { ...readBack, valueQuantity: { ...readBack.valueQuantity, value: 73 }, status: 'amended' },
  });
  check(updated.meta.versionId === '2' && updated.valueQuantity.value === 73,
    'update(Observation): version 2', updated);
  const v1 = await client.vread({ resourceType: 'Observation', id: obs.id, version: '1' });
  check(v1.valueQuantity.value === 72.5 && v1.meta.versionId === '1',
    'vread(Observation, 1): the first version', v1);
  const hist = await client.history({ resourceType: 'Observation', id: obs.id });
  check(hist.resourceType === 'Bundle' && hist.type === 'history' && hist.entry.length === 2 &&
    hist.entry[0].resource.meta.versionId === '2',
    'history(Observation): both versions, newest first', hist);

  // Search.
  const found = await client.search({
    resourceType: 'Observation', searchParams: { patient: patient.id },
  });
  const matches = (found.entry || []).filter((e) => e.search.mode === 'match');
  check(found.type === 'searchset' && found.total === 1 && matches.length === 1 &&
    matches[0].resource.id === obs.id && matches[0].resource.valueQuantity.value === 73,
    'search(Observation?patient=): the patient\'s one observation, latest version', found);
  const none = await client.search({
    resourceType: 'Condition', searchParams: { patient: patient.id, _id: 'nonexistent' },
  });
  check(none.total === 0, 'search(Condition?patient=&_id=other): nothing matches', none);

  // $everything.
  const everything = await client.operation({
    name: '$everything', resourceType: 'Patient', id: patient.id, method: 'GET',
  });
  const types = (everything.entry || []).filter((e) => e.search.mode === 'match')
    .map((e) => e.resource.resourceType).sort();
  check(everything.type === 'searchset' && JSON.stringify(types) ===
    JSON.stringify(['Condition', 'Observation', 'Patient']) &&
    everything.entry[0].resource.resourceType === 'Patient',
    'Patient/$everything: the Patient first, then its Condition and Observation', types);

  // A transaction with urn:uuid references between its entries.
  const tx = await client.transaction({
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a',
          resource: { resourceType: 'Patient', name: [{ family: 'Bundled' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059',
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            subject: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' },
          },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          fullUrl: 'urn:uuid:1d8ca55c-5c0a-4dc1-b5e2-2b0e55ed1bba',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'Heart rate' },
            subject: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' },
            encounter: { reference: 'urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059' },
            valueQuantity: { value: 61, unit: '/min' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  const locations = (tx.entry || []).map((e) => e.response && e.response.location);
  check(tx.type === 'transaction-response' && locations.length === 3 &&
    locations.every((l) => /^[A-Za-z]+\/[A-Za-z0-9.-]+\/_history\/1$/.test(l)),
    'transaction: one response per entry with a location', tx);
  if (locations.length === 3) {
    const [pt, enc, o] = locations.map((l) => l.split('/'));
    ids.tx_patient = pt[1];
    const txObs = await client.read({ resourceType: 'Observation', id: o[1] });
    check(txObs.subject.reference === `Patient/${pt[1]}` &&
      txObs.encounter.reference === `Encounter/${enc[1]}`,
      'transaction: urn:uuid references now name the new resources', txObs);
  }

  // Errors, as a client sees them.
  const invalid = await failure(client.create({
    resourceType: 'Observation',
    body: { resourceType: 'Observation', code: { text: 'x' }, subject: { reference: `Patient/${patient.id}` } },
  }));
  check(invalid.status === 400 && isOutcome(invalid.data, 'required') &&
    JSON.stringify(invalid.data).includes('Observation.status'),
    'create of an invalid Observation: 400 OperationOutcome naming Observation.status', invalid);
  const missingRef = await failure(client.create({
    resourceType: 'Observation',
    body: {
      resourceType: 'Observation', status: 'final', code: { text: 'x' },
      subject: { reference: 'Patient/does-not-exist' },
    },
  }));
  check(missingRef.status === 422 && isOutcome(missingRef.data, 'not-found'),
    'create referencing a missing Patient: 422 OperationOutcome', missingRef);
  const notFound = await failure(client.read({ resourceType: 'Observation', id: 'no-such-record' }));
  check(notFound.status === 404 && isOutcome(notFound.data, 'not-found'),
    'read of a missing record: 404 OperationOutcome', notFound);
  const badToken = new Client({ baseUrl, bearerToken: 'not-the-token' });
  const unauth = await failure(badToken.read({ resourceType: 'Patient', id: patient.id }));
  check(unauth.status === 401 && isOutcome(unauth.data, 'login'),
    'a wrong bearer token: 401 OperationOutcome', unauth);
}

main().then(
  () => { process.stdout.write(`${JSON.stringify({ checks, ids })}\n`); },
  (e) => {
    const detail = e && e.response ? { status: e.response.status, data: e.response.data } : String(e);
    checks.push({ what: 'the scenario ran to its end', ok: false, detail: JSON.stringify(detail) });
    process.stdout.write(`${JSON.stringify({ checks, ids })}\n`);
  },
);
