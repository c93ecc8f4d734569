import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:tls";
import { ConfigError, parseConfig } from "../../src/config/index.ts";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { makePki, opensslAvailable, type TestPki } from "../helpers/certs.ts";
import { FAST_GOSSIP, startNode, until } from "../helpers/node.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";

const noOpenssl = requirePrerequisite("TLS tests", opensslAvailable() ? undefined : "openssl not found", "apt-get install openssl");

/** The certificate CN a verifying TLS client sees when it asks for `servername`. */
function peerCn(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername, ca }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.end();
      resolve(String(cn));
    });
    s.on("error", reject);
  });
}

describe.skipIf(noOpenssl)("TLS termination", () => {
  let pki: TestPki;
  let backend: BackendHandle;
  let node: Awaited<ReturnType<typeof startNode>>;

  beforeAll(async () => {
    pki = makePki();
    const a = pki.issue("a.test", ["DNS:a.test", "IP:127.0.0.1"]);
    const b = pki.issue("b.test", ["DNS:b.test"]);
    backend = startBackend({ name: "tls-backend" });
    node = await startNode({
      backends: [`127.0.0.1:${backend.port}`],
      proxy: `[proxy.tls]\ncert = "${a.cert}"\nkey = "${a.key}"\nredirect_port = 0\n[[proxy.tls.sni]]\nserver_name = "b.test"\ncert = "${b.cert}"\nkey = "${b.key}"`,
    });
  });
  afterAll(async () => {
    await node?.stop(0);
    await backend?.stop();
  });

  test("a verifying client gets the backend's answer over HTTPS, and the backend sees X-Forwarded-Proto https", async () => {
    const url = `https://127.0.0.1:${node.proxy.port}/headers`;
    const r = await fetch(url, { tls: { ca: pki.caPem } } as RequestInit);
    expect(r.status).toBe(200);
    const { headers } = (await r.json()) as { headers: Record<string, string> };
    expect(headers["x-forwarded-proto"]).toBe("https");
    // Without our CA the certificate is rejected: the client really verifies.
    await expect(fetch(url).then((x) => x.status)).rejects.toThrow();
  });

  test("the certificate is chosen by SNI", async () => {
    expect(await peerCn(node.proxy.port, "a.test", pki.caPem)).toBe("a.test");
    expect(await peerCn(node.proxy.port, "b.test", pki.caPem)).toBe("b.test");
  });

  test("the plain-HTTP listener redirects to HTTPS, keeping path and query", async () => {
    const r = await fetch(`http://127.0.0.1:${node.proxy.redirectPort}/some/path?q=1`, { redirect: "manual" });
    expect(r.status).toBe(308);
    expect(r.headers.get("location")).toBe(`https://127.0.0.1:${node.proxy.port}/some/path?q=1`);
  });

  test("config errors: unreadable file, key that does not match, certificate not valid for its server_name", () => {
    const a = pki.issue("c.test", ["DNS:c.test"]);
    const other = pki.issue("d.test", ["DNS:d.test"]);
    const issues = (text: string) => {
      try {
        parseConfig(`${text}\n[[backends]]\naddress = "127.0.0.1:1"`);
      } catch (e) {
        if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    expect(issues(`[proxy.tls]\ncert = "/nope.pem"\nkey = "${a.key}"`)[0]).toMatch(/^proxy.tls.cert: cannot read/);
    expect(issues(`[proxy.tls]\ncert = "${a.cert}"\nkey = "${other.key}"`)[0]).toMatch(/^proxy.tls.key: does not match/);
    expect(issues(`[proxy.tls]\ncert = "${a.cert}"\nkey = "${a.key}"\n[[proxy.tls.sni]]\nserver_name = "x.test"\ncert = "${other.cert}"\nkey = "${other.key}"`)[0]).toMatch(
      /^proxy.tls.sni\[0\].cert: is not valid for server_name "x.test"/,
    );
  });
});

describe.skipIf(noOpenssl)("node-to-node forwarding over TLS (cluster.tls)", () => {
  test("a request to a node without backends reaches the peer's backend over HTTPS, verified with tls_ca", async () => {
    const pki = makePki();
    const leaf = pki.issue("nodes", ["IP:127.0.0.9", "IP:127.0.0.10", "IP:127.0.0.1"]);
    const tls = `[proxy.tls]\ncert = "${leaf.cert}"\nkey = "${leaf.key}"`;
    const cluster = `tls = true\ntls_ca = "${pki.caPath}"\n${FAST_GOSSIP}`;
    const far = startBackend({ name: "far-tls", hostname: "127.0.0.10" });
    const n1 = await startNode({ name: "t1", bind: "127.0.0.9", backends: ["127.0.0.9:1"], cluster, proxy: tls });
    const n2 = await startNode({
      name: "t2",
      bind: "127.0.0.10",
      backends: [`127.0.0.10:${far.port}`],
      cluster: `peers = ["127.0.0.9:${n1.cluster!.port}"]\n${cluster}`,
      proxy: tls,
    });
    try {
      await until(() => n1.router.snapshot.peers.some((p) => p.name === "t2"), 10_000);
      expect(n1.router.snapshot.peers[0]!.origin).toStartWith("https://127.0.0.10:");
      const r = await fetch(`https://127.0.0.9:${n1.proxy.port}/`, { tls: { ca: pki.caPem } } as RequestInit);
      expect(r.status).toBe(200);
      expect(r.headers.get("x-backend")).toBe("far-tls");
      expect(r.headers.get("x-seen-via")).toBe("1.1 t1, 1.1 t2");
    } finally {
      await n2.stop(0);
      await n1.stop(0);
      await far.stop();
    }
  });
});
