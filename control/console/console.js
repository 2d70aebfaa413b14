// Airlock's web console: one page over the REST API (docs/operations.md, "The web console").
//
// Every value shown comes from the API, and much of it from sandboxes (hosts, paths, event text): it is
// only ever set as text (h() below), never parsed as HTML. The API key lives in sessionStorage, so it
// is gone when the tab closes. Secret values are write-only: typed into password fields, sent once, and
// the fields cleared; no response ever holds one.
import { cronInWords } from './cron_words.js';

const KEY = 'airlock.api_key';
const main = document.getElementById('main');
const alertBox = document.getElementById('alert');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');

// ---- API --------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, type, message) {
    super(`${status} ${type}: ${message}`);
    this.status = status;
  }
}

function authorization() {
  return { Authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}` };
}

async function failure(response) {
  const text = await response.text();
  let error = null;
  try {
    error = JSON.parse(text).error;
  } catch {
    // not the API's JSON: shown as received, shortened
  }
  const failed = new ApiError(response.status, error?.type ?? 'error', error?.message ?? text.slice(0, 300));
  if (response.status === 401) signOut(`Signed out: ${failed.message}`);
  return failed;
}

// A JSON request to the API; throws ApiError with the API's own words.
async function api(method, path, body) {
  const init = { method, headers: authorization() };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

async function apiText(path) {
  const response = await fetch(path, { headers: authorization() });
  if (!response.ok) throw await failure(response);
  return response.text();
}

// Reads a Server-Sent Events stream (EventSource cannot send the API key), calling onFrame(event, data)
// for each frame until the stream ends or `signal` aborts.
async function readEventStream(path, signal, onFrame) {
  const response = await fetch(path, { headers: authorization(), signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value.replaceAll('\r\n', '\n');
    let end;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const frame = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      onFrame(event, data.join('\n'));
    }
  }
}

// ---- DOM --------------------------------------------------------------------------------------------

// An element with attributes (on* become listeners) and children (strings become text nodes).
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function link(path, text) {
  return h('a', { href: `#/${path.map(encodeURIComponent).join('/')}` }, text);
}

function time(iso) {
  return iso ? h('time', { datetime: iso }, iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '—';
}

// An instant as the clock of `zone` shows it, then in UTC: "Mon, 7 Dec 2026, 09:00 (2026-12-07 08:00:00Z)".
function zonedTime(iso, zone) {
  let local;
  try {
    local = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit',
      minute: '2-digit', hourCycle: 'h23',
    }).format(new Date(iso));
  } catch {
    return time(iso);  // a zone this browser does not know
  }
  return h('time', { datetime: iso }, `${local} (${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})`);
}

// A table of rows; columns are [label, row => cell content].
function table(caption, columns, rows, empty = 'None yet.') {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'scroll' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row) ?? '—')))))));
}

// A definition list of [term, content] pairs.
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([term, content]) => [h('dt', {}, term), h('dd', {}, content ?? '—')]));
}

function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

function showError(error) {
  alertBox.replaceChildren(h('p', {}, error.message ?? String(error)));
}

function notice(text) {
  alertBox.replaceChildren(h('p', { class: 'ok' }, text));
}

// A button that runs an API action, shows its error as the API words it, then re-renders the page.
function action(label, run, { confirm: question, kind } = {}) {
  return h('button', {
    type: 'button',
    class: kind,
    onclick: async (event) => {
      if (question && !window.confirm(question)) return;
      event.target.disabled = true;
      try {
        await run();
        await render();
      } catch (error) {
        showError(error);
        event.target.disabled = false;
      }
    },
  }, label);
}

// A form whose submit runs `submit(form)`; errors are shown, secret fields are always cleared.
function form(label, fields, submit) {
  const element = h('form', {
    'aria-label': label,
    onsubmit: async (event) => {
      event.preventDefault();
      const button = element.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await submit(element);
      } catch (error) {
        showError(error);
      } finally {
        for (const secret of element.querySelectorAll('input[type=password]')) secret.value = '';
        button.disabled = false;
      }
    },
  }, fields, h('button', { type: 'submit' }, label));
  return element;
}

function field(label, input) {
  return h('label', {}, h('span', {}, label), input);
}

function input(name, attributes = {}) {
  return h('input', { name, autocomplete: 'off', spellcheck: 'false', ...attributes });
}

function value(formElement, name) {
  return formElement.elements[name].value.trim();
}

function words(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

// ---- Pages ------------------------------------------------------------------------------------------

// Every item of a list route, up to `max`; `more` is true when the API had more.
async function listAll(path, max = 500) {
  const items = [];
  let page = null;
  const separator = path.includes('?') ? '&' : '?';
  do {
    const query = page ? `${separator}limit=100&page=${encodeURIComponent(page)}` : `${separator}limit=100`;
    const answer = await api('GET', path + query);
    items.push(...answer.data);
    page = answer.next_page;
  } while (page && items.length < max);
  return { items, more: Boolean(page) };
}

function countOf(list) {
  return `${list.items.length}${list.more ? '+' : ''}`;
}

// The samples of one metric family in Prometheus text: [{labels, value}].
function samples(text, family) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(family)) continue;
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== family) continue;
    const labels = {};
    for (const [, name, text] of (match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[name] = text;
    out.push({ labels, value: Number(match[3]) });
  }
  return out;
}

function egressRows(caption, rows, { withSession = false } = {}) {
  const columns = [
    ['Time', (r) => time(r.created_at)],
    ['Request', (r) => h('code', {}, `${r.method} ${r.host}:${r.port}${r.path}`)],
    ['Status', (r) => String(r.status)],
    ['Decision', (r) => h('span', { class: `decision ${r.decision}` }, r.decision)],
    ['Reason', (r) => r.reason ?? '—'],
    ['Credentials', (r) => r.credentials.map((c) => `${c.secret_name ?? c.credential_id} (${c.location})`).join(', ') || '—'],
  ];
  if (withSession) columns.splice(1, 0, ['Session', (r) => link(['sessions', r.session_id], r.session_id)]);
  return table(caption, columns, rows, 'No requests recorded.');
}

async function overviewPage() {
  const [health, metrics, vaults, agents, environments, deployments, refusals] = await Promise.all([
    fetch('/healthz').then(async (r) => `${r.status} ${(await r.json()).status ?? ''}`.trim(), (e) => e.message),
    apiText('/metrics'),
    // One page each: past 100 the overview says "100+" rather than paging through everything to count.
    listAll('/v1/vaults', 100), listAll('/v1/agents', 100), listAll('/v1/environments', 100),
    listAll('/v1/deployments', 100),
    api('GET', '/v1/airlock/refusals?limit=20'),
  ]);
  const byStatus = samples(metrics, 'airlock_sessions');
  const requests = samples(metrics, 'airlock_proxy_requests_total');
  const decided = (decision) => requests.filter((s) => s.labels.decision === decision).reduce((a, s) => a + s.value, 0);
  const one = (family) => samples(metrics, family)[0]?.value ?? 0;
  return [
    h('h1', { tabindex: '-1' }, 'Overview'),
    facts([
      ['Health', health],
      ['Vaults', link(['vaults'], countOf(vaults))],
      ['Agents', link(['agents'], countOf(agents))],
      ['Environments', link(['environments'], countOf(environments))],
      ['Deployments', link(['deployments'], countOf(deployments))],
      ['Sessions', byStatus.map((s) => `${s.labels.status} ${s.value}`).join(' · ') || '0'],
      ['Sandboxes running', String(one('airlock_sandboxes_running'))],
      ['Proxy requests', `${decided('allowed')} allowed · ${decided('denied')} denied · ${decided('error')} failed`],
      ['Audit rows dropped', String(one('airlock_audit_rows_dropped_total'))],
    ]),
    h('h2', {}, 'Recent refusals'),
    h('p', { class: 'hint' }, `Denied and failed requests among the newest ${refusals.window.toLocaleString('en')} exchanges of every session.`),
    egressRows('Recent refusals, newest first', refusals.data, { withSession: true }),
  ];
}

async function vaultsPage() {
  const vaults = await listAll('/v1/vaults?include_archived=true');
  return [
    h('h1', { tabindex: '-1' }, 'Vaults'),
    table('Vaults', [
      ['Name', (v) => link(['vaults', v.id], v.display_name)],
      ['ID', (v) => h('code', {}, v.id)],
      ['Created', (v) => time(v.created_at)],
      ['Archived', (v) => time(v.archived_at)],
    ], vaults.items),
    h('h2', {}, 'New vault'),
    form('Create vault', [field('Name', input('display_name', { required: true, maxlength: 255 }))], async (f) => {
      const vault = await api('POST', '/v1/vaults', { display_name: value(f, 'display_name') });
      location.hash = `#/vaults/${encodeURIComponent(vault.id)}`;
    }),
  ];
}

// The auth object of a new credential from the form; the secret goes in only here.
function credentialAuth(f) {
  const type = value(f, 'type');
  const secret = f.elements.secret.value;
  if (type === 'static_bearer') return { type, mcp_server_url: value(f, 'mcp_server_url'), token: secret };
  // Fail closed: any host only when asked for; no host at all is the API's error to word.
  return {
    type,
    secret_name: value(f, 'secret_name'),
    secret_value: secret,
    networking: f.elements.unrestricted.checked ? { type: 'unrestricted' }
      : { type: 'limited', allowed_hosts: words(value(f, 'allowed_hosts')) },
  };
}

function rotateForm(vaultId, credential) {
  const type = credential.auth.type;
  if (type !== 'environment_variable' && type !== 'static_bearer') return null;
  return form('Rotate', [field(`New secret for ${credential.display_name ?? credential.id}`,
    input('secret', { type: 'password', required: true, autocomplete: 'new-password' }))], async (f) => {
    const secret = f.elements.secret.value;
    const auth = type === 'static_bearer' ? { type, token: secret } : { type, secret_value: secret };
    await api('POST', `/v1/vaults/${encodeURIComponent(vaultId)}/credentials/${encodeURIComponent(credential.id)}`, { auth });
    notice(`Rotated ${credential.display_name ?? credential.id}.`);
  });
}

async function vaultPage(id) {
  const path = `/v1/vaults/${encodeURIComponent(id)}`;
  const [vault, credentials] = await Promise.all([api('GET', path), listAll(`${path}/credentials?include_archived=true`)]);
  const typeSelect = h('select', { name: 'type' },
    h('option', { value: 'environment_variable' }, 'Environment variable (placeholder swapped by the proxy)'),
    h('option', { value: 'static_bearer' }, 'MCP server bearer token'));
  return [
    h('h1', { tabindex: '-1' }, `Vault ${vault.display_name}`),
    facts([['ID', h('code', {}, vault.id)], ['Created', time(vault.created_at)], ['Archived', time(vault.archived_at)],
      ['Metadata', Object.keys(vault.metadata ?? {}).length ? json(vault.metadata) : null]]),
    vault.archived_at ? null : h('p', { class: 'actions' },
      action('Archive vault', () => api('POST', `${path}/archive`), { confirm: `Archive vault ${vault.display_name}? Its credentials stop working.`, kind: 'danger' })),
    h('h2', {}, 'Credentials'),
    table('Credentials', [
      ['Name', (c) => c.display_name ?? '—'],
      ['Type', (c) => c.auth.type],
      ['Secret name or server', (c) => h('code', {}, c.auth.secret_name ?? c.auth.mcp_server_url ?? '—')],
      ['Hosts', (c) => (c.auth.networking?.type === 'limited' ? c.auth.networking.allowed_hosts.join(', ') : c.auth.networking?.type)],
      ['Created', (c) => time(c.created_at)],
      ['Archived', (c) => time(c.archived_at)],
      ['', (c) => (c.archived_at || vault.archived_at ? null : [rotateForm(vault.id, c),
        action('Archive', () => api('POST', `${path}/credentials/${encodeURIComponent(c.id)}/archive`),
          { confirm: `Archive credential ${c.display_name ?? c.id}?`, kind: 'danger' })])],
    ], credentials.items),
    vault.archived_at ? null : [
      h('h2', {}, 'New credential'),
      h('p', { class: 'hint' }, 'The secret is sent once and never shown again; sandboxes see only a placeholder.'),
      form('Add credential', [
        field('Type', typeSelect),
        field('Name', input('display_name', { maxlength: 255 })),
        field('Secret name (environment variable)', input('secret_name', { placeholder: 'EXAMPLE_API_KEY' })),
        field('Allowed hosts (space-separated)', input('allowed_hosts', { placeholder: 'api.example.com' })),
        h('label', { class: 'check' }, input('unrestricted', { type: 'checkbox' }), h('span', {}, 'Any host (unrestricted)')),
        field('MCP server URL (bearer token)', input('mcp_server_url', { type: 'url', placeholder: 'https://mcp.example.com/mcp' })),
        field('Secret', input('secret', { type: 'password', required: true, autocomplete: 'new-password' })),
      ], async (f) => {
        const body = { auth: credentialAuth(f) };
        if (value(f, 'display_name')) body.display_name = value(f, 'display_name');
        await api('POST', `${path}/credentials`, body);
        notice('Credential added.');
        await render();
      }),
    ],
  ];
}

async function agentsPage() {
  const agents = await listAll('/v1/agents?include_archived=true');
  return [
    h('h1', { tabindex: '-1' }, 'Agents'),
    table('Agents', [
      ['Name', (a) => link(['agents', a.id], a.name)],
      ['Model', (a) => a.model?.id],
      ['Version', (a) => String(a.version)],
      ['Created', (a) => time(a.created_at)],
      ['Archived', (a) => time(a.archived_at)],
    ], agents.items),
  ];
}

async function agentPage(id) {
  const agent = await api('GET', `/v1/agents/${encodeURIComponent(id)}`);
  return [
    h('h1', { tabindex: '-1' }, `Agent ${agent.name}`),
    facts([['ID', h('code', {}, agent.id)], ['Model', agent.model?.id], ['Version', String(agent.version)],
      ['Description', agent.description], ['Created', time(agent.created_at)], ['Archived', time(agent.archived_at)]]),
    h('h2', {}, 'System prompt'),
    agent.system ? h('pre', { class: 'text' }, agent.system) : h('p', { class: 'empty' }, 'None.'),
    h('h2', {}, 'Definition'),
    json(agent),
  ];
}

async function environmentsPage() {
  const environments = await listAll('/v1/environments?include_archived=true');
  return [
    h('h1', { tabindex: '-1' }, 'Environments'),
    table('Environments', [
      ['Name', (e) => link(['environments', e.id], e.name)],
      ['Networking', (e) => e.config?.networking?.type],
      ['Created', (e) => time(e.created_at)],
      ['Archived', (e) => time(e.archived_at)],
    ], environments.items),
  ];
}

async function environmentPage(id) {
  const environment = await api('GET', `/v1/environments/${encodeURIComponent(id)}`);
  return [
    h('h1', { tabindex: '-1' }, `Environment ${environment.name}`),
    facts([['ID', h('code', {}, environment.id)], ['Networking', environment.config?.networking?.type],
      ['Created', time(environment.created_at)], ['Archived', time(environment.archived_at)]]),
    h('h2', {}, 'Definition'),
    json(environment),
  ];
}

async function sessionsPage() {
  const sessions = await listAll('/v1/sessions?include_archived=true&order=desc', 200);
  return [
    h('h1', { tabindex: '-1' }, 'Sessions'),
    table('Sessions, newest first', [
      ['Session', (s) => link(['sessions', s.id], s.title || s.id)],
      ['Status', (s) => h('span', { class: `status ${s.status}` }, s.status)],
      ['Agent', (s) => link(['agents', s.agent.id], s.agent.name ?? s.agent.id)],
      ['Environment', (s) => link(['environments', s.environment_id], s.environment_id)],
      ['Created', (s) => time(s.created_at)],
      ['Archived', (s) => time(s.archived_at)],
    ], sessions.items),
  ];
}

// What an event says, in one line: its text blocks, else its other fields as JSON.
function eventSummary(event) {
  if (Array.isArray(event.content)) {
    const text = event.content.filter((b) => b.type === 'text').map((b) => b.text).join(' ');
    if (text) return text;
  }
  if (event.error) return `${event.error.type ?? 'error'}: ${event.error.message ?? ''}`;
  const { id, type, processed_at: processed, ...rest } = event;
  return Object.keys(rest).length ? JSON.stringify(rest) : '';
}

function eventRow(event) {
  return h('tr', { 'data-id': event.id },
    h('td', {}, time(event.processed_at)), h('td', {}, h('code', {}, event.type)), h('td', {}, eventSummary(event)));
}

// The session's events: the history, then each new one as the stream delivers it. The stream opens
// first (its ping says it is following), so nothing stored in between is missed; ids de-duplicate.
function liveEvents(sessionId, signal) {
  const body = h('tbody');
  const state = h('p', { class: 'hint', role: 'status' }, 'Connecting to the event stream…');
  const seen = new Set();
  const add = (event) => {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    body.append(eventRow(event));
  };
  const path = `/v1/sessions/${encodeURIComponent(sessionId)}/events`;
  let following = false;  // the history is in: stream events go straight to the table
  let opened = false;
  const early = [];       // stream events that came while the history loaded
  readEventStream(`${path}/stream`, signal, (name, data) => {
    if (name === 'ping') {
      if (opened) return;
      opened = true;
      listAll(path, 1000).then(({ items }) => {
        items.forEach(add);
        early.splice(0).forEach(add);
        following = true;
        state.textContent = 'Live: new events appear as they happen.';
      }, (error) => {
        state.textContent = `The events could not be listed: ${error.message}`;
      });
    } else if (name === 'session.deleted') {
      state.textContent = 'The session was deleted.';
    } else if (following) {
      add(JSON.parse(data));
    } else {
      early.push(JSON.parse(data));
    }
  }).then(() => {
    if (!signal.aborted) state.textContent = 'The event stream ended; reload the page to follow again.';
  }, (error) => {
    if (!signal.aborted) state.textContent = `The event stream failed: ${error.message}`;
  });
  return [state, h('div', { class: 'scroll' }, h('table', {},
    h('caption', {}, 'Events, oldest first'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Content'))),
    body))];
}

async function sessionPage(id, signal) {
  const path = `/v1/sessions/${encodeURIComponent(id)}`;
  const [session, runtime, egress] = await Promise.all([
    api('GET', path), api('GET', `${path}/runtime`), api('GET', `${path}/egress?limit=200`)]);
  return [
    h('h1', { tabindex: '-1' }, `Session ${session.title || session.id}`),
    facts([
      ['ID', h('code', {}, session.id)],
      ['Status', h('span', { class: `status ${session.status}` }, session.status)],
      ['Agent', link(['agents', session.agent.id], `${session.agent.name ?? session.agent.id} (version ${session.agent.version})`)],
      ['Environment', link(['environments', session.environment_id], session.environment_id)],
      ['Vaults', session.vault_ids?.length ? session.vault_ids.map((v) => [link(['vaults', v], v), ' ']) : null],
      ['Sandbox', runtime.runtime === 'none' ? 'none' : `${runtime.runtime}, ${runtime.state ?? 'not started'}${runtime.exit_code != null ? `, exit ${runtime.exit_code}` : ''}`],
      ['Created', time(session.created_at)],
      ['Archived', time(session.archived_at)],
    ]),
    session.archived_at ? null : h('p', { class: 'actions' },
      action('Archive session', () => api('POST', `${path}/archive`), { confirm: 'Archive this session? Its sandbox is stopped.', kind: 'danger' })),
    h('h2', {}, 'Events'),
    liveEvents(session.id, signal),
    session.archived_at ? null : form('Send message', [field('Message to the agent', h('textarea', { name: 'text', required: true, rows: 2 }))], async (f) => {
      await api('POST', `${path}/events`, { events: [{ type: 'user.message', content: [{ type: 'text', text: f.elements.text.value }] }] });
      f.reset();
    }),
    h('h2', {}, 'Egress'),
    h('p', { class: 'hint' }, egress.next_page ? 'The first 200 requests; the CLI lists them all: airlock sessions egress ID.' : 'Every request this session made through the proxy.'),
    egressRows('Egress, oldest first', egress.data),
  ];
}

function schedule(deployment) {
  const s = deployment.schedule ?? {};
  const words = cronInWords(s.expression ?? '');
  return words ? `${words} (${s.timezone})` : `${s.expression} (${s.timezone})`;
}

async function deploymentsPage() {
  const deployments = await listAll('/v1/deployments?include_archived=true');
  return [
    h('h1', { tabindex: '-1' }, 'Deployments'),
    table('Deployments', [
      ['Name', (d) => link(['deployments', d.id], d.name)],
      ['Status', (d) => (d.archived_at ? 'archived' : d.status)],
      ['Schedule', (d) => schedule(d)],
      ['Cron', (d) => h('code', {}, d.schedule?.expression)],
      ['Next run', (d) => time(d.schedule?.upcoming_runs_at?.[0])],
      ['Last run', (d) => time(d.schedule?.last_run_at)],
    ], deployments.items),
  ];
}

async function deploymentPage(id) {
  const path = `/v1/deployments/${encodeURIComponent(id)}`;
  const [deployment, runs] = await Promise.all([
    api('GET', path), api('GET', `/v1/deployment_runs?deployment_id=${encodeURIComponent(id)}&limit=50`)]);
  const archived = Boolean(deployment.archived_at);
  const paused = deployment.status === 'paused';
  return [
    h('h1', { tabindex: '-1' }, `Deployment ${deployment.name}`),
    facts([
      ['ID', h('code', {}, deployment.id)],
      ['Status', archived ? 'archived' : paused ? `paused (${deployment.paused_reason?.type ?? 'manual'}${deployment.paused_reason?.error ? `: ${deployment.paused_reason.error.type}` : ''})` : deployment.status],
      ['Schedule', schedule(deployment)],
      ['Cron', h('code', {}, deployment.schedule?.expression)],
      ['Time zone', deployment.schedule?.timezone],
      ['Agent', deployment.agent ? link(['agents', deployment.agent.id], deployment.agent.id) : null],
      ['Environment', deployment.environment_id ? link(['environments', deployment.environment_id], deployment.environment_id) : null],
      ['Last run', time(deployment.schedule?.last_run_at)],
    ]),
    archived ? null : h('p', { class: 'actions' },
      action('Run now', async () => {
        const run = await api('POST', `${path}/run`, {});
        notice(run.error ? `Run ${run.id} failed: ${run.error.type}: ${run.error.message}` : `Run ${run.id} started session ${run.session_id}.`);
      }),
      paused ? action('Unpause', () => api('POST', `${path}/unpause`, {})) : action('Pause', () => api('POST', `${path}/pause`, {})),
      action('Archive', () => api('POST', `${path}/archive`, {}), { confirm: `Archive deployment ${deployment.name}? It never fires again.`, kind: 'danger' })),
    h('h2', {}, 'Next fire times'),
    deployment.schedule?.upcoming_runs_at?.length
      ? h('ol', { class: 'upcoming' },
        deployment.schedule.upcoming_runs_at.map((at) => h('li', {}, zonedTime(at, deployment.schedule.timezone))))
      : h('p', { class: 'empty' }, 'None: the deployment is archived.'),
    h('h2', {}, 'Runs'),
    table('Runs, newest first', [
      ['Run', (r) => h('code', {}, r.id)],
      ['Created', (r) => time(r.created_at)],
      ['Trigger', (r) => r.trigger_context?.type],
      ['Scheduled for', (r) => time(r.trigger_context?.scheduled_at)],
      ['Session', (r) => (r.session_id ? link(['sessions', r.session_id], r.session_id) : null)],
      ['Error', (r) => (r.error ? `${r.error.type}: ${r.error.message}` : null)],
    ], runs.data, 'No runs yet.'),
  ];
}

// ---- Routing and sign-in --------------------------------------------------------------------------

const routes = {
  '': overviewPage,
  vaults: (id) => (id ? vaultPage(id) : vaultsPage()),
  agents: (id) => (id ? agentPage(id) : agentsPage()),
  environments: (id) => (id ? environmentPage(id) : environmentsPage()),
  sessions: (id, signal) => (id ? sessionPage(id, signal) : sessionsPage()),
  deployments: (id) => (id ? deploymentPage(id) : deploymentsPage()),
};

let rendering = 0;
let pageStreams = new AbortController();

async function render() {
  const turn = ++rendering;
  pageStreams.abort();
  pageStreams = new AbortController();
  if (!sessionStorage.getItem(KEY)) return signInPage();
  nav.hidden = false;
  signOutButton.hidden = false;
  const [section = '', id] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${section}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const page = routes[section];
  try {
    if (!page) throw new Error(`No page ${location.hash}; use the links above.`);
    const content = await page(id, pageStreams.signal);
    if (turn !== rendering) return;  // a later navigation won
    main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
  } catch (error) {
    if (turn !== rendering || !sessionStorage.getItem(KEY)) return;
    main.replaceChildren(h('h1', { tabindex: '-1' }, 'Error'), h('p', { class: 'error' }, error.message));
  }
  document.title = `${main.querySelector('h1')?.textContent ?? 'Airlock'} · Airlock`;
}

function signInPage(message) {
  nav.hidden = true;
  signOutButton.hidden = true;
  document.title = 'Sign in · Airlock';
  main.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Sign in'),
    h('p', {}, 'Enter an API key of this Airlock (api.keys, or the admin key in the data dir). It is kept in this tab only.'),
    message ? h('p', { class: 'error' }, message) : null,
    form('Sign in', [field('API key', input('key', { type: 'password', required: true, autocomplete: 'current-password' }))], async (f) => {
      sessionStorage.setItem(KEY, f.elements.key.value.trim());
      alertBox.replaceChildren();
      try {
        await api('GET', '/v1/vaults?limit=1');
      } catch (error) {
        if (error.status === 401) return;  // failure() signed out, with the API's words
        sessionStorage.removeItem(KEY);
        throw error;
      }
      await render();
    }));
  main.querySelector('input').focus();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  pageStreams.abort();
  signInPage(message);
}

signOutButton.addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', async () => {
  alertBox.replaceChildren();
  await render();
  main.querySelector('h1')?.focus();
});
render();
