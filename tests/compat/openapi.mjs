// Validates portolan's /api/openapi.json against the official OpenAPI 3.1 schema (through
// @seriousme/openapi-schema-validator, pinned in package-lock.json), and checks that Swagger UI
// is served from the binary with no file from elsewhere.
//
//   PORTOLAN_URL=http://127.0.0.1:7007 node openapi.mjs

import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';

const baseUrl = (process.env.PORTOLAN_URL ?? '').replace(/\/+$/, '');
if (!baseUrl) {
  console.error('usage: PORTOLAN_URL=http://127.0.0.1:7007 node openapi.mjs');
  process.exit(2);
}

const doc = await (await fetch(`${baseUrl}/api/openapi.json`)).json();
assert.equal(doc.openapi, '3.1.0');
const validator = new Validator();
const result = await validator.validate(doc);
if (!result.valid) {
  console.error('FAIL /api/openapi.json is not valid OpenAPI 3.1:');
  console.error(JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
assert.equal(validator.version, '3.1');
const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
console.log(`ok   /api/openapi.json is valid OpenAPI ${validator.version} (${Object.keys(doc.paths).length} paths, ${operations} operations)`);

// Swagger UI: the page and every script and stylesheet it names come from the server itself.
const page = await fetch(`${baseUrl}/api/docs/`);
assert.equal(page.status, 200);
const html = await page.text();
const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
assert.ok(assets.length >= 3, `Swagger UI page names its assets: ${assets}`);
for (const asset of assets) {
  assert.ok(!/^[a-z]+:\/\//i.test(asset) && !asset.startsWith('//'), `asset from elsewhere: ${asset}`);
  const res = await fetch(new URL(asset, `${baseUrl}/api/docs/`));
  assert.equal(res.status, 200, `${asset} -> ${res.status}`);
}
const init = await (await fetch(`${baseUrl}/api/docs/swagger-initializer.js`)).text();
assert.ok(init.includes('/api/openapi.json'), 'Swagger UI is pointed at /api/openapi.json');
console.log(`ok   Swagger UI loads offline (${assets.length} assets, all served by portolan)`);
