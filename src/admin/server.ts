// The admin listener: /health, /status (JSON) and /metrics (Prometheus), bound to loopback and open
// only to the [admin] allow ranges (loopback) by default.
// Also the live status page: / (HTML) fed by /events (server-sent events).

import type { Server } from "bun";
import type { AdminConfig } from "../config/schema.ts";
import { AdminAcl } from "./acl.ts";
import { pageResponse } from "./page.ts";
import type { StatusDoc } from "./status.ts";

export interface StatusSource {
  /** The /status document. */
  status(): StatusDoc;
  /** The /metrics text. */
  metrics(): string;
  /** True once the node serves traffic. */
  ready(): boolean;
  /** Status page: answers GET /events with a server-sent event stream (see events.ts). */
  events?: { respond(req: Request): Response };
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export class AdminServer {
  private server: Server<undefined> | undefined;
  private readonly acl: AdminAcl;

  constructor(
    private readonly cfg: AdminConfig,
    private readonly source: StatusSource,
  ) {
    this.acl = new AdminAcl(cfg.allow);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  start(): void {
    this.server = Bun.serve({
      hostname: this.cfg.bindAddress,
      port: this.cfg.listenPort,
      development: false,
      fetch: (req, server) => this.route(req, server),
    });
  }

  async stop(): Promise<void> {
    await this.server?.stop(true);
  }

  private route(req: Request, server: Server<undefined>): Response {
    // [admin] allow: checked before anything else, so a denied client learns nothing about the node.
    if (!this.acl.allows(server.requestIP(req)?.address)) {
      return new Response("forbidden: this address is not in [admin] allow\n", { status: 403, headers: { "content-type": "text/plain" } });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const url = new URL(req.url);
    switch (url.pathname) {
      // Status page (page.ts, events.ts): the event stream is long-lived, so no idle timeout for it.
      case "/":
        return pageResponse();
      case "/events":
        if (!this.source.events) break;
        server.timeout(req, 0);
        return this.source.events.respond(req);
      // End of status page routes.
      case "/health":
        return this.source.ready()
          ? new Response("ok\n", { headers: { "content-type": "text/plain" } })
          : new Response("starting\n", { status: 503, headers: { "content-type": "text/plain" } });
      case "/status":
        return new Response(JSON.stringify(this.source.status(), null, 2) + "\n", { headers: JSON_HEADERS });
      case "/metrics":
        return new Response(this.source.metrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
    }
    return new Response("not found; try /, /health, /status, /metrics\n", { status: 404 });
  }
}
