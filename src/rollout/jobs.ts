// A Job's pod template cannot change: the API refuses such an apply. As Helm does with its hooks
// (before-hook-creation), a migration Job of the release is deleted and created anew when the
// apply would be refused for that alone, or when it failed before; one that completed and did not
// change stays as it ran. One still running is never deleted: two migrations would run at once.
import type { KubeClient } from '../kube/client.js';
import { applyServerSide } from '../kube/apply.js';
import { KubectlError } from '../kube/client.js';
import { conditionOf, type Job, type KubeObject } from '../kube/objects.js';
import { UserError } from '../errors.js';
import { liveObjects, refOf } from './restore.js';
import { jobComplete } from './verdict.js';

// kubectl prints `The Job "x" is invalid: …` when one object is refused, and
// `Error from server (Invalid): Job.batch "x" is invalid: …` for each of several. A refusal with
// more than one cause lists them in brackets: then something else is wrong too.
const REFUSAL = /^(?:Error from server \(Invalid\): )?(?:The Job|Job\.batch) "([^"]+)" is invalid: (?!\[).*: field is immutable$/gm;

/** The Jobs refused only because the apply changed what cannot change (pure, from kubectl's stderr). */
export function refusedAsImmutable(stderr: string): string[] {
  return [...new Set([...stderr.matchAll(REFUSAL)].map((m) => m[1]))];
}

/** A refusal the release deals with itself: one of these Jobs, refused only for an immutable change. */
export const replaceableRefusal =
  (jobs: KubeObject[]) =>
  (refusal: string): boolean => {
    const names = refusedAsImmutable(refusal);
    return names.length > 0 && names.every((n) => jobs.some((j) => j.kind === 'Job' && j.metadata.name === n));
  };

/** Neither complete nor given up: it may still start pods. */
export const jobUnfinished = (job: Job) => !jobComplete(job) && conditionOf(job, 'Failed')?.status !== 'True';

/** A Job of the release that is still running: it cannot be changed, and must not be deleted. */
export function runningJobRefusal(job: Job): string {
  const active = job.status?.active ?? 0;
  return (
    `Job/${job.metadata.name} is still running (${active} active pod${active === 1 ? '' : 's'}), started before this release: ` +
    `a Job cannot be changed while it runs; wait for it to finish, or delete it ('kubectl delete job ${job.metadata.name} -n ${job.metadata.namespace ?? '<namespace>'}')`
  );
}

/** Which of the release's Jobs must be replaced: live, and failed, or changed (by the API's refusal). */
export async function jobsToReplace(kube: KubeClient, namespace: string, jobs: KubeObject[], fieldManager: string): Promise<string[]> {
  if (!jobs.length) return [];
  const live = await liveObjects(kube, namespace, jobs.map(refOf));
  const present = jobs.map((j) => live.get(`Job/${j.metadata.name}`) as Job | undefined).filter((j): j is Job => j !== undefined);
  const running = present.find(jobUnfinished);
  if (running) throw new UserError(runningJobRefusal(running));
  const failed = present.filter((j) => !jobComplete(j)).map((j) => j.metadata.name);
  const rest = jobs.filter((j) => present.some((p) => p.metadata.name === j.metadata.name) && !failed.includes(j.metadata.name));
  let changed: string[] = [];
  if (rest.length) {
    try {
      await applyServerSide(kube, namespace, rest, fieldManager, true);
    } catch (err) {
      if (!(err instanceof KubectlError)) throw err;
      changed = refusedAsImmutable(err.result.stderr);
    }
  }
  return [...failed, ...changed];
}

/** Deletes the Jobs that must run anew, their pods first, and waits until they are gone; returns their names. */
export async function replaceJobs(kube: KubeClient, namespace: string, jobs: KubeObject[], fieldManager: string): Promise<string[]> {
  const names = await jobsToReplace(kube, namespace, jobs, fieldManager);
  // Foreground: the Job goes only after its pods (finished ones go at once), so none outlives it.
  for (const name of names) await kube.run(['delete', 'job', name, '-n', namespace, '--cascade=foreground', '--wait=true']);
  return names;
}
