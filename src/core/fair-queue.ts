/** Where a waiting hash belongs in the fair order. */
export interface Lane {
  /** The key's scope (a tenant): scopes take turns. */
  scope: string;
  /** The key's id: within a scope, ids take turns, each holding at most a few places. */
  id: string;
  /** A key this process has proven (its digest matched before): served before everything else. */
  proven?: boolean;
  /**
   * Work no caller waits for (a rehash after a successful verification): served only when no
   * other entry waits, and the first to give up its place at the cap.
   */
  background?: boolean;
}

/**
 * The most waiting hashes one id may hold; one more is refused (`busy`) at once. The default
 * wrong-secret budget (`rateLimit`, 10 a window, attempts in progress included) never lets an id
 * reach it; it bounds an id's share when `rateLimit` is off or raised. Not lower: a hash refused
 * at once invites a flood to send again at once, where a waiting one holds its connection.
 */
export const MAX_WAITING_PER_ID = 10;

/** One scope's waiting entries, by id; Map order is the turn order. */
class ScopeLine<T> {
  readonly ids = new Map<string, T[]>();
  size = 0;
}

/**
 * The waiting line of the hashing queue, shared fairly (issue 14): proven keys first, then the
 * scopes take turns one entry each (round robin, in the order they joined), and within a scope
 * the ids take turns; background work (rehashes) last. A flood in one scope, over as many ids as it likes, then delays another
 * scope's next hash by at most one entry per waiting scope, and, at the memory cap, the scope
 * holding the most gives up its newest entry to a scope holding less ({@link evictFor}).
 *
 * Turns are kept with Map insertion order: the scope (or id) served goes to the back of its Map
 * when it still has entries, so every operation is O(1) except {@link positionOf} and
 * {@link evictFor}, which are O(waiting scopes).
 */
export class FairQueue<T> {
  private readonly proven: T[] = [];
  private provenHead = 0;
  /** Background entries, oldest first: after everything else. */
  private readonly background: T[] = [];
  private backgroundHead = 0;
  private readonly scopes = new Map<string, ScopeLine<T>>();
  private count = 0;

  /** How many entries wait, in every lane. */
  get size(): number {
    return this.count;
  }

  /** True when this id already holds its {@link MAX_WAITING_PER_ID} places. */
  idFull(lane: Lane): boolean {
    if (lane.proven || lane.background) return false;
    return (this.scopes.get(lane.scope)?.ids.get(lane.id)?.length ?? 0) >= MAX_WAITING_PER_ID;
  }

  /**
   * The place (1 = next) an entry added now in this lane would have in the fair order: proven
   * entries ahead of it, then as many turns of every other scope as its own scope needs to reach
   * it (at most its own scope's waiting entries plus one, each).
   */
  positionOf(lane: Lane): number {
    const provenWaiting = this.proven.length - this.provenHead;
    if (lane.proven) return provenWaiting + 1;
    // Behind everything; and nothing else waits behind background entries.
    if (lane.background) return this.count + 1;
    const own = this.scopes.get(lane.scope)?.size ?? 0;
    let ahead = provenWaiting + own;
    for (const [scope, line] of this.scopes) {
      if (scope !== lane.scope) ahead += Math.min(line.size, own + 1);
    }
    return ahead + 1;
  }

  push(entry: T, lane: Lane): void {
    this.count++;
    if (lane.proven) {
      this.proven.push(entry);
      return;
    }
    if (lane.background) {
      this.background.push(entry);
      return;
    }
    let line = this.scopes.get(lane.scope);
    if (!line) this.scopes.set(lane.scope, (line = new ScopeLine()));
    line.size++;
    const waiting = line.ids.get(lane.id);
    if (waiting) waiting.push(entry);
    else line.ids.set(lane.id, [entry]);
  }

  /** The next entry in the fair order, or undefined when none waits. */
  shift(): T | undefined {
    if (this.provenHead < this.proven.length) {
      const next = this.proven[this.provenHead]!;
      this.proven[this.provenHead++] = undefined as never;
      if (this.provenHead === this.proven.length) {
        this.proven.length = 0;
        this.provenHead = 0;
      } else if (this.provenHead >= 1_024 && this.provenHead * 2 >= this.proven.length) {
        this.proven.splice(0, this.provenHead);
        this.provenHead = 0;
      }
      this.count--;
      return next;
    }
    const first = this.scopes.entries().next();
    if (first.done) return this.shiftBackground();
    const [scope, line] = first.value;
    const [id, waiting] = line.ids.entries().next().value!;
    const next = waiting.shift()!;
    this.count--;
    line.size--;
    // Served: this id, then this scope, go to the back of the turn order when they still wait.
    line.ids.delete(id);
    if (waiting.length > 0) line.ids.set(id, waiting);
    this.scopes.delete(scope);
    if (line.size > 0) this.scopes.set(scope, line);
    return next;
  }

  private shiftBackground(): T | undefined {
    if (this.backgroundHead >= this.background.length) return undefined;
    const next = this.background[this.backgroundHead]!;
    this.background[this.backgroundHead++] = undefined as never;
    if (this.backgroundHead === this.background.length) {
      this.background.length = 0;
      this.backgroundHead = 0;
    } else if (this.backgroundHead >= 1_024 && this.backgroundHead * 2 >= this.background.length) {
      this.background.splice(0, this.backgroundHead);
      this.backgroundHead = 0;
    }
    this.count--;
    return next;
  }

  /**
   * At the memory cap: a background entry, the newest, gives up its place to any other entry.
   * Otherwise takes the newest entry of the scope that holds the most, when that scope
   * would still hold at least as many as `lane`'s scope after the swap, and returns it (the
   * caller refuses it); undefined when `lane`'s scope already holds its share. A proven lane
   * may take from any scope.
   */
  evictFor(lane: Lane): T | undefined {
    if (lane.background) return undefined;
    if (this.backgroundHead < this.background.length) {
      this.count--;
      const evicted = this.background.pop()!;
      if (this.backgroundHead === this.background.length) {
        this.background.length = 0;
        this.backgroundHead = 0;
      }
      return evicted;
    }
    const own = lane.proven ? -1 : (this.scopes.get(lane.scope)?.size ?? 0);
    let largest: [string, ScopeLine<T>] | undefined;
    for (const entry of this.scopes) {
      if (!largest || entry[1].size > largest[1].size) largest = entry;
    }
    if (!largest || largest[1].size <= own + 1) return undefined;
    const [scope, line] = largest;
    let newestId: string | undefined;
    for (const id of line.ids.keys()) newestId = id;
    const waiting = line.ids.get(newestId!)!;
    const evicted = waiting.pop()!;
    if (waiting.length === 0) line.ids.delete(newestId!);
    line.size--;
    this.count--;
    if (line.size === 0) this.scopes.delete(scope);
    return evicted;
  }
}
