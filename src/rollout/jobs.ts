// A Job's pod template cannot change: the API refuses such an apply. As Helm does with its hooks
// (before-hook-creation), a Job of the release is deleted and created anew when the apply would be
// refused, or when it did not succeed before; one that completed and did not change stays as it ran.
import type { KubeClient } from '../kube/client.js';
import { applyServerSide } from '../kube/apply.js';
import { KubectlError } from '../kube/client.js';
import type { Job, KubeObject } from '../kube/objects.js';
import { liveObjects, refOf } from './restore.js';
import { jobComplete } from './verdict.js';

/** A refusal of a change to a Job that cannot change: the release replaces that Job instead. */
export const isReplaceableJobRefusal = (refusal: string) => refusedAsImmutable(refusal).length > 0;

/** The Jobs an apply was refused for because it changed what cannot change (pure, from kubectl's stderr). */
export function refusedAsImmutable(stderr: string): string[] {
  const names = [...stderr.matchAll(/The Job "([^"]+)" is invalid: (?:(?!The Job ")[\s\S])*?field is immutable/g)].map((m) => m[1]);
  return [...new Set(names)];
}

/** Which of the release's Jobs must be replaced: live, and either unfinished or failed, or changed. */
async function jobsToReplace(kube: KubeClient, namespace: string, jobs: KubeObject[], fieldManager: string): Promise<string[]> {
  const live = await liveObjects(kube, namespace, jobs.map(refOf));
  const present = jobs.filter((j) => live.has(`Job/${j.metadata.name}`));
  if (!present.length) return [];
  const unfinished = present.filter((j) => !jobComplete(live.get(`Job/${j.metadata.name}`) as Job)).map((j) => j.metadata.name);
  const rest = present.filter((j) => !unfinished.includes(j.metadata.name));
  let changed: string[] = [];
  if (rest.length) {
    try {
      await applyServerSide(kube, namespace, rest, fieldManager, true);
    } catch (err) {
      if (!(err instanceof KubectlError)) throw err;
      changed = refusedAsImmutable(err.result.stderr);
    }
  }
  return [...unfinished, ...changed];
}

/** Deletes the Jobs that must run anew, and waits until they are gone; returns their names. */
export async function replaceJobs(kube: KubeClient, namespace: string, jobs: KubeObject[], fieldManager: string): Promise<string[]> {
  if (!jobs.length) return [];
  const names = await jobsToReplace(kube, namespace, jobs, fieldManager);
  // Background: the Job goes at once; its old pods follow, and are never taken for the new Job's (by owner).
  for (const name of names) await kube.run(['delete', 'job', name, '-n', namespace, '--cascade=background', '--wait=true']);
  return names;
}
