// Why a release failed, per failing pod: the reason and message, the last log lines of the
// container that failed (its previous instance after a crash), and the pod's recent Warning events.
import type { KubeClient } from '../kube/client.js';
import type { KubeEvent, List } from '../kube/objects.js';
import type { PodFailure } from './verdict.js';

export type Diagnosis = PodFailure & { workload: string; logs: string[]; events: string[] };

const LOG_LINES = 20;
const EVENT_COUNT = 5;

async function lastLogs(kube: KubeClient, namespace: string, f: PodFailure): Promise<string[]> {
  if (!f.pod || !f.container) return [];
  const args = ['logs', f.pod, '-n', namespace, '-c', f.container, `--tail=${LOG_LINES}`];
  const read = async (previous: boolean) => {
    const res = await kube.run(previous ? [...args, '--previous'] : args, { allowFailure: true });
    return res.code === 0 ? res.stdout.split('\n').filter((l) => l.trim() !== '') : [];
  };
  // Around a restart the failed instance moves from current to previous: look at the other one too.
  const preferred = await read(!!f.previousLogs);
  return preferred.length ? preferred : read(!f.previousLogs);
}

const when = (e: KubeEvent) => Date.parse(e.lastTimestamp ?? e.eventTime ?? '') || 0;

async function warnings(kube: KubeClient, namespace: string, pod: string): Promise<string[]> {
  const res = await kube.run(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${pod},type=Warning`, '-o', 'json'], {
    allowFailure: true,
  });
  if (res.code !== 0) return [];
  const items = (JSON.parse(res.stdout) as List<KubeEvent>).items ?? [];
  return items
    .sort((a, b) => when(a) - when(b))
    .slice(-EVENT_COUNT)
    .map((e) => `${e.reason}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}: ${e.message}`);
}

/** One diagnosis per failing pod and container; pods beyond the first few are only counted. */
export async function diagnose(kube: KubeClient, namespace: string, failures: { workload: string; failure: PodFailure }[], limit = 3): Promise<Diagnosis[]> {
  const out: Diagnosis[] = [];
  for (const { workload, failure } of failures.slice(0, limit)) {
    // A failure of the workload itself (a Job that gave up) has its events on the workload.
    const about = failure.pod ?? workload.slice(workload.indexOf('/') + 1);
    const [logs, events] = await Promise.all([lastLogs(kube, namespace, failure), warnings(kube, namespace, about)]);
    out.push({ ...failure, workload, logs, events });
  }
  return out;
}
