// The type editor: a row per top-level field (type, required, enum,
// search, unique, reference), permissions, hook bindings, and the
// resulting definition as JSON, which can also be edited directly.
import { h, field, setError, clear, id } from './dom.js';

const KINDS = ['string', 'number', 'integer', 'boolean', 'date-time', 'array', 'object'];
const STAGES = ['validate', 'before_create', 'before_update', 'before_delete', 'after_create', 'after_update', 'after_delete'];
const ACTIONS = ['read', 'create', 'update', 'delete'];

function kindOf(s) {
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null');
  if (t === 'string' && s.format === 'date-time') return 'date-time';
  return KINDS.includes(t) ? t : 'string';
}

// typeEditor returns {el, value(), showErrors(errors, detail), clearErrors()}.
export function typeEditor(def, typeNames, hookNames) {
  def = def ? JSON.parse(JSON.stringify(def)) : { name: '', schema: { type: 'object', properties: {} } };
  const isNew = !def.name;
  const general = h('div', { class: 'form-errors', role: 'alert' });
  const name = h('input', { type: 'text', value: def.name, required: true, pattern: '[a-z][a-z0-9_]{0,62}', autocomplete: 'off', readonly: !isNew });
  const nameF = field('Type name', name, 'Lowercase: [a-z][a-z0-9_]{0,62}');
  const fieldsBody = h('tbody');
  const perms = {};
  const permEls = ACTIONS.map((a) => {
    const inp = h('input', { type: 'text', autocomplete: 'off', placeholder: 'admins only', value: ((def.permissions || {})[a] || []).join(', ') });
    perms[a] = inp;
    return field(a, inp);
  });
  const hooksBody = h('tbody');
  const json = h('textarea', { class: 'mono', rows: '16', spellcheck: 'false' });
  const jsonF = field('Definition (JSON)', json, 'Edit here for anything the form does not cover (nested schemas, formats, limits), then apply.');
  const rows = [];
  const hookRows = [];
  const dl = h('datalist', { id: id('hooks') }, hookNames.map((n) => h('option', { value: n })));

  function addField(fname, schema, opts) {
    const o = opts || {};
    const r = { raw: schema || { type: 'string' } };
    const cells = {
      name: h('input', { type: 'text', value: fname || '', 'aria-label': 'Field name', autocomplete: 'off', class: 'f-name' }),
      kind: h('select', { 'aria-label': 'Field type', class: 'f-kind' }, KINDS.map((k) => h('option', { value: k, text: k, selected: k === kindOf(r.raw) }))),
      required: h('input', { type: 'checkbox', 'aria-label': 'Required', checked: o.required, class: 'f-required' }),
      enumv: h('input', { type: 'text', 'aria-label': 'Allowed values (comma separated)', placeholder: 'any', value: Array.isArray(r.raw.enum) ? r.raw.enum.join(', ') : '', class: 'f-enum' }),
      search: h('input', { type: 'checkbox', 'aria-label': 'Full-text search', checked: o.search, class: 'f-search' }),
      unique: h('input', { type: 'checkbox', 'aria-label': 'Unique', checked: o.unique, class: 'f-unique' }),
      ref: h('select', { 'aria-label': 'References type', class: 'f-ref' }, h('option', { value: '', text: '—' }),
        typeNames.map((t) => h('option', { value: t, text: t, selected: o.ref && o.ref.type === t }))),
      onDelete: h('select', { 'aria-label': 'On delete of the referenced resource', class: 'f-ondelete' },
        ['restrict', 'set_null', 'cascade'].map((v) => h('option', { value: v, text: v, selected: o.ref && o.ref.on_delete === v }))),
    };
    if (o.ref && !typeNames.includes(o.ref.type)) cells.ref.appendChild(h('option', { value: o.ref.type, text: o.ref.type, selected: true }));
    const rm = h('button', { type: 'button', class: 'secondary small', text: 'Remove', 'aria-label': 'Remove field' });
    const cols = ['Name', 'Type', 'Required', 'Allowed values', 'Search', 'Unique', 'References', 'On delete'];
    const tr = h('tr', {}, Object.values(cells).map((c, i) => h('td', { 'data-label': cols[i] }, c)), h('td', {}, rm));
    r.cells = cells; r.tr = tr;
    rm.addEventListener('click', () => { rows.splice(rows.indexOf(r), 1); tr.remove(); sync(); });
    tr.addEventListener('input', sync);
    tr.addEventListener('change', sync);
    rows.push(r);
    fieldsBody.appendChild(tr);
    return r;
  }

  function addHook(b) {
    const r = {};
    r.stage = h('select', { 'aria-label': 'Stage' }, STAGES.map((s) => h('option', { value: s, text: s, selected: b && b.stage === s })));
    r.module = h('input', { type: 'text', 'aria-label': 'Module', list: dl.id, value: b ? b.module : '', autocomplete: 'off' });
    r.timeout = h('input', { type: 'number', min: '1', 'aria-label': 'Timeout (ms)', value: b && b.timeout_ms ? String(b.timeout_ms) : '' });
    r.memory = h('input', { type: 'number', min: '1', 'aria-label': 'Memory (MB)', value: b && b.memory_mb ? String(b.memory_mb) : '' });
    r.raw = b || {};
    const rm = h('button', { type: 'button', class: 'secondary small', text: 'Remove', 'aria-label': 'Remove hook binding' });
    const cols = ['Stage', 'Module', 'Timeout (ms)', 'Memory (MB)'];
    r.tr = h('tr', {}, [r.stage, r.module, r.timeout, r.memory].map((c, i) => h('td', { 'data-label': cols[i] }, c)), h('td', {}, rm));
    rm.addEventListener('click', () => { hookRows.splice(hookRows.indexOf(r), 1); r.tr.remove(); sync(); });
    r.tr.addEventListener('input', sync);
    r.tr.addEventListener('change', sync);
    hookRows.push(r);
    hooksBody.appendChild(r.tr);
  }

  function load(d) {
    def = d;
    name.value = d.name || '';
    rows.length = 0; fieldsBody.replaceChildren();
    hookRows.length = 0; hooksBody.replaceChildren();
    const props = (d.schema && d.schema.properties) || {};
    const req = new Set((d.schema && d.schema.required) || []);
    for (const [k, s] of Object.entries(props)) {
      addField(k, s, { required: req.has(k), search: (d.search || []).includes(k), unique: (d.unique || []).includes(k), ref: (d.references || {})[k] });
    }
    for (const b of d.hooks || []) addHook(b);
    for (const a of ACTIONS) perms[a].value = ((d.permissions || {})[a] || []).join(', ');
    json.value = JSON.stringify(d, null, 2);
  }

  // build is the definition the form describes; what it does not show
  // (retention, hidden, other schema keywords) is kept from def.
  function build() {
    const d = JSON.parse(JSON.stringify(def));
    d.name = name.value.trim();
    const schema = Object.assign({}, d.schema || {}, { type: 'object' });
    const props = {}; const required = []; const search = []; const unique = []; const refs = {};
    for (const r of rows) {
      const n = r.cells.name.value.trim();
      if (!n) continue;
      const kind = r.cells.kind.value;
      const s = Object.assign({}, r.raw);
      delete s.enum; delete s.format;
      if (kind === 'date-time') { s.type = 'string'; s.format = 'date-time'; } else s.type = kind;
      if (kind !== 'array') delete s.items; else if (!s.items) s.items = { type: 'string' };
      if (kind !== 'object') { delete s.properties; delete s.required; delete s.additionalProperties; }
      if (kind === 'string' || kind === 'date-time') { /* keep */ } else { delete s.minLength; delete s.maxLength; delete s.pattern; }
      const ev = r.cells.enumv.value.trim();
      if (ev) {
        s.enum = ev.split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => (kind === 'integer' || kind === 'number' ? Number(x) : x));
      }
      if (r.raw.format && kind === 'string') s.format = r.raw.format;
      props[n] = s;
      if (r.cells.required.checked) required.push(n);
      if (r.cells.search.checked) search.push(n);
      if (r.cells.unique.checked) unique.push(n);
      if (r.cells.ref.value) refs[n] = { type: r.cells.ref.value, on_delete: r.cells.onDelete.value };
    }
    schema.properties = props;
    if (required.length) schema.required = required; else delete schema.required;
    d.schema = schema;
    const set = (k, v, empty) => { if (empty) delete d[k]; else d[k] = v; };
    set('search', search, !search.length);
    set('unique', unique, !unique.length);
    set('references', refs, !Object.keys(refs).length);
    const p = {};
    for (const a of ACTIONS) {
      const v = perms[a].value.split(',').map((x) => x.trim()).filter(Boolean);
      if (v.length) p[a] = v;
    }
    const extraPerms = Object.fromEntries(Object.entries(d.permissions || {}).filter(([k]) => !ACTIONS.includes(k)));
    Object.assign(p, extraPerms);
    set('permissions', p, !Object.keys(p).length);
    const hooks = hookRows.filter((r) => r.module.value.trim()).map((r) => {
      const b = Object.assign({}, r.raw, { stage: r.stage.value, module: r.module.value.trim() });
      if (r.timeout.value) b.timeout_ms = Number(r.timeout.value); else delete b.timeout_ms;
      if (r.memory.value) b.memory_mb = Number(r.memory.value); else delete b.memory_mb;
      return b;
    });
    set('hooks', hooks, !hooks.length);
    for (const k of ['schema_version', 'created_at', 'updated_at']) delete d[k];
    return d;
  }

  function sync() {
    setError(jsonF, '');
    json.value = JSON.stringify(build(), null, 2);
  }
  name.addEventListener('input', sync);
  for (const a of ACTIONS) perms[a].addEventListener('input', sync);

  const applyJson = h('button', { type: 'button', class: 'secondary', text: 'Apply JSON to the form', onclick: () => {
    try { load(JSON.parse(json.value)); setError(jsonF, ''); } catch (e) { setError(jsonF, 'Not valid JSON: ' + e.message); json.focus(); }
  } });

  const el = h('div', { class: 'type-editor' },
    general, nameF,
    h('fieldset', {}, h('legend', { text: 'Fields' }),
      h('div', { class: 'table-wrap' }, h('table', { class: 'fields-table' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'Required', 'Allowed values', 'Search', 'Unique', 'References', 'On delete', ''].map((c) => h('th', { scope: 'col', text: c })))),
        fieldsBody)),
      h('button', { type: 'button', class: 'secondary', text: 'Add field', onclick: () => { const r = addField('', { type: 'string' }); sync(); r.cells.name.focus(); } })),
    h('fieldset', {}, h('legend', { text: 'Permissions' }),
      h('p', { class: 'hint', text: 'Comma separated: public, authenticated, owner, role:NAME. Empty means admins only.' }),
      h('div', { class: 'grid4' }, permEls)),
    h('fieldset', {}, h('legend', { text: 'Hook bindings' }), dl,
      h('div', { class: 'table-wrap' }, h('table', { class: 'fields-table hooks-table' },
        h('thead', {}, h('tr', {}, ['Stage', 'Module', 'Timeout (ms)', 'Memory (MB)', ''].map((c) => h('th', { scope: 'col', text: c })))),
        hooksBody)),
      h('button', { type: 'button', class: 'secondary', text: 'Add hook binding', onclick: () => { addHook(null); sync(); } })),
    h('details', { class: 'json-box', open: true }, h('summary', { text: 'Resulting JSON' }), jsonF, applyJson));

  load(def);
  if (isNew && !rows.length) { addField('title', { type: 'string' }, { required: true }); sync(); }

  return {
    el,
    // value is the JSON box when it was edited since the form last wrote
    // it, else what the form describes.
    value() {
      const fromForm = JSON.stringify(build(), null, 2);
      if (json.value.trim() !== fromForm.trim()) {
        try { return JSON.parse(json.value); } catch (e) { setError(jsonF, 'Not valid JSON: ' + e.message); throw new Error('the JSON definition is not valid JSON'); }
      }
      return build();
    },
    clearErrors() { general.replaceChildren(); setError(nameF, ''); setError(jsonF, ''); },
    showErrors(errors, detail) {
      clear(general, detail ? h('p', { text: detail }) : null,
        (errors || []).length ? h('ul', {}, errors.map((e) => h('li', { text: `${e.path || '(definition)'}: ${e.message}` }))) : null);
      if (detail && /name/i.test(detail) && !/field|propert/i.test(detail)) setError(nameF, detail);
      general.scrollIntoView({ block: 'nearest' });
    },
  };
}
