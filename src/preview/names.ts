// A pull request's preview environment: its namespace, host, labels and expiry, and the
// janitor's verdict on it (pure).
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import type { KubeObject } from '../kube/objects.js';
import { setNamespace } from '../manifests/substitute.js';
import { isDns1123Label } from '../manifests/validate.js';

export const PREVIEW_LABEL = 'medaudit.io/preview';
export const PR_LABEL = 'medaudit.io/pr';
const EXPIRES_LABEL = 'medaudit.io/expires';
/** Which repository's PR a preview belongs to: PR numbers alone are not unique in a shared cluster. */
export const REPOSITORY_LABEL = 'medaudit.io/repository';
const LABEL_VALUE_MAX = 63;
/** A preview lives a week after its last deploy unless its PR closes first. */
export const PREVIEW_TTL_SECONDS = 7 * 24 * 3600;

export function previewNamespace(pr: number): string {
  const ns = `medaudit-pr-${pr}`;
  if (!isDns1123Label(ns)) throw new InputError('preview', `namespace '${ns}' is not a DNS-1123 label of at most 63 characters`);
  return ns;
}

export const previewEnvironment = (pr: number) => `pr-${pr}`;

export function previewHost(pr: number, domain: string | undefined): string {
  if (!domain) throw new InputError('preview-domain', 'a preview needs a domain for its host pr-<N>.<domain>');
  return `pr-${pr}.${domain}`;
}

/**
 * owner/name as a label value ('/' is not allowed there): owner_name, or, when that is longer than
 * a label value may be, its start and a hash of the whole name, so two repositories never share one.
 */
export function repositoryLabelValue(repository: string): string {
  const plain = repository.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (plain.length <= LABEL_VALUE_MAX) return plain;
  const hash = createHash('sha256').update(repository).digest('hex').slice(0, 16);
  return `${plain.slice(0, LABEL_VALUE_MAX - hash.length - 1)}-${hash}`;
}

/** Label values carry the PR number and the expiry as Unix seconds (label values allow no colons). */
export function previewLabels(pr: number, expiresAt: Date, repository?: string): Record<string, string> {
  return {
    [PREVIEW_LABEL]: 'true',
    [PR_LABEL]: String(pr),
    [EXPIRES_LABEL]: String(Math.floor(expiresAt.getTime() / 1000)),
    ...(repository ? { [REPOSITORY_LABEL]: repositoryLabelValue(repository) } : {}),
  };
}

/** The label selector of this repository's previews (of every preview without a repository). */
export const previewSelector = (repository?: string) =>
  [`${PREVIEW_LABEL}=true`, ...(repository ? [`${REPOSITORY_LABEL}=${repositoryLabelValue(repository)}`] : [])].join(',');

const withHost = (o: KubeObject, host: string): KubeObject => {
  if (o.kind !== 'Ingress') return o;
  const spec = structuredClone(o.spec ?? {});
  for (const rule of spec.rules ?? []) if (rule.host) rule.host = host;
  for (const tls of spec.tls ?? []) tls.hosts = (tls.hosts ?? []).map(() => host);
  return { ...o, spec };
};

/** The manifests moved into the preview's namespace, with its host and labels; a Namespace added if absent. */
export function previewObjects(objects: KubeObject[], pr: number, host: string, labels: Record<string, string>): KubeObject[] {
  const namespace = previewNamespace(pr);
  let moved = setNamespace(objects, namespace).map((o) => withHost(o, host));
  if (!moved.some((o) => o.kind === 'Namespace')) {
    moved = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, ...moved];
  }
  return moved.map((o) => (o.kind === 'Namespace' ? { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels } } } : o));
}

/**
 * Whether a namespace is this repository's preview of this PR, the condition to delete it or
 * deploy a preview into it; the reason it is not, otherwise.
 */
export function ownershipRefusal(
  namespace: string,
  labels: Record<string, string> | undefined,
  pr?: number,
  repository?: string,
  verb = 'delete',
): string | undefined {
  if (labels?.[PREVIEW_LABEL] !== 'true') return `namespace '${namespace}' has no ${PREVIEW_LABEL}=true label: it is not a preview, refusing to ${verb} it`;
  if (pr !== undefined && labels[PR_LABEL] !== String(pr))
    return `namespace '${namespace}' belongs to PR ${labels[PR_LABEL]}, not ${pr}: refusing to ${verb} it`;
  if (repository && labels[REPOSITORY_LABEL] !== repositoryLabelValue(repository)) {
    const owner = labels[REPOSITORY_LABEL] ? `repository ${labels[REPOSITORY_LABEL].replace('_', '/')}` : 'no repository (no ' + REPOSITORY_LABEL + ' label)';
    return `namespace '${namespace}' is the preview of ${owner}, not of ${repository}: refusing to ${verb} it`;
  }
  return undefined;
}

export type PrState = 'open' | 'closed' | 'unknown';
export type JanitorDecision = { namespace: string; pr?: number; delete: boolean; reason: string; error?: string };

export function janitorDecision(namespace: string, labels: Record<string, string>, state: PrState, now: Date): JanitorDecision {
  const pr = Number(labels[PR_LABEL]) || undefined;
  const expires = Number(labels[EXPIRES_LABEL]);
  if (state === 'closed') return { namespace, pr, delete: true, reason: `PR #${pr} is closed` };
  if (Number.isFinite(expires) && expires * 1000 < now.getTime()) {
    return { namespace, pr, delete: true, reason: `expired at ${new Date(expires * 1000).toISOString()}` };
  }
  if (state === 'unknown') return { namespace, pr, delete: false, reason: `PR state unknown; kept until it expires` };
  return { namespace, pr, delete: false, reason: `PR #${pr} is open; expires ${Number.isFinite(expires) ? new Date(expires * 1000).toISOString() : 'never'}` };
}
