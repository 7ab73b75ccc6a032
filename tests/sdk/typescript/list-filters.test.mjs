// Every list filter the SDK exposes, the quota model, and header errors (6003 with its chain).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  BASE_URL, Cloudflare, client, expectApiError, foreignKeyCertificate, label, newTag, signCsr,
  zoneCsr,
} from './helpers.mjs';

const cf = client();

async function hostnames(zone, filters = {}) {
  const page = await cf.customHostnames.list({ zone_id: zone, per_page: 50, ...filters });
  return page.result.map((h) => h.hostname);
}

describe('custom hostname list filters', () => {
  const zone = newTag();
  const domain = `${label('sdk')}.example.com`;
  const n = {
    txt: `txt.${domain}`,
    mail: `mail.${domain}`,
    wild: `*.wild.${domain}`,
    bare: `bare.${domain}`,
    app: `app.${domain}`,
  };
  const origin = `origin.${domain}`;

  before(async () => {
    await cf.customHostnames.create({ zone_id: zone, hostname: n.txt, ssl: { method: 'txt', type: 'dv' } });
    await cf.customHostnames.create({
      zone_id: zone,
      hostname: n.mail,
      // email, not http: run.sh gives edgecert an ACME CA, which would take an http hostname
      // through its own lifecycle.
      ssl: { method: 'email', type: 'dv', certificate_authority: 'lets_encrypt' },
    });
    await cf.customHostnames.create({ zone_id: zone, hostname: n.wild, ssl: { method: 'txt', type: 'dv' } });
    await cf.customHostnames.create({ zone_id: zone, hostname: n.bare });
    const csr = await zoneCsr(cf, zone, [n.app]);
    await cf.customHostnames.create({
      zone_id: zone,
      hostname: n.app,
      ssl: { custom_csr_id: csr.id, custom_certificate: signCsr(csr.csr) },
      custom_origin_server: origin,
    });
  });

  test('each filter selects what it names', async () => {
    assert.deepEqual(await hostnames(zone, { ssl: 0 }), [n.bare]);
    assert.deepEqual(await hostnames(zone, { ssl: 1 }), [n.txt, n.mail, n.wild, n.app]);
    assert.deepEqual(await hostnames(zone, { ssl_status: 'active' }), [n.app]);
    assert.deepEqual(await hostnames(zone, { ssl_status: 'pending_validation' }), [n.txt, n.mail, n.wild, n.bare]);
    assert.deepEqual(await hostnames(zone, { hostname_status: 'active' }), [n.app]);
    assert.deepEqual(await hostnames(zone, { hostname_status: 'moved' }), []);
    assert.deepEqual(await hostnames(zone, { wildcard: true }), [n.wild]);
    assert.ok(!(await hostnames(zone, { wildcard: false })).includes(n.wild));
    assert.deepEqual(await hostnames(zone, { certificate_authority: 'lets_encrypt' }), [n.mail]);
    assert.deepEqual(await hostnames(zone, { certificate_authority: 'ssl_com' }), []);
    assert.deepEqual(await hostnames(zone, { custom_origin_server: origin }), [n.app]);
    assert.deepEqual(await hostnames(zone, { ssl: 1, hostname: { contain: 'mail.' } }), [n.mail]);
  });

  test('orders, directions and filtered totals', async () => {
    const created = [n.txt, n.mail, n.wild, n.bare, n.app];
    assert.deepEqual(await hostnames(zone), created);
    assert.deepEqual(await hostnames(zone, { direction: 'desc' }), [...created].reverse());
    assert.deepEqual(await hostnames(zone, { order: 'ssl' }), [n.bare, n.app, n.mail, n.txt, n.wild]);
    assert.equal((await hostnames(zone, { order: 'ssl_status' }))[0], n.app);
    assert.equal((await hostnames(zone, { order: 'ssl_status', direction: 'desc' })).at(-1), n.app);
    const page = await cf.customHostnames.list({ zone_id: zone, ssl_status: 'pending_validation', per_page: 5 });
    assert.equal(page.result_info.total_count, 4);
  });

  test('quota has the SDK model', async () => {
    const quota = await cf.customHostnames.quota.get({ zone_id: zone });
    assert.equal(quota.used, 5);
    assert.equal(typeof quota.allocated, 'number');
    assert.equal(typeof quota.hard_cap, 'number');
    assert.equal(quota.exceeded, false);
  });

  test('a value outside the documented ones is BadRequestError 6008', async () => {
    const error = await expectApiError(
      () => cf.customHostnames.list({ zone_id: zone, ssl_status: 'bogus' }),
      Cloudflare.BadRequestError,
      6008,
      400,
    );
    assert.match(error.errors[0].message, /ssl_status/);
  });
});

describe('custom certificate list filters', () => {
  test('status and match', async () => {
    const zone = newTag();
    const host = `shop.${label('sdk')}.example.com`;
    const { key, certificate } = foreignKeyCertificate([host]);
    const uploaded = await cf.customCertificates.create({ zone_id: zone, certificate, private_key: key });
    const active = await cf.customCertificates.list({ zone_id: zone, status: 'active', match: 'all' });
    assert.deepEqual(active.result.map((c) => c.id), [uploaded.id]);
    const expired = await cf.customCertificates.list({ zone_id: zone, status: 'expired', match: 'any' });
    assert.deepEqual(expired.result, []);
  });
});

describe('header errors', () => {
  const chain = (error) => (error.errors[0].error_chain ?? []).map((link) => link.code);

  test('a body sent as text/plain is 6003 with chain 6105', async () => {
    const error = await expectApiError(
      () => cf.customHostnames.create(
        { zone_id: newTag(), hostname: `${label('app')}.example.com` },
        { headers: { 'Content-Type': 'text/plain' } },
      ),
      Cloudflare.BadRequestError,
      6003,
      400,
    );
    assert.deepEqual(chain(error), [6105]);
  });

  test('a malformed token is 6003 with chain 6111', async () => {
    const malformed = new Cloudflare({ apiToken: 'not a token', baseURL: BASE_URL, maxRetries: 0 });
    const error = await expectApiError(
      () => malformed.customCsrs.list({ zone_id: newTag() }),
      Cloudflare.BadRequestError,
      6003,
      400,
    );
    assert.deepEqual(chain(error), [6111]);
  });
});
