// custom_csrs at zone and account scope through client.customCsrs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cloudflare, client, countingClient, csrBody, csrSans, expectApiError, newTag, TOKEN, BASE_URL } from './helpers.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const cf = client();

function assertEchoes(csr, body) {
  for (const field of ['country', 'state', 'locality', 'organization', 'organizational_unit', 'common_name', 'key_type', 'name', 'description']) {
    if (body[field] !== undefined) assert.equal(csr[field], body[field], field);
  }
  assert.deepEqual(csr.sans, body.sans);
  assert.match(csr.id, UUID);
  assert.match(csr.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.match(csr.csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  assert.deepEqual(csrSans(csr.csr).sort(), [...body.sans].sort());
  for (const secret of ['private_key', 'key', 'privateKey']) assert.equal(csr[secret], undefined, secret);
}

for (const scope of ['zone', 'account']) {
  const idKey = scope === 'zone' ? 'zone_id' : 'account_id';

  describe(`${scope} CSRs`, () => {
    test('create, get, list, delete round trip with every field echoed', async () => {
      const tag = newTag();
      const body = csrBody({ name: 'parade', description: 'tutorial CSR', key_type: 'p256v1' });
      const created = await cf.customCsrs.create({ [idKey]: tag, ...body });
      assertEchoes(created, body);
      if (scope === 'account') assert.equal(created.account_tag, tag);

      const got = await cf.customCsrs.get(created.id, { [idKey]: tag });
      assert.deepEqual(got, created);

      const page = await cf.customCsrs.list({ [idKey]: tag });
      assert.deepEqual(page.result.map((c) => c.id), [created.id]);
      assert.equal(page.result_info.total_count, 1);
      assert.equal(page.result_info.page, 1);
      assert.equal(page.result_info.per_page, 20);
      assert.deepEqual(page.result[0], created);

      const deleted = await cf.customCsrs.delete(created.id, { [idKey]: tag });
      assert.deepEqual(deleted, { id: created.id });
      await expectApiError(() => cf.customCsrs.get(created.id, { [idKey]: tag }), Cloudflare.NotFoundError, 1419, 404);
      await expectApiError(() => cf.customCsrs.delete(created.id, { [idKey]: tag }), Cloudflare.NotFoundError, 1419, 404);
      const after = await cf.customCsrs.list({ [idKey]: tag });
      assert.deepEqual(after.result, []);
    });

    test('key_type defaults to rsa2048', async () => {
      const tag = newTag();
      const { key_type, ...body } = csrBody();
      const created = await cf.customCsrs.create({ [idKey]: tag, ...body });
      assert.equal(created.key_type, 'rsa2048');
      assert.equal(created.name, undefined);
      await cf.customCsrs.delete(created.id, { [idKey]: tag });
    });

    test('CSRs of another zone/account are not visible (404 1419)', async () => {
      const tag = newTag();
      const created = await cf.customCsrs.create({ [idKey]: tag, ...csrBody() });
      await expectApiError(() => cf.customCsrs.get(created.id, { [idKey]: newTag() }), Cloudflare.NotFoundError, 1419, 404);
      await expectApiError(() => cf.customCsrs.delete(created.id, { [idKey]: newTag() }), Cloudflare.NotFoundError, 1419, 404);
      await cf.customCsrs.delete(created.id, { [idKey]: tag });
    });
  });
}

test('zones and accounts are separate namespaces', async () => {
  const tag = newTag();
  const zoneCsr = await cf.customCsrs.create({ zone_id: tag, ...csrBody() });
  assert.equal(zoneCsr.account_tag ?? null, null, 'zone CSR must not carry account_tag');
  await expectApiError(() => cf.customCsrs.get(zoneCsr.id, { account_id: tag }), Cloudflare.NotFoundError, 1419, 404);
  const accountPage = await cf.customCsrs.list({ account_id: tag });
  assert.deepEqual(accountPage.result, []);
  await cf.customCsrs.delete(zoneCsr.id, { zone_id: tag });
});

test('SDK refuses to send a CSR call with neither or both scopes (client-side)', async () => {
  const { cf: counted, calls } = countingClient();
  assert.throws(() => counted.customCsrs.list({}), Cloudflare.CloudflareError);
  assert.throws(() => counted.customCsrs.get('x', { zone_id: newTag(), account_id: newTag() }), Cloudflare.CloudflareError);
  assert.equal(calls.length, 0);
});

for (const scope of ['zone_id', 'account_id']) {
  test(`auto-pagination (${scope}) yields each of 23 CSRs exactly once and terminates`, async () => {
    const tag = newTag();
    const ids = [];
    for (let i = 0; i < 23; i++) {
      const csr = await cf.customCsrs.create({ [scope]: tag, ...csrBody({ name: `csr-${i}` }) });
      ids.push(csr.id);
    }
    const { cf: counted, calls } = countingClient();
    const seen = [];
    for await (const csr of counted.customCsrs.list({ [scope]: tag, per_page: 5 })) {
      seen.push(csr.id);
      assert.ok(seen.length <= 100, 'pagination does not terminate');
    }
    assert.equal(seen.length, 23, 'item count');
    assert.equal(new Set(seen).size, 23, 'duplicates');
    assert.deepEqual([...seen].sort(), [...ids].sort());
    // Default order is created_at desc: newest first.
    assert.deepEqual(seen, [...ids].reverse());
    // 5 full-or-partial pages plus the empty page that stops the SDK.
    assert.equal(calls.length, 6, calls.map((c) => c.url).join('\n'));
    assert.match(calls[5].url, /[?&]page=6(&|$)/);

    // Page-by-page API: result_info is passed through.
    const first = await cf.customCsrs.list({ [scope]: tag, per_page: 5, page: 5 });
    assert.equal(first.result.length, 3);
    assert.deepEqual(
      { page: first.result_info.page, per_page: first.result_info.per_page, count: first.result_info.count, total_count: first.result_info.total_count, total_pages: first.result_info.total_pages },
      { page: 5, per_page: 5, count: 3, total_count: 23, total_pages: 5 },
    );
    const asc = await cf.customCsrs.list({ [scope]: tag, per_page: 50, direction: 'asc', order: 'created_at' });
    assert.deepEqual(asc.result.map((c) => c.id), ids);

    for (const id of ids) await cf.customCsrs.delete(id, { [scope]: tag });
  });
}

describe('CSR errors surface as SDK error classes', () => {
  const zone = newTag();
  const cases = [
    ['country missing', { country: undefined }, 1405],
    ['country lowercase', { country: 'us' }, 1405],
    ['common_name missing', { common_name: undefined }, 1409],
    ['sans missing', { sans: undefined }, 1411],
    ['sans empty', { sans: [] }, 1411],
    ['SAN is an IP address', { sans: ['192.0.2.1'] }, 1412],
    ['SAN with underscore', { sans: ['bad_name.example.com'] }, 1412],
    ['SAN non-ASCII', { sans: ['bücher.example.com'] }, 1413],
    ['SAN under reserved TLD', { sans: ['app.test'] }, 1414],
    ['SAN without public suffix', { sans: ['co.uk'] }, 1415],
    ['bad key_type', { key_type: 'rsa4096' }, 1417],
  ];
  for (const [name, overrides, code] of cases) {
    test(`${name} -> BadRequestError ${code}`, async () => {
      const body = csrBody(overrides);
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const err = await expectApiError(() => cf.customCsrs.create({ zone_id: zone, ...body }), Cloudflare.BadRequestError, code, 400);
      assert.ok(err.errors[0].message, 'message present');
    });
  }

  test('several problems are all reported, in form order, with source pointers', async () => {
    const err = await expectApiError(
      () => cf.customCsrs.create({ zone_id: zone, ...csrBody({ country: 'usa', sans: ['ok.example.com', 'app.test'], key_type: 'dsa' }) }),
      Cloudflare.BadRequestError, 1405, 400,
    );
    assert.deepEqual(err.errors.map((e) => e.code), [1405, 1414, 1417]);
    assert.deepEqual(err.errors.map((e) => e.source?.pointer), ['/country', '/sans/1', '/key_type']);
  });

  test('malformed CSR id -> BadRequestError 1418', async () => {
    await expectApiError(() => cf.customCsrs.get('not-a-uuid', { zone_id: zone }), Cloudflare.BadRequestError, 1418, 400);
    await expectApiError(() => cf.customCsrs.delete('not-a-uuid', { account_id: zone }), Cloudflare.BadRequestError, 1418, 400);
  });

  test('unknown CSR id -> NotFoundError 1419', async () => {
    await expectApiError(
      () => cf.customCsrs.get('7b163417-1d2b-4c84-a38a-2fb7a0cd7752', { zone_id: zone }),
      Cloudflare.NotFoundError, 1419, 404,
    );
  });

  test('malformed zone id -> BadRequestError 1401', async () => {
    await expectApiError(() => cf.customCsrs.list({ zone_id: 'NOT-HEX' }), Cloudflare.BadRequestError, 1401, 400);
  });

  test('bad list parameter -> BadRequestError 6008', async () => {
    await expectApiError(() => cf.customCsrs.list({ zone_id: zone, per_page: 4 }), Cloudflare.BadRequestError, 6008, 400);
  });

  test('wrong token -> AuthenticationError 1000 (not retried)', async () => {
    const { cf: wrong, calls } = countingClient({ apiToken: `${TOKEN}-wrong` });
    await expectApiError(() => wrong.customCsrs.list({ zone_id: zone }), Cloudflare.AuthenticationError, 1000, 401);
    assert.equal(calls.length, 1);
  });

  test('API key auth (X-Auth-Key + X-Auth-Email) is accepted', async () => {
    const keyed = new Cloudflare({ apiKey: TOKEN, apiEmail: 'sdk@example.com', baseURL: BASE_URL, apiToken: null });
    const page = await keyed.customCsrs.list({ zone_id: newTag() });
    assert.deepEqual(page.result, []);
  });
});
