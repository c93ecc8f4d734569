// HTTP/2 column: h2load (Debian nghttp2-client) over TLS against ClusterClub and against nginx with
// HTTP/2 on, the same certificate, the same two bench backends, one process each; 1 and 100 streams per
// connection, interleaved rounds, medians, ratios ClusterClub/nginx from the same run. Then HTTP/3 with
// Bun's own client (bench/h2load.ts), with Bun's h2 client on the same node as its same-run reference:
// Debian's nginx and HAProxy are built without HTTP/3, so there is no h3 reference proxy.
//   bun bench/h2.ts            (ROUNDS=3 DURATION=5 H2_LOADS="64x1,4x100" H3_CONC=16; needs h2load, nginx, openssl)
// Run it alone on the machine (flock /tmp/cpu-heavy.lock on shared machines).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children } from "./lib/procs.ts";
import { fmtLatency, fmtRate, fmtRatio, median, printTable } from "./lib/report.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
/** "<connections>x<streams per connection>" */
const LOADS = (process.env.H2_LOADS ?? "64x1,4x100").split(",").map((s) => s.split("x").map(Number) as [number, number]);
const H3_CONC = Number(process.env.H3_CONC ?? 16);
const PATH = "/small";

const dir = mkdtempSync(join(tmpdir(), "cc-bench-h2-"));
const kids = new Children(dir, undefined);
process.on("exit", () => kids.killAllNow());

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function waitFor(url: string, tls: boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = await fetch(url, tls ? ({ tls: { rejectUnauthorized: false } } as RequestInit) : undefined).catch(() => null);
    if (r?.status === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not answer 200`);
}

function sh(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

for (const [tool, pkg] of [["h2load", "nghttp2-client"], ["nginx", "nginx-light"], ["openssl", "openssl"]]) {
  if (Bun.which(tool!) === null) {
    console.error(`bench/h2.ts needs ${tool}: apt-get install ${pkg}`);
    process.exit(2);
  }
}

// One certificate for both proxies.
sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1"]);

const b1 = freePort();
const b2 = freePort();
kids.spawn("backend1", ["bun", "bench/backend.ts", String(b1)]);
kids.spawn("backend2", ["bun", "bench/backend.ts", String(b2)]);

const ccPort = freePort();
writeFileSync(
  join(dir, "cc.toml"),
  `[cluster]\nnode_name = "bench"\nlisten_port = ${freePort()}\nbind_address = "127.0.0.1"\nadvertise_address = "127.0.0.1"\n` +
    `[proxy]\nlisten_port = ${ccPort}\nbind_address = "127.0.0.1"\nworkers = 1\n` +
    `[proxy.tls]\ncert = "${join(dir, "cert.pem")}"\nkey = "${join(dir, "key.pem")}"\nhttp3 = true\n` +
    `[admin]\nlisten_port = ${freePort()}\nbind_address = "127.0.0.1"\n[health]\ninterval = "10s"\n` +
    `[[backends]]\naddress = "127.0.0.1:${b1}"\n[[backends]]\naddress = "127.0.0.1:${b2}"\n`,
);
kids.spawn("clusterclub", ["bun", "src/main.ts", join(dir, "cc.toml")]);

const ngPort = freePort();
const user = process.getuid?.() === 0 ? "user root;" : "";
// nginx 1.22 (Debian 12) spells HTTP/2 as a listen parameter; from 1.25.1 it is `http2 on;`.
writeFileSync(
  join(dir, "nginx.conf"),
  `${user}\nworker_processes 1;\ndaemon off;\nmaster_process on;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log warn;\nworker_rlimit_nofile 16384;\n` +
    `events { worker_connections 8192; }\n` +
    `http {\n access_log off;\n client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/pt; fastcgi_temp_path ${dir}/ft; uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;\n` +
    ` keepalive_requests 1000000; keepalive_timeout 120s;\n` +
    ` upstream backends { server 127.0.0.1:${b1}; server 127.0.0.1:${b2}; keepalive 64; keepalive_requests 1000000; }\n` +
    ` server {\n  listen 127.0.0.1:${ngPort} ssl http2;\n  ssl_certificate ${dir}/cert.pem;\n  ssl_certificate_key ${dir}/key.pem;\n  http2_max_concurrent_streams 128;\n` +
    `  location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; }\n }\n}\n`,
);
kids.spawn("nginx", ["nginx", "-c", join(dir, "nginx.conf"), "-e", join(dir, "nginx-error.log")]);

const targets = { clusterclub: `https://127.0.0.1:${ccPort}${PATH}`, nginx: `https://127.0.0.1:${ngPort}${PATH}` };
await waitFor(targets.clusterclub, true);
await waitFor(targets.nginx, true);

interface Run {
  rps: number;
  p99Us: number;
  failed: number;
}

/** One h2load run; p99 from its per-request log (h2load prints only mean and sd). */
function h2load(url: string, conns: number, streams: number, secs: number): Run {
  const log = join(dir, "h2load.log");
  writeFileSync(log, "");
  const out = sh(["h2load", "-t1", `-c${conns}`, `-m${streams}`, `-D${secs}`, `--log-file=${log}`, url]);
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? NaN) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const lat = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => Number(l.split("\t")[2]))
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  return { rps, p99Us: lat[Math.floor(0.99 * (lat.length - 1))] ?? NaN, failed };
}

const results = new Map<string, Run[]>();
const key = (t: string, c: number, m: number) => `${t} ${c}x${m}`;
for (const [c, m] of LOADS) for (const t of Object.keys(targets)) h2load(targets[t as keyof typeof targets], c, m, 1); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (["clusterclub", "nginx"] as const) : (["nginx", "clusterclub"] as const);
  for (const [c, m] of LOADS) {
    for (const t of order) {
      const k = key(t, c, m);
      results.set(k, [...(results.get(k) ?? []), h2load(targets[t], c, m, DURATION)]);
    }
  }
}

const rows = [["load (h2, TLS, /small)", "target", "rps", "p99", "failed", "rps ratio", "p99 ratio"]];
for (const [c, m] of LOADS) {
  const med = (t: string) => {
    const runs = results.get(key(t, c, m)) ?? [];
    return { rps: median(runs.map((r) => r.rps)), p99: median(runs.map((r) => r.p99Us)), failed: runs.reduce((n, r) => n + r.failed, 0) };
  };
  const ng = med("nginx");
  const cc = med("clusterclub");
  rows.push([`${c} conns × ${m} streams`, "nginx", fmtRate(ng.rps), fmtLatency(ng.p99), String(ng.failed), "", ""]);
  rows.push(["", "clusterclub", fmtRate(cc.rps), fmtLatency(cc.p99), String(cc.failed), fmtRatio(cc.rps / ng.rps), fmtRatio(cc.p99 / ng.p99)]);
}
console.log(`h2load ${sh(["h2load", "--version"]).trim().split("\n")[0]}, ${ROUNDS} rounds × ${DURATION}s, medians; ratios clusterclub/nginx from the same run\n`);
console.log(printTable(rows));

// HTTP/3 with Bun's client, its h2 client on the same node as the reference.
const h3rows = [["load (Bun fetch client, /small)", "protocol", "rps", "p99", "errors", "rps ratio h3/h2", "p99 ratio h3/h2"]];
const bunRuns: Record<"h2" | "h3", { rps: number; p99Us: number; errors: number }[]> = { h2: [], h3: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const proto of round % 2 === 0 ? (["h3", "h2"] as const) : (["h2", "h3"] as const)) {
    const out = sh(["bun", "bench/h2load.ts", targets.clusterclub, proto, String(H3_CONC), String(DURATION)]);
    bunRuns[proto].push(JSON.parse(out.trim().split("\n").pop()!));
  }
}
const m3 = { rps: median(bunRuns.h3.map((r) => r.rps)), p99: median(bunRuns.h3.map((r) => r.p99Us)), errors: bunRuns.h3.reduce((n, r) => n + r.errors, 0) };
const m2 = { rps: median(bunRuns.h2.map((r) => r.rps)), p99: median(bunRuns.h2.map((r) => r.p99Us)), errors: bunRuns.h2.reduce((n, r) => n + r.errors, 0) };
h3rows.push([`${H3_CONC} concurrent`, "h2", fmtRate(m2.rps), fmtLatency(m2.p99), String(m2.errors), "", ""]);
h3rows.push(["", "h3", fmtRate(m3.rps), fmtLatency(m3.p99), String(m3.errors), fmtRatio(m3.rps / m2.rps), fmtRatio(m3.p99 / m2.p99)]);
console.log(`\nClusterClub over HTTP/3 and HTTP/2 from Bun ${Bun.version}'s fetch (one client process), ${ROUNDS} rounds × ${DURATION}s, medians\n`);
console.log(printTable(h3rows));

await kids.stopAll();
