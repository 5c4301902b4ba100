// Apply order, as the application's README sets it, and what each phase waits for before the next
// one starts: only real dependencies gate. The workloads keep rolling, and stay watched, after
// their gate opens; the release is done when every one of them is Ready.
import type { KubeObject } from '../kube/objects.js';
import { isWorkload } from '../rollout/workloads.js';

export type PhaseName = 'namespace' | 'config' | 'data' | 'migrate' | 'app' | 'edge';

/**
 * What must hold before the next phase is applied:
 * - stored: the API server accepted the objects (config, the namespace, the edge);
 * - ready: every workload applied so far runs its new pods Ready (the databases answer before
 *   anything migrates; the whole release serves before the edge exposes it);
 * - migrated: the migration ran for this release (the backend's first new pod got past its
 *   migrate init container, or the migration Job completed), so the next phase never runs new
 *   code against the old schema, while the migrating workload goes on rolling.
 * A workload the apply did not change (its generation did not move) holds at once.
 */
export type Gate = 'stored' | 'ready' | 'migrated';

export type Phase = {
  name: PhaseName;
  objects: KubeObject[];
  gate: Gate;
};

const PHASE_ORDER: readonly PhaseName[] = ['namespace', 'config', 'data', 'migrate', 'app', 'edge'];

const GATES: Record<PhaseName, Gate> = {
  namespace: 'stored',
  config: 'stored',
  data: 'ready',
  migrate: 'migrated',
  app: 'ready',
  edge: 'stored',
};

const APP_KINDS = ['Deployment', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'];

/** Marks a Job that migrates the schema: the app phase starts once it completed. */
export const MIGRATION_ANNOTATION = 'medaudit.io/migration';

// The backend's init container runs the migrations, or a Job marked as the migration does: the
// other app workloads start once it ran.
export const runsMigrations = (o: KubeObject) =>
  (o.kind === 'Deployment' && Array.isArray(o.spec?.template?.spec?.initContainers) && o.spec.template.spec.initContainers.length > 0) ||
  (o.kind === 'Job' && o.metadata.annotations?.[MIGRATION_ANNOTATION] === 'true');

// Unknown kinds go with the config: they are usually things the workloads
// reference (custom resources, certificates) and must exist before them.
function phaseOf(o: KubeObject): PhaseName {
  if (o.kind === 'Namespace') return 'namespace';
  if (o.kind === 'StatefulSet') return 'data';
  if (runsMigrations(o)) return 'migrate';
  if (APP_KINDS.includes(o.kind)) return 'app';
  if (o.kind === 'Ingress') return 'edge';
  return 'config';
}

export function planPhases(objects: KubeObject[]): Phase[] {
  return PHASE_ORDER.map((name) => ({ name, objects: objects.filter((o) => phaseOf(o) === name), gate: GATES[name] })).filter(
    (phase) => phase.objects.length > 0,
  );
}

/** A migration Job: the release waits for it and replaces it when it changed. */
export const isMigrationJob = (o: KubeObject) => o.kind === 'Job' && runsMigrations(o);

/**
 * Watched until Ready and returned to its revision on failure: every Deployment, StatefulSet and
 * DaemonSet, and a migration Job (until it completes). Other Jobs are applied, not waited for.
 */
export const isWatched = (o: KubeObject) => isWorkload(o.kind) && (o.kind !== 'Job' || isMigrationJob(o));

export function workloadsOf(phase: Phase): KubeObject[] {
  return phase.objects.filter(isWatched);
}
