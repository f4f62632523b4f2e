// The API client: the key lives in sessionStorage and travels in the
// Authorization header only, never in a URL.

const KEY = 'strata.key';
const meta = document.querySelector('meta[name="strata-base"]');
export const base = meta ? meta.content : '';

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { if (k) sessionStorage.setItem(KEY, k); else sessionStorage.removeItem(KEY); }

// ApiError carries the problem+json document the server answered.
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get fieldErrors() { return Array.isArray(this.problem.errors) ? this.problem.errors : []; }
}

export function headers(extra) {
  const hd = Object.assign({}, extra);
  const k = getKey();
  if (k) hd.Authorization = 'Bearer ' + k;
  return hd;
}

// qs builds a query string from an object, skipping empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// api calls the API and returns the decoded body (null for 204); an
// error status throws an ApiError with the server's problem.
export async function api(method, path, opts = {}) {
  const init = { method, headers: headers(opts.headers), signal: opts.signal };
  if (opts.raw !== undefined) {
    init.body = opts.raw;
    init.headers['Content-Type'] = opts.contentType || 'application/octet-stream';
  } else if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers['Content-Type'] = opts.contentType || 'application/json';
  }
  let res;
  try {
    res = await fetch(base + path + qs(opts.query), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'Network error', detail: 'the server could not be reached' });
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let body = null;
  if (text) {
    try { body = JSON.parse(text); } catch { body = { detail: text.slice(0, 500) }; }
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// subscribe reads /api/events as Server-Sent Events through fetch, since
// EventSource cannot send the Authorization header. It reconnects from
// the last event id after a drop (the first time from from, a sequence
// number, when given), and stops when signal aborts. onEvent
// gets {id, event, data}; onState gets 'open', 'closed' or 'error'.
export function subscribe(onEvent, onState, signal, from) {
  let last = from || '';
  let delay = 500;
  (async () => {
    while (!signal.aborted) {
      try {
        const hd = headers({ Accept: 'text/event-stream' });
        if (last) hd['Last-Event-ID'] = last;
        const res = await fetch(base + '/api/events', { headers: hd, signal });
        if (!res.ok) {
          onState('error', res.status);
          if (res.status === 401 || res.status === 403) return;
        } else {
          onState('open');
          delay = 500;
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value.replace(/\r\n?/g, '\n');
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const ev = { id: '', event: 'message', data: '' };
              const data = [];
              for (const line of block.split('\n')) {
                if (!line || line.startsWith(':')) continue;
                const c = line.indexOf(':');
                const f = c < 0 ? line : line.slice(0, c);
                let v = c < 0 ? '' : line.slice(c + 1);
                if (v.startsWith(' ')) v = v.slice(1);
                if (f === 'id') ev.id = v;
                else if (f === 'event') ev.event = v;
                else if (f === 'data') data.push(v);
              }
              if (!data.length && !ev.id) continue;
              ev.data = data.join('\n');
              if (ev.id) last = ev.id;
              if (ev.event === 'reset') last = '';
              onEvent(ev);
            }
          }
          onState('closed');
        }
      } catch (e) {
        if (signal.aborted) return;
        onState('error');
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();
}
