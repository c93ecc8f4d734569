// Where the route sent a request, as the request path carries it: the pool, and the prefix its backends
// must not see. The entry node decides once; a peer it forwards to gets the path as the client sent it
// and this decision in an internal header, which it honours only from a member's address (elsewhere it
// routes by its own table, which in a consistently configured cluster decides the same).

import { stripPrefix } from "../routing/routes.ts";

export class RouteDecision {
  /** Path and query as a backend of the pool gets them. */
  readonly backendPath: string;

  constructor(
    readonly pool: string,
    /** Path and query as the client sent them (what a peer gets). */
    readonly path: string,
    /** Prefix to strip for backends, or "". */
    readonly strip: string,
  ) {
    this.backendPath = strip === "" ? path : stripPrefix(strip, path);
  }

  /** The internal header's value for a peer: "<pool>" or "<pool> <prefix>" (pool names hold no space). */
  get signal(): string {
    return this.strip === "" ? this.pool : `${this.pool} ${this.strip}`;
  }

  /** A member's decision, from its header value. */
  static fromSignal(value: string, path: string): RouteDecision {
    const sp = value.indexOf(" ");
    if (sp < 0) return new RouteDecision(value, path, "");
    const prefix = value.slice(sp + 1);
    return new RouteDecision(value.slice(0, sp), path, prefix.startsWith("/") ? prefix : "");
  }
}
