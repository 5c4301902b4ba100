// One release at a time per namespace: a coordination.k8s.io Lease held by the run, renewed while
// it lives. A second run waits for it, naming the holder; a Lease its holder stopped renewing (a
// runner lost, a job killed) is taken over once its duration has passed.
import { UserError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import type { Resource } from '../kube/objects.js';

export const LOCK_NAME = 'medaudit-deploy-lock';
const RUN_URL = 'medaudit.io/run-url';
/** A holder that stopped renewing for this long is gone. */
export const LEASE_SECONDS = 30;
const WAIT_STEP_MS = 2000;
const WAIT_REPORT_MS = 30_000;

export type Holder = { id: string; url?: string };

export type Lease = Resource & {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
};

export type LeaseState =
  | { state: 'absent' }
  | { state: 'free' }
  | { state: 'mine' }
  | { state: 'held'; holder: Holder; expiresAt: number }
  | { state: 'expired'; holder: Holder; expiredAt: number };

/** MicroTime, as the API wants it: six digits of fraction. */
export const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** What a Lease means for `me` at `now` (pure). */
export function leaseState(lease: Lease | undefined, me: string, now: number): LeaseState {
  if (!lease) return { state: 'absent' };
  const id = lease.spec?.holderIdentity;
  if (!id) return { state: 'free' };
  if (id === me) return { state: 'mine' };
  const holder = { id, url: lease.metadata.annotations?.[RUN_URL] };
  const renewed = Date.parse(lease.spec?.renewTime ?? lease.spec?.acquireTime ?? '') || 0;
  const expiresAt = renewed + (lease.spec?.leaseDurationSeconds ?? LEASE_SECONDS) * 1000;
  return expiresAt > now ? { state: 'held', holder, expiresAt } : { state: 'expired', holder, expiredAt: expiresAt };
}

const describeHolder = (h: Holder) => `${h.id}${h.url ? ` (${h.url})` : ''}`;

/** The Lease as `me` holds it from `now`: a new one, or `current` taken over. */
export function heldBy(namespace: string, me: Holder, now: number, current?: Lease): Lease {
  const transitions = (current?.spec?.leaseTransitions ?? 0) + (current?.spec?.holderIdentity && current.spec.holderIdentity !== me.id ? 1 : 0);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: LOCK_NAME,
      namespace,
      ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      annotations: { ...current?.metadata.annotations, [RUN_URL]: me.url ?? '' },
    },
    spec: { holderIdentity: me.id, leaseDurationSeconds: LEASE_SECONDS, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: transitions },
  };
}

export type LockOptions = { timeoutMs: number; log: (line: string) => void; warn: (line: string) => void; signal?: AbortSignal };

export class DeployLock {
  private renewal?: NodeJS.Timeout;
  private lease: Lease;

  private constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly me: Holder,
    lease: Lease,
    private readonly warn: (line: string) => void,
  ) {
    this.lease = lease;
  }

  /** Waits for the namespace's lock up to timeoutMs; fails naming the holder, having changed nothing. */
  static async acquire(kube: KubeClient, namespace: string, me: Holder, opts: LockOptions): Promise<DeployLock> {
    const started = Date.now();
    let reported = 0;
    let lastHolder = '';
    for (;;) {
      const current = await readLease(kube, namespace);
      const now = Date.now();
      const s = leaseState(current, me.id, now);
      if (s.state === 'held') {
        if (now - started >= opts.timeoutMs) {
          throw new UserError(
            `namespace ${namespace} is being deployed by ${describeHolder(s.holder)}: waited ${Math.round((now - started) / 1000)}s (lock-timeout) for its lock; nothing was changed`,
          );
        }
        if (s.holder.id !== lastHolder || now - reported >= WAIT_REPORT_MS) {
          opts.log(
            `waiting for the deploy lock of ${namespace}, held by ${describeHolder(s.holder)} (expires in ${Math.ceil((s.expiresAt - now) / 1000)}s unless renewed)`,
          );
          lastHolder = s.holder.id;
          reported = now;
        }
        await pause(WAIT_STEP_MS, opts.signal);
        if (opts.signal?.aborted) throw new UserError('cancelled while waiting for the deploy lock; nothing was changed');
        continue;
      }
      const wanted = heldBy(namespace, me, now, current);
      const taken = s.state === 'absent' ? await create(kube, wanted) : await replace(kube, wanted);
      if (!taken) continue; // another run got there first: look again
      if (s.state === 'expired') {
        opts.warn(
          `took over the deploy lock of ${namespace} from ${describeHolder(s.holder)}, which stopped renewing it ${Math.round((now - s.expiredAt) / 1000 + LEASE_SECONDS)}s ago`,
        );
      }
      opts.log(`deploy lock of ${namespace} acquired in ${Date.now() - started} ms`);
      const lock = new DeployLock(kube, namespace, me, taken, opts.warn);
      lock.keepRenewed();
      return lock;
    }
  }

  private keepRenewed(): void {
    this.renewal = setInterval(() => void this.renew(), (LEASE_SECONDS * 1000) / 3);
    // The renewal alone never keeps the process alive.
    this.renewal.unref();
  }

  /**
   * Renews at the Lease's resourceVersion. A conflict is often a renewal whose answer was lost
   * (it committed, the retry conflicts): the Lease is read again and, while still ours, renewed.
   */
  private async renew(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const renewed: Lease = { ...this.lease, spec: { ...this.lease.spec, renewTime: microTime(Date.now()) } };
      const taken = await replace(this.kube, renewed).catch(() => undefined);
      if (taken) {
        this.lease = taken;
        return;
      }
      const current = await readLease(this.kube, this.namespace).catch(() => undefined);
      if (!current) break;
      if (current.spec?.holderIdentity !== this.me.id) {
        this.warn(`lost the deploy lock of ${this.namespace} to ${current.spec?.holderIdentity || 'nobody'}: another run may be deploying`);
        return;
      }
      this.lease = current;
    }
    this.warn(`could not renew the deploy lock of ${this.namespace}; another run may take it over`);
  }

  /** Frees the lock (if this run still holds it), so the next run need not wait out its duration. */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    await releaseLock(this.kube, this.namespace, this.me.id);
  }
}

/** Frees the namespace's lock if `holderId` holds it; says whether it did. */
export async function releaseLock(kube: KubeClient, namespace: string, holderId: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await readLease(kube, namespace);
    if (!current || current.spec?.holderIdentity !== holderId) return false;
    const freed: Lease = { ...current, spec: { ...current.spec, holderIdentity: '', renewTime: microTime(Date.now()) } };
    if (await replace(kube, freed)) return true;
  }
  return false;
}

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

async function readLease(kube: KubeClient, namespace: string): Promise<Lease | undefined> {
  const r = await kube.run(['get', 'lease', LOCK_NAME, '-n', namespace, '-o', 'json', '--ignore-not-found']);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as Lease) : undefined;
}

/** Creates the Lease; undefined when another run created it first. */
async function create(kube: KubeClient, lease: Lease): Promise<Lease | undefined> {
  const r = await kube.run(['create', '-f', '-', '-o', 'json'], { input: JSON.stringify(lease), allowFailure: true });
  if (r.code === 0) return JSON.parse(r.stdout) as Lease;
  if (/AlreadyExists|already exists/.test(r.stderr)) return undefined;
  throw new Error(`creating the deploy lock failed: ${r.stderr.trim()}`);
}

/** Replaces the Lease at its resourceVersion; undefined when it changed meanwhile. */
async function replace(kube: KubeClient, lease: Lease): Promise<Lease | undefined> {
  const r = await kube.run(['replace', '-f', '-', '-o', 'json'], { input: JSON.stringify(lease), allowFailure: true });
  if (r.code === 0) return JSON.parse(r.stdout) as Lease;
  if (/Conflict|the object has been modified|NotFound|not found/.test(r.stderr)) return undefined;
  throw new Error(`updating the deploy lock failed: ${r.stderr.trim()}`);
}
