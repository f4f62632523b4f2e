// Verifies webhook deliveries with the npm `standardwebhooks` package, the
// reference implementation of Standard Webhooks.
//
//   node verify.mjs <whsec_ secret> <messages.json>
//
// messages.json is [{"headers": {"webhook-id", "webhook-timestamp",
// "webhook-signature"}, "body": "..."}]. Each must verify, and the same
// message with one byte of its body changed must not. Prints
// "verified N" and exits 0, or exits 1 naming what failed.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const [secret, file] = process.argv.slice(2);
const messages = JSON.parse(readFileSync(file, "utf8"));
const wh = new Webhook(secret);
let n = 0;
for (const m of messages) {
  let payload;
  try {
    payload = wh.verify(m.body, m.headers);
  } catch (err) {
    console.error(`message ${m.headers["webhook-id"]}: ${err.message}`);
    process.exit(1);
  }
  if (payload.specversion !== "1.0") {
    console.error(`message ${m.headers["webhook-id"]}: the verified payload is not a CloudEvent`);
    process.exit(1);
  }
  const tampered = m.body.replace(/}$/, " }");
  let refused = false;
  try {
    wh.verify(tampered, m.headers);
  } catch {
    refused = true;
  }
  if (!refused || tampered === m.body) {
    console.error(`message ${m.headers["webhook-id"]}: a tampered body verified`);
    process.exit(1);
  }
  n++;
}
console.log(`verified ${n}`);
