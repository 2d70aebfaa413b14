// The web console (/console/, docs/operations.md) in a real browser: Debian's headless Chromium, driven
// by playwright-core, against the real daemon. It signs in, creates a vault and a credential and rotates
// it, follows a session's events live while the SDK sends one, reads the session's egress and the
// overview's refusals after real curl went through the proxy, and runs, pauses and unpauses a
// deployment whose next fire times it checks against the API. Every request the page made, every
// response it got, every page's text and the tab's storage are checked for the test's secrets: only the
// credential requests that send them may carry them. Screenshots go to console-screenshots/ next to
// the airlock binary (the build folder).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { useOrigin } from './lib/origin.mjs';
import { useDaemon } from './lib/harness.mjs';
import { curl } from './lib/curl.mjs';
import { waitUntil } from './lib/faults.mjs';

const chromiumPath = process.env.AIRLOCK_CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = fs.existsSync(chromiumPath) ? false
  : `no Chromium at ${chromiumPath} (scripts/setup installs Debian's chromium; AIRLOCK_CHROMIUM names another)`;
if (noBrowser) process.stdout.write(`# console: skipped: ${noBrowser}\n`);

const { certificates, origin } = await useOrigin(['console.test']);
const ctx = useDaemon({
  args: ['--upstream-ca', certificates.ca, '--resolve', 'console.test:127.0.0.1', '--allow-private', '127.0.0.1/32'],
});
const screenshots = path.join(path.dirname(process.env.AIRLOCK_BIN ?? 'build/airlock'), 'console-screenshots');

let browser;
let page;
const requests = [];   // {method, url, headers, body} of every request the page made
const responses = [];  // pending body texts of every response it received, event streams aside
const problems = [];   // page errors and console errors (a CSP violation is one)

before(async () => {
  if (noBrowser) return;
  const { chromium } = await import('playwright-core');
  // --no-sandbox: Chromium's own sandbox needs user namespaces the test machine may not give to root.
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused API requests are logged as failed loads; the tests look at what the page made of them.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('request', (request) => {
    requests.push({ method: request.method(), url: request.url(), headers: request.headers(), body: request.postData() ?? '' });
  });
  page.on('response', (response) => {
    if ((response.headers()['content-type'] ?? '').startsWith('text/event-stream')) return;
    responses.push(response.text().catch(() => ''));
  });
  fs.mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
});

const test = (name, fn) => ctx.test(name, fn, { skip: noBrowser });

async function shot(name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

// Every page the test looks at must be free of the secrets too.
const pageTexts = [];
async function look() {
  pageTexts.push(await page.content());
}

async function open(hash) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
  await page.locator('main h1').first().waitFor();
}

const originUrl = () => `https://console.test:${origin.port}`;
let secret;
let rotated;
let vaultId;

test('the console is served from the binary, with a strict content security policy', async () => {
  const redirect = await fetch(`${ctx.daemon.baseURL}/console`, { redirect: 'manual' });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get('location'), '/console/');
  const index = await fetch(`${ctx.daemon.baseURL}/console/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(index.headers.get('content-security-policy'),
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'");
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  const html = await index.text();
  assert.match(html, /<script type="module" src="console.js"><\/script>/);
  const script = await fetch(`${ctx.daemon.baseURL}/console/console.js`);
  assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const missing = await fetch(`${ctx.daemon.baseURL}/console/nothing.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.message, 'the console has no file /console/nothing.js; open /console/');
  const post = await fetch(`${ctx.daemon.baseURL}/console/`, { method: 'POST' });
  assert.equal(post.status, 405);
});

test('sign in: a wrong key is refused in the API\'s words, the right one opens the overview', async () => {
  await page.goto(`${ctx.daemon.baseURL}/console/`);
  await page.getByLabel('API key').fill('not-the-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed out: 401 authentication_error: invalid API key').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  await page.getByLabel('API key').fill(ctx.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('airlock.api_key')), ctx.apiKey);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  await look();
  await shot('01-overview-empty');
});

test('vaults: create one, add a credential, rotate its secret; the secret fields are cleared', async () => {
  secret = ctx.secret('sk-console');
  rotated = ctx.secret('sk-console-rotated');
  await page.getByRole('link', { name: 'Vaults' }).click();
  await page.getByRole('heading', { name: 'Vaults', level: 1 }).waitFor();
  await page.getByLabel('Name').fill('Console vault');
  await page.getByRole('button', { name: 'Create vault' }).click();
  await page.getByRole('heading', { name: 'Vault Console vault' }).waitFor();
  vaultId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  assert.match(vaultId, /^vlt_/);

  await page.getByLabel('Secret name (environment variable)').fill('CONSOLE_TOKEN');
  // No host and not "any host": the API refuses, in its words, and nothing is created.
  await page.getByLabel('Secret name (environment variable)').fill('CONSOLE_TOKEN');
  await page.getByLabel('Secret', { exact: true }).fill(secret);
  await page.getByRole('button', { name: 'Add credential' }).click();
  await page.getByRole('alert').getByText('400 invalid_request_error: auth.networking.allowed_hosts: list at least one host the ' +
    'secret may be sent to (limited networking)', { exact: true }).waitFor();
  assert.equal(await page.getByLabel('Secret', { exact: true }).inputValue(), '');
  assert.equal((await ctx.raw('GET', `/v1/vaults/${vaultId}/credentials`)).json.data.length, 0);

  await page.getByLabel('Allowed hosts (space-separated)').fill('console.test');
  await page.getByLabel('Name', { exact: true }).fill('Console token');
  await page.getByLabel('Secret', { exact: true }).fill(secret);
  await page.getByRole('button', { name: 'Add credential' }).click();
  await page.getByText('Credential added.').waitFor();
  const row = page.getByRole('row').filter({ hasText: 'CONSOLE_TOKEN' });
  await row.waitFor();
  assert.match(await row.innerText(), /Console token\s+environment_variable\s+CONSOLE_TOKEN\s+console\.test/);
  assert.equal(await page.getByLabel('Secret', { exact: true }).inputValue(), '');

  const credentials = (await ctx.raw('GET', `/v1/vaults/${vaultId}/credentials`)).json.data;
  assert.equal(credentials.length, 1);
  assert.deepEqual(credentials[0].auth.networking, { type: 'limited', allowed_hosts: ['console.test'] });

  await page.getByLabel('New secret for Console token').fill(rotated);
  await page.getByRole('button', { name: 'Rotate' }).click();
  await page.getByText('Rotated Console token.').waitFor();
  assert.equal(await page.getByLabel('New secret for Console token').inputValue(), '');
  const storage = await page.evaluate(() => JSON.stringify([{ ...sessionStorage }, { ...localStorage }]));
  assert.equal(storage, JSON.stringify([{ 'airlock.api_key': ctx.apiKey }, {}]));
  await look();
  await shot('02-vault');
});

let session;
let sandboxEnv;

test('a session: its events arrive live, and its egress shows what curl did through the proxy', async () => {
  const environment = await ctx.client.beta.environments.create({
    name: 'console', config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['console.test'] } },
  });
  const agent = await ctx.client.beta.agents.create({ name: 'console agent', model: 'claude-opus-5-5', system: 'Be brief.' });
  session = await ctx.client.beta.sessions.create({
    agent: agent.id, environment_id: environment.id, vault_ids: [vaultId], title: 'Console session',
  });
  sandboxEnv = (await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`)).json.env;
  const allowed = await curl(sandboxEnv, ['-H', `Authorization: Bearer ${sandboxEnv.CONSOLE_TOKEN}`, `${originUrl()}/v1/report`]);
  assert.equal(allowed.status, 200, allowed.stderr + allowed.body);
  const refused = await curl(sandboxEnv, ['https://elsewhere.test/']);
  assert.match(refused.stderr, /403/);
  await waitUntil(async () => (await ctx.raw('GET', `/v1/sessions/${session.id}/egress`)).json.data.length === 2,
    { what: 'two egress rows' });

  await page.getByRole('link', { name: 'Sessions' }).click();
  await page.getByRole('link', { name: 'Console session' }).click();
  await page.getByRole('heading', { name: 'Session Console session' }).waitFor();
  await page.getByText('Live: new events appear as they happen.').waitFor();

  await ctx.client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text: 'hello from the SDK' }] }],
  });
  const event = page.getByRole('row').filter({ hasText: 'hello from the SDK' });
  await event.waitFor({ timeout: 10_000 });
  assert.match(await event.innerText(), /user\.message\s+hello from the SDK/);

  // The page sends one too, and it comes back through the stream once.
  await page.getByLabel('Message to the agent').fill('hello from the console');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByRole('row').filter({ hasText: 'hello from the console' }).waitFor({ timeout: 10_000 });
  const stored = (await ctx.raw('GET', `/v1/sessions/${session.id}/events`)).json.data;
  assert.deepEqual(stored.map((e) => e.content[0].text), ['hello from the SDK', 'hello from the console']);
  assert.equal(await page.getByRole('row').filter({ hasText: /hello from the (SDK|console)/ }).count(), 2);

  const egress = page.getByRole('table', { name: 'Egress, oldest first' });
  const rows = egress.getByRole('row');
  assert.equal(await rows.count(), 3);  // the head and two requests
  assert.match(await rows.nth(1).innerText(), /GET console\.test:\d+\/v1\/report\s+200\s+allowed\s+—\s+CONSOLE_TOKEN \(header\)/);
  assert.match(await rows.nth(2).innerText(), /CONNECT elsewhere\.test:443\s+403\s+denied\s+host_not_allowed/);
  await look();
  await shot('03-session');

  await page.getByRole('link', { name: 'Overview' }).click();
  const refusals = page.getByRole('table', { name: 'Recent refusals, newest first' });
  await refusals.waitFor();
  assert.match(await refusals.getByRole('row').nth(1).innerText(),
    new RegExp(`${session.id}\\s+CONNECT elsewhere\\.test:443\\s+403\\s+denied\\s+host_not_allowed`));
  await look();
  await shot('04-overview');
});

test('a deployment: the schedule in words, the next five fire times, run now, pause and unpause', async () => {
  const deployment = await ctx.client.beta.deployments.create({
    agent: session.agent.id, environment_id: session.environment_id, name: 'Weekday digest',
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'write the digest' }] }],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'Europe/Berlin' },
  });
  await page.getByRole('link', { name: 'Deployments' }).click();
  await page.getByRole('link', { name: 'Weekday digest' }).click();
  await page.getByRole('heading', { name: 'Deployment Weekday digest' }).waitFor();
  const facts = await page.locator('dl.facts').innerText();
  assert.match(facts, /Schedule\s+at 09:00 on Monday to Friday \(Europe\/Berlin\)/);
  const upcoming = await page.locator('ol.upcoming time').evaluateAll((times) => times.map((t) => t.getAttribute('datetime')));
  assert.equal(upcoming.length, 5);
  assert.deepEqual(upcoming, deployment.schedule.upcoming_runs_at);
  // Shown on the deployment's own clock first: 09:00 in Berlin, whatever UTC says.
  const first = await page.locator('ol.upcoming li').first().innerText();
  assert.match(first, /^(Mon|Tue|Wed|Thu|Fri), \d{1,2} \w{3} \d{4}, 09:00 \(\d{4}-\d{2}-\d{2} 0[78]:00:00Z\)$/);

  await page.getByRole('button', { name: 'Run now' }).click();
  const started = page.getByText(/^Run \S+ started session \S+\.$/);
  await started.waitFor();
  const runs = (await ctx.client.beta.deploymentRuns.list({ deployment_id: deployment.id })).data;
  assert.equal(runs.length, 1);
  assert.equal(await started.innerText(), `Run ${runs[0].id} started session ${runs[0].session_id}.`);
  const runRow = page.getByRole('table', { name: 'Runs, newest first' }).getByRole('row').nth(1);
  await runRow.getByRole('link', { name: runs[0].session_id }).waitFor();
  assert.match(await runRow.innerText(), /manual/);

  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('button', { name: 'Unpause' }).waitFor();
  assert.equal((await ctx.client.beta.deployments.retrieve(deployment.id)).status, 'paused');
  await page.getByRole('button', { name: 'Unpause' }).click();
  await page.getByRole('button', { name: 'Pause' }).waitFor();
  assert.equal((await ctx.client.beta.deployments.retrieve(deployment.id)).status, 'active');
  await look();
  await shot('05-deployment');
});

test('agents and environments are listed and shown', async () => {
  await page.getByRole('link', { name: 'Agents' }).click();
  await page.getByRole('link', { name: 'console agent' }).click();
  await page.getByRole('heading', { name: 'Agent console agent' }).waitFor();
  assert.equal(await page.locator('pre.text').innerText(), 'Be brief.');
  await page.getByRole('link', { name: 'Environments' }).click();
  await page.getByRole('link', { name: 'console' }).click();
  await page.getByRole('heading', { name: 'Environment console' }).waitFor();
  assert.match(await page.locator('dl.facts').innerText(), /Networking\s+limited/);
  await look();
});

test('plain and accessible: labelled fields, captioned tables, keyboard navigation, a narrow window', async () => {
  await open('#/vaults/' + vaultId);
  const unlabelled = await page.locator('input, select, textarea').evaluateAll((fields) =>
    fields.filter((f) => !f.closest('label') && !f.labels?.length).map((f) => f.name));
  assert.deepEqual(unlabelled, []);
  const uncaptioned = await page.locator('table').evaluateAll((tables) => tables.filter((t) => !t.caption).length);
  assert.equal(uncaptioned, 0);

  // From the top of the page, Tab goes through the navigation and Enter follows it.
  await page.locator('a.brand').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Overview');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Vaults', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');

  await page.setViewportSize({ width: 360, height: 800 });
  await open(`#/sessions/${session.id}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'nothing but the tables scrolls sideways');
  await shot('06-session-narrow');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('an API error is shown as the API words it; signing out forgets the key', async () => {
  await open('#/sessions/sesn_nope');
  await page.getByText('404 not_found_error: ').waitFor();
  assert.match(await page.locator('main').innerText(), /404 not_found_error: session sesn_nope was not found/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

test('no page, request, response or storage held a secret, and the page met no error', async () => {
  const texts = await Promise.all(responses);
  assert.ok(texts.length > 20, `responses were recorded (${texts.length})`);
  const carriers = [];
  for (const value of [secret, rotated]) {
    for (const text of texts) assert.ok(!text.includes(value), 'a response held a secret');
    for (const html of pageTexts) assert.ok(!html.includes(value), 'a page held a secret');
    for (const request of requests) {
      assert.ok(!request.url.includes(value), 'a URL held a secret');
      assert.ok(!JSON.stringify(request.headers).includes(value), 'a header held a secret');
      if (request.body.includes(value)) carriers.push(`${request.method} ${new URL(request.url).pathname}`);
    }
  }
  const credential = (await ctx.raw('GET', `/v1/vaults/${vaultId}/credentials`)).json.data[0];
  assert.deepEqual(carriers, [
    `POST /v1/vaults/${vaultId}/credentials`,  // refused: no host
    `POST /v1/vaults/${vaultId}/credentials`,
    `POST /v1/vaults/${vaultId}/credentials/${credential.id}`,
  ]);
  // The recorder checks the daemon's output and data dir at the end; give it what the page sent.
  ctx.rec.sentSecrets.add(secret);
  ctx.rec.sentSecrets.add(rotated);
  assert.deepEqual(problems, []);
});
