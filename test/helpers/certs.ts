// Real certificates for TLS tests, made with openssl: a CA and leaf certificates signed by it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  caPath: string;
  caPem: string;
  /** Issues a leaf for `cn` with the given subjectAltNames ("DNS:x", "IP:1.2.3.4"); returns PEM paths. */
  issue(cn: string, sans: string[]): { cert: string; key: string };
}

export function opensslAvailable(): boolean {
  return spawnSync("openssl", ["version"]).status === 0;
}

function run(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "cc-pki-"));
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ClusterClub Test CA"], dir);
  const caPath = join(dir, "ca.pem");
  return {
    dir,
    caPath,
    caPem: readFileSync(caPath, "utf8"),
    issue(cn, sans) {
      const base = cn.replace(/[^a-z0-9.-]/gi, "_");
      run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${cn}`], dir);
      writeFileSync(join(dir, `${base}.ext`), `subjectAltName=${sans.join(",")}\n`);
      run(["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${base}.pem`, "-days", "2", "-extfile", `${base}.ext`], dir);
      return { cert: join(dir, `${base}.pem`), key: join(dir, `${base}.key`) };
    },
  };
}
