// Strata's admin UI: a hash-routed page per view, built with DOM calls
// only. The server decides everything; the UI shows what it answers.
import { h, clear, field, setError, fmtTime, short, id } from './dom.js';
import { api, ApiError, getKey, setKey, subscribe, base } from './api.js';
// form.js and types.js are loaded by the pages that use them, so the
// first load (the sign-in form) parses only what it needs.

// root holds the view of the current page. Each page draws into the view
// it was started with, so a page still loading when the reader has moved
// on draws into a view no longer shown.
const root = document.getElementById('main');
let currentView = root;
const nav = document.getElementById('nav');
const status = document.getElementById('status');
let feedCtl = null;
const feed = []; // newest first, at most 200
const feedListeners = new Set();
let feedState = 'closed';

function say(msg, kind) {
  status.className = 'status ' + (kind || '');
  status.textContent = msg || '';
}

function problemText(e) {
  if (e instanceof ApiError) return `${e.problem.title || 'Error'} (${e.status}): ${e.problem.detail || ''}`.trim();
  return String(e && e.message ? e.message : e);
}

function errorBox(e) { return h('div', { class: 'error', role: 'alert', text: problemText(e) }); }

function title(text) {
  document.title = text + ' — Strata admin';
  return h('h1', { text, tabindex: '-1' });
}

function link(href, text, attrs) { return h('a', Object.assign({ href }, attrs || {}), text); }
const enc = encodeURIComponent;

// ---- routing

const routes = [
  [/^\/login$/, loginPage],
  [/^\/?$/, typesPage],
  [/^\/types$/, typesPage],
  [/^\/types\/new$/, () => typeEditPage(null)],
  [/^\/types\/([^/]+)\/edit$/, (m) => typeEditPage(m[1])],
  [/^\/t\/([^/]+)$/, (m) => tablePage(m[1])],
  [/^\/t\/([^/]+)\/new$/, (m) => resourcePage(m[1], null)],
  [/^\/t\/([^/]+)\/deleted$/, (m) => deletedPage(m[1])],
  [/^\/t\/([^/]+)\/([^/]+)\/history$/, (m) => historyPage(m[1], m[2])],
  [/^\/t\/([^/]+)\/([^/]+)$/, (m) => resourcePage(m[1], m[2])],
  [/^\/hooks$/, hooksPage],
  [/^\/keys$/, keysPage],
  [/^\/feed$/, feedPage],
];

let pageCleanup = null;
let afterSignIn = '';
async function route() {
  let path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  if (pageCleanup) { pageCleanup(); pageCleanup = null; }
  if (!getKey() && path !== '/login') {
    afterSignIn = path; // where the reader was going, once signed in
    history.replaceState(null, '', '#/login'); // no hashchange: drawn now
    path = '/login';
  }
  renderNav(path);
  say('');
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (m) {
      const view = h('div', { class: 'view' }, h('p', { class: 'muted', text: 'Loading…' }));
      currentView = view;
      root.replaceChildren(view);
      try {
        await fn(m.map((x) => x));
      } catch (e) {
        if (view !== currentView) return;
        if (e instanceof ApiError && e.status === 401) { signOut('Your key was refused: sign in again.'); return; }
        clear(view, title('Error'), errorBox(e));
      }
      if (view !== currentView) return;
      const h1 = view.querySelector('h1');
      if (h1 && document.activeElement === document.body) h1.focus({ preventScroll: true });
      if (!performance.getEntriesByName('strata:interactive').length) performance.mark('strata:interactive');
      return;
    }
  }
  currentView = h('div', { class: 'view' }, title('Not found'), h('p', { text: 'No page here. ' }, link('#/types', 'Types')));
  root.replaceChildren(currentView);
}

function renderNav(path) {
  if (!getKey()) { nav.replaceChildren(); return; }
  const item = (href, text) => h('li', {}, link(href, text, ('#' + path).startsWith(href) ? { 'aria-current': 'page' } : {}));
  clear(nav, h('ul', {},
    item('#/types', 'Types'), item('#/hooks', 'Hooks'), item('#/keys', 'API keys'), item('#/feed', 'Live feed'),
    h('li', {}, h('button', { type: 'button', class: 'linkish', text: 'Sign out', onclick: () => signOut('Signed out.') }))));
}

function signOut(msg) {
  setKey('');
  if (feedCtl) { feedCtl.abort(); feedCtl = null; }
  feed.length = 0;
  location.hash = '#/login';
  setTimeout(() => say(msg), 0);
}

// ---- sign in

async function loginPage() {
  const main = currentView;
  renderNav('');
  const key = h('input', { type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const f = field('API key', key, 'An admin key (STRATA_ADMIN_KEY) or a key from /api/keys. It is kept in this tab only.');
  const form = h('form', { class: 'card narrow' },
    f, h('button', { type: 'submit', text: 'Sign in' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setError(f, '');
    setKey(key.value.trim());
    try {
      await api('GET', '/api/types');
      startFeed();
      location.hash = '#' + (afterSignIn && afterSignIn !== '/' ? afterSignIn : '/types');
      afterSignIn = '';
    } catch (e) {
      setKey('');
      setError(f, e instanceof ApiError && e.status === 401 ? 'This key is not accepted: ' + (e.problem.detail || '') : problemText(e));
      key.focus();
    }
  });
  clear(main, title('Sign in'), form);
  key.focus();
}

// ---- types

let typesCache = null;
async function loadTypes(fresh) {
  if (!typesCache || fresh) typesCache = (await api('GET', '/api/types')).items || [];
  return typesCache;
}

async function typesPage() {
  const main = currentView;
  const types = await loadTypes(true);
  const rows = types.map((t) => h('tr', {},
    h('th', { scope: 'row' }, link('#/t/' + enc(t.name), t.name)),
    h('td', { text: Object.keys((t.schema && t.schema.properties) || {}).join(', ') }),
    h('td', { text: (t.search || []).join(', ') }),
    h('td', { text: (t.hooks || []).map((b) => `${b.stage}: ${b.module}`).join(', ') }),
    h('td', { text: String(t.schema_version || '') }),
    h('td', {}, link('#/types/' + enc(t.name) + '/edit', 'Edit', { 'aria-label': 'Edit type ' + t.name }))));
  clear(main, title('Types'),
    h('p', {}, link('#/types/new', 'New type', { class: 'button' })),
    types.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Type', 'Fields', 'Search', 'Hooks', 'Schema version', ''].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows)))
      : h('p', { class: 'muted', text: 'No types yet. Define one to start.' }));
}

async function typeEditPage(name) {
  const main = currentView;
  const [types, hooks, { typeEditor }] = await Promise.all([loadTypes(true), api('GET', '/api/hooks').catch(() => ({ items: [] })), import('./types.js')]);
  let def = null;
  if (name) def = await api('GET', '/api/types/' + enc(name));
  const ed = typeEditor(def, types.map((t) => t.name), (hooks.items || []).map((m) => m.name));
  const save = h('button', { type: 'submit', text: name ? 'Save type' : 'Create type' });
  const form = h('form', { class: 'type-form' }, ed.el, h('div', { class: 'actions' }, save,
    name ? h('button', { type: 'button', class: 'danger', text: 'Drop type', onclick: () => dropType(name) }) : null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ed.clearErrors();
    let body;
    try { body = ed.value(); } catch (e) { ed.showErrors([], e.message); return; }
    try {
      await (name ? api('PUT', '/api/types/' + enc(name), { body }) : api('POST', '/api/types', { body }));
      typesCache = null;
      location.hash = '#/t/' + enc(body.name);
      setTimeout(() => say(`Type ${body.name} saved.`, 'ok'), 0);
    } catch (e) {
      ed.showErrors(e.fieldErrors || [], problemText(e));
    }
  });
  clear(main, title(name ? 'Type ' + name : 'New type'), form);
}

async function dropType(name) {
  if (!confirm(`Drop the type ${name} and all its resources?`)) return;
  try {
    await api('DELETE', '/api/types/' + enc(name));
    typesCache = null;
    location.hash = '#/types';
  } catch (e) { say(problemText(e), 'bad'); }
}

// ---- table

function scalarColumns(t) {
  const props = (t.schema && t.schema.properties) || {};
  return Object.entries(props).filter(([, s]) => {
    const ty = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
    return ty !== 'object' && ty !== 'array';
  }).map(([k]) => k);
}

const tableState = new Map(); // type -> {filter, q, sort, limit, cols}

async function tablePage(typeName) {
  const main = currentView;
  const t = await api('GET', '/api/types/' + enc(typeName));
  const allCols = ['id', ...Object.keys((t.schema && t.schema.properties) || {}), 'updated_at', 'revision'];
  // The server sorts by top-level scalars and meta fields only.
  const sortableCols = new Set(['id', 'updated_at', ...scalarColumns(t)]);
  const st = tableState.get(typeName) || { filter: '', q: '', sort: '', limit: 50, cols: ['id', ...scalarColumns(t).slice(0, 6), 'updated_at'] };
  tableState.set(typeName, st);
  let cursors = [''];

  const filter = h('input', { type: 'search', class: 'mono', value: st.filter, placeholder: 'status = "open" && views > 10', spellcheck: 'false' });
  const filterF = field('Filter', filter);
  const q = h('input', { type: 'search', value: st.q, placeholder: (t.search || []).length ? 'words in ' + t.search.join(', ') : 'this type has no full-text fields' });
  const qF = field('Full-text search', q);
  if (!(t.search || []).length) q.disabled = true;
  const limit = h('select', {}, [20, 50, 100, 1000].map((n) => h('option', { value: String(n), text: String(n), selected: n === st.limit })));
  const limitF = field('Rows per page', limit);
  const picker = h('details', { class: 'col-picker' }, h('summary', { text: 'Columns' }),
    h('div', { class: 'checks' }, allCols.map((c) => {
      const cb = h('input', { type: 'checkbox', id: id('col'), checked: st.cols.includes(c) });
      cb.addEventListener('change', () => {
        st.cols = allCols.filter((x) => (x === c ? cb.checked : st.cols.includes(x)));
        render(lastPage);
      });
      return h('label', { class: 'check' }, cb, ' ' + c);
    })));
  picker.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && picker.open) { picker.open = false; picker.querySelector('summary').focus(); }
  });
  const form = h('form', { class: 'toolbar', role: 'search' }, filterF, qF, limitF,
    h('div', { class: 'toolbar-buttons' }, h('button', { type: 'submit', text: 'Apply' }), picker));
  const tableBox = h('div', { class: 'table-wrap' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const info = h('p', { class: 'muted', role: 'status' });
  let lastPage = null;

  function sortState(col) {
    const key = col === 'updated_at' ? 'updated_at' : col;
    if (st.sort === key) return 'ascending';
    if (st.sort === '-' + key) return 'descending';
    return 'none';
  }

  function render(page) {
    lastPage = page;
    performance.mark('strata:table-render-start');
    const cols = st.cols;
    const head = h('tr', {}, cols.map((c) => {
      const sortable = sortableCols.has(c);
      const s = sortState(c);
      return h('th', { scope: 'col', 'aria-sort': sortable ? s : null }, sortable
        ? h('button', { type: 'button', class: 'sort', text: c + (s === 'ascending' ? ' ▲' : s === 'descending' ? ' ▼' : ''),
          onclick: () => { st.sort = s === 'ascending' ? '-' + c : s === 'descending' ? '' : c; load(0); } })
        : c);
    }));
    const body = document.createElement('tbody');
    const frag = document.createDocumentFragment();
    for (const r of page.items) {
      const tr = document.createElement('tr');
      for (const c of cols) {
        const td = document.createElement('td');
        if (c === 'id') {
          const a = document.createElement('a');
          a.href = '#/t/' + enc(typeName) + '/' + enc(r.id);
          a.textContent = r.id;
          td.appendChild(a);
        } else if (c === 'updated_at') td.textContent = fmtTime(r.meta && r.meta.updated_at);
        else if (c === 'revision') td.textContent = String(r.meta ? r.meta.current_revision : '');
        else td.textContent = short(r.data ? r.data[c] : undefined);
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    body.appendChild(frag);
    clear(tableBox, h('table', { class: 'data' }, h('thead', {}, head), body));
    performance.mark('strata:table-render-end');
    performance.measure('strata:table-render', 'strata:table-render-start', 'strata:table-render-end');
    if (performance.getEntriesByName('strata:table-load-start').length) {
      performance.measure('strata:table-load', 'strata:table-load-start', 'strata:table-render-end');
      performance.clearMarks('strata:table-load-start');
    }
    tableBox.dataset.rows = String(page.items.length);
  }

  async function load(i) {
    st.filter = filter.value.trim(); st.q = q.value.trim(); st.limit = Number(limit.value);
    setError(filterF, ''); setError(qF, '');
    if (i === 0) cursors = [''];
    performance.mark('strata:table-load-start');
    try {
      const page = await api('GET', '/api/' + enc(typeName), { query: {
        filter: st.filter, q: st.q, sort: st.sort, limit: st.limit, cursor: cursors[i], total: 'true' } });
      render(page);
      if (page.next_cursor) cursors[i + 1] = page.next_cursor;
      clear(pager,
        h('button', { type: 'button', class: 'secondary', text: '« First', disabled: i === 0, onclick: () => load(0) }),
        h('button', { type: 'button', class: 'secondary', text: '‹ Previous', disabled: i === 0, onclick: () => load(i - 1) }),
        h('span', { text: ` Page ${i + 1} ` }),
        h('button', { type: 'button', class: 'secondary', text: 'Next ›', disabled: !page.next_cursor, onclick: () => load(i + 1) }));
      info.textContent = `${page.total ?? page.items.length} matching · showing ${page.items.length}`;
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        // The server's message names the position of the error.
        const d = e.problem.detail || e.message;
        if (/^q\b|full-text|search/i.test(d) && !/filter/i.test(d)) setError(qF, d);
        else if (/sort/i.test(d) && !/filter/i.test(d)) say(d, 'bad');
        else showFilterError(filterF, filter.value, d);
        (/filter/i.test(d) ? filter : q).focus();
      } else throw e;
    }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(0); });

  clear(main, title(typeName),
    h('p', { class: 'actions' }, link('#/t/' + enc(typeName) + '/new', 'New ' + typeName, { class: 'button' }),
      link('#/t/' + enc(typeName) + '/deleted', 'Deleted items', { class: 'button secondary' }),
      link('#/types/' + enc(typeName) + '/edit', 'Edit type', { class: 'button secondary' })),
    form, info, tableBox, pager);
  await load(0);
}

// showFilterError puts the server's message under the filter input, with
// a caret under the position it names.
function showFilterError(f, text, detail) {
  setError(f, detail);
  const m = /position (\d+)/.exec(detail);
  if (m) {
    // The server counts bytes of UTF-8; the caret counts characters.
    const bytes = Number(m[1]);
    let pos = 0;
    for (let n = 0; pos < text.length && n < bytes; pos++) n += new TextEncoder().encode(text[pos]).length;
    f.error.appendChild(h('pre', { class: 'caret mono', 'aria-hidden': 'true', text: `${text}\n${' '.repeat(pos)}^` }));
  }
}

// ---- one resource

async function resourcePage(typeName, rid) {
  const main = currentView;
  const [t, { buildForm, nameOf }] = await Promise.all([api('GET', '/api/types/' + enc(typeName)), import('./form.js')]);
  let res = rid ? await api('GET', `/api/${enc(typeName)}/${enc(rid)}`) : null;
  const idIn = h('input', { type: 'text', placeholder: 'leave empty for a generated id', autocomplete: 'off' });
  const idF = rid ? null : field('Id (optional)', idIn);
  const form = buildForm(t, res ? res.data : undefined);
  const meta = h('div', { class: 'meta' });
  const showMeta = () => {
    if (!res) return;
    clear(meta, h('dl', {},
      h('dt', { text: 'Id' }), h('dd', { class: 'mono', text: res.id }),
      h('dt', { text: 'Type' }), h('dd', { text: typeName }),
      h('dt', { text: 'Revision' }), h('dd', { text: `${res.meta.current_revision} of ${res.meta.revision_count}` }),
      h('dt', { text: 'Updated' }), h('dd', { text: `${fmtTime(res.meta.updated_at)} by ${res.meta.updated_by || '—'}` }),
      h('dt', { text: 'Created' }), h('dd', { text: `${fmtTime(res.meta.created_at)} by ${res.meta.created_by || '—'}` })));
  };
  showMeta();
  const save = h('button', { type: 'submit', text: rid ? 'Save' : 'Create' });
  const el = h('form', { class: 'resource-form', novalidate: true }, idF, form.el, h('div', { class: 'actions' }, save,
    rid ? link(`#/t/${enc(typeName)}/${enc(rid)}/history`, 'History', { class: 'button secondary' }) : null,
    rid ? h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: del }) : null));
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    form.clearErrors();
    if (idF) setError(idF, '');
    const data = form.value();
    try {
      if (rid) {
        res = await api('PUT', `/api/${enc(typeName)}/${enc(rid)}`, { body: data, headers: { 'If-Match': `"${rid}:${res.meta.current_revision}"` } });
        showMeta();
        say(`Saved: revision ${res.meta.current_revision}.`, 'ok');
      } else {
        const body = idIn.value.trim() ? Object.assign({ id: idIn.value.trim() }, data) : data;
        const created = await api('POST', '/api/' + enc(typeName), { body });
        location.hash = `#/t/${enc(typeName)}/${enc(created.id)}`;
        setTimeout(() => say(`Created ${created.id}.`, 'ok'), 0);
      }
    } catch (e) {
      if (e instanceof ApiError && (e.status === 422 || e.status === 409)) form.showErrors(e.fieldErrors, e.problem.detail);
      else if (e instanceof ApiError && e.status === 400 && idF && /id/i.test(e.problem.detail || '')) setError(idF, e.problem.detail);
      else form.showErrors([], problemText(e));
    }
  });
  async function del() {
    if (!confirm(`Delete ${rid}? It can be restored from Deleted items.`)) return;
    try {
      await api('DELETE', `/api/${enc(typeName)}/${enc(rid)}`);
      location.hash = '#/t/' + enc(typeName);
      setTimeout(() => say(`Deleted ${rid}.`, 'ok'), 0);
    } catch (e) { say(problemText(e), 'bad'); }
  }
  clear(main, title(rid ? `${typeName}: ${nameOf(res)}` : 'New ' + typeName),
    h('p', {}, link('#/t/' + enc(typeName), '← ' + typeName)), meta, el);
}

// ---- history: timeline, diff, switch

async function historyPage(typeName, rid) {
  const main = currentView;
  const path = `/api/${enc(typeName)}/${enc(rid)}`;
  let res = await api('GET', path);
  const revs = [];
  let next = null;
  const list = h('ol', { class: 'timeline' });
  const more = h('button', { type: 'button', class: 'secondary', text: 'Older revisions' });
  const fromSel = h('select', {});
  const toSel = h('select', {});
  const diffBox = h('div', { class: 'diff', 'aria-live': 'polite' });

  async function fetchRevs() {
    const page = await api('GET', path + '/revisions', { query: { cursor: next, limit: 50 } });
    revs.push(...(page.items || []));
    next = page.next_cursor;
    more.hidden = !next;
    renderRevs();
  }
  function renderRevs() {
    list.replaceChildren(...revs.map((r) => {
      const current = r.number === res.meta.current_revision;
      return h('li', { class: current ? 'current' : '' },
        h('div', {}, h('strong', { text: `Revision ${r.number}` }), current ? h('span', { class: 'badge', text: 'current' }) : null,
          ` ${r.action || ''} · ${fmtTime(r.created_at)} · ${r.created_by || '—'}`, r.parent ? ` · parent ${r.parent}` : ''),
        current ? null : h('button', { type: 'button', class: 'secondary small', text: 'Switch to this revision',
          'aria-label': `Switch to revision ${r.number}`, onclick: () => switchTo(r.number) }));
    }));
    const opts = (sel, pick) => {
      const cur = sel.value;
      sel.replaceChildren(...revs.slice().sort((a, b) => a.number - b.number).map((r) => h('option', { value: String(r.number), text: `Revision ${r.number}` })));
      sel.value = cur || String(pick);
    };
    const nums = revs.map((r) => r.number);
    opts(fromSel, Math.max(1, Math.min(...nums)));
    opts(toSel, Math.max(...nums));
  }
  async function switchTo(n) {
    try {
      res = await api('POST', `${path}/switch/${n}`);
      say(`Switched to revision ${n}.`, 'ok');
      renderRevs();
    } catch (e) { say(problemText(e), 'bad'); }
  }
  async function showDiff(ev) {
    ev.preventDefault();
    const a = fromSel.value; const b = toSel.value;
    try {
      const [patch, ra, rb] = await Promise.all([
        api('GET', path + '/diff', { query: { from: a, to: b } }),
        api('GET', `${path}/revisions/${a}`), api('GET', `${path}/revisions/${b}`)]);
      const ops = Array.isArray(patch) ? patch : (patch.patch || patch.operations || []);
      const changed = new Set(ops.map((o) => o.path.split('/')[1]).filter(Boolean));
      const side = (r, label) => h('section', { class: 'side' }, h('h3', { text: label }),
        h('pre', { class: 'mono' }, jsonLines(r.data, changed)));
      clear(diffBox,
        h('h2', { text: `Revision ${a} → ${b}` }),
        ops.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'ops' },
          h('thead', {}, h('tr', {}, ['Op', 'Path', `In ${a}`, `In ${b}`].map((c) => h('th', { scope: 'col', text: c })))),
          h('tbody', {}, ops.map((o) => h('tr', { class: 'op-' + o.op },
            h('td', { text: o.op }), h('td', { class: 'mono', text: o.path }),
            h('td', { class: 'mono', text: short(pointer(ra.data, o.path), 200) }),
            h('td', { class: 'mono', text: o.op === 'remove' ? '' : short(o.value, 200) }))))))
          : h('p', { text: 'The two revisions hold the same data.' }),
        h('div', { class: 'side-by-side' }, side(ra, `Revision ${a}`), side(rb, `Revision ${b}`)));
    } catch (e) { clear(diffBox, errorBox(e)); }
  }
  more.addEventListener('click', fetchRevs);
  const diffForm = h('form', { class: 'toolbar' }, field('From', fromSel), field('To', toSel),
    h('div', { class: 'toolbar-buttons' }, h('button', { type: 'submit', text: 'Compare' })));
  diffForm.addEventListener('submit', showDiff);
  clear(main, title(`History of ${rid}`),
    h('p', {}, link(`#/t/${enc(typeName)}/${enc(rid)}`, `← ${typeName} ${rid}`)),
    h('div', { class: 'history' }, h('section', {}, h('h2', { text: 'Timeline' }), list, more),
      h('section', {}, h('h2', { text: 'Compare two revisions' }), diffForm)),
    diffBox);
  await fetchRevs();
}

function pointer(doc, p) {
  let v = doc;
  for (const part of p.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

// jsonLines renders data as indented JSON, the top-level keys in changed
// marked.
function jsonLines(data, changed) {
  const out = [h('span', { text: '{' })];
  const keys = Object.keys(data || {});
  keys.forEach((k, i) => {
    const text = `  ${JSON.stringify(k)}: ${JSON.stringify(data[k], null, 2).replace(/\n/g, '\n  ')}${i < keys.length - 1 ? ',' : ''}`;
    out.push(h('span', { class: changed.has(k) ? 'changed' : '', text }));
  });
  out.push(h('span', { text: '}' }));
  return out;
}

// ---- deleted items

async function deletedPage(typeName) {
  const main = currentView;
  const box = h('div', { class: 'table-wrap' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  async function load(cursor) {
    const page = await api('GET', '/api/' + enc(typeName), { query: { include_deleted: 'true', limit: 200, cursor } });
    const gone = (page.items || []).filter((r) => r.meta && r.meta.deleted);
    clear(box, gone.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Id', 'Data', 'Deleted', ''].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, gone.map((r) => h('tr', {},
        h('td', { class: 'mono', text: r.id }), h('td', { text: short(r.data, 100) }),
        h('td', { text: `${fmtTime(r.meta.updated_at)} by ${r.meta.updated_by || '—'}` }),
        h('td', {}, h('button', { type: 'button', class: 'secondary small', text: 'Restore', 'aria-label': 'Restore ' + r.id,
          onclick: async () => {
            try {
              await api('POST', `/api/${enc(typeName)}/${enc(r.id)}/restore`);
              say(`Restored ${r.id}.`, 'ok');
              load(cursor);
            } catch (e) { say(problemText(e), 'bad'); }
          } }))))))
      : h('p', { class: 'muted', text: 'No deleted items on this page.' }));
    clear(pager, page.next_cursor ? h('button', { type: 'button', class: 'secondary', text: 'Next ›', onclick: () => load(page.next_cursor) }) : null);
  }
  clear(main, title(`Deleted ${typeName}`), h('p', {}, link('#/t/' + enc(typeName), '← ' + typeName)), box, pager);
  await load('');
}

// ---- hooks

async function hooksPage() {
  const main = currentView;
  const [mods, types] = await Promise.all([api('GET', '/api/hooks'), loadTypes(true)]);
  const bound = {};
  for (const t of types) for (const b of t.hooks || []) (bound[b.module] ||= new Set()).add(`${t.name} (${b.stage})`);
  const num = (v) => (v === undefined || v === null ? '—' : String(v));
  const ms = (v) => (v === undefined || v === null ? '—' : `${v} ms`);
  const st = (m) => m.stats || {};
  const rows = (mods.items || []).map((m) => h('tr', {},
    h('th', { scope: 'row', text: m.name }),
    h('td', { class: 'mono', text: (m.sha256 || '').slice(0, 12) }),
    h('td', { text: m.size ? `${(m.size / 1024).toFixed(1)} KiB` : '' }),
    h('td', { text: fmtTime(m.registered_at) }),
    h('td', { text: [...(bound[m.name] || [])].join(', ') || '—' }),
    h('td', { text: num(st(m).calls) }), h('td', { text: num(st(m).failures) }),
    h('td', { text: ms(st(m).p50_ms) }), h('td', { text: ms(st(m).p99_ms) }),
    h('td', {}, h('button', { type: 'button', class: 'danger small', text: 'Remove', 'aria-label': 'Remove hook ' + m.name,
      onclick: () => removeHook(m.name, !!bound[m.name]) }))));
  const name = h('input', { type: 'text', required: true, pattern: '[a-z][a-z0-9_]*', autocomplete: 'off' });
  const nameF = field('Module name', name);
  const file = h('input', { type: 'file', accept: '.wasm,application/wasm', required: true });
  const fileF = field('WebAssembly module (.wasm)', file, 'Compiled and checked against the hook ABI before it is accepted.');
  const up = h('form', { class: 'card' }, h('h2', { text: 'Upload a module' }), nameF, fileF, h('button', { type: 'submit', text: 'Upload' }));
  file.addEventListener('change', () => {
    if (!name.value && file.files[0]) name.value = file.files[0].name.replace(/\.wasm$/, '').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  });
  up.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setError(nameF, ''); setError(fileF, '');
    if (!file.files[0]) { setError(fileF, 'Choose a .wasm file.'); file.focus(); return; }
    try {
      const buf = await file.files[0].arrayBuffer();
      await api('PUT', '/api/hooks/' + enc(name.value.trim()), { raw: buf, contentType: 'application/wasm' });
      say(`Module ${name.value} registered.`, 'ok');
      hooksPage();
    } catch (e) {
      const msg = problemText(e);
      if (e instanceof ApiError && /name/i.test(e.problem.detail || '') && !/module/i.test(e.problem.detail || '')) { setError(nameF, msg); name.focus(); } else { setError(fileF, msg); file.focus(); }
    }
  });
  clear(main, title('Hook modules'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Module', 'SHA-256', 'Size', 'Registered', 'Bound to', 'Calls', 'Failures', 'p50', 'p99', ''].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '10', class: 'muted', text: 'No modules registered.' }))))),
    h('p', { class: 'hint', text: 'Calls, failures (crashes, timeouts; not rejections) and the p50/p99 time of the last 1,024 calls, counted by this server since it started or since the module was registered.' }),
    up);
}

async function removeHook(name, isBound) {
  if (!confirm(isBound ? `Types bind ${name}: their writes will fail until they bind another. Remove it anyway?` : `Remove ${name}?`)) return;
  try {
    await api('DELETE', '/api/hooks/' + enc(name), { query: { force: isBound ? 'true' : '' } });
    hooksPage();
  } catch (e) { say(problemText(e), 'bad'); }
}

// ---- keys

async function keysPage() {
  const main = currentView;
  const keys = await api('GET', '/api/keys');
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const nameF = field('Name', name);
  const roles = h('input', { type: 'text', placeholder: 'editor, reader', autocomplete: 'off' });
  const rolesF = field('Roles (comma separated)', roles);
  const shown = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card' }, h('h2', { text: 'Create a key' }), nameF, rolesF, h('button', { type: 'submit', text: 'Create key' }), shown);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setError(nameF, '');
    try {
      const k = await api('POST', '/api/keys', { body: { name: name.value.trim(), roles: roles.value.split(',').map((s) => s.trim()).filter(Boolean) } });
      const tok = h('input', { type: 'text', readonly: true, class: 'mono', value: k.token });
      await keysPage();
      const copy = h('button', { type: 'button', class: 'secondary', text: 'Copy', onclick: () => { navigator.clipboard.writeText(k.token).then(() => say('Copied.', 'ok'), () => tok.select()); } });
      main.querySelector('form.card').appendChild(h('div', { class: 'token', role: 'status' },
        h('p', {}, h('strong', { text: `Key ${k.name} created.` }), ' Its token is shown this once: copy it now.'),
        field('Token', tok), copy));
      tok.focus(); tok.select();
    } catch (e) { setError(nameF, problemText(e)); name.focus(); }
  });
  const rows = (keys.items || []).map((k) => h('tr', {},
    h('th', { scope: 'row', text: k.name || '' }), h('td', { class: 'mono', text: k.id }),
    h('td', { text: (k.roles || []).join(', ') }), h('td', { text: `${fmtTime(k.created_at)}${k.created_by ? ' by ' + k.created_by : ''}` }),
    h('td', {}, h('button', { type: 'button', class: 'danger small', text: 'Revoke', 'aria-label': 'Revoke key ' + (k.name || k.id),
      onclick: async () => {
        if (!confirm(`Revoke ${k.name || k.id}? Clients using it are refused at once.`)) return;
        try { await api('DELETE', '/api/keys/' + enc(k.id)); keysPage(); } catch (e) { say(problemText(e), 'bad'); }
      } }))));
  clear(main, title('API keys'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Id', 'Roles', 'Created', ''].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '5', class: 'muted', text: 'No keys yet.' }))))),
    form);
}

// ---- live feed

// feedBackfill is how many of the latest changes the feed starts with.
const feedBackfill = 50;

// startFeed fills the feed with the latest changes from /api/changes and
// goes on from there with /api/events, with no gap and no duplicate.
async function startFeed() {
  if (feedCtl || !getKey()) return;
  feedCtl = new AbortController();
  const signal = feedCtl.signal;
  let from = '';
  try {
    const ready = await (await fetch(base + '/readyz', { signal })).json();
    const page = await api('GET', '/api/changes', { query: { since: Math.max(0, (ready.seq || 0) - feedBackfill), limit: feedBackfill }, signal });
    for (const c of page.items || []) feed.unshift({ id: String(c.seq), event: c.action, d: c });
    from = String(page.next_since ?? ready.seq ?? '');
  } catch { /* the stream starts from now */ }
  if (signal.aborted) return;
  for (const f of feedListeners) f();
  subscribe((ev) => {
    let d = null;
    try { d = JSON.parse(ev.data); } catch { d = { raw: ev.data }; }
    feed.unshift({ id: ev.id, event: ev.event, d });
    if (feed.length > 200) feed.length = 200;
    for (const f of feedListeners) f();
  }, (s) => { feedState = s; for (const f of feedListeners) f(); }, signal, from);
}

async function feedPage() {
  const main = currentView;
  startFeed();
  const state = h('p', { role: 'status', class: 'muted' });
  const list = h('ol', { class: 'feed', 'aria-live': 'polite' });
  const draw = () => {
    state.textContent = `Stream ${feedState}. The latest ${feed.length} change${feed.length === 1 ? '' : 's'}, newest first.`;
    list.replaceChildren(...feed.map((e) => {
      const d = e.d || {};
      const target = d.type && d.id ? link(`#/t/${enc(d.type)}/${enc(d.id)}`, `${d.type}/${d.id}`) : h('span', { text: d.type || '' });
      return h('li', {}, h('span', { class: 'seq mono', text: '#' + (e.id || d.seq || '') }), ' ',
        h('span', { class: 'badge', text: e.event }), ' ', target,
        d.revision ? ` · revision ${d.revision}` : '', d.by ? ` · ${d.by}` : '', d.at ? ` · ${fmtTime(d.at)}` : '');
    }));
  };
  feedListeners.add(draw);
  pageCleanup = () => feedListeners.delete(draw);
  clear(main, title('Live change feed'), state, list);
  draw();
}

// ---- start

window.addEventListener('hashchange', route);
// The skip link must not touch the fragment, which holds the route.
document.querySelector('a.skip').addEventListener('click', (ev) => { ev.preventDefault(); root.focus(); });
if (getKey()) startFeed();
route();
document.documentElement.dataset.ready = 'true';
export { base };
