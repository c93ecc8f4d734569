// This node in the cluster: the gossip engine configured from [cluster], our metadata (healthy
// backends, proxy port) carried through its delegate, and the [cluster] changes a reload can apply.

import type { ClusterConfig } from "../config/schema.ts";
import { type Member, Memberlist, type NetTransportOptions, type Transport } from "../cluster/index.ts";
import type { Logger } from "../log.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { MetaPublisher } from "./metapublisher.ts";
import { encodeNodeMeta, type NodeMeta } from "./nodemeta.ts";
import { type UserChannel, UserMessages } from "./usermessages.ts";

/** Builds the gossip transport for the configured bind address and port (default: the engine's sockets). */
export type GossipTransportFactory = (bind: NetTransportOptions) => Promise<Transport>;

export interface MembershipOptions {
  wheel: TimingWheel;
  logger: Logger;
  transport?: GossipTransportFactory;
  /** A member joined, left or changed (its metadata, or suspect/alive). */
  onMembers(): void;
  /** Features that talk through user messages and push/pull state (rate-limit usage). */
  channels?: UserChannel[];
}

export class Membership {
  private readonly meta: MetaPublisher;
  /** User messages and state, by type byte. */
  readonly user = new UserMessages();
  engine: Memberlist | undefined;
  /** Known members (any state), kept on member events so the gossip path can read it cheaply. */
  memberCount = 1;

  constructor(
    private readonly cfg: ClusterConfig,
    initial: NodeMeta,
    private readonly o: MembershipOptions,
  ) {
    this.meta = new MetaPublisher(initial, o.wheel);
    for (const c of o.channels ?? []) this.user.add(c);
  }

  /** Metadata broadcasts sent (health-driven updates), for metrics. */
  get metaSent(): number {
    return this.meta.sent;
  }

  members(): Member[] {
    return this.engine?.members() ?? [];
  }

  /** Our metadata changed; it goes out rate-limited. */
  announce(meta: NodeMeta): void {
    this.meta.update(meta);
  }

  async start(meta: NodeMeta): Promise<void> {
    const c = this.cfg;
    const log = this.o.logger;
    // An unset shared_key is warned about where it matters (a public bind): src/config/warnings.ts.
    this.meta.update(meta);
    const onMember = () => {
      this.memberCount = this.engine?.members().length ?? 1;
      this.o.onMembers();
    };
    const user = this.user;
    this.engine = await Memberlist.create({
      name: c.nodeName,
      bindAddress: c.bindAddress,
      bindPort: c.listenPort,
      transport: this.o.transport ? await this.o.transport({ bindAddress: c.bindAddress, bindPort: c.listenPort, logger: log.child("transport") }) : undefined,
      advertiseAddress: c.advertiseAddress,
      secrets: c.sharedKey ? { primary: c.sharedKey, extra: c.extraKeys } : undefined,
      peers: c.peers,
      // Our metadata means "this many healthy backends, proxy on this port"; the engine only carries it.
      delegate: {
        nodeMeta: () => encodeNodeMeta(this.meta.announce()),
        notifyMsg: (m) => user.notifyMsg(m),
        getBroadcasts: (overhead, limit) => user.getBroadcasts(overhead, limit),
        localState: () => user.localState(),
        mergeRemoteState: (s) => user.mergeRemoteState(s),
      },
      events: { notifyJoin: onMember, notifyLeave: onMember, notifyUpdate: onMember },
      probeIntervalMs: c.probeIntervalMs,
      probeTimeoutMs: c.probeTimeoutMs,
      gossipIntervalMs: c.gossipIntervalMs,
      suspicionMult: c.suspicionMult,
      pushPullIntervalMs: c.pushPullIntervalMs,
      logger: log,
      wheel: this.o.wheel,
    });
    this.meta.attach(this.engine);
  }

  /** Key rotation. False when gossip was not encrypted from the start (turning it on needs a restart). */
  setKeys(next: ClusterConfig): boolean {
    return Boolean(this.engine && next.sharedKey && this.engine.setKeys(next.sharedKey, next.extraKeys));
  }

  /** A reloaded seed list: retried while alone; seeds not known before are joined now. */
  setPeers(peers: string[], previous: string[]): void {
    if (!this.engine) return;
    this.engine.setPeers(peers);
    const added = peers.filter((p) => !previous.includes(p));
    if (added.length > 0) this.engine.join(added).catch((e) => this.o.logger.warn("could not join new peers yet", { peers: added, error: e }));
  }

  /** Leaves first (peers see `left` at once and stop sending), then shuts the engine down. */
  async stop(drainMs: number): Promise<void> {
    if (this.engine) {
      await this.engine.leave(Math.min(5000, Math.max(500, drainMs))).catch(() => {});
      await this.engine.shutdown().catch(() => {});
    }
    this.meta.stop();
  }
}
