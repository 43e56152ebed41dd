import { hostname } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openDatabase } from '../../src/storage/db.ts';
import { newOwner, onceAcrossProcesses, ownerAlive, type Leases } from '../../src/storage/lease.ts';
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
