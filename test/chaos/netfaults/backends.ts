// Several test backends in one process (one process per host instead of one per backend).
//   bun backends.ts <ip:port:name>... [--flap name:halfPeriodMs]
// Prints {"ready":true} once all listen. With --flap, SIGUSR1 starts flapping that backend: it closes its
// port and opens it again every halfPeriodMs (refused connections while down, like a crash-looping
// service); SIGUSR2 stops flapping (leaving it up) and prints {"flaps":n}.
import { type BackendHandle, startBackend } from "../../fixtures/backend.ts";

const args = process.argv.slice(2);
const flapArg = args.indexOf("--flap");
const flap = flapArg >= 0 ? args.splice(flapArg, 2)[1]! : undefined;
const specs = args.map((a) => {
  const [host, port, name] = a.split(":");
  return { host: host!, port: Number(port), name: name! };
});

const running = new Map<string, BackendHandle>();
for (const s of specs) running.set(s.name, startBackend({ hostname: s.host, port: s.port, name: s.name }));

let flaps = 0;
if (flap) {
  const [name, half] = flap.split(":");
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`--flap ${flap}: no backend named ${name}`);
  let timer: ReturnType<typeof setInterval> | undefined;
  let busy: Promise<void> = Promise.resolve();
  const toggle = async () => {
    const b = running.get(spec.name);
    if (b) {
      running.delete(spec.name);
      await b.stop();
    } else {
      running.set(spec.name, startBackend({ hostname: spec.host, port: spec.port, name: spec.name }));
    }
    flaps++;
  };
  process.on("SIGUSR1", () => {
    timer ??= setInterval(() => (busy = busy.then(toggle)), Number(half));
  });
  process.on("SIGUSR2", async () => {
    clearInterval(timer);
    timer = undefined;
    await busy;
    if (!running.has(spec.name)) running.set(spec.name, startBackend({ hostname: spec.host, port: spec.port, name: spec.name }));
    console.log(JSON.stringify({ flaps }));
  });
}

console.log(JSON.stringify({ ready: true }));
