// Summarises a Chrome .cpuprofile (from `bun --cpu-prof`): self time by function and by file, top N.
//   bun bench/lib/cpuprofile.ts <file.cpuprofile> [N]
// Used to say where the microseconds of a request go before and after a hot-path change. JSC's sampler
// charges time spent in a native call (a socket write, and the kernel's loopback delivery under it) to
// that call, so read the JS rows for what our code costs and compare totals per request across runs.
export {};

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) {
  console.error("usage: bun bench/lib/cpuprofile.ts <file.cpuprofile> [N]");
  process.exit(2);
}
const top = Number(process.argv[3] ?? 40);
const p = (await Bun.file(file).json()) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) {
  const id = p.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
}
let total = 0;
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  total += us;
  const short = n.callFrame.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/") || "(native)";
  const key = `${n.callFrame.functionName || "(anonymous)"}  ${short}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  files.set(short, (files.get(short) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
console.log("\nself time by function:");
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log("\nself time by file:");
for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(us)}  ${k}`);
