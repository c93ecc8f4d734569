// `bun run demo`: two demo backends on 3003 and 3004 and a node in front of them on 8080,
// using config.example.toml, so a newcomer sees round-robin at once:  curl http://localhost:8080/
import { startBackend } from "../test/fixtures/backend.ts";

const root = new URL("..", import.meta.url).pathname;
const backends = [startBackend({ port: 3003, name: "demo-a" }), startBackend({ port: 3004, name: "demo-b" })];
console.log(`demo backends on :3003 and :3004`);

const node = Bun.spawn(["bun", "run", `${root}src/main.ts`, `${root}config.example.toml`, "--log-format", "pretty"], {
  stdio: ["inherit", "inherit", "inherit"],
});

// Tell the newcomer what to do once the node answers.
for (let i = 0; i < 100; i++) {
  try {
    const r = await fetch("http://127.0.0.1:9901/health");
    if (r.ok) {
      console.log("\nClusterClub is up. Try:\n  curl http://localhost:8080/      (run it twice: demo-a, then demo-b)\n  curl http://localhost:9901/status\n  Ctrl-C to stop\n");
      break;
    }
  } catch {}
  await Bun.sleep(100);
}

const stop = async () => {
  node.kill("SIGTERM");
  await node.exited;
  await Promise.all(backends.map((b) => b.stop()));
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const code = await node.exited;
await Promise.all(backends.map((b) => b.stop()));
process.exit(code);
