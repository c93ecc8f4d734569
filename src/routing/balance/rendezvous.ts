// Weighted rendezvous (highest random weight) hashing: every candidate scores the key, the highest
// score wins. Removing one of N candidates moves only the keys it held (~1/N), adding one takes ~1/N;
// any process with the same candidates, weights and key picks the same one, with no shared state. Used
// for backends (the hash policy) and for the node choice of a hashed request, so that a key lands on the
// same node — and there on the same backend — whichever node the client entered by.

/** 32-bit hash of a string, the same in every process and node (xxHash32, seed 0). */
export function hashString(s: string): number {
  return Bun.hash.xxHash32(s) >>> 0;
}

/** murmur3's finaliser: spreads a 32-bit value over all 32 bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The score of a candidate (`id`: the hash of its stable name) for `key`, weighted: w / -ln(u) with u
 * uniform in (0,1) from the pair, so a candidate of weight 2 wins twice as many keys as one of weight 1.
 */
export function score(key: number, id: number, weight: number): number {
  const u = (fmix32((key ^ id) >>> 0) + 0.5) / 4294967296;
  return weight / -Math.log(u);
}

/**
 * Index of the highest-scoring candidate that `skip` does not refuse, or -1. `ids[i]` and `weights[i]`
 * describe candidate i; weight 0 never wins.
 */
export function rendezvous(key: number, ids: readonly number[], weights: readonly number[], skip?: (i: number) => boolean): number {
  let best = -1;
  let bestScore = -1;
  for (let i = 0; i < ids.length; i++) {
    const w = weights[i]!;
    if (w <= 0 || (skip !== undefined && skip(i))) continue;
    const s = score(key, ids[i]!, w);
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  }
  return best;
}
