// Zone custom_certificates through client.customCertificates (and .prioritize).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Cloudflare, client, countingClient, expectApiError, foreignKeyCertificate, label, newTag,
  signCsr, signCsrWith, untrustedCa, zoneCsr,
} from './helpers.mjs';

const cf = client();

async function uploaded(zone) {
  const host = `${label('cert')}.example.com`;
  const csr = await zoneCsr(cf, zone, [host]);
  const cert = await cf.customCertificates.create({ zone_id: zone, certificate: signCsr(csr.csr), custom_csr_id: csr.id });
  return { host, csr, cert };
}

describe('custom certificates', () => {
  test('create, get, list, edit, prioritize, delete', async () => {
    const zone = newTag();
    const { host, csr, cert } = await uploaded(zone);
    assert.equal(cert.zone_id, zone);
    assert.equal(cert.status, 'active');
    assert.equal(cert.bundle_method, 'ubiquitous');
    assert.equal(cert.custom_csr_id, csr.id);
    assert.deepEqual(cert.hosts, [host]);
    assert.match(cert.expires_on, /Z$/);
    assert.equal(typeof cert.priority, 'number');

    assert.deepEqual(await cf.customCertificates.get(cert.id, { zone_id: zone }), cert);

    const edited = await cf.customCertificates.edit(cert.id, { zone_id: zone, bundle_method: 'optimal', policy: '(country: US)' });
    assert.equal(edited.id, cert.id);
    assert.equal(edited.bundle_method, 'optimal');
    assert.equal(edited.policy_restrictions, '(country: US)');
    await expectApiError(
      () => cf.customCertificates.edit(cert.id, { zone_id: zone, type: 'sni_custom' }),
      Cloudflare.BadRequestError, 2001, 400,
    );

    const second = await uploaded(zone);
    const page = await cf.customCertificates.list({ zone_id: zone });
    assert.deepEqual(page.result.map((c) => c.id).sort(), [cert.id, second.cert.id].sort());
    assert.equal(page.result_info.total_count, 2);
    const iterated = [];
    for await (const c of cf.customCertificates.list({ zone_id: zone, per_page: 5 })) iterated.push(c.id);
    assert.deepEqual(iterated.sort(), [cert.id, second.cert.id].sort());

    // prioritize returns a SinglePage of certificates in their new order.
    const prioritized = await cf.customCertificates.prioritize.update({
      zone_id: zone,
      certificates: [{ id: cert.id, priority: 5 }, { id: second.cert.id, priority: 1 }],
    });
    assert.deepEqual(prioritized.result.map((c) => c.id), [second.cert.id, cert.id]);
    const items = [];
    for await (const c of cf.customCertificates.prioritize.update({
      zone_id: zone,
      certificates: [{ id: cert.id, priority: 1 }, { id: second.cert.id, priority: 7 }],
    })) items.push(c);
    assert.deepEqual(items.map((c) => c.id), [cert.id, second.cert.id]);
    assert.deepEqual(items.map((c) => c.priority), [1, 7]);
    await expectApiError(
      () => cf.customCertificates.prioritize.update({ zone_id: zone, certificates: [{ id: '7b163417-1d2b-4c84-a38a-2fb7a0cd7752', priority: 1 }] }),
      Cloudflare.NotFoundError, 1003, 404,
    );

    // CSR in use by the certificate: one quick 409.
    const { cf: counted, calls } = countingClient();
    await expectApiError(() => counted.customCsrs.delete(csr.id, { zone_id: zone }), Cloudflare.ConflictError, 1420, 409);
    assert.equal(calls.length, 1);

    const deleted = await cf.customCertificates.delete(cert.id, { zone_id: zone });
    assert.deepEqual(deleted, { id: cert.id });
    await expectApiError(() => cf.customCertificates.get(cert.id, { zone_id: zone }), Cloudflare.NotFoundError, 1003, 404);
    await expectApiError(() => cf.customCertificates.get(second.cert.id, { zone_id: newTag() }), Cloudflare.NotFoundError, 1003, 404);
    await expectApiError(() => cf.customCertificates.get('nope', { zone_id: zone }), Cloudflare.BadRequestError, 1001, 400);
    assert.deepEqual(await cf.customCsrs.delete(csr.id, { zone_id: zone }), { id: csr.id });

    await cf.customCertificates.delete(second.cert.id, { zone_id: zone });
    await cf.customCsrs.delete(second.csr.id, { zone_id: zone });
  });

  test('upload errors: untrusted 2100, key mismatch 2200, garbage 1002, force skips the trust check', async () => {
    const zone = newTag();
    const host = `${label('e')}.example.com`;
    const csr = await zoneCsr(cf, zone, [host]);
    const untrusted = signCsrWith(csr.csr, untrustedCa());
    await expectApiError(
      () => cf.customCertificates.create({ zone_id: zone, certificate: untrusted, custom_csr_id: csr.id }),
      Cloudflare.BadRequestError, 2100, 400,
    );
    await expectApiError(
      () => cf.customCertificates.create({ zone_id: zone, certificate: foreignKeyCertificate([host]).certificate, custom_csr_id: csr.id }),
      Cloudflare.BadRequestError, 2200, 400,
    );
    await expectApiError(
      () => cf.customCertificates.create({ zone_id: zone, certificate: 'not a certificate', custom_csr_id: csr.id }),
      Cloudflare.BadRequestError, 1002, 400,
    );
    const forced = await cf.customCertificates.create({ zone_id: zone, certificate: untrusted, custom_csr_id: csr.id, bundle_method: 'force' });
    assert.equal(forced.bundle_method, 'force');
    await cf.customCertificates.delete(forced.id, { zone_id: zone });
    await cf.customCsrs.delete(csr.id, { zone_id: zone });
  });
});
