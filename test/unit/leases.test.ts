import { hostname } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openDatabase } from '../../src/storage/db.ts';
import { jobRound, newOwner, onceAcrossProcesses, ownerAlive, type Leases } from '../../src/storage/lease.ts';
import { openStorage, removeLeftovers, serverLease } from '../../src/storage/open.ts';
import { SqliteLeaseStore } from '../../src/storage/lease-sqlite.ts';
import { tempDir } from '../helpers/server.ts';

async function store(t: Parameters<typeof tempDir>[0], now: () => number = Date.now): Promise<SqliteLeaseStore> {
  const db = openDatabase(join(await tempDir(t), 'pydepot.db'));
  t.teardown(() => db.close());
  return new SqliteLeaseStore(db, now);
}

test('a lease has one holder until it is released or expires; renew extends only the holder\'s', async (t) => {
  let now = 1_000;
  const leases = await store(t, () => now);
  t.true(await leases.tryAcquire('file:a', 'p1', 100));
  t.false(await leases.tryAcquire('file:a', 'p2', 100));
  t.true(await leases.tryAcquire('file:a', 'p1', 100), 'the holder may take it again');
  t.true(await leases.tryAcquire('file:b', 'p2', 100), 'keys are independent');
  t.deepEqual(await leases.holder('file:a'), { owner: 'p1', expiresAt: 1_100 });
  now = 1_050;
  t.true(await leases.renew('file:a', 'p1', 100));
  t.false(await leases.renew('file:a', 'p2', 100));
  now = 1_149;
  t.false(await leases.tryAcquire('file:a', 'p2', 100), 'renewed: not expired yet');
  now = 1_150;
  t.is(await leases.holder('file:a'), null);
  t.true(await leases.tryAcquire('file:a', 'p2', 100), 'expired: another takes over');
  t.false(await leases.renew('file:a', 'p1', 100), 'the old holder has lost it');
  await leases.release('file:a', 'p1');
  t.is((await leases.holder('file:a'))?.owner, 'p2', 'a release by a non-holder does nothing');
  await leases.release('file:a', 'p2');
  t.true(await leases.tryAcquire('file:a', 'p3', 100));
  t.deepEqual(await leases.live('file:'), ['file:a'], 'file:b has expired');
});

test('onceAcrossProcesses: one of several owners works, the others get its result; a lapsed holder is taken over', async (t) => {
  const leases = await store(t);
  let result: string | null = null;
  let works = 0;
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => { finish = resolve; });
  const steps = {
    result: () => result,
    work: async () => {
      works++;
      await gate;
      result = 'done';
      return 'done';
    },
  };
  const as = (owner: string): Leases => ({ store: leases, owner, ttlMs: 10_000 });
  const runs = ['p1', 'p2', 'p3'].map((o) => onceAcrossProcesses(as(o), 'page:x', steps));
  await new Promise((resolve) => setImmediate(resolve));
  finish();
  t.deepEqual(await Promise.all(runs), ['done', 'done', 'done']);
  t.is(works, 1);
  t.is(await leases.holder('page:x'), null, 'released after the work');

  // A holder that died: its lease lapses after the ttl and the waiter does the work.
  t.true(await leases.tryAcquire('file:y', 'dead', 50));
  let tookOver = 0;
  const got = await onceAcrossProcesses({ store: leases, owner: 'p1', ttlMs: 50 }, 'file:y', {
    result: () => null,
    work: async () => { tookOver++; return 'mine'; },
  });
  t.is(got, 'mine');
  t.is(tookOver, 1);
});

test('a holder on this machine whose process is gone is taken over at once, before its lease lapses', async (t) => {
  const leases = await store(t);
  // Above any pid_max: no such process.
  const dead = `${hostname()}/${2 ** 22 + 1}/x`;
  t.false(ownerAlive(dead));
  t.true(ownerAlive(newOwner()), 'this process');
  t.true(ownerAlive(`elsewhere/${2 ** 22 + 1}/x`), 'another machine: known only by its lease');
  t.true(await leases.tryAcquire('page:r/p', dead, 60_000));
  const me = newOwner();
  const got = await onceAcrossProcesses({ store: leases, owner: me, ttlMs: 60_000 }, 'page:r/p', {
    result: () => null,
    work: async () => (await leases.holder('page:r/p'))?.owner,
  });
  t.is(got, me);
});

test('jobRound: one owner runs a round, the others skip it (no wait); the lease is kept a round after the work, then lapses', async (t) => {
  let now = 10_000;
  const leases = await store(t, () => now);
  const owners = ['host/1/a', 'host/2/b', 'host/3/c'].map((owner): Leases => ({ store: leases, owner, ttlMs: 1_000 }));
  const ran: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const first = jobRound(owners[0], 'job:scrub', 5_000, async () => { ran.push('a'); await held; });
  // While a works, b and c skip at once.
  t.false(await jobRound(owners[1], 'job:scrub', 5_000, async () => { ran.push('b'); }));
  t.false(await jobRound(owners[2], 'job:scrub', 5_000, async () => { ran.push('c'); }));
  release();
  t.true(await first);
  // Done at 10 000: kept until 15 000, so a tick of b just after the end skips the round.
  now = 14_999;
  t.false(await jobRound(owners[1], 'job:scrub', 5_000, async () => { ran.push('b'); }));
  // a's own next tick takes it again, whenever it comes.
  t.true(await jobRound(owners[0], 'job:scrub', 5_000, async () => { ran.push('a'); }));
  // a stops (or dies): a round later the next tick elsewhere takes it.
  now = 20_000;
  t.true(await jobRound(owners[2], 'job:scrub', 5_000, async () => { ran.push('c'); }));
  t.deepEqual(ran, ['a', 'a', 'c']);
  // Other jobs have leases of their own; without leases the work just runs.
  t.true(await jobRound(owners[1], 'job:squats:all', 5_000, async () => { ran.push('b'); }));
  t.true(await jobRound(null, 'job:scrub', 5_000, async () => { ran.push('x'); }));
  t.deepEqual(ran.slice(3), ['b', 'x']);
});

test('jobRound: a failed round still holds the round (no retry storm across replicas) and the error reaches the caller', async (t) => {
  const leases = await store(t);
  const a: Leases = { store: leases, owner: 'host/1/a', ttlMs: 1_000 };
  await t.throwsAsync(jobRound(a, 'job:scrub', 60_000, async () => { throw new Error('blob store down'); }), { message: 'blob store down' });
  t.is((await leases.holder('job:scrub'))?.owner, 'host/1/a');
});

test('removeLeftovers: a live server on this folder keeps tmp/ leftovers younger than an hour; with a shared database, servers on other folders or machines do not', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'storage');
  const storage = await openStorage(root);
  t.teardown(() => storage.store.close());
  const me = `${hostname()}/${process.pid}/x`;
  // Another machine's replica, and one on this machine with another folder.
  await storage.leases.tryAcquire(serverLease(join(dir, 'other'), me), me, 60_000);
  await storage.leases.tryAcquire(`server:elsewhere:${root}#elsewhere/1/y`, 'elsewhere/1/y', 60_000);
  t.deepEqual(await removeLeftovers(storage, { root, sharedDatabase: true }), { count: 0, all: true });
  // With SQLite every server on the database is on this folder, whatever name it gives it.
  t.deepEqual(await removeLeftovers(storage, { root, sharedDatabase: false }), { count: 0, all: false });
  // One on this folder (this process stands in for it): only stale leftovers go.
  await storage.leases.tryAcquire(serverLease(root, me), me, 60_000);
  t.deepEqual(await removeLeftovers(storage, { root, sharedDatabase: true }), { count: 0, all: false });
});
