// Before anything changes: does the cluster answer, and may this identity do what a deploy and
// a rollback need? One SelfSubjectRulesReview answers for the namespace; a SelfSubjectAccessReview
// (`kubectl auth can-i`) each for what it cannot tell.
import type { KubeClient } from './client.js';

/** A verb on a resource as `kubectl auth can-i` names it (TYPE[.GROUP][/NAME]), or on its subresource. */
export type Permission = { verb: string; resource: string; namespaced: boolean; subresource?: string };

/** A rule of a SelfSubjectRulesReview's answer. */
export type ResourceRule = { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] };
type RulesStatus = { resourceRules?: ResourceRule[]; incomplete?: boolean };

/**
 * The kubeconfig parses and its current context exists (kubectl's own check), before anything
 * else is run with it: otherwise every later command fails with a message about something else.
 */
export async function checkKubeconfig(kube: KubeClient): Promise<void> {
  const r = await kube.run(['config', 'view', '--minify', '-o', 'jsonpath={.current-context}'], { allowFailure: true });
  if (r.code !== 0) throw new Error((r.stderr || r.stdout).trim().replace(/^error: /, ''));
}

export async function clusterVersion(kube: KubeClient): Promise<string> {
  // A short retry: a cluster that does not answer at the start is a bad kubeconfig, most likely.
  const r = await kube.run(['get', '--raw', '/version'], { retryMs: 5000 });
  return (JSON.parse(r.stdout) as { gitVersion: string }).gitVersion;
}

const matches = (list: string[] | undefined, value: string) => !!list && (list.includes('*') || list.includes(value));

/** Whether one of the rules grants it, as RBAC matches them (a rule naming objects grants nothing unnamed). */
export function allowedByRules(rules: ResourceRule[], p: Permission): boolean {
  const [type, name] = p.resource.includes('/') ? [p.resource.slice(0, p.resource.indexOf('/')), p.resource.slice(p.resource.indexOf('/') + 1)] : [p.resource];
  const dot = type.indexOf('.');
  const [resource, group] = dot < 0 ? [type, ''] : [type.slice(0, dot), type.slice(dot + 1)];
  const target = p.subresource ? `${resource}/${p.subresource}` : resource;
  return rules.some(
    (r) =>
      matches(r.verbs, p.verb) &&
      matches(r.apiGroups, group) &&
      (matches(r.resources, target) || (!!p.subresource && !!r.resources?.includes(`*/${p.subresource}`))) &&
      (!r.resourceNames?.length || (!!name && r.resourceNames.includes(name))),
  );
}

/** What this identity may do in the namespace, in one review; undefined when the server will not say. */
async function rulesIn(kube: KubeClient, namespace: string): Promise<RulesStatus | undefined> {
  const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } };
  // Without validation: kubectl's schema check of a create-only kind lists CRDs, which a namespaced identity may not.
  const r = await kube.run(['create', '--validate=false', '-f', '-', '-o', 'json'], { input: JSON.stringify(review), allowFailure: true });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { status?: RulesStatus }).status;
}

async function canI(kube: KubeClient, namespace: string, p: Permission): Promise<boolean> {
  const args = ['auth', 'can-i', p.verb, p.resource, ...(p.subresource ? [`--subresource=${p.subresource}`] : []), ...(p.namespaced ? ['-n', namespace] : [])];
  return (await kube.run(args, { allowFailure: true })).stdout.trim() === 'yes';
}

/**
 * The denied permissions, each as "verb resource". The namespace's rules decide what lives in it
 * (the namespace itself included); what is cluster-wide, or what an incomplete review (another
 * authorizer, a webhook) does not grant, is asked one by one.
 */
export async function missingPermissions(kube: KubeClient, namespace: string, wanted: Permission[]): Promise<string[]> {
  const review = await rulesIn(kube, namespace);
  const decides = (p: Permission) => !!review && (p.namespaced || p.resource === `namespaces/${namespace}`);
  const answers = await Promise.all(
    wanted.map(async (p) => {
      const granted = decides(p) && allowedByRules(review?.resourceRules ?? [], p);
      const deniedHere = decides(p) && !review?.incomplete;
      const allowed = granted || (!deniedHere && (await canI(kube, namespace, p)));
      return allowed ? undefined : `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.namespaced ? ` in ${namespace}` : ''}`;
    }),
  );
  return answers.filter((a): a is string => !!a);
}
