// Managed certificates as users' code meets them: a custom hostname with ssl.method "http" is
// issued by the Pebble CA run.sh starts (Pebble fetches the HTTP-01 token from edgecert's
// edge), polled until ssl.status is active, and served over TLS; a refused validation, then
// the fix, moved on by the check-now control or by a PATCH of the same ssl. The clock control
// is in clock.serial.mjs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cloudflare, client, expectApiError, label, newTag } from './helpers.mjs';
import {
  DCV, checkNow, control, isActive, isRefused, pointDns, servedFingerprint, waitFor,
} from './managed.mjs';

const cf = client();
const newHost = () => `${label('shop')}.example.com`;

/** A hostname whose first validation Pebble refused (its name pointed where nothing listens). */
async function refusedHostname(zone) {
  const host = newHost();
  await pointDns(host, '127.0.0.2');
  try {
    const created = await cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: DCV });
    const refused = await waitFor(cf, zone, created.id, isRefused, 'refused');
    return { host, created, refused };
  } finally {
    await pointDns(host, null);
  }
}

describe('managed certificates', () => {
  test('an http hostname is issued by the CA, polled until active, and served', async () => {
    const zone = newTag();
    const host = newHost();
    const created = await cf.customHostnames.create({ zone_id: zone, hostname: host, ssl: DCV });
    // What was stored: the lifecycle's first step, before any round trip to the CA.
    assert.equal(created.ssl?.status, 'initializing');
    assert.equal(created.status, 'pending');

    const active = await waitFor(cf, zone, created.id, isActive, 'active');
    assert.equal(active.status, 'active');
    assert.deepEqual(active.ssl.validation_errors ?? [], []);
    assert.deepEqual(active.ssl.hosts, [host]);
    assert.ok(!JSON.stringify(active).includes('PRIVATE KEY'));
    const fingerprint = active.ssl.certificates?.[0]?.fingerprint_sha256;
    assert.ok(fingerprint, JSON.stringify(active.ssl));
    assert.equal(await servedFingerprint(host), fingerprint);
  });

  test('a refused validation is shown; after the fix, check-now moves on at once', async () => {
    const zone = newTag();
    const { host, created, refused } = await refusedHostname(zone);
    assert.equal(refused.ssl.status, 'pending_validation');
    assert.equal(refused.status, 'pending');
    const message = refused.ssl.validation_errors[0].message;
    assert.ok(message.startsWith('urn:ietf:params:acme:error:') && message.includes('127.0.0.2'), message);
    const record = refused.ssl.validation_records[0];
    assert.ok(record.http_url.startsWith(`http://${host}/.well-known/acme-challenge/`), record.http_url);
    assert.ok(record.http_body);

    // Instead of the backoff (a minute, then more): the hostname as the API shows it after.
    const checked = await checkNow(cf, zone, created.id);
    assert.equal(checked.id, created.id);
    assert.equal(checked.ssl.status, 'active', JSON.stringify(checked));
    assert.deepEqual(checked.ssl.validation_errors, []);
    assert.ok(isActive(await cf.customHostnames.get(created.id, { zone_id: zone })));
    assert.equal((await control(cf, 'get', '/clock')).offset_seconds, 0);
  });

  test('a PATCH with the same ssl has validation looked at again', async () => {
    const zone = newTag();
    const { created } = await refusedHostname(zone);
    // The real API's way to complete validation once DNS points where it should.
    const edited = await cf.customHostnames.edit(created.id, { zone_id: zone, ssl: DCV });
    assert.equal(edited.ssl?.status, 'pending_validation');
    const active = await waitFor(cf, zone, created.id, isActive, 'active after the PATCH');
    assert.deepEqual(active.ssl.validation_errors ?? [], []);
  });

  test('check-now refuses what it cannot check', async () => {
    const zone = newTag();
    await expectApiError(() => checkNow(cf, zone, '7b163417-1d2b-4c84-a38a-2fb7a0cd7752'), Cloudflare.NotFoundError, 1436, 404);
    const txt = await cf.customHostnames.create({
      zone_id: zone, hostname: newHost(), ssl: { method: 'txt', type: 'dv' },
    });
    await expectApiError(() => checkNow(cf, zone, txt.id), Cloudflare.ConflictError, 99004, 409);
  });
});
