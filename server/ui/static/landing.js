// The landing page: a health badge from /readyz, and the curl snippet
// with this server's address.
const base = document.querySelector('meta[name="strata-base"]').content;
const badge = document.getElementById('health');
const curl = document.getElementById('curl');
curl.textContent = `curl -H "Authorization: Bearer $STRATA_ADMIN_KEY" ${location.origin}${base}/api/types`;

async function check() {
  try {
    const res = await fetch(base + '/readyz', { cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    badge.textContent = res.ok ? `${body.status || 'ready'} · change log at ${body.seq ?? '?'}` : (body.status || `HTTP ${res.status}`);
    badge.className = 'badge ' + (res.ok ? 'ok' : 'bad');
  } catch {
    badge.textContent = 'unreachable';
    badge.className = 'badge bad';
  }
}
check();
setInterval(check, 10000);

document.getElementById('copy').addEventListener('click', async () => {
  const out = document.getElementById('copied');
  try {
    await navigator.clipboard.writeText(curl.textContent);
    out.textContent = 'Copied.';
  } catch {
    const r = document.createRange();
    r.selectNodeContents(curl);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(r);
    out.textContent = 'Selected: press Ctrl+C to copy.';
  }
});
document.documentElement.dataset.ready = 'true';
