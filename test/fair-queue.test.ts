import { describe, expect, it } from 'vitest';
import { FairQueue, MAX_WAITING_PER_ID } from '../src/core/fair-queue.js';

const lane = (scope: string, id: string, proven = false) => ({ scope, id, proven });
const background = (scope: string, id: string) => ({ scope, id, background: true });

function drain<T>(queue: FairQueue<T>): T[] {
  const out: T[] = [];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) out.push(next);
  return out;
}

describe('FairQueue: the fair order of waiting hashes', () => {
  it('scopes take turns, one entry each, however many one scope queued first', () => {
    const queue = new FairQueue<string>();
    for (let i = 1; i <= 5; i++) queue.push(`a${i}`, lane('a', `id${i}`));
    queue.push('b1', lane('b', 'x'));
    queue.push('b2', lane('b', 'y'));
    queue.push('c1', lane('c', 'z'));
    expect(drain(queue)).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4', 'a5']);
    expect(queue.size).toBe(0);
  });

  it('within a scope ids take turns; proven keys go before everything', () => {
    const queue = new FairQueue<string>();
    queue.push('x1', lane('s', 'x'));
    queue.push('x2', lane('s', 'x'));
    queue.push('y1', lane('s', 'y'));
    queue.push('p1', lane('s', 'x', true));
    queue.push('p2', lane('t', 'w', true));
    expect(queue.size).toBe(5);
    expect(drain(queue)).toEqual(['p1', 'p2', 'x1', 'y1', 'x2']);
  });

  it('an id holds at most MAX_WAITING_PER_ID places (a proven key is not held to it)', () => {
    const queue = new FairQueue<number>();
    for (let i = 0; i < MAX_WAITING_PER_ID; i++) {
      expect(queue.idFull(lane('s', 'x'))).toBe(false);
      queue.push(i, lane('s', 'x'));
    }
    expect(queue.idFull(lane('s', 'x'))).toBe(true);
    expect(queue.idFull(lane('s', 'y'))).toBe(false);
    expect(queue.idFull(lane('s', 'x', true))).toBe(false);
  });

  it("a new scope's place is behind one entry per waiting scope, not behind a flood", () => {
    const queue = new FairQueue<number>();
    for (let i = 0; i < 500; i++) queue.push(i, lane('flood', `id${i}`));
    expect(queue.positionOf(lane('flood', 'new'))).toBe(501);
    expect(queue.positionOf(lane('quiet', 'k'))).toBe(2);
    queue.push(-1, lane('quiet', 'k'));
    expect(queue.positionOf(lane('quiet', 'k2'))).toBe(4); // its own one, and two flood turns
    queue.push(-2, lane('other', 'p', true));
    expect(queue.positionOf(lane('quiet', 'k3'))).toBe(5);
    expect(queue.positionOf(lane('x', 'y', true))).toBe(2);
    // The order agrees: the quiet entries come second and fourth after the proven one.
    const order = drain(queue);
    expect(order.slice(0, 4)).toEqual([-2, 0, -1, 1]);
  });

  it('at the cap, the scope holding the most gives its newest entry to a scope holding less', () => {
    const queue = new FairQueue<string>();
    for (let i = 1; i <= 4; i++) queue.push(`a${i}`, lane('a', `id${i}`));
    queue.push('b1', lane('b', 'x'));
    expect(queue.evictFor(lane('b', 'y'))).toBe('a4');
    queue.push('b2', lane('b', 'y'));
    // a and b now hold 3 and 2: a swap would leave b over a, so b takes nothing more.
    expect(queue.evictFor(lane('b', 'z'))).toBeUndefined();
    expect(queue.evictFor(lane('a', 'v'))).toBeUndefined(); // the largest is a itself
    expect(queue.evictFor(lane('c', 'u'))).toBe('a3'); // a new scope holds none
    queue.push('c1', lane('c', 'u'));
    expect(queue.evictFor(lane('d', 'w', true))).toBeDefined(); // a proven key takes from any
    expect(queue.size).toBe(4);
    expect(drain(queue)).toHaveLength(4);
  });
  it('background entries (rehashes) come after every other entry, oldest first', () => {
    const queue = new FairQueue<string>();
    queue.push('r1', background('a', 'x'));
    queue.push('a1', lane('a', 'y'));
    queue.push('r2', background('b', 'z'));
    queue.push('p1', lane('b', 'w', true));
    queue.push('b1', lane('b', 'v'));
    expect(queue.positionOf(lane('c', 'u'))).toBe(4); // p1, a1, b1: no rehash ahead of it
    expect(queue.positionOf(background('c', 'u'))).toBe(6);
    expect(queue.idFull(background('a', 'x'))).toBe(false);
    expect(drain(queue)).toEqual(['p1', 'a1', 'b1', 'r1', 'r2']);
    expect(queue.size).toBe(0);
  });

  it('at the cap, the newest background entry gives up its place to any other entry; a background entry takes none', () => {
    const queue = new FairQueue<string>();
    queue.push('a1', lane('a', 'x'));
    queue.push('r1', background('a', 'y'));
    queue.push('r2', background('a', 'z'));
    expect(queue.evictFor(background('b', 'w'))).toBeUndefined();
    expect(queue.evictFor(lane('a', 'v'))).toBe('r2');
    expect(queue.evictFor(lane('a', 'v'))).toBe('r1');
    // No background left: the usual rule (a's own scope holds the most, so nothing).
    expect(queue.evictFor(lane('a', 'v'))).toBeUndefined();
    expect(queue.size).toBe(1);
    expect(drain(queue)).toEqual(['a1']);
  });
});
