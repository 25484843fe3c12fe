// portolan's browser tests: Debian's chromium driven by playwright-core.
//
//   node journeys.mjs seed-health <base-url>      (team health's events, sent before `demo-traffic`)
//   node journeys.mjs guest <base-url>            (a guest-mode portal after `demo-traffic`)
//   node journeys.mjs oidc <base-url> <issuer>    (a portal signing in through oauth2-mock-server,
//                                                  whose stdin is the file named by OIDC_CONTROL)
//
// Before `demo-traffic`, `seed-health` sends deployments and incidents of two teams through the
// public API (sales-tools-team: elite; portal-team: low); the demo leaves teams that already send
// deployments alone, so the guest journeys know these two teams' keys exactly.
//
// Every page fails the run on a console error, an uncaught exception, a failed request, a
// request to another origin, an answer >= 400, or a serious/critical axe-core violation; it
// must be usable by keyboard; a screenshot of each is saved under SCREENSHOTS
// (default ../../target/ui-screenshots).
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const [mode, base, issuer] = process.argv.slice(2);
if (!mode || !base) {
  console.error('usage: node journeys.mjs seed-health|guest|oidc <base-url> [issuer]');
  process.exit(2);
}
const shots = process.env.SCREENSHOTS ?? path.join(here, '../../target/ui-screenshots');
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');
const origin = new URL(base).origin;
const issuerOrigin = issuer ? new URL(issuer).origin : null;

const problems = [];
let current = '(start)';
const fail = (what) => problems.push(`${current}: ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error') fail(`console error: ${m.text()}`); });
page.on('pageerror', (e) => fail(`page error: ${e.message}`));
page.on('requestfailed', (r) => {
  // The browser aborts a favicon still loading when the journey moves on: no defect of the page.
  if (r.failure()?.errorText === 'net::ERR_ABORTED' && r.url().endsWith('/favicon.svg')) return;
  fail(`request failed: ${r.url()} ${r.failure()?.errorText}`);
});
page.on('request', (r) => {
  const o = new URL(r.url()).origin;
  if (o !== origin && o !== issuerOrigin && !r.url().startsWith('data:')) fail(`external request: ${r.url()}`);
});
page.on('response', (r) => { if (r.status() >= 400) fail(`HTTP ${r.status()} for ${r.url()}`); });

let shot = 0;
/** Checks the page as it stands: axe, keyboard, a screenshot. */
async function check(name) {
  current = name;
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      fail(`axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
    }
  }
  await keyboard();
  await page.evaluate(() => document.activeElement?.blur());
  shot += 1;
  await page.screenshot({ path: path.join(shots, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

/** Tab from the top: the skip link comes first, every link of the main navigation is reached,
 * each focused element shows a focus outline, and Enter on the skip link moves into main. */
async function keyboard() {
  // Start sequential focus navigation from the top of the document.
  await page.evaluate(() => {
    document.activeElement?.blur();
    const root = document.documentElement;
    root.setAttribute('tabindex', '-1');
    root.focus();
    root.removeAttribute('tabindex');
    window.scrollTo(0, 0);
  });
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement?.className);
  if (first !== 'skip') fail(`the first Tab lands on "${first}", not the skip link`);
  const navCount = await page.locator('header nav a').count();
  const seen = new Set();
  for (let i = 0; i < navCount + 4; i++) {
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      const s = el ? getComputedStyle(el) : null;
      return { href: el?.getAttribute('href'), outline: s ? s.outlineStyle : 'none', inNav: !!el?.closest('header nav') };
    });
    if (f.inNav) seen.add(f.href);
    if (f.href && f.outline === 'none') fail(`no visible focus on ${f.href}`);
    await page.keyboard.press('Tab');
  }
  if (seen.size < navCount) fail(`keyboard reached ${seen.size} of ${navCount} navigation links`);
  await page.focus('a.skip');
  await page.keyboard.press('Enter');
  const inMain = await page.evaluate(() => document.activeElement?.id === 'main' || !!document.activeElement?.closest('main'));
  if (!inMain) fail('the skip link does not move focus into main');
}

async function go(url, name) {
  current = name;
  const res = await page.goto(new URL(url, base).href);
  if (!res || res.status() !== 200) fail(`GET ${url}: ${res?.status()}`);
  await check(name);
}

async function expectText(locator, text, what) {
  const t = (await locator.textContent()) ?? '';
  if (!t.includes(text)) fail(`${what}: expected "${text}" in "${t.slice(0, 200)}"`);
}

async function guestJourneys() {
  // Every page from the home page's navigation, by plain links.
  await go('/', 'home');
  for (const label of ['Catalog', 'Create', 'Products', 'Platforms', 'APIs', 'Subscriptions', 'Approvals', 'Dashboard', 'Delivery', 'Reports', 'Health', 'Governance', 'Scorecards']) {
    await page.goto(new URL('/', base).href);
    await page.locator('header nav').getByRole('link', { name: label, exact: true }).click();
    await page.waitForLoadState('load');
    await check(`nav-${label.toLowerCase()}`);
  }
  // Find an API by text, open it, subscribe on an auto plan, create a key and see it once.
  await page.goto(new URL('/apis', base).href);
  await page.getByLabel('Search APIs').fill('availability');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForLoadState('load');
  await check('marketplace-search');
  await page.getByRole('link', { name: 'Availability API' }).click();
  await page.waitForLoadState('load');
  await check('api-page');
  await page.locator('select[name=plan]').selectOption('standard');
  await page.locator('select[name=consumer]').selectOption('component:default/gift-card-service');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('main dl'), 'active', 'the auto plan subscription');
  await check('subscription');
  const subscriptionUrl = page.url();
  await page.getByLabel('Key name').fill('browser-test');
  await page.getByRole('button', { name: 'Create a key' }).click();
  await page.waitForLoadState('load');
  const key = ((await page.locator('#new-key').textContent()) ?? '').trim();
  if (!key.startsWith('ptl_')) fail(`no key shown: "${key}"`);
  if (!(await page.getByRole('button', { name: 'Copy' }).isVisible())) fail('no copy button');
  await check('key-shown-once');
  await page.goto(subscriptionUrl);
  if ((await page.content()).includes(key)) fail('the key shows again after a reload');
  // The key works at the gateway, and the call appears on the dashboard after a refresh.
  const answer = await (await fetch(new URL('/api/gateway/check', base), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key, api: 'api:default/availability-api' }),
  })).json();
  if (answer.allowed !== true) fail(`the gateway refused the new key: ${JSON.stringify(answer)}`);
  const dash = '/dashboard?api=api%3Adefault%2Favailability-api&range=1d';
  let seen = false;
  for (let i = 0; i < 20 && !seen; i++) {
    await page.goto(new URL(dash, base).href);
    seen = (await page.locator('main table').first().textContent()).includes('component:default/gift-card-service');
    if (!seen) await page.waitForTimeout(500);
  }
  if (!seen) fail('the call does not appear among the top consumers of the dashboard');
  await check('dashboard-after-call');
  // A platform's dashboard after demo-traffic: every chart drawn with data.
  await go('/dashboard?platform=platform%3Adefault%2Finventory&range=30d', 'platform-dashboard');
  const charts = await page.locator('svg.chart').evaluateAll((svgs) => svgs.map((s) => ({
    label: s.getAttribute('aria-label'),
    drawn: [...s.querySelectorAll('polyline')].some((p) => (p.getAttribute('points') ?? '').split(' ').length > 1)
      || [...s.querySelectorAll('rect')].some((r) => Number(r.getAttribute('height')) > 0),
  })));
  if (charts.length < 3) fail(`only ${charts.length} charts on the dashboard`);
  for (const c of charts) if (!c.drawn) fail(`chart "${c.label}" has no data`);
  // An entity with a governance finding, and its link.
  await go('/catalog/component/default/cart-service', 'entity-with-finding');
  const findingLink = page.locator('main ul li a[href^="/governance?rule="]').first();
  await findingLink.click();
  await page.waitForLoadState('load');
  await check('governance-from-entity');
  const rows = await page.locator('main table tbody tr').count();
  if (rows < 1) fail('the finding link leads to no finding');
  await page.locator('main table tbody tr').first().locator('a').first().click();
  await page.waitForLoadState('load');
  await check('entity-from-governance');
  // The remaining pages.
  await go('/products/default/checkout', 'product');
  await go('/platforms/default/inventory', 'platform');
  await go('/catalog?kind=api', 'catalog-facet');
  // With scripts on, htmx swaps the page in place for a facet link (hx-boost), and the address follows.
  await go('/catalog', 'catalog');
  let boosted = false;
  const seeBoost = (r) => { if (r.headers()['hx-request'] === 'true') boosted = true; };
  page.on('request', seeBoost);
  await page.locator('aside.facets fieldset', { hasText: 'Lifecycle' }).getByRole('link', { name: 'production' }).click();
  await page.waitForURL(/lifecycle=production/);
  await page.locator('main table tbody tr').first().waitFor();
  page.off('request', seeBoost);
  if (!boosted) fail('the facet link was not followed through htmx');
  await expectText(page.locator('aside.facets'), 'any lifecycle', 'the chosen facet after the in-place swap');
  await go('/governance/graph?entity=component%3Adefault%2Fcart-service', 'graph');
  await go('/catalog/api/default/availability-api', 'api-entity');
  // The OpenAPI definition is rendered by the embedded Swagger UI, in the page.
  const swagger = page.frameLocator('iframe.swagger');
  await swagger.locator('.swagger-ui .info .title').waitFor({ timeout: 15000 });
  await expectText(swagger.locator('.swagger-ui .info .title'), 'Availability', 'Swagger UI on the API definition');
  if ((await swagger.locator('.opblock').count()) === 0) fail('Swagger UI shows no operation of the definition');
  // Other definitions are highlighted text.
  await go('/catalog/api/default/mobile-bff-api', 'api-entity-graphql');
  if ((await page.locator('pre.definition .hl-kw').count()) === 0) fail('the GraphQL definition is not highlighted');
  await deliveryJourneys();
  await healthJourneys();
  await standardsJourneys();
  await taskApprovalJourney();
  await createJourney();
  await gatedTaskPageJourney();
}

/** Clicks a button of the page's form and waits for the answer. */
async function press(name) {
  await page.getByRole('button', { name, exact: true }).click();
  await page.waitForLoadState('load');
}

/** Golden paths: /create filtered by type, the two-page form of `UI multi-page path` (ci.sh's):
 * a required field left empty and a number out of range refused next to their fields, the
 * Review (the password masked), Back keeping the values, Create, and the task's page following
 * the run to its end (htmx polls while it runs) with its steps and output link. */
async function createJourney() {
  await page.goto(new URL('/', base).href);
  await page.locator('header nav').getByRole('link', { name: 'Create', exact: true }).click();
  await page.waitForLoadState('load');
  await check('create');
  await expectText(page.locator('main'), 'UI gated path', 'every template listed');
  await page.locator('select[name=type]').selectOption('website');
  await press('Search');
  if (new URL(page.url()).searchParams.get('type') !== 'website') fail(`the type filter: ${page.url()}`);
  await check('create-by-type');
  await expectText(page.locator('main ul.templates'), 'UI multi-page path', 'the website template');
  if ((await page.locator('main ul.templates').textContent()).includes('UI gated path')) fail('a service template shows under website');
  await page.getByRole('link', { name: 'Choose UI multi-page path' }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).pathname !== '/create/templates/default/ui-multi') fail(`Choose leads to ${page.url()}`);
  await check('create-form-page-1');
  // The required name left empty: refused, said next to the field and in the summary.
  await page.getByLabel('Owner').selectOption('group:default/platform-engineering');
  await page.getByLabel('Tier').selectOption({ label: 'Gold' });
  await press('Next');
  await check('create-form-required');
  await expectText(page.locator('#f-0-error'), 'name: is required', 'the required field\'s error');
  await expectText(page.locator('.error-summary'), 'name: is required', 'the error summary');
  if ((await page.getByLabel('Name').getAttribute('aria-describedby'))?.includes('f-0-error') !== true) fail('the error is not tied to its field');
  if ((await page.getByLabel('Owner').inputValue()) !== 'group:default/platform-engineering') fail('the owner chosen is lost');
  await page.getByLabel('Name').fill('ui-made');
  await press('Next');
  await check('create-form-page-2');
  await expectText(page.locator('ol.form-steps li[aria-current=step]'), 'How it runs', 'the second page');
  if ((await page.getByLabel('Replicas').inputValue()) !== '2') fail('the default of replicas is not filled in');
  await page.getByLabel('Replicas').fill('9');
  await press('Review');
  await expectText(page.locator('#f-0-error'), 'replicas: 9 is greater than the maximum of 5', 'the out-of-range integer');
  await page.getByLabel('Replicas').fill('3');
  await page.getByLabel('Public').check();
  await page.getByLabel('Deploy token').fill('hunter22');
  await press('Review');
  await check('create-review');
  const review = (await page.locator('main dl.review').allTextContents()).join(' ');
  for (const v of ['ui-made', 'group:default/platform-engineering', 'Gold', '3', 'yes', '••••••••']) {
    if (!review.includes(v)) fail(`the review lacks "${v}": ${review.slice(0, 300)}`);
  }
  if (review.includes('hunter22')) fail('the review shows the password');
  await press('Back');
  if ((await page.getByLabel('Replicas').inputValue()) !== '3') fail('Back lost the values');
  await press('Review');
  await press('Create');
  if (!/^\/create\/tasks\/[0-9a-f-]+$/.test(new URL(page.url()).pathname)) fail(`Create leads to ${page.url()}`);
  await page.locator('#task-status', { hasText: 'completed' }).waitFor({ timeout: 20000 });
  await check('create-task-done');
  await expectText(page.locator('table.steps tr#step-hello'), 'completed', 'the first step');
  await expectText(page.locator('table.steps tr#step-public'), 'completed', 'the step run because public');
  await expectText(page.locator('table.log'), 'ui-made for group:default/platform-engineering (gold, 3 replicas)', 'the log');
  await expectText(page.locator('main'), 'Deploy ui-made.', 'the output text');
  await page.getByRole('link', { name: 'Its owner' }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).pathname !== '/catalog/group/default/platform-engineering') fail(`the output link leads to ${page.url()}`);
}

/** A gated template's task (`UI gated path`, no form pages: straight to the Review), created
 * and approved from its own page, then run to its end. */
async function gatedTaskPageJourney() {
  await go('/create/templates/default/ui-gated', 'create-gated-review');
  await press('Create');
  await expectText(page.locator('#task-status'), 'waiting', 'the gated task');
  await expectText(page.locator('main dl'), 'needs the approval of group:default/platform-engineering', 'what it waits for');
  await check('create-task-waiting');
  await page.getByLabel('Reason').fill('from its page');
  await press('Approve');
  await expectText(page.locator('main .notice'), 'You approved the task', 'the approval notice');
  if (!new URL(page.url()).pathname.startsWith('/create/tasks/')) fail(`the decision leads to ${page.url()}`);
  await page.locator('#task-status', { hasText: 'completed' }).waitFor({ timeout: 20000 });
  await expectText(page.locator('table.log'), 'Approved by guest: from its page', 'the decision in the log');
  await check('create-task-approved');
  // /create lists the newest tasks, each leading to its page.
  const taskPath = new URL(page.url()).pathname;
  await go('/create', 'create-recent-tasks');
  const recent = page.locator(`table.recent-tasks a[href="${taskPath}"]`);
  if ((await recent.count()) !== 1) fail(`the newest tasks do not link ${taskPath}`);
  await expectText(page.locator('table.recent-tasks'), 'UI multi-page path', 'the task made through the form');
}

/** A template task waiting at its approval gate (ci.sh adds `UI gated path`, gated on
 * platform-engineering): listed in /approvals, approved through the form, then run. */
async function taskApprovalJourney() {
  current = 'task-approval';
  const res = await fetch(new URL('/api/scaffolder/v2/tasks', base), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ templateRef: 'template:default/ui-gated', values: {} }),
  });
  if (res.status !== 201) fail(`POST /api/scaffolder/v2/tasks: ${res.status} ${(await res.text()).slice(0, 200)}`);
  const { id } = await res.json();
  await go('/approvals', 'approvals-tasks');
  const row = page.locator(`table.tasks tr#task-${id}`);
  await expectText(row, 'UI gated path needs the approval of group:default/platform-engineering', 'the waiting task');
  await row.locator('input[name=reason]').fill('looks right');
  await row.getByRole('button', { name: 'Approve' }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('main .notice'), 'approved', 'the approval notice');
  if ((await page.locator(`table.tasks tr#task-${id}`).count()) !== 0) fail('the approved task is still listed');
  const deadline = Date.now() + 20000;
  for (;;) {
    const t = await (await fetch(new URL(`/api/scaffolder/v2/tasks/${id}`, base))).json();
    if (t.status === 'completed') break;
    if (Date.now() > deadline) { fail(`the approved task never completed: ${t.status}`); break; }
    await new Promise((r) => setTimeout(r, 200));
  }
  const events = await (await fetch(new URL(`/api/scaffolder/v2/tasks/${id}/events`, base))).json();
  if (!events.some((e) => e.body?.message === 'Approved by guest: looks right')) fail(`no decision event: ${JSON.stringify(events).slice(0, 300)}`);
}

/** Standards as code: ci.sh adds tests/ui's own scorecard (`UI readiness`, levels bronze < silver
 * < gold over every Component) and a campaign on it (`Every component in a product`, started 14
 * days ago, due in 30) to the demo catalog. Yesterday and today are recorded first, so that both
 * charts have two points. */
async function standardsJourneys() {
  current = 'standards-snapshot';
  for (const d of [iso(Date.now() - DAY).slice(0, 10), iso(Date.now()).slice(0, 10)]) {
    const snap = await fetch(new URL(`/api/portal/scorecards/snapshots?day=${d}`, base), { method: 'POST' });
    if (snap.status !== 201) fail(`POST /api/portal/scorecards/snapshots?day=${d}: ${snap.status} ${(await snap.text()).slice(0, 200)}`);
  }
  await go('/scorecards', 'scorecards');
  await expectText(page.locator('main table').first(), 'UI readiness', 'the scorecard in the list');
  await expectText(page.locator('main table').first(), 'group:default/platform-engineering', 'the scorecard\'s owner');
  const listed = (await page.locator('main table').first().textContent()) ?? '';
  if (/\d\.\d{2,}/.test(listed)) fail(`a raw number in the list: ${listed.slice(0, 300)}`);
  await page.getByRole('link', { name: 'UI readiness', exact: true }).click();
  await page.waitForLoadState('load');
  await check('scorecard');
  if (new URL(page.url()).pathname !== '/scorecards/default/ui-readiness') fail(`the scorecard's link: ${page.url()}`);
  for (const id of ['owned', 'described', 'in-product']) await expectText(page.locator('main table').first(), id, 'the checks');
  if ((await page.locator('main svg.chart polyline').count()) < 4) fail('the trend chart has no line per level and unranked');
  const rows = page.locator('main table', { hasText: 'Failing checks' }).locator('tbody tr');
  const all = await rows.count();
  if (all < 5) fail(`the scorecard lists ${all} entities`);
  // Filter by the level of the first entity through the form: every row listed has that level.
  const level = ((await rows.first().locator('td').nth(2).textContent()) ?? '').trim();
  await page.locator('form.search select[name=level]').selectOption(level === 'unranked' ? 'none' : level);
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/level=/);
  await check('scorecard-by-level');
  const levels = await page.locator('main table', { hasText: 'Failing checks' }).locator('tbody tr td:nth-child(3)').allTextContents();
  if (!levels.length || levels.some((l) => l.trim() !== level)) fail(`filtered by ${level}, listed: ${levels.join(', ')}`);
  const csvHref = await page.getByRole('link', { name: 'Download as CSV' }).getAttribute('href');
  if (!csvHref?.includes('format=csv') || !csvHref.includes('level=')) fail(`the CSV link: ${csvHref}`);
  const csv = await fetch(new URL(csvHref, base));
  const text = await csv.text();
  if (csv.status !== 200 || !text.startsWith('entityRef,owner,level,score,failing') || text.trim().split('\n').length !== levels.length + 1) {
    fail(`the CSV (${csv.status}) for ${levels.length} rows: ${text.slice(0, 200)}`);
  }
  // An entity's page lists the scorecards that judge it (the demo's and this one), each a link
  // to the scorecard's page.
  await go('/catalog/component/default/checkout-service', 'entity-scorecards');
  const judged = page.locator('main table', { hasText: 'Failing checks' });
  for (const title of ['UI readiness', 'Production readiness']) await expectText(judged, title, 'the scorecards on the entity page');
  const back = await judged.getByRole('link', { name: 'UI readiness', exact: true }).getAttribute('href');
  if (back !== '/scorecards/default/ui-readiness') fail(`the entity page's scorecard link: ${back}`);
  const score = ((await judged.locator('tbody tr', { hasText: 'UI readiness' }).locator('td').nth(2).textContent()) ?? '').trim();
  if (!/^\d{1,3} %$/.test(score)) fail(`the score as a percentage: ${score}`);
  // The campaign from the list: its numbers, verdict in words, burn-up chart and laggards.
  await page.goto(new URL('/scorecards', base).href);
  await page.getByRole('link', { name: 'Every component in a product', exact: true }).click();
  await page.waitForLoadState('load');
  await check('campaign');
  if (new URL(page.url()).pathname !== '/campaigns/default/ui-in-a-product') fail(`the campaign's link: ${page.url()}`);
  const tiles = (await page.locator('main .tiles').textContent()) ?? '';
  if (!/on track|at risk|off track/.test(tiles)) fail(`no verdict in words: ${tiles}`);
  if (!tiles.includes('In scope') || !tiles.includes('Done')) fail(`the campaign's numbers: ${tiles}`);
  if ((await page.locator('main svg.chart polyline').count()) !== 2) fail('the burn-up chart has not its two lines (done, ideal)');
  if ((await page.locator('main svg.chart polyline.s0').getAttribute('points'))?.split(' ').length !== 2) fail('the burn-up chart has not the two recorded days');
  const lagging = page.locator('main table', { hasText: 'Not done' }).locator('tbody tr');
  if ((await lagging.count()) < 1) fail('no laggard, though not every component is in a product');
  else {
    const left = (await lagging.locator('td:nth-child(2)').allTextContents()).map((t) => Number(t.replace(/,/g, '')));
    if (left.some((n, i) => i > 0 && n > left[i - 1])) fail(`laggards are not most first: ${left.join(', ')}`);
  }
}

/** Records a status update through an item's form and sees it on the item. */
async function recordUpdate(itemId, health, progress, note) {
  const row = page.locator(`table.roadmap tr#item-${itemId}`);
  await row.locator('details.update summary').click();
  await row.locator('select[name=health]').selectOption(health);
  await row.locator('input[name=progress]').fill(String(progress));
  await row.locator('textarea[name=note]').fill(note);
  await row.getByRole('button', { name: 'Record the update' }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('main .notice'), itemId, 'the notice of the recorded update');
  const after = page.locator(`table.roadmap tr#item-${itemId}`);
  await expectText(after, note, 'the recorded update on its item');
  await expectText(after, health.replace('-', ' '), 'the recorded health on its item');
  await expectText(after, `${progress} %`, 'the recorded progress on its item');
}

/** The delivery office: the portfolio, a product's roadmap with a late need, an update recorded
 * through the form, a platform's demand with its conflict, and the value reports. */
async function deliveryJourneys() {
  await go('/delivery', 'delivery');
  const checkout = page.locator('main table.portfolio tbody tr').filter({ has: page.getByRole('link', { name: 'Checkout', exact: true }) });
  if ((await checkout.count()) !== 1) fail('no Checkout row in the portfolio');
  await expectText(checkout, 'of 3', 'the KPIs on track of checkout');
  await expectText(checkout, 'at risk', 'the dependencies at risk of checkout');
  await expectText(checkout, 'One-click checkout', 'the next item of checkout');
  await expectText(page.locator('main table.totals'), 'KPIs on track', 'the totals');
  const payments = page.locator('main table.portfolio tbody tr').filter({ has: page.getByRole('link', { name: 'Payments platform', exact: true }) });
  await expectText(payments, 'overdue', 'the overdue item of payments');
  await checkout.getByRole('link', { name: 'Checkout', exact: true }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).pathname !== '/products/default/checkout') fail(`the portfolio's link leads to ${page.url()}`);
  await check('product-roadmap');
  // The roadmap: items on a time line, the late need and the item answering it.
  const timeline = page.locator('svg.timeline');
  if ((await timeline.count()) === 0) fail('no time line on the product page');
  await expectText(timeline, 'late by', 'the late need on the time line');
  if ((await timeline.locator('polygon.item').count()) < 4) fail('the time line does not draw every item of checkout');
  const oneClick = page.locator('table.roadmap tr#item-one-click-checkout');
  await expectText(oneClick, 'One-click checkout', 'the item');
  await expectText(oneClick.locator('.state-late'), 'late', 'the late need, in words');
  await oneClick.getByRole('link', { name: 'Wallet tokenisation for one-click payments' }).click();
  await page.waitForLoadState('load');
  const u = new URL(page.url());
  if (u.pathname !== '/platforms/default/payments' || u.hash !== '#item-wallet-tokens') fail(`the answering item's link leads to ${page.url()}`);
  await check('platform-roadmap');
  await expectText(page.locator('table.roadmap tr#item-fraud-v3'), 'overdue', 'the overdue item, in words');
  // An update recorded through the form of an item in progress appears on it.
  await recordUpdate('payments-v2', 'at-risk', 45, `Browser journey ${Date.now()}: idempotent captures in staging.`);
  await check('update-recorded');
  const history = await (await fetch(new URL('/api/portal/roadmap/platform/default/payments/payments-v2/updates', base))).json();
  if (history.updates?.[0]?.health !== 'at-risk' || history.updates?.[0]?.progress !== 45) fail(`the API does not answer the update: ${JSON.stringify(history.updates?.[0])}`);
  // A platform's demand: what other plans need from identity, and the conflict on passkeys.
  await go('/platforms/default/identity', 'platform-demand');
  const demand = page.locator('table.demand tbody tr');
  if ((await demand.count()) < 2) fail(`identity's demand lists ${await demand.count()} needs`);
  await expectText(page.locator('table.demand'), 'Mobile app', 'a need of mobile-app in the demand');
  await expectText(page.locator('table.demand'), 'Store configurator', 'a need of store-configurator in the demand');
  await expectText(page.locator('ul.conflicts'), 'Passkeys for every sign-in', 'the conflict on passkeys');
  await expectText(page.locator('ul.conflicts'), 'conflict', 'the conflict, in words');
  // The value reports: pick a stored period, its tables, the history chart, the CSV download.
  await page.locator('header nav').getByRole('link', { name: 'Reports', exact: true }).click();
  await page.waitForLoadState('load');
  const stored = await page.locator('select[name=period] option', { hasText: 'stored' }).first().getAttribute('value');
  if (!stored) fail('the period picker offers no stored period');
  await page.locator('select[name=period]').selectOption(stored);
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).searchParams.get('period') !== stored) fail(`the picker did not ask for ${stored}: ${page.url()}`);
  await check('reports');
  await expectText(page.locator('main'), 'Stored at the end of', 'a stored period says so');
  const products = page.locator('#products + .wide table tbody tr');
  if ((await products.count()) < 3) fail(`the report's products table has ${await products.count()} rows`);
  await expectText(page.locator('#products + .wide table'), 'checkout', 'checkout in the report');
  const chart = page.locator('svg.chart');
  if ((await chart.count()) !== 1) fail('no history chart');
  else if (!(await chart.locator('rect').evaluateAll((rs) => rs.some((r) => Number(r.getAttribute('height')) > 0)))) fail('the history chart is empty');
  const csvHref = await page.getByRole('link', { name: /as CSV/ }).getAttribute('href');
  if (!csvHref?.includes(`period=${stored}`) || !csvHref.includes('format=csv')) fail(`the CSV link: ${csvHref}`);
  const csv = await fetch(new URL(csvHref, base));
  const type = csv.headers.get('content-type') ?? '';
  const text = await csv.text();
  if (csv.status !== 200 || !type.startsWith('text/csv')) fail(`the CSV download answers ${csv.status} ${type}`);
  if (!text.startsWith('period,section,ref') || !text.includes(`${stored},product,product:default/checkout`)) fail(`the CSV: ${text.slice(0, 200)}`);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms) => new Date(ms).toISOString();
const sha = (n) => n.toString(16).padStart(40, '0');

async function postEvents(path, events) {
  const res = await fetch(new URL(path, base), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events),
  });
  const answer = await res.json();
  if (res.status !== 200 || answer.rejected?.length || answer.accepted !== events.length) {
    fail(`POST ${path}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
  }
}

/** Team health's events of two teams the demo sends none for, placed relative to today (UTC) so
 * that the keys are the same whatever the day:
 * - sales-tools-team (store-configurator-web, part of store-configurator): a production deployment
 *   at noon every day of the last 100 days but today, each shipping one change committed 4.5 hours
 *   before; last Sunday's failed: an incident names it as its cause (resolved 40 minutes after it)
 *   and a rollback follows it 30 minutes later. Last 30 days: 30 deployments on 29 days, 7 days
 *   a week (elite), lead time 4.5 h (elite), 1 of 30 failed: 3.3 % (elite), recovery the median of
 *   40 and 30 minutes: 35 min (elite).
 * - portal-team (portolan): two deployments 12 days ago, at noon and 14:00, each shipping a change
 *   committed 40 days before; an incident an hour after the second, naming no cause (linked by time
 *   to the second), resolved 8 days later. Lead time 40 days, 1 of 2 failed: 50 %, recovery
 *   193 h: 8 days (all low). */
function healthEvents() {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const monday = today - ((new Date(today).getUTCDay() + 6) % 7) * DAY;
  const web = 'component:default/store-configurator-web';
  const deployments = [];
  for (let day = today - 100 * DAY, n = 1; day < today; day += DAY, n += 1) {
    const finished = day + 12 * HOUR;
    deployments.push({
      id: `ui-elite-${n}`, entity: web, environment: 'production', status: 'success',
      startedAt: iso(finished - 5 * 60_000), finishedAt: iso(finished), commitSha: sha(n),
      changes: [{ sha: sha(n), committedAt: iso(finished - 4.5 * HOUR) }],
    });
  }
  const failedAt = monday - DAY + 12 * HOUR;
  const failed = deployments.find((d) => d.finishedAt === iso(failedAt)).id;
  deployments.push({
    id: 'ui-elite-rollback', entity: web, environment: 'production', status: 'success',
    finishedAt: iso(failedAt + 30 * 60_000), commitSha: sha(0xe111e), rollbackOf: failed,
  });
  const low = today - 12 * DAY;
  for (const [n, at] of [[1, low + 12 * HOUR], [2, low + 14 * HOUR]]) {
    deployments.push({
      id: `ui-low-${n}`, entity: 'component:default/portolan', environment: 'production', status: 'success',
      finishedAt: iso(at), commitSha: sha(0x10e0 + n), changes: [{ sha: sha(0x10e0 + n), committedAt: iso(at - 40 * DAY) }],
    });
  }
  const incidents = [
    { id: 'ui-elite-incident', entity: web, severity: 'sev2', title: 'Configurator quotes fail after a release',
      createdAt: iso(failedAt + 10 * 60_000), resolvedAt: iso(failedAt + 40 * 60_000), causedBy: failed },
    { id: 'ui-low-incident', entity: 'component:default/portolan', severity: 'sev3', title: 'Catalog search times out',
      createdAt: iso(low + 15 * HOUR), resolvedAt: iso(low + 8 * DAY + 15 * HOUR) },
  ];
  return { deployments, incidents, failed };
}

/** Sends the events of `healthEvents` (the `seed-health` mode, before `demo-traffic`). */
async function seedHealth() {
  const { deployments, incidents } = healthEvents();
  await postEvents('/api/deployments', deployments);
  await postEvents('/api/incidents', incidents);
}

async function expectExact(locator, text, what) {
  const t = ((await locator.first().textContent()) ?? '').trim().replace(/\s+/g, ' ');
  if (t !== text) fail(`${what}: expected "${text}", got "${t.slice(0, 200)}"`);
}

/** A tile of the team-health section: its value and band exactly. */
async function expectTile(key, value, band, what) {
  const tile = page.locator(`section.health .tile[data-key="${key}"]`);
  if ((await tile.count()) !== 1) { fail(`${what}: no ${key} tile`); return tile; }
  await expectExact(tile.locator('.value'), value, `${what}: the ${key} value`);
  if (band) await expectExact(tile.locator('.band'), `band: ${band}`, `${what}: the ${key} band`);
  return tile;
}

/** The elite team's section, on its product's page and on its team's page. */
async function expectEliteSection(failed, what) {
  const frequency = await expectTile('deployment-frequency', '7 days/week', 'elite', what);
  await expectText(frequency, '30 deployments on 29 days', `${what}: the deployments counted`);
  await expectText(frequency.locator('.trend'), 'steady: 7 days/week', `${what}: the frequency's trend`);
  const lead = await expectTile('lead-time', '4.5 h', 'elite', what);
  await expectText(lead.locator('.trend'), 'steady: 4.5 h', `${what}: the lead time's trend`);
  const cfr = await expectTile('change-failure-rate', '3.3 %', 'elite', what);
  await expectText(cfr, '1 of 30 deployments failed', `${what}: the failures counted`);
  await expectExact(cfr.locator('.trend'), '↑ up, worse: 6.7 % in the last 2 full weeks, 0 % in the 2 before', `${what}: the failure rate's trend, arrow and words`);
  const recovery = await expectTile('recovery-time', '35 min', 'elite', what);
  await expectText(recovery, 'median of 1 incident and 1 rollback', `${what}: what recovery is measured on`);
  await expectText(recovery.locator('.trend'), 'no trend', `${what}: the recovery's trend`);
  // Deployments per week: partial weeks hollow and said to be partial.
  const chart = page.locator('section.health svg.chart');
  if ((await chart.count()) !== 1) fail(`${what}: no chart of deployments per week`);
  else {
    if ((await chart.locator('rect.partial').count()) < 1) fail(`${what}: no week drawn as partial`);
    if ((await chart.locator('rect:not(.partial)').evaluateAll((rs) => rs.filter((r) => Number(r.getAttribute('height')) > 0).length)) < 3) fail(`${what}: fewer than 3 full weeks drawn`);
  }
  await expectText(page.locator('section.health p.legend'), 'partial week', `${what}: the chart's legend`);
  // The failed deployment with its incident and rollback; the incident with its deployment.
  const row = page.locator(`table.deployments tr#deployment-${failed}`);
  if ((await row.count()) !== 1) { fail(`${what}: the failed deployment ${failed} is not listed`); return; }
  await expectText(row, 'failed', `${what}: the failed deployment, in words`);
  if ((await row.locator('a[href="#incident-ui-elite-incident"]').count()) !== 1) fail(`${what}: the failed deployment does not link its incident`);
  await expectText(row, 'rolled back by ui-elite-rollback', `${what}: the rollback of the failed deployment`);
  if ((await row.locator('a[href="#deployment-ui-elite-rollback"]').count()) !== 1) fail(`${what}: the rollback is not a link`);
  await expectText(page.locator('table.deployments tr#deployment-ui-elite-rollback'), `rolls back ${failed}`, `${what}: the rollback names what it rolls back`);
  if ((await page.locator('table.deployments tbody tr').count()) !== 10) fail(`${what}: the deployments table does not list the 10 newest`);
  await expectText(page.locator('table.deployments caption'), 'The 10 newest of 30 deployments', `${what}: how many deployments the table leaves out`);
  const incident = page.locator('table.incidents tr#incident-ui-elite-incident');
  await expectText(incident, 'named as cause', `${what}: how the incident is attributed`);
  await incident.locator(`a[href="#deployment-${failed}"]`).click();
  if (new URL(page.url()).hash !== `#deployment-${failed}`) fail(`${what}: the incident's deployment link leads to ${page.url()}`);
}

/** Team health: a product's and a team's section, the ranking of teams, its benchmark switch. */
async function healthJourneys() {
  const { failed } = healthEvents();
  await go('/products/default/store-configurator', 'product-health');
  await expectEliteSection(failed, 'store-configurator');
  // The low team's page: values without a trend, the incident linked by time.
  await go('/teams/default/portal-team', 'team-health-low');
  await expectTile('lead-time', '40 days', 'low', 'portal-team');
  await expectTile('change-failure-rate', '50 %', 'low', 'portal-team');
  await expectTile('recovery-time', '8 days', 'low', 'portal-team');
  await expectTile('deployment-frequency', '0 days/week', null, 'portal-team');
  await expectText(page.locator('main dl.owns'), 'component:default/portolan', 'what portal-team owns');
  const lowIncident = page.locator('table.incidents tr#incident-ui-low-incident');
  await expectText(lowIncident, 'linked by time', 'the incident naming no cause');
  if ((await lowIncident.locator('a[href="#deployment-ui-low-2"]').count()) !== 1) fail('the incident linked by time does not link ui-low-2');
  await expectText(page.locator('table.deployments tr#deployment-ui-low-2'), 'failed', 'the deployment the incident is attributed to');
  await expectText(page.locator('table.deployments tr#deployment-ui-low-1'), 'none linked', 'the deployment that did not fail');
  // The ranking: the elite team above the low one, each linking to its page.
  await page.goto(new URL('/', base).href);
  await page.locator('header nav').getByRole('link', { name: 'Health', exact: true }).click();
  await page.waitForLoadState('load');
  await check('health-ranking');
  const names = await page.locator('table.ranking tbody th[scope=row] a').allTextContents();
  const elite = names.indexOf('Sales tools team');
  const lowest = names.indexOf('Portal team');
  if (elite < 0 || lowest < 0) fail(`the ranking lists ${JSON.stringify(names)}`);
  else if (elite > lowest) fail(`the ranking puts Portal team (#${lowest + 1}) above Sales tools team (#${elite + 1})`);
  if (names.length < 4) fail(`the ranking lists only ${names.length} teams, the demo's included`);
  const eliteRow = page.locator('table.ranking tbody tr').nth(Math.max(elite, 0));
  await expectText(eliteRow, '7 days/week band: elite', 'the elite team\'s frequency over 90 days');
  await expectText(eliteRow, '4.5 h band: elite', 'the elite team\'s lead time with the 2023 bands');
  await expectExact(eliteRow.locator('td').last(), '0', 'the elite team\'s points');
  const lowRow = page.locator('table.ranking tbody tr').nth(Math.max(lowest, 0));
  await expectText(lowRow, '50 % band: low', 'the low team\'s failure rate');
  await expectExact(lowRow.locator('td').last(), '12', 'the low team\'s points');
  // The 2021 benchmark: 4.5 hours is no longer elite.
  await page.locator('select[name=benchmark]').selectOption('2021');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).searchParams.get('benchmark') !== '2021') fail(`the switch did not ask for 2021: ${page.url()}`);
  await check('health-ranking-2021');
  await expectText(page.locator('table.ranking caption'), 'State of DevOps 2021', 'the benchmark in use');
  const elite21 = page.locator('table.ranking tbody tr').filter({ has: page.getByRole('link', { name: 'Sales tools team', exact: true }) });
  await expectText(elite21, '4.5 h band: high', 'the elite team\'s lead time with the 2021 bands');
  // From the ranking to the team's page: the same keys as on its product's page.
  await elite21.getByRole('link', { name: 'Sales tools team', exact: true }).click();
  await page.waitForLoadState('load');
  if (new URL(page.url()).pathname !== '/teams/default/sales-tools-team') fail(`the ranking's link leads to ${page.url()}`);
  await check('team-health');
  await expectText(page.locator('main dl.owns'), 'product:default/store-configurator', 'what sales-tools-team owns');
  await expectEliteSection(failed, 'sales-tools-team');
}

/** Writes a line to the mock provider's stdin. */
function steer(line) {
  appendFileSync(process.env.OIDC_CONTROL, `${line}\n`);
}

async function signIn(email, login) {
  steer(`user ${email} ${login}`);
  await page.waitForTimeout(300);
  await page.goto(new URL('/', base).href);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
  await page.getByRole('link', { name: /Sign in with/ }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('header .who'), login, 'signed in');
}

async function oidcJourneys() {
  // Request a manual plan as one person (checkout-team owns checkout-web)...
  await signIn('grace.adeyemi@example.com', 'grace.adeyemi');
  await check('signed-in-home');
  await page.goto(new URL('/apis/default/availability-api', base).href);
  await page.locator('select[name=plan]').selectOption('high-volume');
  await page.locator('select[name=consumer]').selectOption('component:default/checkout-web');
  await page.locator('input[name=reason]').fill('peak season');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('main dl'), 'pending', 'the manual plan request');
  await check('request-pending');
  const subscriptionUrl = page.url();
  await page.goto(new URL('/approvals', base).href);
  if ((await page.getByRole('button', { name: 'Approve' }).count()) > 0) fail('the requester may approve');
  // Only a plan's owners record its updates: no form on another team's roadmap.
  await page.goto(new URL('/platforms/default/inventory', base).href);
  await page.locator('table.roadmap').waitFor();
  if ((await page.locator('table.roadmap details.update').count()) > 0) fail('the update form shows to someone who does not own the platform');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForLoadState('load');
  // ... and approve it as the platform's owner (inventory-team).
  await signIn('oliver.brennan@example.com', 'oliver.brennan');
  await page.goto(new URL('/approvals', base).href);
  await check('approvals');
  const row = page.locator('main table tbody tr', { hasText: 'component:default/checkout-web' }).filter({ hasText: 'high-volume' });
  await row.locator('input[name=reason]').fill('capacity reserved');
  await row.getByRole('button', { name: 'Approve' }).click();
  await page.waitForLoadState('load');
  await expectText(page.locator('main'), 'approved', 'the approval notice');
  await page.goto(subscriptionUrl);
  await expectText(page.locator('main dl'), 'active', 'the approved subscription');
  await check('approved');
  // The platform's owner records an update of its roadmap item.
  await page.goto(new URL('/platforms/default/inventory', base).href);
  await recordUpdate('store-stock-feed', 'on-track', 20, 'The feed runs in two pilot stores.');
  await check('owner-update');
}

try {
  if (mode === 'seed-health') await seedHealth();
  else if (mode === 'guest') await guestJourneys();
  else await oidcJourneys();
} catch (e) {
  fail(`journey stopped: ${e.stack ?? e}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(`${problems.length} problem(s):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`${mode}: every journey passed; ${shot} screenshots in ${shots}`);
