// [proxy.tls]: certificate and key files (PEM), more certificates chosen by SNI, and an optional
// plain-HTTP listener that redirects to HTTPS. Files are read and checked at config time, so a
// missing file or a key that does not match its certificate is a config error, before anything binds.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { errorCodeOrMessage } from "../netutil.ts";
import { isTable, type Table } from "./table.ts";

export interface CertPair {
  /** SNI name this pair answers for; undefined = the default certificate. */
  serverName?: string;
  certPath: string;
  keyPath: string;
}

export interface TlsConfig {
  certs: CertPair[];
  /** Port of a plain-HTTP listener that answers 308 to the HTTPS URL; undefined = none. */
  redirectPort?: number;
  /** HTTP/3 (QUIC) on UDP proxy.listen_port, announced by Alt-Svc on the TLS listener's answers. */
  http3: boolean;
}

type Issue = { path: string; message: string };

/** Reads a PEM file; pushes an issue and returns undefined when it cannot. */
function readPem(path: unknown, at: string, issues: Issue[]): string | undefined {
  if (typeof path !== "string" || path === "") {
    issues.push({ path: at, message: "expected a path to a PEM file" });
    return undefined;
  }
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    issues.push({ path: at, message: `cannot read "${path}": ${errorCodeOrMessage(e)}` });
    return undefined;
  }
}

function checkPair(raw: Table, at: string, issues: Issue[], serverName?: string): CertPair | undefined {
  const before = issues.length;
  const certPem = readPem(raw.cert, `${at}.cert`, issues);
  const keyPem = readPem(raw.key, `${at}.key`, issues);
  if (issues.length > before || certPem === undefined || keyPem === undefined) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    issues.push({ path: `${at}.cert`, message: `not a PEM certificate: ${(e as Error).message}` });
    return undefined;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      issues.push({ path: `${at}.key`, message: `does not match the certificate in ${at}.cert` });
      return undefined;
    }
  } catch (e) {
    issues.push({ path: `${at}.key`, message: `not a PEM private key: ${(e as Error).message}` });
    return undefined;
  }
  if (serverName !== undefined && !cert.checkHost(serverName)) {
    issues.push({ path: `${at}.cert`, message: `is not valid for server_name "${serverName}"` });
    return undefined;
  }
  return { serverName, certPath: raw.cert as string, keyPath: raw.key as string };
}

export function resolveTls(raw: unknown, issues: Issue[]): TlsConfig | undefined {
  if (raw === undefined) return undefined;
  if (!isTable(raw)) {
    issues.push({ path: "proxy.tls", message: "expected a table [proxy.tls] with cert and key" });
    return undefined;
  }
  for (const k of Object.keys(raw)) {
    if (!["cert", "key", "redirect_port", "sni", "http3"].includes(k)) {
      issues.push({ path: `proxy.tls.${k}`, message: "unknown key; known keys here: cert, key, redirect_port, sni, http3" });
    }
  }
  let http3 = false;
  if (raw.http3 !== undefined) {
    if (typeof raw.http3 !== "boolean") issues.push({ path: "proxy.tls.http3", message: `expected true or false, got ${JSON.stringify(raw.http3)}` });
    else http3 = raw.http3;
  }
  // HTTP/3 is TLS by construction (QUIC): without a certificate there is nothing to serve it with.
  if (http3 && (raw.cert === undefined || raw.key === undefined)) {
    issues.push({ path: "proxy.tls.http3", message: "needs proxy.tls.cert and proxy.tls.key: HTTP/3 runs over TLS (QUIC) only" });
    return undefined;
  }
  const certs: CertPair[] = [];
  const main = checkPair(raw, "proxy.tls", issues);
  if (main) certs.push(main);
  if (raw.sni !== undefined) {
    if (!Array.isArray(raw.sni)) {
      issues.push({ path: "proxy.tls.sni", message: "expected an array of tables ([[proxy.tls.sni]] with server_name, cert, key)" });
    } else {
      raw.sni.forEach((entry, i) => {
        const at = `proxy.tls.sni[${i}]`;
        if (!isTable(entry) || typeof entry.server_name !== "string" || entry.server_name === "") {
          issues.push({ path: `${at}.server_name`, message: "expected a server name string" });
          return;
        }
        const pair = checkPair(entry, at, issues, entry.server_name);
        if (pair) certs.push(pair);
      });
    }
  }
  let redirectPort: number | undefined;
  if (raw.redirect_port !== undefined) {
    const p = raw.redirect_port;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
      issues.push({ path: "proxy.tls.redirect_port", message: `expected a port 0–65535, got ${JSON.stringify(p)}` });
    } else redirectPort = p;
  }
  return { certs, redirectPort, http3 };
}
