// PageCursor through the SDK's auto-pagination (API.md §7.3): with more than two pages of vaults and of
// credentials, `for await` visits every item exactly once, newest first, in exactly the number of page
// requests the limit implies; include_archived widens the set; cursors stay valid when newer items are
// inserted between pages.
import assert from 'node:assert/strict';

import {
  assertNewestFirst, assertSameIds, collect, range, useDaemon,
} from './lib/harness.mjs';

const ctx = useDaemon();
const test = ctx.test;

const kVaults = 45;
const kCredentials = 47;

let vaults = [];

function listRequests(since, pathname) {
  return ctx.rec.since(since).filter((ex) => ex.method === 'GET' && new URL(ex.url).pathname === pathname);
}

test(`setup: ${kVaults} vaults`, async () => {
  for (const i of range(kVaults)) {
    vaults.push(await ctx.client.beta.vaults.create({ display_name: `vault ${String(i).padStart(2, '0')}` }));
  }
  assert.equal(new Set(vaults.map((v) => v.id)).size, kVaults);
});

test('for await over vaults.list({limit: 20}) visits each vault once, newest first, in 3 pages', async () => {
  const mark = ctx.rec.count;
  const seen = [];
  for await (const vault of ctx.client.beta.vaults.list({ limit: 20 })) seen.push(vault);
  assert.equal(seen.length, kVaults);
  assertSameIds(seen, vaults);
  assertNewestFirst(seen, 'vaults');
  for (const v of vaults) assert.deepEqual(seen.find((x) => x.id === v.id), v);

  const pages = listRequests(mark, '/v1/vaults');
  assert.equal(pages.length, 3, 'pages of 20, 20 and 5');
  const bodies = pages.map((p) => JSON.parse(p.text));
  assert.deepEqual(bodies.map((b) => b.data.length), [20, 20, 5]);
  assert.equal(typeof bodies[0].next_page, 'string');
  assert.ok(bodies[0].next_page.length > 0);
  assert.equal(typeof bodies[1].next_page, 'string');
  assert.notEqual(bodies[1].next_page, bodies[0].next_page);
  assert.equal(bodies[2].next_page, null);

  // The SDK re-sent the same query with page=<next_page>.
  const urls = pages.map((p) => new URL(p.url));
  assert.equal(urls[0].searchParams.get('limit'), '20');
  assert.equal(urls[0].searchParams.get('page'), null);
  assert.equal(urls[1].searchParams.get('page'), bodies[0].next_page);
  assert.equal(urls[2].searchParams.get('page'), bodies[1].next_page);
});

test('manual paging with getNextPage gives disjoint pages in the same order', async () => {
  const auto = await collect(ctx.client.beta.vaults.list({ limit: 20 }));
  let page = await ctx.client.beta.vaults.list({ limit: 20 });
  const manual = [...page.data];
  let pages = 1;
  while (page.hasNextPage()) {
    page = await page.getNextPage();
    manual.push(...page.data);
    pages += 1;
  }
  assert.equal(pages, 3);
  assert.deepEqual(manual.map((v) => v.id), auto.map((v) => v.id));
});

test('an exact multiple of the limit ends with next_page null after the last full page or an empty one', async () => {
  const mark = ctx.rec.count;
  const seen = await collect(ctx.client.beta.vaults.list({ limit: 15 }));
  assert.equal(seen.length, kVaults);
  assertSameIds(seen, vaults);
  const pages = listRequests(mark, '/v1/vaults').map((p) => JSON.parse(p.text));
  assert.ok(pages.length === 3 || pages.length === 4, `${pages.length} pages`);
  assert.equal(pages.at(-1).next_page, null);
  assert.deepEqual(pages.slice(0, 3).map((p) => p.data.length), [15, 15, 15]);
});

test('limit=100 returns everything in one page', async () => {
  const page = await ctx.client.beta.vaults.list({ limit: 100 });
  assert.equal(page.data.length, kVaults);
  assert.equal(page.hasNextPage(), false);
  assert.deepEqual(page.data.map((v) => v.id), (await collect(ctx.client.beta.vaults.list({ limit: 20 }))).map((v) => v.id));
});

test('a cursor stays valid when newer vaults are inserted between pages', async () => {
  const first = await ctx.client.beta.vaults.list({ limit: 20 });
  const newer = [];
  for (const i of range(3)) newer.push(await ctx.client.beta.vaults.create({ display_name: `newer ${i}` }));
  const rest = [];
  let page = first;
  while (page.hasNextPage()) {
    page = await page.getNextPage();
    rest.push(...page.data);
  }
  const walked = [...first.data, ...rest];
  assertSameIds(walked, vaults);
  assert.equal(new Set(walked.map((v) => v.id)).size, walked.length, 'no vault twice');
  assertNewestFirst(walked);
  vaults = [...vaults, ...newer];
});

test('archived vaults: skipped by default, visited once with include_archived', async () => {
  const toArchive = vaults.filter((_, i) => i % 9 === 4);
  assert.ok(toArchive.length >= 5);
  const archived = [];
  for (const v of toArchive) archived.push(await ctx.client.beta.vaults.archive(v.id));
  const active = await collect(ctx.client.beta.vaults.list({ limit: 20 }));
  assertSameIds(active, vaults.filter((v) => !toArchive.includes(v)));
  assertNewestFirst(active);
  const all = await collect(ctx.client.beta.vaults.list({ limit: 20, include_archived: true }));
  assertSameIds(all, vaults);
  assertNewestFirst(all);
  for (const a of archived) assert.deepEqual(all.find((x) => x.id === a.id), a);
});

test(`credentials: ${kCredentials} in one vault page in order, with and without archived ones`, async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'many credentials' });
  const creds = [];
  for (const i of range(kCredentials)) {
    creds.push(await ctx.client.beta.vaults.credentials.create(vault.id, {
      auth: {
        type: 'environment_variable',
        secret_name: `TOKEN_${i}`,
        secret_value: ctx.secret('page'),
        networking: { type: 'limited', allowed_hosts: [`h${i}.example.com`] },
      },
    }));
  }
  const path = `/v1/vaults/${vault.id}/credentials`;

  let mark = ctx.rec.count;
  const seen = [];
  for await (const c of ctx.client.beta.vaults.credentials.list(vault.id, { limit: 20 })) seen.push(c);
  assert.equal(seen.length, kCredentials);
  assertSameIds(seen, creds);
  assertNewestFirst(seen, 'credentials');
  for (const c of creds) assert.deepEqual(seen.find((x) => x.id === c.id), c);
  assert.equal(listRequests(mark, path).length, 3);

  const toArchive = creds.filter((_, i) => i % 4 === 1);
  for (const c of toArchive) await ctx.client.beta.vaults.credentials.archive(c.id, { vault_id: vault.id });

  const active = await collect(ctx.client.beta.vaults.credentials.list(vault.id, { limit: 20 }));
  assertSameIds(active, creds.filter((c) => !toArchive.includes(c)));
  assertNewestFirst(active);

  mark = ctx.rec.count;
  const all = [];
  for await (const c of ctx.client.beta.vaults.credentials.list(vault.id, { limit: 20, include_archived: true })) all.push(c);
  assert.equal(all.length, kCredentials);
  assertSameIds(all, creds);
  assertNewestFirst(all);
  assert.equal(listRequests(mark, path).length, 3);
  for (const c of all) assert.equal(c.archived_at === null, !toArchive.some((a) => a.id === c.id));
  for (const ex of listRequests(mark, path)) {
    assert.equal(new URL(ex.url).searchParams.get('include_archived'), 'true', 'the query is re-sent with each page');
  }
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});

test('no response and no daemon output contained a secret', () => {
  ctx.assertNoSecretsLeaked();
});
