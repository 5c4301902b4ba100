// The release record: a ConfigMap in the namespace that says what the last run did — the revisions
// it found before it applied anything, how it ended, and the last release known good. A run that
// finds a record still `in-progress` follows one that died without finishing (a killed runner):
// its "before" is that run's "before", never the half-applied release now live.
import type { KubeClient } from '../kube/client.js';
import type { Status } from '../result.js';
import type { KubeObject } from '../kube/objects.js';
import type { Snapshot } from '../rollout/snapshot.js';
import { workloadId } from '../rollout/workloads.js';

export const RECORD_NAME = 'medaudit-deploy-release';

/** How a release ended, as its result says (a dry run records nothing), or that it has not. */
export type RecordState = 'in-progress' | Exclude<Status, 'dry-run'>;

export type ReleaseRecord = {
  state: RecordState;
  run: string;
  runUrl?: string;
  image?: string;
  startedAt: string;
  finishedAt?: string;
  /** The live revisions when the run began: what a rollback returns to. */
  before: Snapshot[];
  /** The revisions of the last release that ended deployed (or was restored by a rollback). */
  lastGood?: Snapshot[];
};

export async function readRecord(kube: KubeClient, namespace: string): Promise<ReleaseRecord | undefined> {
  const r = await kube.run(['get', 'configmap', RECORD_NAME, '-n', namespace, '-o', 'json', '--ignore-not-found']);
  if (!r.stdout.trim()) return undefined;
  const text = (JSON.parse(r.stdout) as KubeObject & { data?: Record<string, string> }).data?.record;
  try {
    return text ? (JSON.parse(text) as ReleaseRecord) : undefined;
  } catch {
    return undefined;
  }
}

export async function writeRecord(kube: KubeClient, namespace: string, record: ReleaseRecord, fieldManager: string): Promise<void> {
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: RECORD_NAME, namespace, labels: { 'app.kubernetes.io/managed-by': 'medaudit-deploy' } },
    data: { state: record.state, run: record.run, record: JSON.stringify(record) },
  };
  await kube.run(['apply', '--server-side', `--field-manager=${fieldManager}-record`, '--force-conflicts', '-f', '-'], { input: JSON.stringify(cm) });
}

/**
 * What this run returns to on failure (pure): the live revisions, except after a run that never
 * finished, whose recorded "before" is the last release known to have run whole.
 */
export function beforeOf(record: ReleaseRecord | undefined, live: Snapshot[]): { before: Snapshot[]; unfinished?: ReleaseRecord } {
  if (record?.state !== 'in-progress') return { before: live };
  const recorded = new Map(record.before.map((s) => [workloadId(s), s]));
  return { before: live.map((s) => recorded.get(workloadId(s)) ?? s), unfinished: record };
}
