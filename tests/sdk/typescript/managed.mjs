// Helpers for the managed certificate tests: the test controls through the SDK's raw request
// methods, challtestsrv's DNS, bounded polling of a hostname, and a TLS look at the edge.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through tests/sdk/typescript/run.sh`);
  return value;
}

/** How long a user's code would wait for a certificate; Pebble issues in about a second. */
export const ACTIVE_WITHIN_MS = 30_000;
export const DCV = { method: 'http', type: 'dv' };

/**
 * A test control's `result`. The controls are outside the SDK's /client/v4 base URL, so the
 * raw methods get an absolute URL; they keep the SDK's auth, retries and error classes.
 */
export async function control(cf, method, path, body) {
  const url = `${requireEnv('EDGECERT_URL')}/_edgecert${path}`;
  const envelope = await cf[method](url, body === undefined ? {} : { body });
  assert.equal(envelope.success, true, JSON.stringify(envelope));
  return envelope.result;
}

export const checkNow = (cf, zone, id) => control(cf, 'post', `/zones/${zone}/custom_hostnames/${id}/check`);

/** Has pebble-challtestsrv resolve `host` to `address` (null: back to 127.0.0.1). */
export async function pointDns(host, address) {
  const [path, body] = address === null
    ? ['/clear-a', { host }]
    : ['/add-a', { host, addresses: [address] }];
  const answer = await fetch(requireEnv('EDGECERT_DNS_MANAGEMENT') + path, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  assert.equal(answer.status, 200, `${path}: ${await answer.text()}`);
}

/** Polls the hostname, as users' code does, until `done` likes it (bounded). */
export async function waitFor(cf, zone, id, done, what) {
  const deadline = Date.now() + ACTIVE_WITHIN_MS;
  for (;;) {
    const hostname = await cf.customHostnames.get(id, { zone_id: zone });
    if (done(hostname)) return hostname;
    assert.ok(Date.now() < deadline, `not ${what} within ${ACTIVE_WITHIN_MS} ms: ${JSON.stringify(hostname)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const isActive = (hostname) => hostname.ssl?.status === 'active';
export const isRefused = (hostname) => (hostname.ssl?.validation_errors ?? []).length > 0;

function handshake(host) {
  const [address, port] = requireEnv('EDGECERT_EDGE_HTTPS').split(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: address,
      port: Number(port),
      servername: host,
      ca: readFileSync(requireEnv('EDGECERT_ACME_ROOT')),
    }, () => {
      const leaf = socket.getPeerCertificate().raw;
      socket.end();
      resolve(leaf);
    });
    socket.on('error', reject);
  });
}

/**
 * SHA-256 of the leaf the edge serves for `host`, verified up to Pebble's root; retried
 * (bounded) while the edge catches up with the deployment the API already shows.
 */
export async function servedFingerprint(host) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return createHash('sha256').update(await handshake(host)).digest('hex');
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
