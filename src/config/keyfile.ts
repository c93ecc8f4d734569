// cluster.shared_key_file: the key kept out of the config file (a Kubernetes Secret mounted as a file,
// a root-only file). Read whenever the config is, so a reload (SIGHUP) picks up a rotated key.

import { readFileSync } from "node:fs";
import { errorCodeOrMessage } from "../netutil.ts";
import type { ConfigIssue } from "./parse.ts";
import type { ClusterConfig } from "./schema.ts";

/** Fills `sharedKey` from `sharedKeyFile`; pushes an issue when both are set or the file is unusable. */
export function readKeyFile(cluster: Partial<ClusterConfig>, issues: ConfigIssue[]): void {
  const path = cluster.sharedKeyFile;
  if (path === undefined) return;
  const at = "cluster.shared_key_file";
  if (cluster.sharedKey !== undefined) {
    issues.push({ path: at, message: "set either shared_key or shared_key_file, not both" });
    return;
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    issues.push({ path: at, message: `cannot read "${path}": ${errorCodeOrMessage(e)}` });
    return;
  }
  // Editors and `echo` add a final newline; it is not part of the key.
  const key = text.trim();
  if (key === "") issues.push({ path: at, message: `"${path}" is empty` });
  else cluster.sharedKey = key;
}
