// Shared helpers for the edgecert conformance suite (official Cloudflare TypeScript SDK).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';

export { Cloudflare };

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through tests/sdk/typescript/run.sh`);
  return value;
}

export const BASE_URL = requireEnv('EDGECERT_BASE_URL');
export const TOKEN = requireEnv('EDGECERT_TOKEN');
export const CA_KEY = requireEnv('EDGECERT_CA_KEY');
export const CA_CERT = requireEnv('EDGECERT_CA_CERT');

/** A client with the SDK's default settings (retries on). */
export function client(options = {}) {
  return new Cloudflare({ apiToken: TOKEN, baseURL: BASE_URL, ...options });
}

/** A default client whose fetch records every request it sends (method + URL). */
export function countingClient(options = {}) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ method: init?.method ?? 'GET', url: String(url) });
    return fetch(url, init);
  };
  return { cf: client({ fetch: fetchImpl, ...options }), calls };
}

/** A fresh random zone or account id (32 lowercase hex) so every test has its own namespace. */
export const newTag = () => randomBytes(16).toString('hex');

/** A random lowercase label, to keep hostnames unique. */
export const label = (prefix = 'h') => `${prefix}${randomBytes(5).toString('hex')}`;

export function csrBody(overrides = {}) {
  return {
    country: 'US',
    state: 'MA',
    locality: 'Boston',
    organization: 'City of Boston',
    organizational_unit: 'Championship Parade Detail',
    common_name: 'app.example.com',
    sans: ['app.example.com', 'www.example.com'],
    key_type: 'p256v1',
    ...overrides,
  };
}

/**
 * Runs `fn`, expects it to reject with `cls` and the given Cloudflare error code in
 * err.errors[0].code; returns the error.
 */
export async function expectApiError(fn, cls, code, status) {
  let error;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${cls.name} (code ${code}) but the call succeeded`);
  assert.ok(
    error instanceof cls,
    `expected ${cls.name}, got ${error?.constructor?.name}: ${error?.message}`,
  );
  assert.ok(error instanceof Cloudflare.APIError, 'not an APIError');
  if (status !== undefined) assert.equal(error.status, status);
  assert.ok(Array.isArray(error.errors) && error.errors.length > 0, `no errors array: ${error.message}`);
  assert.equal(error.errors[0].code, code, `errors: ${JSON.stringify(error.errors)}`);
  assert.equal(typeof error.errors[0].code, 'number');
  return error;
}

function withTmp(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'edgecert-sdk-ts-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args) {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function extfile(sans) {
  return [
    'basicConstraints=CA:FALSE',
    'extendedKeyUsage=serverAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`,
    '',
  ].join('\n');
}

/** SAN DNS names of a PEM CSR, read with openssl. */
export function csrSans(csrPem) {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'req.pem'), csrPem);
    const text = openssl(['req', '-in', join(dir, 'req.pem'), '-noout', '-text']);
    const m = text.match(/X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]+)/);
    if (!m) return [];
    return m[1].split(',').map((s) => s.trim().replace(/^DNS:/, ''));
  });
}

/** Signs a PEM CSR with the given CA (default: the CA edgecert trusts), copying its SANs. */
export function signCsr(csrPem, { caKey = CA_KEY, caCert = CA_CERT, days = 90, sans } = {}) {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'req.pem'), csrPem);
    writeFileSync(join(dir, 'leaf.ext'), extfile(sans ?? csrSans(csrPem)));
    openssl([
      'x509', '-req', '-in', join(dir, 'req.pem'),
      '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', String(days), '-sha256', '-extfile', join(dir, 'leaf.ext'),
      '-out', join(dir, 'leaf.pem'),
    ]);
    return readFileSync(join(dir, 'leaf.pem'), 'utf8');
  });
}

/** A CA that edgecert does not trust. */
export function untrustedCa() {
  return withTmp((dir) => {
    openssl([
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30',
      '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'),
      '-subj', '/O=Untrusted SDK CA/CN=Untrusted SDK Root',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { key: readFileSync(join(dir, 'ca.key'), 'utf8'), cert: readFileSync(join(dir, 'ca.pem'), 'utf8') };
  });
}

/** Signs `csrPem` with an in-memory CA ({key, cert} PEMs). */
export function signCsrWith(csrPem, ca, opts = {}) {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'ca.key'), ca.key);
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    return signCsr(csrPem, { ...opts, caKey: join(dir, 'ca.key'), caCert: join(dir, 'ca.pem') });
  });
}

/** A fresh P-256 key and a certificate for `sans` signed by the trusted CA (key differs from any CSR's). */
export function foreignKeyCertificate(sans) {
  return withTmp((dir) => {
    openssl([
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.pem'), '-subj', `/CN=${sans[0]}`,
    ]);
    const csr = readFileSync(join(dir, 'r.pem'), 'utf8');
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), certificate: signCsr(csr, { sans }) };
  });
}

/** A self-signed leaf (CA:FALSE) for `sans` with its key. */
export function selfSigned(sans) {
  return withTmp((dir) => {
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256',
      '-days', '30', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', `/CN=${sans[0]}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'extendedKeyUsage=serverAuth',
      '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`,
    ]);
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), certificate: readFileSync(join(dir, 'c.pem'), 'utf8') };
  });
}

/** Creates a zone CSR for `sans` through the SDK and returns it. */
export async function zoneCsr(cf, zoneId, sans, extra = {}) {
  return cf.customCsrs.create({ zone_id: zoneId, ...csrBody({ common_name: sans[0], sans, ...extra }) });
}
