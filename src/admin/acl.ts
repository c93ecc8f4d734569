// Who may use the admin API: `[admin] allow`, a list of CIDR ranges matched against the source address
// of each connection. Binding the admin listener to a routable address does not open it to that
// network: the ranges must say so too.

import { type Cidr, cidrContains, parseCidr } from "../config/cidr.ts";

export class InvalidCidrError extends Error {
  constructor(
    readonly range: string,
    readonly reason: string,
  ) {
    super(`admin allow list: ${reason}`);
    this.name = "InvalidCidrError";
  }
}

export class AdminAcl {
  private readonly ranges: Cidr[];

  /** Ranges are validated by the config parser already; a bad one here is a programming error. */
  constructor(ranges: readonly string[]) {
    this.ranges = ranges.map((text) => {
      const r = parseCidr(text);
      if (typeof r === "string") throw new InvalidCidrError(text, r);
      return r;
    });
  }

  /** Whether a connection from `address` may use the admin API; an unknown address never may. */
  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    for (let i = 0; i < this.ranges.length; i++) if (cidrContains(this.ranges[i]!, address)) return true;
    return false;
  }
}
