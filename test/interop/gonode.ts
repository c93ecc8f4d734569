// Test helper: build and run the Go memberlist 0.2.2 reference peer (test/interop/go/peer).
// The binary is built once per source version into the OS temp dir and shared by test files.
// Without Go or the Debian memberlist package, buildGoPeer() says what is missing (the suites skip, or fail
// under CI=true: test/helpers/prereq.ts). A `go build` that fails is a failure, never a skip.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PEER_DIR = join(import.meta.dir, "go", "peer");
const GOPATH = "/usr/share/gocode";
const MEMBERLIST_SRC = join(GOPATH, "src/github.com/hashicorp/memberlist");

export type GoBuild = { ok: true; binary: string } | { ok: false; missing: string };

/** How to get what buildGoPeer() needs. */
export const GO_INSTALL = "apt-get install golang-go golang-github-hashicorp-memberlist-dev";

let building: Promise<GoBuild> | undefined;

/** Builds the peer (cached by source hash). A missing toolchain comes back as `{ ok: false, missing }`; a failed build throws. */
export function buildGoPeer(): Promise<GoBuild> {
  building ??= build();
  return building;
}

function missing(reason: string): GoBuild {
  return { ok: false, missing: reason };
}

async function build(): Promise<GoBuild> {
  const go = Bun.which("go");
  if (!go) return missing("`go` is not on PATH");
  if (!existsSync(MEMBERLIST_SRC)) return missing(`memberlist source not found at ${MEMBERLIST_SRC}`);
  const source = await Bun.file(join(PEER_DIR, "main.go")).text();
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), "clusterclub-gopeer");
  const binary = join(dir, `peer-${hash}`);
  if (existsSync(binary)) return { ok: true, binary };
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  const proc = Bun.spawn([go, "build", "-o", partial, "."], {
    cwd: PEER_DIR,
    // GOCACHE defaults under $HOME, which minimal CI environments may not have.
    env: { GOCACHE: join(dir, "gocache"), ...process.env, GOPATH, GO111MODULE: "off", GOFLAGS: "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, errText] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`go build of the memberlist peer failed (exit ${code}):\n${errText}`);
  renameSync(partial, binary); // atomic: concurrent test files never run a half-written binary
  return { ok: true, binary };
}

export interface GoNodeOptions {
  name: string;
  bind?: string;
  /** 0 (default) lets the node pick; the chosen port is in `GoNode.port`. */
  port?: number;
  /** Raw key bytes or base64. */
  key?: Uint8Array | string;
  join?: string[];
  meta?: string;
  /** Go durations, e.g. "200ms". Defaults: DefaultLANConfig. */
  probeInterval?: string;
  probeTimeout?: string;
  gossipInterval?: string;
  suspicionMult?: number;
  pushPullInterval?: string;
}

export interface GoMember {
  name: string;
  addr: string;
  port: number;
  meta: string;
  state: "alive" | "suspect" | "dead" | "left";
  vsn: number[];
}

/** A line the peer printed: node events (join/leave/update), ready, joined, members, meta, left, error. */
export type GoEvent =
  | ({ event: "join" | "leave" | "update" } & GoMember)
  | { event: "ready"; name: string; addr: string; port: number }
  | { event: "joined"; contacted: number; error: string | null }
  | { event: "members"; members: GoMember[] | null }
  | { event: "meta"; meta: string; error: string | null }
  | { event: "left"; error: string | null }
  | { event: "msg"; data: string }
  | { event: "state"; data: string; join: boolean }
  | { event: "sent"; error: string | null }
  | { event: "queued" }
  | { event: "stateSet" }
  | { event: "error"; error: string };

type Waiter = { pred: (e: GoEvent) => boolean; resolve: (e: GoEvent) => void };

export class GoNode {
  readonly events: GoEvent[] = [];
  private waiters: Waiter[] = [];
  private stderrText = "";
  port = 0;
  addr = "";

  private constructor(
    readonly name: string,
    private readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">,
  ) {
    void this.readStdout();
    void this.readStderr();
  }

  /** Starts a node and waits until it is listening. */
  static async start(binary: string, opts: GoNodeOptions, timeoutMs = 10_000): Promise<GoNode> {
    const args = [binary, "-name", opts.name, "-bind", opts.bind ?? "127.0.0.1", "-port", String(opts.port ?? 0)];
    if (opts.key) args.push("-key", typeof opts.key === "string" ? opts.key : Buffer.from(opts.key).toString("base64"));
    if (opts.join?.length) args.push("-join", opts.join.join(","));
    if (opts.meta !== undefined) args.push("-meta", opts.meta);
    if (opts.probeInterval) args.push("-probe-interval", opts.probeInterval);
    if (opts.probeTimeout) args.push("-probe-timeout", opts.probeTimeout);
    if (opts.gossipInterval) args.push("-gossip-interval", opts.gossipInterval);
    if (opts.suspicionMult !== undefined) args.push("-suspicion-mult", String(opts.suspicionMult));
    if (opts.pushPullInterval) args.push("-pushpull-interval", opts.pushPullInterval);
    const proc = Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const node = new GoNode(opts.name, proc);
    const ready = await node.waitFor((e) => e.event === "ready" || e.event === "error", timeoutMs);
    if (ready.event !== "ready") {
      node.kill();
      throw new Error(`Go peer ${opts.name} failed to start: ${JSON.stringify(ready)}\n${node.stderr}`);
    }
    node.port = ready.port;
    node.addr = ready.addr;
    return node;
  }

  /** memberlist's own log (for failure messages). Bounded to the last 64 KiB. */
  get stderr(): string {
    return this.stderrText;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exited(): Promise<number> {
    return this.proc.exited;
  }

  private async readStdout(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of this.proc.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        let ev: GoEvent;
        try {
          ev = JSON.parse(line) as GoEvent;
        } catch {
          continue;
        }
        this.events.push(ev);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(ev)) return true;
          w.resolve(ev);
          return false;
        });
      }
    }
  }

  private async readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      this.stderrText = (this.stderrText + decoder.decode(chunk, { stream: true })).slice(-65536);
    }
  }

  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitFor(pred: (e: GoEvent) => boolean, timeoutMs = 10_000): Promise<GoEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.awaitNew(pred, timeoutMs);
  }

  /** Resolves with the next event from now on that matches `pred` (ignores history). */
  next(pred: (e: GoEvent) => boolean, timeoutMs = 10_000): Promise<GoEvent> {
    return this.awaitNew(pred, timeoutMs);
  }

  private awaitNew(pred: (e: GoEvent) => boolean, timeoutMs: number): Promise<GoEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`Go peer ${this.name}: no matching event within ${timeoutMs} ms. Events: ${JSON.stringify(this.events.slice(-10))}\n${this.stderr.slice(-4000)}`));
      }, timeoutMs);
      const waiter: Waiter = {
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private send(line: string): void {
    this.proc.stdin.write(line + "\n");
    this.proc.stdin.flush();
  }

  async members(): Promise<GoMember[]> {
    const p = this.next((e) => e.event === "members");
    this.send("members");
    const ev = (await p) as Extract<GoEvent, { event: "members" }>;
    return ev.members ?? [];
  }

  /** Polls `members` until `pred` holds (gossip is asynchronous). */
  async waitMembers(pred: (m: GoMember[]) => boolean, timeoutMs = 10_000): Promise<GoMember[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.members();
      if (pred(m)) return m;
      if (Date.now() > deadline) throw new Error(`Go peer ${this.name}: members never matched: ${JSON.stringify(m)}`);
      await Bun.sleep(100);
    }
  }

  async setMeta(meta: string): Promise<void> {
    const p = this.next((e) => e.event === "meta");
    this.send(`meta ${meta}`);
    const ev = (await p) as Extract<GoEvent, { event: "meta" }>;
    if (ev.error) throw new Error(`UpdateNode failed: ${ev.error}`);
  }

  async join(seeds: string[]): Promise<number> {
    const p = this.next((e) => e.event === "joined");
    this.send(`join ${seeds.join(",")}`);
    const ev = (await p) as Extract<GoEvent, { event: "joined" }>;
    if (ev.error) throw new Error(`join failed: ${ev.error}`);
    return ev.contacted;
  }

  /** A user message to `node` (SendBestEffort or SendReliable). */
  async sendUser(node: string, how: "best" | "reliable", text: string): Promise<void> {
    const p = this.next((e) => e.event === "sent");
    this.send(`send ${node} ${how} ${text}`);
    const ev = (await p) as Extract<GoEvent, { event: "sent" }>;
    if (ev.error) throw new Error(`send failed: ${ev.error}`);
  }

  /** Queues a user message that the delegate hands to gossip (GetBroadcasts) once. */
  async broadcast(text: string): Promise<void> {
    const p = this.next((e) => e.event === "queued");
    this.send(`broadcast ${text}`);
    await p;
  }

  /** Sets the delegate's push/pull user state (LocalState). */
  async setState(text: string): Promise<void> {
    const p = this.next((e) => e.event === "stateSet");
    this.send(`state ${text}`);
    await p;
  }

  /** Graceful: Leave (gossips dead about itself), Shutdown, exit 0. */
  async leave(timeoutMs = 10_000): Promise<void> {
    this.send("leave");
    const code = await Promise.race([this.proc.exited, Bun.sleep(timeoutMs).then(() => -1)]);
    if (code !== 0) {
      this.kill();
      throw new Error(`Go peer ${this.name} did not leave cleanly (exit ${code})`);
    }
  }

  /** Hard stop (SIGKILL): the node just disappears, as in a crash. */
  kill(): void {
    if (this.proc.exitCode === null && !this.proc.killed) this.proc.kill("SIGKILL");
  }
}
