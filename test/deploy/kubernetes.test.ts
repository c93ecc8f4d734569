// deploy/kubernetes: the manifests parsed (Bun.YAML) and checked against each other and against the
// config.toml they mount: ports, peers through the headless Service, probes on the admin /health,
// the key from the Secret, and a grace period longer than preStop + leave + drain.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/index.ts";
import { parseHostPort } from "../../src/config/hostport.ts";

const DIR = join(import.meta.dir, "../../deploy/kubernetes");
/** Before draining, a stopping node waits up to 5 s for its leave to be gossiped (src/control/membership.ts). */
const LEAVE_MS = 5000;

// A YAML node, read through accessors that name the path of anything missing or mistyped.
type Path = string;
function obj(v: unknown, at: Path): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${at}: expected a mapping`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, at: Path): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${at}: expected a list`);
  return v;
}
function str(v: unknown, at: Path): string {
  if (typeof v !== "string") throw new Error(`${at}: expected a string`);
  return v;
}
function num(v: unknown, at: Path): number {
  if (typeof v !== "number") throw new Error(`${at}: expected a number`);
  return v;
}
const get = (o: Record<string, unknown>, at: Path, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k, i) => obj(v, [at, ...keys.slice(0, i)].join("."))[k], o);

interface Doc {
  file: string;
  kind: string;
  name: string;
  body: Record<string, unknown>;
}

const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));
const docs: Doc[] = files.flatMap((file) => {
  const parsed: unknown = Bun.YAML.parse(readFileSync(join(DIR, file), "utf8"));
  return (Array.isArray(parsed) ? parsed : [parsed]).map((d, i) => {
    const body = obj(d, `${file}[${i}]`);
    const kind = str(body.kind, `${file}.kind`);
    return { file, kind, name: kind === "Kustomization" ? "" : str(get(body, file, "metadata", "name"), `${file}.metadata.name`), body };
  });
});
const one = (kind: string, name?: string): Doc => {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.name === name));
  expect(found.map((d) => `${d.kind}/${d.name}`)).toHaveLength(1);
  return found[0]!;
};

const deployment = one("Deployment");
const pod = obj(get(deployment.body, "deployment", "spec", "template", "spec"), "pod spec");
const podLabels = obj(get(deployment.body, "deployment", "spec", "template", "metadata", "labels"), "pod labels");
const containers = arr(pod.containers, "containers").map((c, i) => obj(c, `containers[${i}]`));
const container = containers[0]!;
const mounts = arr(container.volumeMounts, "volumeMounts").map((m, i) => obj(m, `volumeMounts[${i}]`));
const volumes = arr(pod.volumes, "volumes").map((v, i) => obj(v, `volumes[${i}]`));
const containerPorts = arr(container.ports, "ports").map((p, i) => {
  const o = obj(p, `ports[${i}]`);
  return { name: str(o.name, "port name"), port: num(o.containerPort, "containerPort"), protocol: str(o.protocol ?? "TCP", "protocol") };
});

/** The container path a volume (by what it mounts: a ConfigMap or a Secret name) appears at. */
function mountOf(source: "configMap" | "secret", name: string): string {
  const vol = volumes.find((v) => v[source] !== undefined && str(obj(v[source], source)[source === "configMap" ? "name" : "secretName"], "volume source") === name);
  expect(vol, `a volume for ${source} ${name}`).toBeDefined();
  const m = mounts.find((x) => x.name === vol!.name);
  expect(m, `a mount of volume ${String(vol!.name)}`).toBeDefined();
  return str(m!.mountPath, "mountPath");
}

/** The mounted config.toml, with the Secret's key file placed where the config expects it. */
const configMap = one("ConfigMap");
const secret = one("Secret");
const configPath = `${mountOf("configMap", configMap.name)}/config.toml`;
const secretDir = mountOf("secret", secret.name);
const configText = str(get(configMap.body, "configmap", "data", "config.toml"), "data.config.toml");
const secretData = obj(secret.body.stringData, "stringData");
const local = mkdtempSync(join(tmpdir(), "cc-k8s-"));
const config = parseConfig(
  configText.replace(/shared_key_file = "([^"]+)"/, (_, path: string) => {
    expect(path.startsWith(`${secretDir}/`)).toBe(true);
    const key = path.slice(secretDir.length + 1);
    writeFileSync(join(local, key), str(secretData[key], `stringData.${key}`));
    return `shared_key_file = "${join(local, key)}"`;
  }),
  configPath,
);

describe("deploy/kubernetes", () => {
  test("kustomization lists every manifest", () => {
    const k = one("Kustomization");
    expect(arr(k.body.resources, "resources").map((r) => str(r, "resource")).sort()).toEqual(files.filter((f) => f !== "kustomization.yaml").sort());
  });

  test("the container runs the mounted config, and the key comes from the Secret", () => {
    const args = arr(container.args, "args").map((a) => str(a, "arg"));
    expect(args.at(-1)).toBe(configPath);
    expect(config.cluster.sharedKeyFile).toBeDefined();
    expect(config.cluster.sharedKey).toBe(str(secretData.shared_key, "stringData.shared_key"));
  });

  test("ports: proxy, admin, and gossip on both UDP and TCP, as the config says", () => {
    const has = (port: number, protocol: string) => containerPorts.some((p) => p.port === port && p.protocol === protocol);
    expect(has(config.proxy.listenPort, "TCP")).toBe(true);
    expect(has(config.admin.listenPort, "TCP")).toBe(true);
    expect(has(config.cluster.listenPort, "TCP")).toBe(true);
    expect(has(config.cluster.listenPort, "UDP")).toBe(true);
  });

  test("peers: the headless Service's name, on the gossip port, selecting the pods even before they are ready", () => {
    const headless = docs.find((d) => d.kind === "Service" && obj(d.body.spec, "spec").clusterIP === "None");
    expect(headless).toBeDefined();
    const spec = obj(headless!.body.spec, "spec");
    expect(spec.publishNotReadyAddresses).toBe(true);
    expect(obj(spec.selector, "selector")).toEqual(podLabels);
    const ports = arr(spec.ports, "ports").map((p) => obj(p, "port"));
    for (const protocol of ["TCP", "UDP"]) {
      const p = ports.find((x) => x.protocol === protocol);
      expect(num(p?.port, `${protocol} port`)).toBe(config.cluster.listenPort);
      expect(containerPorts.find((c) => c.name === p!.targetPort)?.protocol).toBe(protocol);
    }
    expect(config.cluster.peers.length).toBeGreaterThan(0);
    for (const peer of config.cluster.peers) {
      const hp = parseHostPort(peer);
      if (typeof hp === "string") throw new Error(hp);
      expect(hp.host.split(".")[0]).toBe(headless!.name);
      expect(hp.port).toBe(config.cluster.listenPort);
    }
  });

  test("the client Service targets the proxy port of the pods", () => {
    const svc = docs.filter((d) => d.kind === "Service" && obj(d.body.spec, "spec").clusterIP !== "None");
    expect(svc).toHaveLength(1);
    const spec = obj(svc[0]!.body.spec, "spec");
    expect(obj(spec.selector, "selector")).toEqual(podLabels);
    const target = obj(arr(spec.ports, "ports")[0], "port").targetPort;
    expect(containerPorts.find((p) => p.name === target || p.port === target)?.port).toBe(config.proxy.listenPort);
  });

  test("readiness and liveness probe the admin /health, which the kubelet may reach", () => {
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const http = obj(get(container, probe, probe, "httpGet"), `${probe}.httpGet`);
      expect(http.path).toBe("/health");
      expect(containerPorts.find((p) => p.name === http.port || p.port === http.port)?.port).toBe(config.admin.listenPort);
    }
    // The kubelet probes from the node's address: the admin API must listen beyond loopback and let it in.
    expect(config.admin.bindAddress).not.toMatch(/^127\./);
    expect(config.admin.allow.some((r) => !r.startsWith("127.") && r !== "::1/128")).toBe(true);
  });

  test("terminationGracePeriodSeconds > preStop + leave + drain_timeout", () => {
    const preStop = arr(get(container, "lifecycle", "lifecycle", "preStop", "exec", "command"), "preStop.exec.command").map((c) => str(c, "command"));
    expect(preStop[0]).toBe("sleep");
    const preStopMs = Number(preStop[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    expect(num(pod.terminationGracePeriodSeconds, "terminationGracePeriodSeconds") * 1000).toBeGreaterThan(preStopMs + LEAVE_MS + config.proxy.drainTimeoutMs);
  });
});
