// Shared by every console page: the session, calls to the API's own routes, and DOM building that never parses data
// as HTML (textContent only), so a name or an error message cannot become markup.
//
// The session token lives in sessionStorage and goes out as `Authorization: Bearer`, exactly as any API client
// sends it: the browser never attaches it by itself, so another site cannot make a request with it (no CSRF), and it
// is gone when the tab closes. A script could read it, which is why the console's CSP runs only this origin's files.
const KEY = 'bp.session';

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(KEY, JSON.stringify({ token: s.token, user: s.user, tenant: s.tenant }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  location.assign('/console/signin');
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** One API call; the answer's JSON, or an ApiError carrying the API's own message (which says what to fix). */
export async function api(method, path, body) {
  const res = await send(method, path, body);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data?.error?.message ?? `${res.status} ${res.statusText}`);
  return data;
}

/** The raw response (a download), after the same checks. */
export async function send(method, path, body) {
  const headers = {};
  const s = session();
  if (s?.token) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && s?.token) {
    sessionStorage.removeItem(KEY);
    location.assign(`/console/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  return res;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

export function say(message, kind = 'info') {
  const status = document.getElementById('status');
  status.textContent = message;
  status.dataset.kind = kind;
}

/** Replaces a table's body: one row per item, one cell per column function (text or a node). */
export function fill(table, items, columns, empty = 'Nothing yet.') {
  const tbody = table.tBodies[0];
  tbody.replaceChildren(
    ...(items.length
      ? items.map((item) => el('tr', {}, ...columns.map((col) => el('td', {}, col(item) ?? ''))))
      : [el('tr', {}, el('td', { colspan: columns.length, text: empty }))]),
  );
}

/** A form's submit handler: no page load, its button disabled while the call runs, any error said aloud. */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    // The last outcome goes at once: the next message said is this submission's.
    say('');
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      await handler(Object.fromEntries(new FormData(form)), form);
    } catch (err) {
      say(err.message, 'error');
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export const param = (name) => new URLSearchParams(location.search).get(name);

export const fmt = {
  date: (iso) => (iso ? new Date(iso).toLocaleString() : '—'),
  bytes: (n) => {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  },
  seconds: (a, b) => (a && b ? `${((Date.parse(b) - Date.parse(a)) / 1000).toFixed(1)} s` : '—'),
};

/** A link to the run in the Temporal Web UI (the server puts the UI's namespace address in a meta tag). */
export function temporalLink(workflowId, runId, label = 'Temporal') {
  const base = document.querySelector('meta[name="temporal-ui"]').content;
  const href = `${base}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}/history`;
  return el('a', { href, target: '_blank', rel: 'noopener', text: label });
}

/** Options of a <select> from API items, keeping what was selected. */
export function options(select, items, label = (x) => x.name, keep = true) {
  const current = select.value;
  const fixed = [...select.querySelectorAll('option[value=""]')];
  select.replaceChildren(...fixed, ...items.map((x) => el('option', { value: x.id, text: label(x) })));
  if (keep && current) select.value = current;
}

/** Every page but sign-in and sign-up needs a session: without one, off to sign in. Then the page's own start. */
export async function page(start) {
  const open = document.body.dataset.open === '1';
  const s = session();
  if (!open && !s?.token) {
    location.assign(`/console/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  if (s?.user) document.getElementById('who').textContent = `${s.user.email} (${s.user.role}) · ${s.tenant.name}`;
  document.getElementById('sign-out')?.addEventListener('click', signOut);
  try {
    await start();
    document.body.dataset.ready = '1';
  } catch (err) {
    say(err.message, 'error');
  }
}
