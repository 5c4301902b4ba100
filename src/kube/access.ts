// Before anything changes: does the cluster answer, and may this identity do what a deploy and
// a rollback need? Each check is a SelfSubjectAccessReview (`kubectl auth can-i`).
import type { Kubectl } from './kubectl.js';

export type Permission = { verb: string; resource: string; namespaced: boolean };

export async function clusterVersion(kubectl: Kubectl): Promise<string> {
  const v = await kubectl.raw<{ gitVersion: string }>('/version');
  return v.gitVersion;
}

/** The denied permissions, each as "verb resource". */
export async function missingPermissions(kubectl: Kubectl, namespace: string, wanted: Permission[]): Promise<string[]> {
  const answers = await Promise.all(
    wanted.map(async (p) => {
      const args = ['auth', 'can-i', p.verb, p.resource, ...(p.namespaced ? ['-n', namespace] : [])];
      const r = await kubectl.run(args, { allowFailure: true });
      return r.stdout.trim() === 'yes' ? undefined : `${p.verb} ${p.resource}${p.namespaced ? ` in ${namespace}` : ''}`;
    }),
  );
  return answers.filter((a): a is string => !!a);
}
