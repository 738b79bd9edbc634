// The review page's script (served as /page.js: the page's Content-Security-Policy allows no
// inline script). Talks to /api with the token the analyst enters.
const $ = (s) => document.querySelector(s);
let token = sessionStorage.getItem("mf-token") || "";
$("#token").value = token;
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
async function api(path, opts = {}) {
  opts.headers = Object.assign({"Authorization": "Bearer " + token, "Content-Type": "application/json"}, opts.headers || {});
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $("#error").textContent = body.error || ("HTTP " + r.status); throw new Error(body.error); }
  $("#error").textContent = "";
  return body;
}
async function login() {
  token = $("#token").value.trim();
  sessionStorage.setItem("mf-token", token);
  const w = await api("/api/whoami");
  $("#who").textContent = "signed in as " + w.user;
  loadQueue();
}
let queueRequest = 0;
async function loadQueue() {
  // only the newest request may fill the table (an older, slower answer must not overwrite it)
  const mine = ++queueRequest;
  const q = new URLSearchParams();
  for (const el of $("#filters").elements) if (el.name && el.value) q.set(el.name, el.value);
  q.set("limit", "200");
  const rows = await api("/api/alerts?" + q);
  if (mine !== queueRequest) return;
  $("#rows").innerHTML = rows.map(r => `<tr class="row" data-id="${esc(r.alert_id)}">
    <td class="sev-${esc(r.severity)}">${esc(r.severity)}</td><td>${esc(r.typology)}</td><td>${esc(r.rule_id)}</td>
    <td>${esc(r.amount_usd)}</td><td class="status">${esc(r.status)}</td><td>${esc(r.first_ts)}</td></tr>`).join("");
  for (const tr of document.querySelectorAll("tr.row")) tr.onclick = () => openAlert(tr.dataset.id);
}
function transactions(details) {
  const out = [], seen = new Set();
  (function walk(v) {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      if (v.tx_id && v.ts && !seen.has(v.tx_id)) { seen.add(v.tx_id); out.push(v); }
      Object.values(v).forEach(walk);
    }
  })(details);
  return out.sort((a, b) => (a.ts + a.tx_id).localeCompare(b.ts + b.tx_id));
}
const place = (t) => ({USD: "US", CNY: "CN", MXN: "MX"}[t.currency] || (t.currency || "?"));
function flowSvg(txs, details) {
  // nodes by jurisdiction column (cash in the US first), edges with amounts; a dashed line
  // joins US cash accounts to the broker accounts of the legs they mirror
  const cols = ["cash", "US", "CN", "MX"], nodes = new Map();
  const put = (id, col) => { if (!nodes.has(id)) nodes.set(id, col); };
  for (const t of txs) {
    if (!t.from) put("cash " + (t.location || ""), "cash"); else put(t.from, place(t));
    if (t.to) put(t.to, place(t));
  }
  for (const c of new Set(nodes.values())) if (!cols.includes(c)) cols.push(c);
  const byCol = {}; for (const [id, c] of nodes) (byCol[c] = byCol[c] || []).push(id);
  const W = 180, H = 34, pos = new Map(); let maxRows = 1;
  cols.filter(c => byCol[c]).forEach((c, i) => byCol[c].forEach((id, j) => { pos.set(id, [20 + i * W, 40 + j * H]); maxRows = Math.max(maxRows, j + 1); }));
  const width = 40 + cols.filter(c => byCol[c]).length * W, height = 60 + maxRows * H;
  let s = `<svg id="flow" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#557"/></marker></defs>`;
  cols.filter(c => byCol[c]).forEach((c, i) => s += `<text x="${20 + i * W}" y="18" font-weight="bold">${esc(c)}</text>`);
  for (const t of txs) {
    const a = pos.get(t.from || ("cash " + (t.location || ""))), b = pos.get(t.to);
    if (!a || !b) continue;
    s += `<line x1="${a[0] + 120}" y1="${a[1]}" x2="${b[0]}" y2="${b[1]}" stroke="#557" marker-end="url(#a)"/>`;
    s += `<text x="${(a[0] + 120 + b[0]) / 2}" y="${(a[1] + b[1]) / 2 - 3}" fill="#335">${esc(t.amount)} ${esc(t.currency)}</text>`;
  }
  for (const leg of (details.legs || [])) {
    const broker = pos.get(leg.broker_account);
    for (const us of ((details.us_cash || {}).accounts || [])) {
      const u = pos.get(us);
      if (u && broker) s += `<line class="mirror" x1="${u[0] + 60}" y1="${u[1] + 8}" x2="${broker[0] + 60}" y2="${broker[1] + 8}" stroke="#c03" stroke-dasharray="5,4"/>`;
    }
  }
  for (const [id, p] of pos) s += `<rect x="${p[0]}" y="${p[1] - 12}" width="120" height="20" rx="4" fill="#eef" stroke="#88a"/><text x="${p[0] + 4}" y="${p[1] + 2}">${esc(id.slice(0, 20))}</text>`;
  return s + "</svg>";
}
async function openAlert(id) {
  for (const tr of document.querySelectorAll("tr.row")) tr.classList.toggle("sel", tr.dataset.id === id);
  const a = await api("/api/alerts/" + encodeURIComponent(id));
  const x = a.alert, txs = transactions(x.details);
  $("#detail").innerHTML = `
   <h2>${esc(x.typology)} ${esc(x.rule_id)} <span class="sev-${esc(x.severity)}">${esc(x.severity)}</span></h2>
   <p><code id="alert-id">${esc(x.alert_id)}</code> · status <b id="status">${esc(a.status)}</b> · assignee ${esc(a.assignee || "-")} · case ${esc(a.case_id)} · version ${a.version} · score ${x.score}</p>
   <p>USD ${esc(x.amount_usd)} · ${esc(x.first_ts)} .. ${esc(x.last_ts)} · ${esc((x.jurisdictions || []).join(", "))}</p>
   <div class="buttons">
    <button data-s="in_review">in review</button><button data-s="escalated">escalate</button>
    <button data-s="reported">reported</button><button data-s="dismissed" id="dismiss">dismiss</button>
    <input id="reason" placeholder="reason (required to dismiss)" size="36">
    <button id="assign-me">assign to me</button>
   </div>
   <h3>Flow</h3>${flowSvg(txs, x.details)}
   <h3>Narrative</h3><p class="narrative">${esc(x.narrative)}</p>
   <h3>Evidence (${txs.length} transactions, time order)</h3>
   <table id="evidence"><thead><tr><th>time</th><th>tx</th><th>from</th><th>to</th><th>amount</th><th>USD</th></tr></thead><tbody>
   ${txs.map(t => `<tr><td>${esc(t.ts)}</td><td>${esc(t.tx_id)}</td><td>${esc(t.from || "cash")}</td><td>${esc(t.to)}</td><td>${esc(t.amount)} ${esc(t.currency)}</td><td>${esc(t.amount_usd)}</td></tr>`).join("")}
   </tbody></table>
   <h3>Audit trail</h3><ul id="audit">${a.audit.map(e => `<li>${esc(e.at)} · ${esc(e.action)} by ${esc(e.actor)}${e.after ? " → " + esc(JSON.stringify(e.after)) : ""}${e.reason ? ": " + esc(e.reason) : ""}</li>`).join("")}</ul>
   <p><a href="#" id="sar">SAR draft (Markdown)</a></p>`;
  for (const b of document.querySelectorAll(".buttons button[data-s]")) b.onclick = async () => {
    await api(`/api/alerts/${encodeURIComponent(id)}/decision`, {method: "POST", body: JSON.stringify({status: b.dataset.s, reason: $("#reason").value || null})});
    await loadQueue(); await openAlert(id);
  };
  $("#assign-me").onclick = async () => {
    const w = await api("/api/whoami");
    await api(`/api/alerts/${encodeURIComponent(id)}/assign`, {method: "POST", body: JSON.stringify({assignee: w.user})});
    await openAlert(id);
  };
  $("#sar").onclick = async (ev) => {
    ev.preventDefault();
    const r = await fetch(`/api/alerts/${encodeURIComponent(id)}/export?format=sar`, {headers: {"Authorization": "Bearer " + token}});
    const w = window.open(); w.document.write("<pre>" + esc(await r.text()) + "</pre>");
  };
}
$("#login").onclick = login;
$("#filters").onsubmit = (e) => { e.preventDefault(); loadQueue(); };
if (token) login().catch(() => {});
