// portolan's browser tests: Debian's chromium driven by playwright-core.
//
//   node journeys.mjs guest <base-url>            (a guest-mode portal after `demo-traffic`)
//   node journeys.mjs oidc <base-url> <issuer>    (a portal signing in through oauth2-mock-server,
//                                                  whose stdin is the file named by OIDC_CONTROL)
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
  console.error('usage: node journeys.mjs guest|oidc <base-url> [issuer]');
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
page.on('requestfailed', (r) => fail(`request failed: ${r.url()} ${r.failure()?.errorText}`));
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
  for (const label of ['Catalog', 'Products', 'Platforms', 'APIs', 'Subscriptions', 'Approvals', 'Dashboard', 'Governance']) {
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
}

try {
  if (mode === 'guest') await guestJourneys();
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
