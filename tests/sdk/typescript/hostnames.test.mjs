// custom_hostnames with certificates for edgecert CSRs, the CSR-in-use 409, and upload errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Cloudflare, client, countingClient, expectApiError, foreignKeyCertificate, label, newTag,
  selfSigned, signCsr, signCsrWith, untrustedCa, zoneCsr,
} from './helpers.mjs';

const cf = client();

async function hostnameWithCertificate(zone) {
  const host = `${label('app')}.example.com`;
  const csr = await zoneCsr(cf, zone, [host, `www.${host}`]);
  const certificate = signCsr(csr.csr);
  const created = await cf.customHostnames.create({
    zone_id: zone,
    hostname: host,
    ssl: { custom_csr_id: csr.id, custom_certificate: certificate },
  });
  return { host, csr, certificate, created };
}

describe('custom hostnames', () => {
  test('create with a certificate for an edgecert CSR -> active; get, list, edit, delete', async () => {
    const zone = newTag();
    const { host, csr, created } = await hostnameWithCertificate(zone);
    assert.equal(created.hostname, host);
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.ssl?.status, 'active');
    assert.equal(created.ssl?.custom_csr_id, csr.id);
    assert.ok(Array.isArray(created.ssl?.hosts) ? created.ssl.hosts.includes(host) : true);
    if (created.ssl?.serial_number !== undefined) assert.equal(typeof created.ssl.serial_number, 'string');

    const got = await cf.customHostnames.get(created.id, { zone_id: zone });
    assert.equal(got.id, created.id);
    assert.equal(got.hostname, host);
    assert.equal(got.ssl?.status, 'active');

    const page = await cf.customHostnames.list({ zone_id: zone });
    assert.deepEqual(page.result.map((h) => h.id), [created.id]);
    const byId = await cf.customHostnames.list({ zone_id: zone, id: created.id });
    assert.deepEqual(byId.result.map((h) => h.id), [created.id]);
    // The SDK's hostname filter is an object ({ exact | contain | startsWith }), sent as hostname.exact=...
    const { cf: counted, calls } = countingClient();
    const exact = await counted.customHostnames.list({ zone_id: zone, hostname: { exact: host } });
    assert.deepEqual(exact.result.map((h) => h.id), [created.id], calls.map((c) => c.url).join('\n'));
    const none = await counted.customHostnames.list({ zone_id: zone, hostname: { exact: `nomatch-${host}` } });
    assert.deepEqual(none.result, [], calls.map((c) => c.url).join('\n'));
    const all = [];
    for await (const h of cf.customHostnames.list({ zone_id: zone, per_page: 5 })) all.push(h.id);
    assert.deepEqual(all, [created.id]);

    const edited = await cf.customHostnames.edit(created.id, { zone_id: zone, custom_metadata: { customer: 'parade', tier: 'gold' } });
    assert.equal(edited.id, created.id);
    assert.deepEqual(edited.custom_metadata, { customer: 'parade', tier: 'gold' });
    assert.equal(edited.ssl?.status, 'active');
    const reread = await cf.customHostnames.get(created.id, { zone_id: zone });
    assert.deepEqual(reread.custom_metadata, { customer: 'parade', tier: 'gold' });

    // The TypeScript SDK does not unwrap `result` for this delete: it returns the whole body
    // and types it as { id }. edgecert puts `id` at the top level for that reason.
    const deleted = await cf.customHostnames.delete(created.id, { zone_id: zone });
    assert.equal(deleted.id, created.id);
    await expectApiError(() => cf.customHostnames.get(created.id, { zone_id: zone }), Cloudflare.NotFoundError, 1436, 404);

    const csrDeleted = await cf.customCsrs.delete(csr.id, { zone_id: zone });
    assert.deepEqual(csrDeleted, { id: csr.id });
  });

  test('deleting a CSR in use raises ConflictError 1420 once, quickly, with default retries', async () => {
    const zone = newTag();
    const { csr, created } = await hostnameWithCertificate(zone);

    const started = performance.now();
    await expectApiError(() => cf.customCsrs.delete(csr.id, { zone_id: zone }), Cloudflare.ConflictError, 1420, 409);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 400, `409 took ${elapsed.toFixed(0)} ms: was it retried?`);

    const { cf: counted, calls } = countingClient();
    const err = await expectApiError(() => counted.customCsrs.delete(csr.id, { zone_id: zone }), Cloudflare.ConflictError, 1420, 409);
    assert.equal(calls.length, 1, 'the 409 must not be retried');
    assert.equal(err.headers.get('x-should-retry'), 'false');

    // Still there, then deletable once the hostname is gone.
    assert.equal((await cf.customCsrs.get(csr.id, { zone_id: zone })).id, csr.id);
    await cf.customHostnames.delete(created.id, { zone_id: zone });
    assert.deepEqual(await cf.customCsrs.delete(csr.id, { zone_id: zone }), { id: csr.id });
  });

  test('duplicate hostname -> ConflictError 1406', async () => {
    const zone = newTag();
    const { host, csr, certificate, created } = await hostnameWithCertificate(zone);
    // Default retry settings: edgecert marks every 409 `x-should-retry: false`, so one request.
    const { cf: counted, calls } = countingClient();
    const err = await expectApiError(
      () => counted.customHostnames.create({ zone_id: zone, hostname: host, ssl: { custom_csr_id: csr.id, custom_certificate: certificate } }),
      Cloudflare.ConflictError, 1406, 409,
    );
    assert.equal(calls.length, 1);
    assert.equal(err.headers.get('x-should-retry'), 'false');
    await cf.customHostnames.delete(created.id, { zone_id: zone });
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });

  test('hostname errors: malformed id 1435, unknown id 1436, reserved TLD 1409, PATCH hostname 409 1439', async () => {
    const zone = newTag();
    await expectApiError(() => cf.customHostnames.get('nope', { zone_id: zone }), Cloudflare.BadRequestError, 1435, 400);
    await expectApiError(
      () => cf.customHostnames.get('7b163417-1d2b-4c84-a38a-2fb7a0cd7752', { zone_id: zone }),
      Cloudflare.NotFoundError, 1436, 404,
    );
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: 'app.test', ssl: { method: 'http', type: 'dv' } }),
      Cloudflare.BadRequestError, 1409, 400,
    );
    const { host, csr, created } = await hostnameWithCertificate(zone);
    const { cf: counted, calls } = countingClient();
    const err = await expectApiError(
      () => counted.customHostnames.edit(created.id, { zone_id: zone, hostname: `x${host}` }),
      Cloudflare.ConflictError, 1439, 409,
    );
    assert.equal(calls.length, 1);
    assert.equal(err.headers.get('x-should-retry'), 'false');
    await cf.customHostnames.delete(created.id, { zone_id: zone });
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });
});

describe('custom hostname upload errors', () => {
  test('certificate from an untrusted CA -> BadRequestError 1441', async () => {
    const zone = newTag();
    const host = `${label('u')}.example.com`;
    const csr = await zoneCsr(cf, zone, [host]);
    const certificate = signCsrWith(csr.csr, untrustedCa());
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: { custom_csr_id: csr.id, custom_certificate: certificate } }),
      Cloudflare.BadRequestError, 1441, 400,
    );
    // Nothing was created, so the CSR is free to delete.
    assert.deepEqual((await cf.customHostnames.list({ zone_id: zone })).result, []);
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });

  test('self-signed certificate with its own key -> BadRequestError 1441', async () => {
    const zone = newTag();
    const host = `${label('s')}.example.com`;
    const { key, certificate } = selfSigned([host]);
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: { custom_certificate: certificate, custom_key: key } }),
      Cloudflare.BadRequestError, 1441, 400,
    );
  });

  test("certificate for another key than the CSR's -> BadRequestError 1429", async () => {
    const zone = newTag();
    const host = `${label('m')}.example.com`;
    const csr = await zoneCsr(cf, zone, [host]);
    const { certificate } = foreignKeyCertificate([host]);
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: { custom_csr_id: csr.id, custom_certificate: certificate } }),
      Cloudflare.BadRequestError, 1429, 400,
    );
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });

  test('hostname not covered by the certificate -> 1446; unknown CSR -> 404 1431; malformed CSR id -> 1430', async () => {
    const zone = newTag();
    const host = `${label('c')}.example.com`;
    const csr = await zoneCsr(cf, zone, [host]);
    const certificate = signCsr(csr.csr);
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: `other-${host}`, ssl: { custom_csr_id: csr.id, custom_certificate: certificate } }),
      Cloudflare.BadRequestError, 1446, 400,
    );
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: newTag(), hostname: host, ssl: { custom_csr_id: csr.id, custom_certificate: certificate } }),
      Cloudflare.NotFoundError, 1431, 404,
    );
    await expectApiError(
      () => cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: { custom_csr_id: 'nope', custom_certificate: certificate } }),
      Cloudflare.BadRequestError, 1430, 400,
    );
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });
});
