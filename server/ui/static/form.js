// Forms generated from a type's JSON Schema. Each control is registered
// under the JSON Pointer of its value, so that the errors of a 422 land
// on their fields.
import { h, id, field, setError, clear } from './dom.js';
import { api } from './api.js';

function typeOf(s) {
  if (!s || typeof s !== 'object') return 'any';
  if (Array.isArray(s.enum)) return 'enum';
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') || 'any';
  if (t === 'string' && s.format === 'date-time') return 'date-time';
  return t || (s.properties ? 'object' : 'any');
}

function pad(n) { return String(n).padStart(2, '0'); }
function toLocalInput(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// buildForm returns {el, value(), showErrors(errors), clearErrors()}.
// type is the type definition (for references), data the initial data.
export function buildForm(type, data) {
  const slots = new Map(); // pointer -> field wrapper
  const general = h('div', { class: 'form-errors', role: 'alert' });
  const refs = type.references || {};
  const root = widget(type.schema || {}, data, '', 'data', true, refs, slots, true);
  const el = h('div', { class: 'schema-form' }, general, root.el);
  return {
    el,
    value: () => root.value(),
    clearErrors() {
      general.replaceChildren();
      for (const w of slots.values()) setError(w, '');
    },
    // showErrors puts each error on the field of its path, or the
    // nearest enclosing one, or above the form.
    showErrors(errors, detail) {
      this.clearErrors();
      const rest = [];
      let first = null;
      for (const e of errors || []) {
        let p = e.path || '';
        let w = slots.get(p);
        while (!w && p) { p = p.slice(0, p.lastIndexOf('/')); w = slots.get(p); }
        if (w && p !== '') {
          const msg = e.message + (e.source && e.source !== 'schema' ? ` (${e.source})` : '');
          setError(w, w.error.textContent ? w.error.textContent + '; ' + msg : msg);
          first = first || w.control;
        } else rest.push(e);
      }
      if (detail || rest.length) {
        clear(general, detail ? h('p', { text: detail }) : null,
          rest.length ? h('ul', {}, rest.map((e) => h('li', { text: `${e.path || '(document)'}: ${e.message}` }))) : null);
      }
      if (first) first.focus();
    },
  };
}

function widget(schema, value, ptr, label, required, refs, slots, top) {
  const t = typeOf(schema);
  const title = schema.title || label;
  const desc = schema.description;
  if (t === 'object' && schema.properties) {
    const req = new Set(schema.required || []);
    // Required fields first, each group in the schema's order.
    const props = Object.entries(schema.properties);
    const ordered = [...props.filter(([k]) => req.has(k)), ...props.filter(([k]) => !req.has(k))];
    const kids = ordered.map(([k, s]) => {
      const ref = top ? refs[k] : null;
      const v = value && typeof value === 'object' ? value[k] : undefined;
      const w = ref ? refWidget(s, v, ptr + '/' + esc(k), k, req.has(k), ref, slots)
        : widget(s, v, ptr + '/' + esc(k), k, req.has(k), refs, slots, false);
      return [k, w];
    });
    const errSlot = h('div', { class: 'field-error', role: 'alert', id: id('err') });
    const box = top ? h('div', { class: 'fields' }, kids.map(([, w]) => w.el), errSlot)
      : h('fieldset', { 'aria-describedby': errSlot.id }, h('legend', { text: title + (required === true ? ' *' : '') }), kids.map(([, w]) => w.el), errSlot);
    slots.set(ptr, { control: box, error: errSlot });
    // Properties of the data the schema does not name are kept as they are.
    const extra = {};
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) if (!(k in schema.properties)) extra[k] = v;
    }
    return {
      el: box,
      value() {
        const o = Object.assign({}, extra);
        for (const [k, w] of kids) {
          const v = w.value();
          if (v !== undefined) o[k] = v;
        }
        return o;
      },
    };
  }
  if (t === 'array') {
    const items = [];
    const list = h('div', { class: 'array-items' });
    const errSlot = h('div', { class: 'field-error', role: 'alert', id: id('err') });
    const addBtn = h('button', { type: 'button', class: 'secondary', text: `Add ${label} item`, onclick: () => { add(undefined); items[items.length - 1].focus(); } });
    const box = h('fieldset', { class: 'array', 'aria-describedby': errSlot.id }, h('legend', { text: title + (required === true ? ' *' : '') }), list, addBtn, errSlot);
    slots.set(ptr, { control: box, error: errSlot });
    const itemSchema = schema.items || {};
    function add(v) {
      const i = items.length;
      const w = widget(itemSchema, v, ptr + '/' + i, `${label} ${i + 1}`, 'item', refs, slots, false); // 'item': required, no asterisk
      const rm = h('button', { type: 'button', class: 'secondary small', text: 'Remove', 'aria-label': `Remove ${label} ${i + 1}` });
      const row = h('div', { class: 'array-item' }, w.el, rm);
      const entry = { w, row, focus: () => { const c = row.querySelector('input,select,textarea,button'); if (c) c.focus(); } };
      rm.addEventListener('click', () => { items.splice(items.indexOf(entry), 1); row.remove(); });
      items.push(entry);
      list.appendChild(row);
    }
    if (Array.isArray(value)) value.forEach(add);
    return { el: box, value: () => (items.length || required || Array.isArray(value) ? items.map((e) => e.w.value()) : undefined) };
  }
  const lbl = title + (required === true ? ' *' : '');
  let control; let get;
  switch (t) {
    case 'boolean': {
      control = h('input', { type: 'checkbox', checked: value === true });
      get = () => (control.checked ? true : (value === undefined && !required ? undefined : false));
      break;
    }
    case 'enum': {
      control = h('select', {}, (!required || value === undefined) ? h('option', { value: '', text: '—' }) : null,
        schema.enum.map((e, i) => h('option', { value: String(i), text: typeof e === 'string' ? e : JSON.stringify(e), selected: JSON.stringify(e) === JSON.stringify(value) })));
      get = () => (control.value === '' ? undefined : schema.enum[Number(control.value)]);
      break;
    }
    case 'integer':
    case 'number': {
      control = h('input', { type: 'number', step: t === 'integer' ? '1' : 'any', value: typeof value === 'number' ? String(value) : '' });
      if (schema.minimum !== undefined) control.min = schema.minimum;
      if (schema.maximum !== undefined) control.max = schema.maximum;
      get = () => (control.value === '' ? undefined : Number(control.value));
      break;
    }
    case 'date-time': {
      control = h('input', { type: 'datetime-local', step: '1', value: value ? toLocalInput(value) : '' });
      get = () => {
        if (control.value === '') return undefined;
        const d = new Date(control.value);
        return isNaN(d) ? control.value : d.toISOString();
      };
      break;
    }
    case 'string': {
      const long = schema.maxLength === undefined || schema.maxLength > 200;
      control = long && (schema.format === undefined) && /body|text|description|content|notes?/i.test(label)
        ? h('textarea', { rows: '4', value: value ?? '' })
        : h('input', { type: schema.format === 'email' ? 'email' : 'text', value: value ?? '' });
      get = () => (control.value === '' && value === undefined ? undefined : control.value);
      break;
    }
    default: {
      // Anything the generator does not know is edited as JSON.
      control = h('textarea', { rows: '3', class: 'mono', value: value === undefined ? '' : JSON.stringify(value, null, 2) });
      get = () => {
        if (control.value.trim() === '') return undefined;
        try { return JSON.parse(control.value); } catch { return control.value; }
      };
    }
  }
  control.name = ptr || 'value';
  const w = field(lbl, control, desc);
  w.classList.add('field-' + t);
  slots.set(ptr, w);
  return { el: w, value: get };
}

// refWidget is a reference field: a text input with a search-as-you-type
// list of the target type's resources.
function refWidget(schema, value, ptr, label, required, ref, slots) {
  const listId = id('refs');
  const control = h('input', { type: 'text', value: value ?? '', list: listId, autocomplete: 'off', name: ptr, placeholder: `id of a ${ref.type} resource — type to search` });
  const dl = h('datalist', { id: listId });
  const w = field(label + (required ? ' *' : ''), control, `references ${ref.type}`);
  w.appendChild(dl);
  w.classList.add('field-reference');
  slots.set(ptr, w);
  let timer = 0; let ctl = null; let target = null;
  control.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (ctl) ctl.abort();
      ctl = new AbortController();
      const term = control.value.trim();
      const path = '/api/' + encodeURIComponent(ref.type);
      try {
        target = target || await api('GET', '/api/types/' + encodeURIComponent(ref.type), { signal: ctl.signal });
        // Full-text search where the target type has it, else ids that
        // contain the term.
        const query = { limit: 10 };
        if (term && (target.search || []).length) query.q = term;
        else if (term) query.filter = `id ~ ${JSON.stringify(term)}`;
        const res = await api('GET', path, { query, signal: ctl.signal });
        dl.replaceChildren(...(res.items || []).map((r) => h('option', { value: r.id, label: labelOf(r) })));
      } catch { /* the list stays as it was */ }
    }, 150);
  });
  return { el: w, value: () => (control.value === '' ? (value === null ? null : undefined) : control.value) };
}

// nameOf names a resource by its title, name or label, else its first
// short string field, else its id.
export function nameOf(r) {
  const d = r.data || {};
  for (const k of ['title', 'name', 'label']) if (typeof d[k] === 'string' && d[k]) return d[k];
  for (const v of Object.values(d)) if (typeof v === 'string' && v && v.length < 80) return v;
  return r.id;
}

// labelOf is nameOf with the id, for choosing among resources.
export function labelOf(r) {
  const n = nameOf(r);
  return n === r.id ? r.id : `${n} — ${r.id}`;
}

function esc(k) { return String(k).replace(/~/g, '~0').replace(/\//g, '~1'); }
