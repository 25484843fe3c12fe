// Drives a running portolan server through Backstage's own catalog client
// (@backstage/catalog-client, pinned in package-lock.json) and asserts what
// every call returns. One line per check; exits 1 on the first failure.
//
//   PORTOLAN_URL=http://127.0.0.1:7007 COMPAT_FIXTURES=/abs/folder node run.mjs
//
// The server must have been started with the demo catalog (catalog-info/) and
// with COMPAT_FIXTURES among `reading.file_roots`. See README.md and ROUTES.md.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CatalogClient, CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { stringifyEntityRef } from '@backstage/catalog-model';

const TIMEOUT_MS = Number(process.env.COMPAT_TIMEOUT_MS ?? 30000);
const VERBOSE = !!process.env.COMPAT_VERBOSE;
// Report every failing check instead of stopping at the first (later checks
// may then fail only because an earlier one did).
const KEEP_GOING = !!process.env.COMPAT_KEEP_GOING;

const baseUrl = (process.env.PORTOLAN_URL ?? '').replace(/\/+$/, '');
if (!baseUrl || !process.env.COMPAT_FIXTURES) {
  console.error('usage: PORTOLAN_URL=http://127.0.0.1:7007 COMPAT_FIXTURES=/abs/folder node run.mjs');
  process.exit(2);
}
fs.mkdirSync(process.env.COMPAT_FIXTURES, { recursive: true });

// What the demo catalog (catalog-info/) holds, counted once with a plain request (not through
// the client), so the demo catalog can grow without editing this script.
const DEMO = { Component: 0, Product: 0, Platform: 0 };
{
  const res = await fetch(`${baseUrl}/api/catalog/entities?fields=kind`);
  for (const e of await res.json()) {
    if (e.kind in DEMO) DEMO[e.kind] += 1;
  }
  if (!DEMO.Component || !DEMO.Product || !DEMO.Platform) {
    console.error(`the server must be started with the demo catalog; found ${JSON.stringify(DEMO)}`);
    process.exit(2);
  }
}
const fixturesDir = fs.realpathSync(path.resolve(process.env.COMPAT_FIXTURES));
const fixtureFile = path.join(fixturesDir, 'compat-entities.yaml');

// Every HTTP request the client makes is recorded, so checks can also assert
// which route the client chose (e.g. where a cursor was sent).
const requests = [];
async function recordingFetch(input, init = {}) {
  const url = new URL(typeof input === 'string' ? input : input.url);
  const method = init.method ?? 'GET';
  const res = await fetch(input, init);
  requests.push({ method, path: url.pathname, search: url.search, body: init.body, status: res.status });
  if (VERBOSE) {
    console.log(`    ${method} ${url.pathname}${url.search} ${init.body ?? ''} -> ${res.status}`);
  }
  return res;
}

const catalog = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => `${baseUrl}/api/catalog` },
  fetchApi: { fetch: recordingFetch },
});

// ---------------------------------------------------------------- helpers

let checks = 0;
let failures = 0;
async function check(name, fn) {
  const before = requests.length;
  try {
    await fn();
  } catch (err) {
    console.log(`FAIL ${name}`);
    console.log(`     ${describe(err)}`);
    const made = requests.slice(before);
    if (made.length) {
      console.log('     requests made by this check:');
      for (const r of made.slice(-5)) {
        console.log(`       ${r.method} ${r.path}${r.search} ${r.body ?? ''} -> ${r.status}`);
      }
    }
    if (!KEEP_GOING) process.exit(1);
    failures += 1;
    return;
  }
  checks += 1;
  console.log(`ok   ${name}`);
}

function describe(err) {
  if (err?.name === 'ResponseError') {
    const body = err.body ? JSON.stringify(err.body) : '';
    return `${err.message} (client threw ResponseError) ${body}`;
  }
  if (err instanceof assert.AssertionError) {
    return err.message.split('\n').join('\n     ');
  }
  return String(err?.stack ?? err);
}

async function eventually(what, fn) {
  const deadline = Date.now() + TIMEOUT_MS;
  let last;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}: ${describe(last)}`);
    }
    await new Promise(r => setTimeout(r, 250));
  }
}

async function rejectsWithStatus(promise, status) {
  await assert.rejects(promise, err => {
    assert.equal(err.name, 'ResponseError', `expected a ResponseError, got ${describe(err)}`);
    assert.equal(err.statusCode, status, `expected HTTP ${status}, got ${err.statusCode}`);
    return true;
  });
}

const ref = e => stringifyEntityRef(e);
const names = items => items.map(e => e.metadata.name);
const lc = s => String(s).toLowerCase();
const sortedNames = items => names(items).sort();
const byKind = (items, kind) => items.filter(e => lc(e.kind) === lc(kind));

function assertFullEntity(e, what) {
  assert.ok(e && typeof e === 'object', `${what}: not an object`);
  assert.equal(typeof e.apiVersion, 'string', `${what}: apiVersion`);
  assert.equal(typeof e.kind, 'string', `${what}: kind`);
  assert.equal(typeof e.metadata?.name, 'string', `${what}: metadata.name`);
  assert.equal(typeof e.metadata?.namespace, 'string', `${what}: metadata.namespace`);
  assert.equal(typeof e.metadata?.uid, 'string', `${what}: metadata.uid`);
  assert.equal(typeof e.metadata?.etag, 'string', `${what}: metadata.etag`);
  assert.ok(Array.isArray(e.relations), `${what}: relations must be an array`);
}

function assertLocation(l, what) {
  assert.ok(l && typeof l === 'object', `${what}: not an object`);
  assert.equal(typeof l.id, 'string', `${what}: id`);
  assert.equal(typeof l.type, 'string', `${what}: type`);
  assert.equal(typeof l.target, 'string', `${what}: target`);
  // Required by the pinned client's Location type (since catalog-client 1.15.0).
  assert.equal(typeof l.entityRef, 'string', `${what}: entityRef`);
  assert.match(l.entityRef, /^location:/i, `${what}: entityRef is a location ref`);
}

// Follows parentEntityRefs from the root of an ancestry response and returns
// every entity reached, root first.
function ancestryChain(res) {
  const byRef = new Map(res.items.map(i => [lc(ref(i.entity)), i]));
  const seen = new Set();
  const out = [];
  const queue = [lc(res.rootEntityRef)];
  while (queue.length) {
    const r = queue.shift();
    if (seen.has(r)) continue;
    seen.add(r);
    const item = byRef.get(r);
    assert.ok(item, `ancestry: ${r} is referenced but not among the items`);
    assert.ok(Array.isArray(item.parentEntityRefs), `ancestry: ${r} parentEntityRefs must be an array`);
    out.push(item);
    queue.push(...item.parentEntityRefs.map(lc));
  }
  return out;
}

// Pages through queryEntities by cursor; returns the pages.
async function allPages(first, limit) {
  const pages = [];
  let res = await catalog.queryEntities(first);
  for (;;) {
    assert.ok(Array.isArray(res.items), 'page items must be an array');
    assert.equal(typeof res.totalItems, 'number', 'page totalItems must be a number');
    assert.ok(res.pageInfo && typeof res.pageInfo === 'object', 'page pageInfo must be an object');
    assert.ok(res.items.length <= limit, `page has ${res.items.length} items, limit was ${limit}`);
    pages.push(res);
    if (!res.pageInfo.nextCursor) break;
    assert.equal(typeof res.pageInfo.nextCursor, 'string', 'nextCursor must be a string');
    assert.ok(pages.length < 100, 'more than 100 pages: the cursor does not advance');
    // As streamEntities does: fields are not part of the cursor, so they are
    // sent again with every page.
    res = await catalog.queryEntities({ cursor: res.pageInfo.nextCursor, limit, fields: first.fields });
  }
  return pages;
}

function assertPaging(pages, limit, expectedNames, label) {
  const items = pages.flatMap(p => p.items);
  pages.slice(0, -1).forEach((p, i) =>
    assert.equal(p.items.length, limit, `${label}: page ${i + 1} of ${pages.length} has ${p.items.length} items, expected ${limit}`),
  );
  const uids = items.map(e => e.metadata.uid);
  assert.equal(new Set(uids).size, uids.length, `${label}: duplicate entities across pages`);
  for (const [i, p] of pages.entries()) {
    assert.equal(p.totalItems, items.length, `${label}: page ${i + 1} says totalItems=${p.totalItems}, collected ${items.length}`);
  }
  assert.deepEqual(sortedNames(items), [...expectedNames].sort(), `${label}: collected entities differ from the expected set`);
  return items;
}

// ---------------------------------------------------------------- fixtures

const COMPONENT_REF = 'component:default/compat-widget';
const API_REF = 'api:default/compat-widget-api';

function writeFixture(description) {
  fs.writeFileSync(
    fixtureFile,
    `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: compat-widget
  description: ${description}
  tags: [compat]
spec:
  type: service
  lifecycle: experimental
  owner: group:default/portal-team
  system: portal
  providesApis: [compat-widget-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: compat-widget-api
  description: API of the compatibility-test widget.
spec:
  type: openapi
  lifecycle: experimental
  owner: portal-team
  system: portal
  definition: |
    openapi: 3.0.3
    info: {title: compat widget, version: 1.0.0}
    paths: {}
`,
  );
}

// ---------------------------------------------------------------- checks

console.log(`portolan compatibility test against ${baseUrl} (fixtures in ${fixturesDir})`);

// A failed earlier run may have left our location registered.
await check('preflight: no location of an earlier run remains', async () => {
  let items;
  try {
    ({ items } = await catalog.getLocations());
  } catch (err) {
    if (err?.statusCode !== 404) throw err;
    console.log('     (GET /locations answered 404: nothing to clean up)');
    return;
  }
  for (const l of items.filter(l => l.target === fixtureFile || l.target.startsWith(`${fixturesDir}${path.sep}`))) {
    await catalog.removeLocationById(l.id);
  }
  await eventually('leftover fixture entities to disappear', async () => {
    assert.equal(await catalog.getEntityByRef(COMPONENT_REF), undefined);
    assert.equal(await catalog.getEntityByRef(API_REF), undefined);
  });
});

let all; // every entity, full
let components; // every Component, full

await check('getEntities(): every entity, with uid, etag and relations', async () => {
  ({ items: all } = await catalog.getEntities());
  assert.ok(all.length > 0, 'no entities');
  all.forEach((e, i) => assertFullEntity(e, `item ${i}`));
  const refs = all.map(e => lc(ref(e)));
  assert.equal(new Set(refs).size, refs.length, 'duplicate entity refs');
});

await check(`getEntities({filter: {kind: 'Component'}}): the ${DEMO.Component} demo components`, async () => {
  ({ items: components } = await catalog.getEntities({ filter: { kind: 'Component' } }));
  assert.equal(components.length, DEMO.Component);
  components.forEach((e, i) => assertFullEntity(e, `item ${i}`));
  assert.ok(components.every(e => e.kind === 'Component'), 'a non-Component was returned');
  assert.ok(names(components).includes('portolan'), 'component portolan missing');
  assert.deepEqual(sortedNames(components), sortedNames(byKind(all, 'Component')));
});

await check("getEntities({filter: {kind: 'component'}}): matching is case-insensitive", async () => {
  const { items } = await catalog.getEntities({ filter: { kind: 'component' } });
  assert.deepEqual(sortedNames(items), sortedNames(components));
});

let productsAndPlatforms;
await check("getEntities({filter: [{kind: 'Product'}, {kind: 'Platform'}]}): filter sets are OR-ed", async () => {
  const { items } = await catalog.getEntities({ filter: [{ kind: 'Product' }, { kind: 'Platform' }] });
  assert.equal(byKind(items, 'Product').length, DEMO.Product, 'Products');
  assert.equal(byKind(items, 'Platform').length, DEMO.Platform, 'Platforms');
  assert.equal(items.length, DEMO.Product + DEMO.Platform, 'other kinds returned');
  productsAndPlatforms = items;
});

await check("getEntities({filter: {kind: ['Product', 'Platform']}}): an array value means any of", async () => {
  const { items } = await catalog.getEntities({ filter: { kind: ['Product', 'Platform'] } });
  assert.deepEqual(sortedNames(items), sortedNames(productsAndPlatforms));
});

await check("getEntities({filter: {kind: 'Product', 'metadata.name': 'checkout'}}): keys in one set are AND-ed", async () => {
  const { items } = await catalog.getEntities({ filter: { kind: 'Product', 'metadata.name': 'checkout' } });
  assert.deepEqual(items.map(ref), ['product:default/checkout']);
});

await check("getEntities({filter: {kind: 'User', 'relations.memberOf': 'group:default/portal-team'}}) and CATALOG_FILTER_EXISTS", async () => {
  const users = byKind(all, 'User');
  const expected = users
    .filter(u => (u.spec?.memberOf ?? []).some(g => ['portal-team', 'group:portal-team', 'group:default/portal-team'].includes(lc(g))))
    .map(u => u.metadata.name);
  assert.ok(expected.length >= 2, 'demo catalog: expected at least two members of portal-team');
  const { items } = await catalog.getEntities({
    filter: { kind: 'User', 'relations.memberOf': 'group:default/portal-team' },
  });
  assert.deepEqual(sortedNames(items), expected.sort(), 'relations.memberOf filter');
  const { items: withMemberOf } = await catalog.getEntities({
    filter: { kind: 'User', 'spec.memberOf': CATALOG_FILTER_EXISTS },
  });
  assert.deepEqual(
    sortedNames(withMemberOf),
    sortedNames(users.filter(u => u.spec?.memberOf !== undefined)),
    'spec.memberOf exists filter',
  );
});

await check("getEntities({fields: ['metadata.name', 'kind']}): only those fields", async () => {
  const { items } = await catalog.getEntities({ filter: { kind: 'Component' }, fields: ['metadata.name', 'kind'] });
  assert.equal(items.length, DEMO.Component);
  for (const e of items) {
    assert.deepEqual(Object.keys(e).sort(), ['kind', 'metadata'], `fields of ${JSON.stringify(e)}`);
    assert.deepEqual(Object.keys(e.metadata), ['name'], `metadata fields of ${JSON.stringify(e)}`);
  }
  assert.deepEqual(sortedNames(items), sortedNames(components));
});

await check("getEntities({order: {field: 'metadata.name', order: 'desc'}}): sorted by name, descending", async () => {
  const { items } = await catalog.getEntities({
    filter: { kind: 'Component' },
    order: { field: 'metadata.name', order: 'desc' },
  });
  const expected = sortedNames(components).sort((a, b) => (lc(a) < lc(b) ? 1 : lc(a) > lc(b) ? -1 : 0));
  assert.deepEqual(names(items), expected);
});

await check("queryEntities({filter: {kind: 'component'}, limit: 5}): every page by cursor (GET /entities/by-query)", async () => {
  const before = requests.length;
  const pages = await allPages({ filter: { kind: 'component' }, limit: 5 }, 5);
  assert.ok(pages.length >= Math.ceil(DEMO.Component / 5), `only ${pages.length} pages`);
  assertPaging(pages, 5, names(components), 'paging');
  assert.equal(pages[0].totalItems, DEMO.Component);
  for (const r of requests.slice(before)) {
    assert.equal(`${r.method} ${r.path}`, 'GET /api/catalog/entities/by-query', 'filter paging must stay on GET');
  }
});

await check("queryEntities({orderFields: {field: 'metadata.name', order: 'asc'}, fields, limit: 5}): order holds across pages", async () => {
  const pages = await allPages(
    {
      filter: { kind: 'component' },
      orderFields: { field: 'metadata.name', order: 'asc' },
      fields: ['kind', 'metadata.name', 'metadata.uid'],
      limit: 5,
    },
    5,
  );
  const items = assertPaging(pages, 5, names(components), 'ordered paging');
  assert.deepEqual(names(items), sortedNames(components).sort((a, b) => (lc(a) < lc(b) ? -1 : lc(a) > lc(b) ? 1 : 0)));
  for (const e of items) {
    assert.deepEqual(Object.keys(e).sort(), ['kind', 'metadata'], `fields of ${JSON.stringify(e)}`);
  }
});

await check('queryEntities({query: {$all, $any, $not, $in, $exists}, limit: 5}): every page by cursor (POST /entities/by-query)', async () => {
  const query = {
    $all: [
      { kind: 'component' },
      { $any: [{ 'spec.lifecycle': 'production' }, { 'spec.lifecycle': { $in: ['experimental', 'deprecated'] } }] },
      { $not: { 'metadata.name': 'portolan' } },
      { 'spec.owner': { $exists: true } },
    ],
  };
  const expected = components
    .filter(e => ['production', 'experimental', 'deprecated'].includes(lc(e.spec?.lifecycle)))
    .filter(e => e.metadata.name !== 'portolan')
    .filter(e => e.spec?.owner !== undefined)
    .map(e => e.metadata.name);
  assert.ok(expected.length > 5, 'demo catalog: expected more than one page');
  const before = requests.length;
  const pages = await allPages({ query, limit: 5 }, 5);
  assertPaging(pages, 5, expected, 'predicate paging');
  const made = requests.slice(before);
  assert.equal(made.length, pages.length);
  for (const r of made) {
    // The client only sends a cursor to POST when it base64-decodes to JSON
    // with a "query" key; otherwise it goes to GET and loses the predicate.
    assert.equal(`${r.method} ${r.path}`, 'POST /api/catalog/entities/by-query', 'predicate paging must stay on POST');
  }
});

await check('queryEntities({query: {kind: {$in: [...]}}}) without limit: one page, all matches', async () => {
  const res = await catalog.queryEntities({ query: { kind: { $in: ['product', 'platform'] } } });
  assert.deepEqual(sortedNames(res.items), sortedNames(productsAndPlatforms));
  assert.equal(res.totalItems, DEMO.Product + DEMO.Platform);
});

await check('getEntitiesByRefs(): in request order, null (undefined) for a missing ref', async () => {
  const entityRefs = [
    'component:default/portolan',
    'group:default/portal-team',
    'component:default/no-such-component-xyz',
    'product:default/checkout',
  ];
  const { items } = await catalog.getEntitiesByRefs({ entityRefs });
  assert.equal(items.length, entityRefs.length, 'one item per requested ref');
  assert.equal(items[2], undefined, 'missing ref must be null');
  [0, 1, 3].forEach(i => {
    assertFullEntity(items[i], `item ${i}`);
    assert.equal(ref(items[i]), entityRefs[i], `item ${i}`);
  });
  const { items: slim } = await catalog.getEntitiesByRefs({ entityRefs, fields: ['kind', 'metadata.name'] });
  assert.deepEqual(slim, [
    { kind: 'Component', metadata: { name: 'portolan' } },
    { kind: 'Group', metadata: { name: 'portal-team' } },
    undefined,
    { kind: 'Product', metadata: { name: 'checkout' } },
  ]);
});

await check('getEntityByRef(): string, short string and object forms; missing -> undefined', async () => {
  const e = await catalog.getEntityByRef('component:default/portolan');
  assertFullEntity(e, 'component:default/portolan');
  assert.equal(e.kind, 'Component');
  assert.equal(e.metadata.name, 'portolan');
  assert.equal(e.spec.owner, 'group:default/portal-team');
  assert.ok(
    e.relations.some(r => r.type === 'ownedBy' && r.targetRef === 'group:default/portal-team'),
    'ownedBy relation missing',
  );
  const short = await catalog.getEntityByRef('component:portolan');
  assert.equal(short?.metadata.uid, e.metadata.uid, 'component:portolan');
  const g = await catalog.getEntityByRef({ kind: 'Group', namespace: 'default', name: 'portal-team' });
  assertFullEntity(g, 'group object ref');
  assert.equal(ref(g), 'group:default/portal-team');
  assert.equal(await catalog.getEntityByRef('component:default/no-such-component-xyz'), undefined);
  assert.equal(await catalog.getEntityByRef({ kind: 'Group', namespace: 'nowhere', name: 'portal-team' }), undefined);
});

await check("getEntityAncestors({entityRef: 'component:default/portolan'}): the chain reaches a Location", async () => {
  const res = await catalog.getEntityAncestors({ entityRef: 'component:default/portolan' });
  assert.equal(res.rootEntityRef, 'component:default/portolan');
  const chain = ancestryChain(res);
  assert.equal(ref(chain[0].entity), 'component:default/portolan');
  assert.ok(chain[0].parentEntityRefs.length > 0, 'portolan has no parent');
  assert.ok(chain.some(i => i.entity.kind === 'Location'), `no Location in ${chain.map(i => ref(i.entity)).join(' -> ')}`);
  await rejectsWithStatus(catalog.getEntityAncestors({ entityRef: 'component:default/no-such-component-xyz' }), 404);
});

await check("getEntityFacets({facets: ['kind', 'spec.lifecycle']}): counts per value", async () => {
  const { items } = await catalog.getEntities();
  const count = values => {
    const m = {};
    for (const v of values) m[v] = (m[v] ?? 0) + 1;
    return m;
  };
  const expected = {
    kind: count(items.map(e => e.kind)),
    'spec.lifecycle': count(items.map(e => e.spec?.lifecycle).filter(v => typeof v === 'string')),
  };
  const res = await catalog.getEntityFacets({ facets: ['kind', 'spec.lifecycle'] });
  assert.ok(res, 'GET /entity-facets answered 404 (the client turns that into undefined)');
  assert.deepEqual(Object.keys(res.facets).sort(), ['kind', 'spec.lifecycle']);
  for (const facet of ['kind', 'spec.lifecycle']) {
    for (const f of res.facets[facet]) {
      assert.deepEqual(Object.keys(f).sort(), ['count', 'value'], `facet entry ${JSON.stringify(f)}`);
    }
    const got = Object.fromEntries(res.facets[facet].map(f => [f.value, f.count]));
    assert.deepEqual(got, expected[facet], `facet ${facet}`);
  }
  assert.equal(expected.kind.Product, DEMO.Product);
  assert.equal(expected.kind.Platform, DEMO.Platform);
  const filtered = await catalog.getEntityFacets({ facets: ['spec.lifecycle'], filter: { kind: 'Component' } });
  const got = Object.fromEntries(filtered.facets['spec.lifecycle'].map(f => [f.value, f.count]));
  assert.deepEqual(got, count(components.map(e => e.spec?.lifecycle).filter(v => typeof v === 'string')), 'with filter');
});

let locationsBefore;
await check('getLocations(): {items: [{id, type, target, entityRef}]}', async () => {
  ({ items: locationsBefore } = await catalog.getLocations());
  assert.ok(Array.isArray(locationsBefore));
  locationsBefore.forEach((l, i) => assertLocation(l, `location ${i}`));
  assert.ok(!locationsBefore.some(l => l.target === fixtureFile), 'fixture already registered');
});

writeFixture('Widget registered by the compatibility test.');

await check('addLocation({type: file, target, dryRun: true}): entities, exists=false, nothing registered', async () => {
  const res = await catalog.addLocation({ type: 'file', target: fixtureFile, dryRun: true });
  assert.equal(res.location.type, 'file');
  assert.equal(res.location.target, fixtureFile);
  assert.equal(res.exists, false);
  assert.ok(Array.isArray(res.entities), 'entities must be an array');
  const refs = res.entities.map(ref);
  assert.ok(refs.includes(COMPONENT_REF), `${COMPONENT_REF} not in ${refs.join(', ')}`);
  assert.ok(refs.includes(API_REF), `${API_REF} not in ${refs.join(', ')}`);
  const { items } = await catalog.getLocations();
  assert.ok(!items.some(l => l.target === fixtureFile), 'dry run registered the location');
  assert.equal(await catalog.getEntityByRef(COMPONENT_REF), undefined, 'dry run stored an entity');
});

let added;
await check('addLocation({type: file, target}): registered, entities appear', async () => {
  added = await catalog.addLocation({ type: 'file', target: fixtureFile });
  assertLocation(added.location, 'location');
  assert.equal(added.location.type, 'file');
  assert.equal(added.location.target, fixtureFile);
  assert.ok(Array.isArray(added.entities), 'entities must be an array (Backstage sends [])');
  const e = await eventually(`${COMPONENT_REF} to appear`, async () => {
    const c = await catalog.getEntityByRef(COMPONENT_REF);
    assert.ok(c, 'not there yet');
    assert.ok(await catalog.getEntityByRef(API_REF), `${API_REF} not there yet`);
    return c;
  });
  assertFullEntity(e, COMPONENT_REF);
  const ann = e.metadata.annotations ?? {};
  assert.equal(ann['backstage.io/managed-by-location'], `file:${fixtureFile}`, 'managed-by-location annotation');
  assert.equal(ann['backstage.io/managed-by-origin-location'], `file:${fixtureFile}`, 'managed-by-origin-location annotation');
  assert.ok(
    e.relations.some(r => r.type === 'providesApi' && r.targetRef === API_REF),
    'providesApi relation missing',
  );
});

await check('addLocation() again: 409 conflict; dryRun now says exists=true', async () => {
  await rejectsWithStatus(catalog.addLocation({ type: 'file', target: fixtureFile }), 409);
  const res = await catalog.addLocation({ type: 'file', target: fixtureFile, dryRun: true });
  assert.equal(res.exists, true);
});

await check('getLocations(): lists the new location', async () => {
  const { items } = await catalog.getLocations();
  items.forEach((l, i) => assertLocation(l, `location ${i}`));
  const mine = items.filter(l => l.target === fixtureFile);
  assert.equal(mine.length, 1);
  assert.deepEqual(mine[0], added.location);
  assert.equal(items.length, locationsBefore.length + 1);
});

await check('getLocationByRef(`file:<target>`) (client lists GET /locations and matches type:target)', async () => {
  const l = await catalog.getLocationByRef(`file:${fixtureFile}`);
  assert.deepEqual(l, added.location);
  assert.equal(await catalog.getLocationByRef(`file:${fixturesDir}/no-such-file.yaml`), undefined);
});

await check('getLocationById(): the location; unknown id -> undefined', async () => {
  const l = await catalog.getLocationById(added.location.id);
  assert.deepEqual(l, added.location);
  assert.equal(await catalog.getLocationById('00000000-0000-4000-8000-000000000000'), undefined);
});

await check('getLocationByEntity(): the location the entity came from; unknown entity -> undefined', async () => {
  const l = await catalog.getLocationByEntity(COMPONENT_REF);
  assert.equal(l?.id, added.location.id);
  assert.equal(l.type, 'file');
  assert.equal(l.target, fixtureFile);
  const byObject = await catalog.getLocationByEntity({ kind: 'API', namespace: 'default', name: 'compat-widget-api' });
  assert.equal(byObject?.id, added.location.id);
  assert.equal(await catalog.getLocationByEntity('component:default/no-such-component-xyz'), undefined);
});

await check(`getEntityAncestors({entityRef: '${COMPONENT_REF}'}): reaches the registered Location entity`, async () => {
  const res = await catalog.getEntityAncestors({ entityRef: COMPONENT_REF });
  assert.equal(res.rootEntityRef, COMPONENT_REF);
  const chain = ancestryChain(res);
  const locs = chain.filter(i => i.entity.kind === 'Location');
  assert.ok(locs.length > 0, `no Location in ${chain.map(i => ref(i.entity)).join(' -> ')}`);
  const loc = locs.find(i => lc(ref(i.entity)) === lc(added.location.entityRef));
  assert.ok(loc, `the location's entityRef ${added.location.entityRef} is not in the chain ${chain.map(i => ref(i.entity)).join(' -> ')}`);
  assert.equal(loc.entity.spec?.type, 'file');
  const targets = [loc.entity.spec?.target, ...(loc.entity.spec?.targets ?? [])];
  assert.ok(targets.includes(fixtureFile), `Location spec does not point at ${fixtureFile}: ${JSON.stringify(loc.entity.spec)}`);
});

await check('refreshEntity(): 200, and an edited file shows up after refresh', async () => {
  const before = await catalog.getEntityByRef(COMPONENT_REF);
  await catalog.refreshEntity(COMPONENT_REF);
  writeFixture('Widget edited by the compatibility test.');
  await catalog.refreshEntity(COMPONENT_REF);
  const after = await eventually('the edited description', async () => {
    const e = await catalog.getEntityByRef(COMPONENT_REF);
    assert.equal(e?.metadata.description, 'Widget edited by the compatibility test.');
    return e;
  });
  assert.equal(after.metadata.uid, before.metadata.uid, 'uid must survive a refresh');
  assert.notEqual(after.metadata.etag, before.metadata.etag, 'etag must change with the content');
});

const VALID = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'compat-valid' },
  spec: { type: 'service', lifecycle: 'production', owner: 'portal-team' },
};
const LOCATION_REF = 'url:https://github.com/acme/compat/blob/main/catalog-info.yaml';

await check('validateEntity(valid entity): {valid: true}', async () => {
  assert.deepEqual(await catalog.validateEntity(VALID, LOCATION_REF), { valid: true });
});

await check('validateEntity(invalid entities): {valid: false, errors: [{name, message}]}', async () => {
  const invalid = [
    ['bad metadata.name', { ...VALID, metadata: { name: '-bad-name-' } }],
    ['no spec.owner', { ...VALID, spec: { type: 'service', lifecycle: 'production' } }],
    ['no kind', { apiVersion: 'backstage.io/v1alpha1', metadata: { name: 'x' } }],
  ];
  for (const [what, entity] of invalid) {
    const res = await catalog.validateEntity(entity, LOCATION_REF);
    assert.equal(res.valid, false, `${what}: valid`);
    assert.ok(Array.isArray(res.errors) && res.errors.length > 0, `${what}: errors must be a non-empty array (body {errors: [...]}), got ${JSON.stringify(res)}`);
    for (const e of res.errors) {
      assert.equal(typeof e.name, 'string', `${what}: error name`);
      assert.equal(typeof e.message, 'string', `${what}: error message`);
    }
  }
  // validation stores nothing
  assert.equal(await catalog.getEntityByRef('component:default/compat-valid'), undefined);
});

await check('removeEntityByUid(): the entity is gone', async () => {
  const api = await catalog.getEntityByRef(API_REF);
  assert.ok(api);
  await catalog.removeEntityByUid(api.metadata.uid);
  assert.equal(await catalog.getEntityByRef(API_REF), undefined);
  const { items } = await catalog.getEntitiesByRefs({ entityRefs: [API_REF, COMPONENT_REF] });
  assert.equal(items[0], undefined);
  assert.ok(items[1], 'the other entity of the location must remain');
});

await check('removeLocationById(): location and its entities are gone', async () => {
  await catalog.removeLocationById(added.location.id);
  assert.equal(await catalog.getLocationById(added.location.id), undefined);
  const { items } = await catalog.getLocations();
  assert.ok(!items.some(l => l.id === added.location.id), 'still listed');
  assert.equal(items.length, locationsBefore.length);
  await eventually(`${COMPONENT_REF} to disappear`, async () => {
    assert.equal(await catalog.getEntityByRef(COMPONENT_REF), undefined);
  });
  const { items: comps } = await catalog.getEntities({ filter: { kind: 'Component' }, fields: ['metadata.name'] });
  assert.equal(comps.length, DEMO.Component, 'component count back to the demo catalog');
});

fs.rmSync(fixtureFile, { force: true });
if (failures) {
  console.log(`${failures} check(s) failed, ${checks} passed`);
  process.exit(1);
}
console.log(`all ${checks} checks passed (${requests.length} requests)`);
