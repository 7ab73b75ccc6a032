// Certificate packs: a custom hostname with an RSA and an ECDSA certificate
// (ssl.custom_cert_bundle), and the SDK's certificatePack.certificates update/delete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Cloudflare, client, expectApiError, label, newTag, signCsr } from './helpers.mjs';

const cf = client();

/** A fresh key (`rsa` or `ec`) and a certificate for `host` from the trusted CA. */
function pair(host, alg) {
  const dir = mkdtempSync(join(tmpdir(), 'edgecert-pack-'));
  try {
    const newKey = alg === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    execFileSync('openssl', [
      'req', '-new', ...newKey, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.pem'),
      '-subj', `/CN=${host}`,
    ], { stdio: 'pipe' });
    const csr = readFileSync(join(dir, 'r.pem'), 'utf8');
    return { custom_certificate: signCsr(csr, { sans: [host] }), custom_key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('certificate packs', () => {
  test('bundle of RSA + ECDSA: distinct ids, replace keeps the id, delete down to one', async () => {
    const zone = newTag();
    const host = `${label('app')}.example.com`;
    const created = await cf.customHostnames.create({
      zone_id: zone,
      hostname: host,
      ssl: { custom_cert_bundle: [pair(host, 'rsa'), pair(host, 'ec')] },
    });
    assert.equal(created.ssl.status, 'active');
    assert.ok(!JSON.stringify(created).includes('PRIVATE KEY'));
    const ids = created.ssl.certificates.map((c) => c.id);
    assert.equal(new Set(ids).size, 2);
    assert.ok(!ids.includes(created.ssl.id));
    const [rsaId, ecdsaId] = ids;
    const pack = { zone_id: zone, custom_hostname_id: created.id, certificate_pack_id: created.ssl.id };

    const updated = await cf.customHostnames.certificatePack.certificates.update(rsaId, {
      ...pack, ...pair(host, 'rsa'),
    });
    assert.equal(updated.id, created.id);
    assert.deepEqual(updated.ssl.certificates.map((c) => c.id), ids);
    assert.notEqual(updated.ssl.certificates[0].fingerprint_sha256, created.ssl.certificates[0].fingerprint_sha256);

    await expectApiError(
      () => cf.customHostnames.certificatePack.certificates.update(rsaId, { ...pack, ...pair(host, 'ec') }),
      Cloudflare.BadRequestError, 1434, 400,
    );

    const deleted = await cf.customHostnames.certificatePack.certificates.delete(ecdsaId, pack);
    assert.equal(deleted.id, ecdsaId);
    const left = await cf.customHostnames.get(created.id, { zone_id: zone });
    assert.deepEqual(left.ssl.certificates.map((c) => c.id), [rsaId]);

    await expectApiError(
      () => cf.customHostnames.certificatePack.certificates.delete(rsaId, pack),
      Cloudflare.BadRequestError, 1434, 400,
    );
  });

  test('a bundle of two ECDSA certificates is 1434 and creates nothing', async () => {
    const zone = newTag();
    const host = `${label('app')}.example.com`;
    await expectApiError(
      () => cf.customHostnames.create({
        zone_id: zone, hostname: host, ssl: { custom_cert_bundle: [pair(host, 'ec'), pair(host, 'ec')] },
      }),
      Cloudflare.BadRequestError, 1434, 400,
    );
    const page = await cf.customHostnames.list({ zone_id: zone });
    assert.equal(page.result.length, 0);
  });
});
