// The local cluster's own processes, seen from tests: their pids (cluster:up's pid files), their
// logs, the nodes' readiness, and sample images carrying a simulated behaviour.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CLUSTER_DIR, docker, kubectlJson, REGISTRY } from './cluster.js';
import { sampleWorkspace } from './action.js';

/** The pid cluster:up recorded for a component (sim, kube-apiserver, ...). */
export function componentPid(name: string): number {
  const file = path.join(CLUSTER_DIR, 'pids', name);
  if (!existsSync(file)) throw new Error(`${file} is missing: is the cluster up?`);
  return Number(readFileSync(file, 'utf8').trim());
}

/** Whether a process runs (a zombie, dead but not reaped, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false; // gone between the two looks
  }
}

export const logFile = (name: string) => path.join(CLUSTER_DIR, 'logs', `${name}.log`);
export const logSize = (name: string) => (existsSync(logFile(name)) ? statSync(logFile(name)).size : 0);

/** What a component logged from byte `offset` on. */
export function logSince(name: string, offset: number): string {
  return readFileSync(logFile(name)).subarray(offset).toString('utf8');
}

/** The simulator's process-level handler writes these: a task that escaped its pod's handlers. */
export const UNHANDLED = /UNHANDLED REJECTION|UNCAUGHT EXCEPTION/;
/** A pod's task that ended in an error other than its cancellation (PodSim.settle). */
export const TASK_FAILED = /pod \S+: (run|terminate|status write|readiness of \S+) failed: /;

/** Nodes that are not Ready, or still carry the node lifecycle controller's unreachable/not-ready taints. */
export function unreadyNodes(): string[] {
  const nodes = kubectlJson(['get', 'nodes']).items as any[];
  return nodes
    .filter((n) => {
      const ready = (n.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.status === 'True';
      const tainted = (n.spec?.taints ?? []).some((t: any) => /node\.kubernetes\.io\/(unreachable|not-ready)/.test(t.key));
      return !ready || tainted;
    })
    .map((n) => n.metadata.name);
}

/** Builds and pushes the sample image with SIM_* build-args, as a release would be built. */
let workspace: string | undefined;
export function behaviourImage(repo: string, tag: string, buildArgs: Record<string, string>): string {
  const ws = (workspace ??= sampleWorkspace());
  const image = `${REGISTRY}/${repo}:${tag}`;
  const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  docker(['build', '-q', '-f', `${ws}/Dockerfile.prod`, ...args, '-t', image, ws]);
  docker(['push', '-q', image]);
  return image;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
