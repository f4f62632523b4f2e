// Building DOM without HTML strings: user data only ever becomes text
// nodes or attribute values, never markup.

// h creates an element. attrs: class, text, on<event> handlers, a
// "dataset" object, boolean properties (checked, disabled...), and any
// other attribute. Children are nodes, strings (text) or arrays of them;
// null and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'required' || k === 'multiple') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear empties el and appends children.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
// id returns a fresh element id with the prefix.
export function id(prefix) { return `${prefix || 'f'}-${++uid}`; }

// field wraps a control with its label and an error slot (role=alert)
// that the control names with aria-describedby.
export function field(labelText, control, hint) {
  if (!control.id) control.id = id('in');
  const err = h('div', { class: 'field-error', id: control.id + '-err', role: 'alert' });
  control.setAttribute('aria-describedby', err.id);
  const wrap = h('div', { class: 'field' },
    h('label', { for: control.id, text: labelText }),
    control,
    hint ? h('div', { class: 'hint', text: hint }) : null,
    err);
  wrap.control = control;
  wrap.error = err;
  return wrap;
}

// setError shows msg (or hides it when empty) in a field's error slot.
export function setError(wrap, msg) {
  wrap.error.textContent = msg || '';
  if (msg) wrap.control.setAttribute('aria-invalid', 'true');
  else wrap.control.removeAttribute('aria-invalid');
}

// fmtTime renders an RFC 3339 time briefly, in the reader's zone.
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });
export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? String(s) : timeFormat.format(d); // one formatter: toLocaleString builds one a call
}

// short renders a value for a table cell.
export function short(v, n = 80) {
  if (v === undefined) return '';
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s.length > n) s = s.slice(0, n - 1) + '…';
  return s;
}
