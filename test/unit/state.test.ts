// The deploy lock (a Lease) and the release record, against a scripted cluster.
import { describe, expect, test } from '@jest/globals';
import { DeployLock, heldBy, LEASE_SECONDS, leaseState, LOCK_NAME, microTime, releaseLock, type Lease } from '../../src/state/lock.js';
import { beforeOf, type ReleaseRecord } from '../../src/state/record.js';
import type { Snapshot } from '../../src/rollout/snapshot.js';
import { ScriptedKube } from '../support/scripted-kube.js';

const NS = 'lock-test';
const ME = { id: 'acme/app run 7 attempt 1 job deploy', url: 'https://github.com/acme/app/actions/runs/7' };
const OTHER = { id: 'acme/app run 6 attempt 1 job deploy', url: 'https://github.com/acme/app/actions/runs/6' };

const quiet = () => {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l), warn: (l: string) => lines.push(`warning: ${l}`) };
};

describe('leaseState', () => {
  const now = Date.parse('2026-11-30T10:00:00Z');
  test('absent, free, mine, held until its duration has passed since the last renewal, then expired', () => {
    expect(leaseState(undefined, ME.id, now)).toEqual({ state: 'absent' });
    const other = heldBy(NS, OTHER, now - 10_000);
    expect(leaseState({ ...other, spec: { ...other.spec, holderIdentity: '' } }, ME.id, now)).toEqual({ state: 'free' });
    expect(leaseState(heldBy(NS, ME, now), ME.id, now)).toEqual({ state: 'mine' });
    expect(leaseState(other, ME.id, now)).toEqual({ state: 'held', holder: OTHER, expiresAt: now - 10_000 + LEASE_SECONDS * 1000 });
    expect(leaseState(heldBy(NS, OTHER, now - LEASE_SECONDS * 1000 - 1), ME.id, now).state).toBe('expired');
  });

  test('MicroTime has the six fraction digits the API wants', () => {
    expect(microTime(Date.parse('2026-11-30T10:00:00.123Z'))).toBe('2026-11-30T10:00:00.123000Z');
  });

  test('a takeover counts a transition and keeps the resourceVersion it replaces', () => {
    const current: Lease = { ...heldBy(NS, OTHER, 0), metadata: { name: LOCK_NAME, namespace: NS, resourceVersion: '41' } };
    const mine = heldBy(NS, ME, 1000, current);
    expect(mine.metadata.resourceVersion).toBe('41');
    expect(mine.spec).toMatchObject({ holderIdentity: ME.id, leaseTransitions: 1 });
    expect(mine.metadata.annotations).toEqual({ 'medaudit.io/run-url': ME.url });
  });
});

describe('DeployLock', () => {
  test('an absent lock is created and held; released, it is free for the next run at once', async () => {
    const kube = new ScriptedKube(NS);
    const { log, warn } = quiet();
    const lock = await DeployLock.acquire(kube, NS, ME, { timeoutMs: 1000, log, warn });
    expect(kube.get('Lease', LOCK_NAME)?.spec.holderIdentity).toBe(ME.id);
    await lock.release();
    expect(kube.get('Lease', LOCK_NAME)?.spec.holderIdentity).toBe('');
    const next = await DeployLock.acquire(kube, NS, OTHER, { timeoutMs: 0, log, warn });
    expect(kube.get('Lease', LOCK_NAME)?.spec.holderIdentity).toBe(OTHER.id);
    await next.release();
  });

  test('a lock another live run holds: waited for, then refused naming the holder and its run', async () => {
    const kube = new ScriptedKube(NS);
    kube.put('Lease', heldBy(NS, OTHER, Date.now()));
    const { lines, log, warn } = quiet();
    const started = Date.now();
    await expect(DeployLock.acquire(kube, NS, ME, { timeoutMs: 2500, log, warn })).rejects.toThrow(
      /^namespace lock-test is being deployed by acme\/app run 6 attempt 1 job deploy \(https:\/\/github\.com\/acme\/app\/actions\/runs\/6\): waited \d+s \(lock-timeout\) for its lock; nothing was changed$/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    expect(lines[0]).toMatch(/^waiting for the deploy lock of lock-test, held by acme\/app run 6 .*\(expires in \d+s unless renewed\)$/);
    expect(kube.get('Lease', LOCK_NAME)?.spec.holderIdentity).toBe(OTHER.id);
  });

  test('a lock its holder stopped renewing is taken over, and the takeover is reported', async () => {
    const kube = new ScriptedKube(NS);
    kube.put('Lease', heldBy(NS, OTHER, Date.now() - (LEASE_SECONDS + 5) * 1000));
    const { lines, log, warn } = quiet();
    const lock = await DeployLock.acquire(kube, NS, ME, { timeoutMs: 0, log, warn });
    expect(kube.get('Lease', LOCK_NAME)?.spec).toMatchObject({ holderIdentity: ME.id, leaseTransitions: 1 });
    expect(lines).toContainEqual(
      expect.stringMatching(/^warning: took over the deploy lock of lock-test from acme\/app run 6 .*, which stopped renewing it 3\ds ago$/),
    );
    await lock.release();
  });

  test('the waiting run gets the lock as soon as the holder frees it', async () => {
    const kube = new ScriptedKube(NS);
    kube.put('Lease', heldBy(NS, OTHER, Date.now()));
    setTimeout(() => void releaseLock(kube, NS, OTHER.id), 500);
    const { log, warn } = quiet();
    const started = Date.now();
    const lock = await DeployLock.acquire(kube, NS, ME, { timeoutMs: 10_000, log, warn });
    expect(Date.now() - started).toBeLessThan(3000);
    await lock.release();
  });

  test('releasing frees only a lock this run still holds', async () => {
    const kube = new ScriptedKube(NS);
    kube.put('Lease', heldBy(NS, OTHER, Date.now()));
    expect(await releaseLock(kube, NS, ME.id)).toBe(false);
    expect(kube.get('Lease', LOCK_NAME)?.spec.holderIdentity).toBe(OTHER.id);
  });
});

describe('beforeOf', () => {
  const live: Snapshot[] = [
    { kind: 'Deployment', name: 'backend', existed: true, revision: 5, generation: 5 },
    { kind: 'Deployment', name: 'worker', existed: true, revision: 2, generation: 2 },
  ];
  const record = (state: ReleaseRecord['state']): ReleaseRecord => ({
    state,
    run: OTHER.id,
    startedAt: '2026-11-30T09:00:00Z',
    before: [{ kind: 'Deployment', name: 'backend', existed: true, revision: 4, generation: 4 }],
  });

  test('after a finished run, what runs now is what ran before', () => {
    expect(beforeOf(undefined, live)).toEqual({ before: live });
    expect(beforeOf(record('deployed'), live)).toEqual({ before: live });
    expect(beforeOf(record('rolled-back'), live)).toEqual({ before: live });
  });

  test('after a run that never finished, its recorded "before" stands for what it touched', () => {
    const { before, unfinished } = beforeOf(record('in-progress'), live);
    expect(unfinished?.run).toBe(OTHER.id);
    expect(before).toEqual([{ kind: 'Deployment', name: 'backend', existed: true, revision: 4, generation: 4 }, live[1]]);
  });
});
