// What one run of the deploy pipeline ends with: the status, the image, each workload's
// revisions, the diagnoses and the rollback. Reports and outputs are made from it.
import type { Diagnosis } from './rollout/diagnose.js';
import type { RollbackStep } from './rollout/rollback.js';

export type Status = 'deployed' | 'rolled-back' | 'failed' | 'cancelled' | 'dry-run';

export type WorkloadRow = {
  workload: string;
  image: string;
  before?: number;
  after?: number;
  seconds?: number;
  verdict: string;
};

export type ReleaseResult = {
  status: Status;
  rolledBack: boolean;
  failureReason?: string;
  image?: string;
  digest?: string;
  tag?: string;
  url?: string;
  namespace?: string;
  rows: WorkloadRow[];
  diagnoses: Diagnosis[];
  rollback: RollbackStep[];
  /** Seconds from the first pod of the failing release to the start of the rollback. */
  detectionSeconds?: number;
};

/** The revisions output: per workload, the revision before and after. */
export function revisionsJson(r: ReleaseResult): string {
  return JSON.stringify(Object.fromEntries(r.rows.map((w) => [w.workload, { before: w.before ?? null, after: w.after ?? null }])));
}
