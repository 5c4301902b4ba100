// Apply order, as the application's README sets it: what a phase needs must
// exist (and for workloads, be Ready) before it is applied.
import type { KubeObject } from '../kube/objects.js';
import { isWorkload } from '../rollout/workloads.js';

export type PhaseName = 'namespace' | 'config' | 'data' | 'migrate' | 'app' | 'edge';

export type Phase = {
  name: PhaseName;
  objects: KubeObject[];
  wait: boolean;
};

const PHASE_ORDER: readonly PhaseName[] = ['namespace', 'config', 'data', 'migrate', 'app', 'edge'];

// Only workload phases wait: the rest is accepted as soon as it is stored.
const WAITS: Record<PhaseName, boolean> = {
  namespace: false,
  config: false,
  data: true,
  migrate: true,
  app: true,
  edge: false,
};

const APP_KINDS = ['Deployment', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'];

// The backend's init container runs the migrations, so it must be Ready
// before the other app workloads start against the new schema.
const runsMigrations = (o: KubeObject) =>
  o.kind === 'Deployment' && Array.isArray(o.spec?.template?.spec?.initContainers) && o.spec.template.spec.initContainers.length > 0;

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
  return PHASE_ORDER.map((name) => ({ name, objects: objects.filter((o) => phaseOf(o) === name), wait: WAITS[name] })).filter(
    (phase) => phase.objects.length > 0,
  );
}

export function workloadsOf(phase: Phase): KubeObject[] {
  return phase.objects.filter((o) => isWorkload(o.kind));
}
