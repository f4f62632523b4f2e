// A real EventSource client (the `eventsource` package) against a live
// Strata server: subscribe to one type, get 10 changes, lose the
// connection, let 100 changes be written while it is down, reconnect as
// EventSource does (Last-Event-ID), and check that every change arrived
// exactly once and in order. Run by server's TestEventSourceClient:
//
//	node reconnect.mjs <base URL> <admin token> <type>
//
// With several base URLs, comma-separated (nodes sharing one database, run
// by strata's TestNodesShareOneDatabase), the writes go to each node in
// turn, the client subscribes on the first node and reconnects to the
// second, which must resume exactly where the first left off.
import { EventSource } from "eventsource";

const [baseList, token, type] = process.argv.slice(2);
const bases = baseList.split(",");
const base = bases[0];
const auth = { Authorization: `Bearer ${token}` };

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}
setTimeout(() => fail("timed out"), 120_000).unref();

// The network as the client sees it: kill() drops the open connection the
// way a network failure does (not an abort, which would stop EventSource
// from reconnecting); while `down` is set, reconnection attempts wait.
let kill = null;
let down = null;
const lastEventIDs = [];
async function networkFetch(url, init) {
  if (down) await down.promise;
  // Each connection goes to the next node: a reconnection lands elsewhere.
  url = String(url).replace(base, bases[lastEventIDs.length % bases.length]);
  lastEventIDs.push(init.headers["Last-Event-ID"] ?? null);
  const ctl = new AbortController();
  init.signal?.addEventListener("abort", () => ctl.abort());
  const res = await fetch(url, { ...init, headers: { ...init.headers, ...auth }, signal: ctl.signal });
  const reader = res.body.getReader();
  const body = new ReadableStream({
    start(c) {
      kill = () => {
        c.error(new TypeError("connection lost"));
        ctl.abort();
      };
    },
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      } catch (err) {
        try { c.error(err); } catch {}
      }
    },
    cancel() { ctl.abort(); },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

async function write(n) {
  const res = await fetch(`${bases[n % bases.length]}/api/${type}`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ n }),
  });
  if (res.status !== 201) fail(`create ${n}: status ${res.status}: ${await res.text()}`);
  return (await res.json()).id;
}

const got = [];
let waiter = null;
function waitFor(count) {
  return new Promise((resolve) => {
    waiter = { count, resolve };
    check();
  });
}
function check() {
  if (waiter && got.length >= waiter.count) {
    const w = waiter;
    waiter = null;
    w.resolve();
  }
}

let errors = 0;
const es = new EventSource(`${base}/api/events?types=${type}`, { fetch: networkFetch });
es.addEventListener("create", (e) => {
  const data = JSON.parse(e.data);
  if (e.lastEventId !== String(data.seq)) fail(`id ${e.lastEventId} for seq ${data.seq}`);
  got.push(data);
  check();
});
es.addEventListener("reset", (e) => fail(`reset: ${e.data}`));
es.onerror = () => { errors++; };
await new Promise((resolve, reject) => {
  es.onopen = resolve;
  setTimeout(() => reject(new Error("no open")), 60_000).unref();
});

const ids = [];
for (let i = 0; i < 10; i++) ids.push(await write(i));
await waitFor(10);

// The connection drops; 100 changes are written while the client is away.
let open;
down = { promise: new Promise((r) => { open = r; }) };
kill();
for (let i = 10; i < 110; i++) ids.push(await write(i));
const gone = got.length;
down = null;
open();
await waitFor(110);
// Nothing more may come (a duplicate would): one more write is the next event.
ids.push(await write(110));
await waitFor(111);
es.close();

if (gone !== 10) fail(`${gone - 10} events arrived while the connection was down`);
if (got.length !== 111) fail(`got ${got.length} events, want 111`);
for (let i = 0; i < got.length; i++) {
  if (got[i].id !== ids[i]) fail(`event ${i} is ${got[i].id}, want ${ids[i]}`);
  if (i > 0 && got[i].seq !== got[i - 1].seq + 1) fail(`seq ${got[i].seq} after ${got[i - 1].seq}`);
  if (got[i].resource?.data?.n !== i) fail(`event ${i} carries ${JSON.stringify(got[i].resource)}`);
}
if (lastEventIDs.length !== 2 || lastEventIDs[0] !== null || lastEventIDs[1] !== String(got[9].seq))
  fail(`Last-Event-ID sent: ${JSON.stringify(lastEventIDs)}, want [null, "${got[9].seq}"]`);
if (errors < 1) fail("the client never saw the connection drop");
console.log(JSON.stringify({ nodes: bases.length, events: got.length, first_seq: got[0].seq, last_seq: got.at(-1).seq,
  resumed_from: lastEventIDs[1], connection_errors: errors }));
