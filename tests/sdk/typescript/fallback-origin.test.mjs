// customHostnames.fallbackOrigin: put, get, replace and delete through the SDK.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cloudflare, client, expectApiError, newTag } from './helpers.mjs';

const cf = client();

describe('fallback origin', () => {
  test('put -> active; get; a second put replaces it; delete answers it; then 404', async () => {
    const zone = newTag();
    await expectApiError(
      () => cf.customHostnames.fallbackOrigin.get({ zone_id: zone }),
      Cloudflare.NotFoundError, 1551, 404,
    );

    const put = await cf.customHostnames.fallbackOrigin.update({
      zone_id: zone,
      origin: 'fallback.saas-platform.com',
    });
    assert.equal(put.origin, 'fallback.saas-platform.com');
    assert.equal(put.status, 'active');
    assert.deepEqual(put.errors, []);
    assert.ok(!Number.isNaN(Date.parse(put.created_at)), put.created_at);
    assert.ok(!Number.isNaN(Date.parse(put.updated_at)), put.updated_at);

    const got = await cf.customHostnames.fallbackOrigin.get({ zone_id: zone });
    assert.deepEqual(got, put);

    const local = await cf.customHostnames.fallbackOrigin.update({ zone_id: zone, origin: '127.0.0.1:9000' });
    assert.equal(local.origin, '127.0.0.1:9000');
    assert.equal(local.created_at, put.created_at);

    const deleted = await cf.customHostnames.fallbackOrigin.delete({ zone_id: zone });
    assert.equal(deleted.origin, '127.0.0.1:9000');
    await expectApiError(
      () => cf.customHostnames.fallbackOrigin.get({ zone_id: zone }),
      Cloudflare.NotFoundError, 1551, 404,
    );
    await expectApiError(
      () => cf.customHostnames.fallbackOrigin.update({ zone_id: zone, origin: 'app.test' }),
      Cloudflare.BadRequestError, 1409, 400,
    );
  });
});
