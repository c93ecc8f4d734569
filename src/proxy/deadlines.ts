// Response timeouts of the attempts in flight. Every attempt waits the same proxy.response_timeout, so
// deadlines fall due in the order they were set: one FIFO list per timeout value, swept by one timer,
// arms and disarms in O(1) with no allocation (the waiting object is the list node). A timer per
// request cost an entry object and the wheel's bookkeeping on every request. A reload that changes the
// timeout starts a new list; the old one drains.

/** Something with a deadline; the fields belong to the list it is on. */
export interface Expiring {
  deadlineAt: number;
  deadlinePrev: Expiring | null;
  deadlineNext: Expiring | null;
  deadlineList: DeadlineList | null;
  /** The deadline passed. */
  expire(): void;
}

/** How often due deadlines are looked for: a timeout fires up to this much late. */
const SWEEP_MS = 25;

export class DeadlineList {
  private head: Expiring | null = null;
  private tail: Expiring | null = null;

  constructor(
    readonly timeoutMs: number,
    private readonly owner: Deadlines,
  ) {}

  get empty(): boolean {
    return this.head === null;
  }

  /** `now` is performance.now() (the caller usually has it already). */
  add(e: Expiring, now: number): void {
    e.deadlineAt = now + this.timeoutMs;
    e.deadlineList = this;
    e.deadlinePrev = this.tail;
    e.deadlineNext = null;
    if (this.tail === null) this.head = e;
    else this.tail.deadlineNext = e;
    this.tail = e;
    this.owner.wake();
  }

  remove(e: Expiring): void {
    if (e.deadlineList !== this) return;
    const p = e.deadlinePrev;
    const n = e.deadlineNext;
    if (p === null) this.head = n;
    else p.deadlineNext = n;
    if (n === null) this.tail = p;
    else n.deadlinePrev = p;
    e.deadlinePrev = e.deadlineNext = null;
    e.deadlineList = null;
  }

  /** Expires everything due at `now`. */
  sweep(now: number): void {
    let e = this.head;
    while (e !== null && e.deadlineAt <= now) {
      this.remove(e);
      e.expire();
      e = this.head;
    }
  }
}

export class Deadlines {
  private readonly lists = new Map<number, DeadlineList>();
  private timer: ReturnType<typeof setInterval> | null = null;

  /** The list for `timeoutMs` (one per distinct value; the current config's is the hot one). */
  list(timeoutMs: number): DeadlineList {
    let l = this.lists.get(timeoutMs);
    if (l === undefined) {
      l = new DeadlineList(timeoutMs, this);
      this.lists.set(timeoutMs, l);
    }
    return l;
  }

  /** Something was added: make sure the sweep runs. It stops itself once every list is empty. */
  wake(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(this.sweep, SWEEP_MS);
    this.timer.unref();
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    let pending = false;
    for (const [ms, l] of this.lists) {
      l.sweep(now);
      if (!l.empty) pending = true;
      else if (this.lists.size > 1) this.lists.delete(ms); // a timeout value no longer in use
    }
    if (!pending && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  };
}
