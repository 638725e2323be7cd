import type { KeyAdapter } from '../adapter.js';
import { KeymintError } from '../errors.js';

type FromStore = <T>(operation: string, run: () => Promise<T>) => Promise<T>;

/**
 * `maxKeysPerScope`: at most `max` live keys (neither revoked nor expired) per scope. A create
 * counts once before it hashes (a full scope costs no hash) and again right before its insert;
 * within this process the second count and the insert run one create at a time per scope, so
 * the cap is exact here. Other processes count on their own: each may slip one create in between
 * another's count and insert, so with P processes creating in one scope at the same moment the
 * scope can end at most P - 1 keys over the cap (docs/security.md).
 */
export class ScopeCap {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly adapter: KeyAdapter & { countLive: NonNullable<KeyAdapter['countLive']> },
    readonly max: number,
    private readonly fromStore: FromStore,
  ) {}

  /** Throws KEYS_LIMIT when the scope is full at `at`. */
  async check(scope: string, at: Date): Promise<void> {
    const live = await this.fromStore('countLive', () => this.adapter.countLive(scope, at));
    if (typeof live !== 'number' || !Number.isInteger(live) || live < 0) {
      throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable count.');
    }
    if (live >= this.max) {
      throw new KeymintError(
        'KEYS_LIMIT',
        `Scope ${JSON.stringify(scope)} already has ${live} live API keys, the most maxKeysPerScope allows (${this.max}): revoke or delete one first (revoked and expired keys do not count).`,
      );
    }
  }

  /** Runs `insert` after a last check, one at a time per scope in this process. */
  async guard<T>(scope: string, at: Date, insert: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(scope);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.tails.set(scope, tail);
    if (previous) await previous;
    try {
      await this.check(scope, at);
      return await insert();
    } finally {
      release();
      if (this.tails.get(scope) === tail) this.tails.delete(scope);
    }
  }
}
