// Server-side apply and diff of a set of objects into one namespace, and whether it exists.
import { KubectlError, type KubeClient } from './client.js';
import type { KubeObject } from './objects.js';
import { withoutKlog } from './retry.js';

/** What `kubectl apply` and `kubectl diff` read on stdin: the objects as one v1 List. */
const asList = (objects: KubeObject[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });

const serverSide = (verb: 'apply' | 'diff', namespace: string, fieldManager: string) => [
  verb,
  '--server-side',
  `--field-manager=${fieldManager}`,
  '--force-conflicts',
  '-n',
  namespace,
  '-f',
  '-',
];

/** Applies (or, with dryRun, validates on the server) and returns kubectl's summary lines. */
export async function applyServerSide(kube: KubeClient, namespace: string, objects: KubeObject[], fieldManager: string, dryRun = false): Promise<string> {
  const args = serverSide('apply', namespace, fieldManager);
  const r = await kube.run(dryRun ? [...args, '--dry-run=server'] : args, { input: asList(objects) });
  return r.stdout.trim();
}

/**
 * What the API server refuses in kubectl's report of a server-side dry run: one entry per error.
 * Into a namespace that does not exist yet, the server checks each object's kind and schema (typed
 * fields, unknown fields) before it answers that the namespace is missing: that answer is no refusal.
 */
export function serverRejections(stderr: string, missingNamespace?: string, tolerated: (refusal: string) => boolean = () => false): string[] {
  const blocks = withoutKlog(stderr)
    .split(/\n(?=Error from server|error:|resource mapping not found|Warning:|The \w+ "[^"]+" is invalid)/)
    .map((b) => b.trim())
    .filter((b) => b && !b.startsWith('Warning:'));
  const missing = missingNamespace && new RegExp(`^Error from server \\(NotFound\\): namespaces "${missingNamespace}" not found$`);
  return blocks.filter((b) => !(missing && missing.test(b)) && !tolerated(b));
}

/**
 * A server-side dry run of the whole release. Into a namespace that does not exist yet, only the
 * Namespace itself can pass admission; the contents are checked for kind and schema. A refusal
 * the release will deal with itself (a Job it replaces) can be tolerated.
 */
export async function dryRunServerSide(
  kube: KubeClient,
  namespace: string,
  objects: KubeObject[],
  fieldManager: string,
  namespaceExists: boolean,
  tolerated?: (refusal: string) => boolean,
): Promise<string> {
  const args = [...serverSide('apply', namespace, fieldManager), '--dry-run=server'];
  const r = await kube.run(args, { input: asList(objects), allowFailure: true });
  const refused = serverRejections(r.stderr, namespaceExists ? undefined : namespace, tolerated);
  const onlyTolerated = !refused.length && serverRejections(r.stderr, namespaceExists ? undefined : namespace).length > 0;
  if (r.code !== 0 && (refused.length || (namespaceExists && !onlyTolerated))) throw new KubectlError(args, { ...r, stderr: refused.join('\n') || r.stderr });
  return r.stdout.trim();
}

/** The diff against the live objects ('' when there is none). */
export async function diffServerSide(kube: KubeClient, namespace: string, objects: KubeObject[], fieldManager: string): Promise<string> {
  const r = await kube.run(serverSide('diff', namespace, fieldManager), { input: asList(objects), allowFailure: true });
  // kubectl diff exits 1 when there are differences and above 1 on errors.
  if (r.code > 1) throw new Error(`kubectl diff failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * Whether the namespace exists. An identity that may not even read it is taken at its word that
 * it does: the permission check then names what it lacks there.
 */
export async function namespaceExists(kube: KubeClient, namespace: string): Promise<boolean> {
  const args = ['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name'];
  const r = await kube.run(args, { allowFailure: true });
  if (r.code === 0) return r.stdout.trim() !== '';
  if (/forbidden/i.test(r.stderr)) return true;
  throw new KubectlError(args, r);
}
