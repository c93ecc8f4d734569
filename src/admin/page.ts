// The live status page served at `GET /` on the admin listener: one self-contained HTML document
// (inline CSS and JS, system fonts, no external URL) that renders the snapshots `GET /events` sends.
// Everything that comes from the node (member names and addresses arrive over the network) reaches
// the DOM through textContent only; a Content-Security-Policy with hashes of the inline style and
// script forbids anything else from running or loading, and the page talks only to its own origin.

import { createHash } from "node:crypto";

const STYLE = `
:root{--bg:#f4f6f8;--card:#fff;--fg:#1c2330;--muted:#5d6978;--line:#e1e6eb;--accent:#2563eb;
--ok:#14682d;--ok-bg:#d8f5df;--bad:#b42318;--bad-bg:#fde3e1;--warn:#8a5a00;--warn-bg:#fff0c2;--unk:#4b5563;--unk-bg:#e8ebef;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0e1217;--card:#161b22;--fg:#e6e9ee;--muted:#9aa4b2;--line:#29313c;--accent:#6ea8fe;
--ok:#56d364;--ok-bg:#1a3524;--bad:#ff7b72;--bad-bg:#3d1d1d;--warn:#e3b341;--warn-bg:#3a2e10;--unk:#b1bac4;--unk-bg:#262c35}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5rem 1rem;padding:.9rem 1.25rem;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:1.15rem;margin:0;word-break:break-all}
h1 .brand{color:var(--muted);font-weight:500}
.meta{color:var(--muted);font-size:.85rem}
main{max-width:1100px;margin:0 auto;padding:1rem 1.25rem 2rem}
section{margin-top:1.25rem}
h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:0 0 .5rem;font-weight:600}
h2 small{text-transform:none;letter-spacing:0;font-weight:400;margin-left:.4rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.75rem}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.7rem .9rem;min-width:0}
.k{color:var(--muted);font-size:.8rem}
.v{font-size:1.7rem;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2;margin:.1rem 0}
.v.bad{color:var(--bad)}.v.warn{color:var(--warn)}
.sub{color:var(--muted);font-size:.8rem;font-variant-numeric:tabular-nums}
svg{display:block;width:100%;height:28px;margin-top:.25rem}
svg path{fill:none;stroke:var(--accent);stroke-width:1.5;vector-effect:non-scaling-stroke}
svg path.area{fill:var(--accent);opacity:.12;stroke:none}
svg line{stroke:var(--line);stroke-width:1;vector-effect:non-scaling-stroke}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.55rem .9rem;border-bottom:1px solid var(--line);vertical-align:middle}
td{font-size:.9rem}
th{font-size:.75rem;color:var(--muted);font-weight:600;background:var(--bg)}
tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums}
.mono{font-family:var(--mono);font-size:.88em;word-break:break-all}
.err{color:var(--bad);font-family:var(--mono);font-size:.85em;word-break:break-word}
.dim{color:var(--muted)}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap}
.ok{color:var(--ok);background:var(--ok-bg)}.bad{color:var(--bad);background:var(--bad-bg)}
.warn{color:var(--warn);background:var(--warn-bg)}.unk{color:var(--unk);background:var(--unk-bg)}
.v.ok,.v.bad,.v.warn{background:none}
.tag{font-size:.7rem;border:1px solid var(--line);color:var(--muted);border-radius:4px;padding:0 .3rem;margin-left:.4rem;white-space:nowrap}
.bar{display:inline-block;vertical-align:middle;width:60px;height:6px;border-radius:3px;background:var(--line);margin-left:.5rem;overflow:hidden}
.bar i{display:block;height:100%;background:var(--accent)}
#conn:before{content:"";display:inline-block;width:.5rem;height:.5rem;border-radius:50%;background:currentColor;margin-right:.4rem;vertical-align:.05em}
body.stale main{opacity:.55}
footer{max-width:1100px;margin:0 auto;padding:0 1.25rem 1.5rem;color:var(--muted);font-size:.8rem}
a{color:var(--accent)}
@media (max-width:640px){
header,main,footer{padding-left:.75rem;padding-right:.75rem}
.v{font-size:1.4rem}
.card{background:none;border:0;overflow:visible}
table,tbody,tr,td{display:block;width:100%}
thead{display:none}
tr{background:var(--card);border:1px solid var(--line);border-radius:10px;margin-bottom:.6rem;padding:.35rem .75rem}
td{display:flex;justify-content:space-between;align-items:baseline;gap:1rem;padding:.25rem 0;border:0;text-align:right}
td:before{content:attr(data-label);color:var(--muted);font-size:.8rem;text-align:left;flex:none}
td.empty:before{content:none}
}
`;

// Indented for reading here, sent without the indentation (the page stays small).
const SCRIPT = `
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // Only ever textContent: names and addresses come from the network.
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const cell = (label, content, cls) => {
    const td = el("td", cls);
    td.dataset.label = label;
    // One child, so the phone layout (label left, value right) keeps multi-part values together.
    const box = el("span");
    for (const c of [].concat(content)) box.append(c instanceof Node ? c : String(c ?? ""));
    td.append(box);
    return td;
  };
  const BACKEND = { up: ["ok", "\\u2713 up"], down: ["bad", "\\u2717 down"], unknown: ["unk", "? unknown"], ejected: ["bad", "\\u2717 ejected"] };
  const MEMBER = { alive: ["ok", "\\u2713 alive"], suspect: ["warn", "! suspect"], dead: ["bad", "\\u2717 dead"], left: ["unk", "\\u2013 left"] };
  const known = (map, v) => (Object.prototype.hasOwnProperty.call(map, v) ? v : null);
  const badge = (map, v) => {
    const k = known(map, v);
    const [cls, text] = k ? map[k] : ["unk", String(v)];
    return el("span", "badge " + cls, text);
  };
  const fmtMs = (v) => v == null ? "\\u2013" : v < 1 ? v.toFixed(2) + " ms" : v < 10 ? v.toFixed(1) + " ms" : v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(2) + " s";
  const fmtNum = (v) => v < 10 ? v.toFixed(1) : v < 10000 ? String(Math.round(v)) : (v / 1000).toFixed(1) + "k";
  const fmtPct = (r) => r == null ? "\\u2013" : r === 0 ? "0 %" : r < 0.001 ? "< 0.1 %" : (r * 100).toFixed(r < 0.1 ? 1 : 0) + " %";
  const fmtDur = (s) => s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min" : s < 86400 ? Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min" : Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  const ago = (iso, now) => {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    return s < 1 ? "just now" : fmtDur(s) + " ago";
  };
  const plural = (n, w) => n + " " + w + (n === 1 ? "" : "s");

  function traffic(t) {
    if (!t) return;
    $("window").textContent = "last " + Math.round(t.window_s) + " s \\u00b7 " + plural(t.total_requests, "request") + " since start";
    $("rps").textContent = fmtNum(t.rps) + "/s";
    const er = $("err");
    er.textContent = fmtPct(t.error_ratio);
    er.className = "v" + (t.error_ratio > 0.05 ? " bad" : t.error_ratio > 0 ? " warn" : "");
    $("err-sub").textContent = fmtNum(t.errors_ps) + "/s 5xx \\u00b7 " + fmtPct(t.local_ratio) + " answered locally";
    $("p50").textContent = fmtMs(t.p50_ms);
    $("p99").textContent = t.p99_ms == null ? "\\u2013" : (t.p99_overflow ? "> " : "") + fmtMs(t.p99_ms);
    $("mean").textContent = "mean " + fmtMs(t.mean_ms);
    $("inflight").textContent = t.in_flight + " in flight \\u00b7 " + fmtNum(t.upstream_errors_ps) + "/s failed attempts";
    spark(t.history ? t.history.rps : []);
  }

  function spark(h) {
    const W = 120, H = 28, n = Math.max(h.length, 2);
    const max = Math.max(1, ...h);
    const pts = h.map((v, i) => ((i + 60 - h.length) * W / 59).toFixed(1) + "," + (H - 1 - (v / max) * (H - 3)).toFixed(1));
    const line = pts.length ? "M" + pts.join("L") : "";
    $("spark-line").setAttribute("d", line);
    $("spark-area").setAttribute("d", pts.length > 1 ? line + "L" + W + "," + H + "L" + pts[0].split(",")[0] + "," + H + "Z" : "");
    $("spark").setAttribute("aria-label", "requests per second, last " + n + " s");
  }

  function emptyRow(tb, cols, text) {
    const tr = el("tr");
    const td = el("td", "dim empty", text);
    td.colSpan = cols;
    tr.append(td);
    tb.replaceChildren(tr);
  }

  function backends(list, now) {
    const tb = $("backends");
    const up = list.filter((b) => b.status === "up" && !b.ejected).length;
    $("bsum").textContent = up + " of " + list.length + " healthy";
    if (!list.length) return emptyRow(tb, 7, "no backends configured");
    tb.replaceChildren(...list.map((b) => {
      const tr = el("tr");
      tr.dataset.status = known(BACKEND, b.status) || "other";
      tr.append(
        cell("Pool", el("span", "mono", b.pool)),
        cell("Backend", el("span", "mono", b.address)),
        cell("Health", badge(BACKEND, b.ejected ? "ejected" : b.status)),
        cell("Weight", b.weight, "num"),
        cell("Last check", ago(b.last_check, now) + (b.last_status ? " \\u00b7 " + b.last_status : ""), "num"),
        cell("Failures", b.failures, "num"),
        cell("Last error", b.last_error ? el("span", "err", b.last_error) : el("span", "dim", "\\u2013")),
      );
      return tr;
    }));
  }

  function pools(list) {
    const tb = $("pools");
    $("psum").textContent = list.length ? plural(list.length, "pool") : "";
    if (!list.length) return emptyRow(tb, 5, "no pools");
    tb.replaceChildren(...list.map((p) => {
      const tr = el("tr");
      const total = p.members.reduce((s, m) => s + m.healthy, 0);
      tr.dataset.status = total > 0 ? "up" : "down";
      tr.append(
        cell("Pool", el("span", "mono", p.name)),
        cell("Balance", p.balance + (p.hash_key ? " " + p.hash_key : "")),
        cell("Healthy here", p.healthy + " of " + p.backends, "num"),
        cell("Healthy in the cluster", total > 0 ? String(total) : badge(BACKEND, "down"), "num"),
        cell("By member", el("span", "mono", p.members.filter((m) => m.healthy > 0).map((m) => m.name + " " + m.healthy).join(" \\u00b7 ") || "\\u2013")),
      );
      return tr;
    }));
  }

  function members(list, byMember) {
    const tb = $("members");
    const alive = list.filter((m) => m.state === "alive").length;
    $("msum").textContent = list.length ? alive + " of " + plural(list.length, "member") + " alive" : "";
    if (!list.length) return emptyRow(tb, 5, "cluster not started");
    const total = list.reduce((s, m) => s + (m.weight > 0 ? m.weight : 0), 0);
    const sorted = list.slice().sort((a, b) => (b.self - a.self) || String(a.name).localeCompare(String(b.name)));
    tb.replaceChildren(...sorted.map((m) => {
      const tr = el("tr");
      tr.dataset.state = known(MEMBER, m.state) || "other";
      const name = [el("span", "mono", m.name)];
      if (m.self) name.push(el("span", "tag", "this node"));
      const meta = m.meta || {};
      const healthy = meta.invalid !== undefined ? el("span", "badge warn", "! bad metadata") : String(byMember.get(m.name) ?? 0);
      const share = total > 0 ? m.weight / total : 0;
      const bar = el("span", "bar");
      const fill = el("i");
      fill.style.width = (share * 100).toFixed(1) + "%";
      bar.append(fill);
      bar.title = (share * 100).toFixed(0) + " % of new requests";
      tr.append(
        cell("Member", name),
        cell("State", badge(MEMBER, m.state)),
        cell("Gossip address", el("span", "mono", m.address + ":" + m.port)),
        cell("Healthy backends", healthy, "num"),
        cell("Weight here", [String(m.weight) + " \\u00b7 " + (share * 100).toFixed(0) + " %", bar], "num"),
      );
      return tr;
    }));
  }

  function render(s) {
    if (s.error) throw new Error(s.error);
    const now = s.t || Date.now();
    $("node").textContent = s.node;
    document.title = s.node + " \\u00b7 ClusterClub";
    const c = s.cluster;
    $("meta").textContent = "v" + s.version + " \\u00b7 up " + fmtDur(s.uptime_s) + (c ? " \\u00b7 gossip " + c.address + ":" + c.port + (c.encrypted ? " (encrypted)" : " (NOT encrypted)") + (c.health_score ? " \\u00b7 health score " + c.health_score : "") : "");
    traffic(s.traffic);
    backends(s.backends || [], now);
    pools(s.pools || []);
    // A member's healthy backends over the pools this node knows (what its weight here is made of).
    const byMember = new Map();
    for (const p of s.pools || []) for (const m of p.members) byMember.set(m.name, (byMember.get(m.name) || 0) + m.healthy);
    members(s.members || [], byMember);
  }

  let last = 0;
  const conn = $("conn");
  const setConn = (cls, text) => { conn.className = "badge " + cls; conn.textContent = text; };
  const es = new EventSource("events");
  es.onopen = () => setConn("ok", "live");
  es.onerror = () => setConn("warn", "reconnecting\\u2026");
  es.onmessage = (ev) => {
    try {
      render(JSON.parse(ev.data));
      last = Date.now();
      document.body.classList.remove("stale");
      setConn("ok", "live");
    } catch (e) {
      setConn("bad", "\\u2717 bad data");
    }
  };
  setInterval(() => {
    if (last && Date.now() - last > 4000) {
      document.body.classList.add("stale");
      if (es.readyState !== EventSource.CLOSED) setConn("warn", "! stale");
    }
    if (es.readyState === EventSource.CLOSED) setConn("bad", "\\u2717 disconnected");
  }, 1000);
})();
`.replace(/^[ \t]+/gm, "");

const BODY = `<header>
<div><h1><span class="brand">ClusterClub \u00b7 </span><span id="node">\u2026</span></h1><div class="meta" id="meta">connecting to the node\u2026</div></div>
<span id="conn" class="badge unk" role="status">connecting\u2026</span>
</header>
<main>
<section aria-labelledby="h-traffic">
<h2 id="h-traffic">Traffic through this node<small id="window"></small></h2>
<div class="tiles">
<div class="tile"><div class="k">Requests</div><div class="v" id="rps">\u2013</div><svg id="spark" viewBox="0 0 120 28" preserveAspectRatio="none" role="img"><line x1="0" y1="27.5" x2="120" y2="27.5"/><path class="area" id="spark-area"/><path id="spark-line"/></svg></div>
<div class="tile"><div class="k">Errors (5xx)</div><div class="v" id="err">\u2013</div><div class="sub" id="err-sub"></div></div>
<div class="tile"><div class="k">Latency p50</div><div class="v" id="p50">\u2013</div><div class="sub" id="mean"></div></div>
<div class="tile"><div class="k">Latency p99</div><div class="v" id="p99">\u2013</div><div class="sub" id="inflight"></div></div>
</div>
</section>
<section aria-labelledby="h-backends">
<h2 id="h-backends">Backends of this node<small id="bsum"></small></h2>
<div class="card"><table><thead><tr><th>Pool</th><th>Backend</th><th>Health</th><th>Weight</th><th>Last check</th><th>Failures</th><th>Last error</th></tr></thead><tbody id="backends"></tbody></table></div>
</section>
<section aria-labelledby="h-pools">
<h2 id="h-pools">Pools<small id="psum"></small></h2>
<div class="card"><table><thead><tr><th>Pool</th><th>Balance</th><th>Healthy here</th><th>Healthy in the cluster</th><th>By member</th></tr></thead><tbody id="pools"></tbody></table></div>
</section>
<section aria-labelledby="h-members">
<h2 id="h-members">Cluster members<small id="msum"></small></h2>
<div class="card"><table><thead><tr><th>Member</th><th>State</th><th>Gossip address</th><th>Healthy backends</th><th>Weight here</th></tr></thead><tbody id="members"></tbody></table></div>
</section>
</main>
<footer>Live over server-sent events, once a second. Raw data: <a href="status">/status</a> \u00b7 <a href="metrics">/metrics</a>. Latency is upstream time to response headers.</footer>`;

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;

/** The page's HTML (exported for tests and size checks). */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ClusterClub status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

const CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE_BYTES = new TextEncoder().encode(PAGE_HTML);

/** `GET /` on the admin listener. */
export function pageResponse(): Response {
  return new Response(PAGE_BYTES, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
