// Access to the local cluster from tests: its environment (.cluster/env), kubectl and docker.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(fileURLToPath(import.meta.url), '../../../..');
export const CLUSTER_DIR = process.env.MEDAUDIT_CLUSTER_DIR ?? path.join(REPO, '.cluster');

/** The variables cluster:up wrote (KUBECONFIG, DOCKER_HOST, PATH with the matching kubectl, ...). */
export function clusterEnv(): Record<string, string> {
  const file = path.join(CLUSTER_DIR, 'env');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run cluster:up first`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/\$PATH/g, process.env.PATH ?? '').replace(/\\\$/g, '$');
  }
  return env;
}

export const REGISTRY = '127.0.0.1:5000';

export function kubectl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): string {
  return execFileSync('kubectl', args, { env: { ...clusterEnv(), ...opts.env }, input: opts.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** kubectl that may fail: exit code and both streams. */
export function tryKubectl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync('kubectl', args, { env: { ...clusterEnv(), ...opts.env }, input: opts.input, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export function kubectlJson<T = any>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as T;
}

export function docker(args: string[]): string {
  return execFileSync('docker', args, { env: clusterEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits (on the API's own watch) for a condition with `kubectl wait`. */
export function waitFor(resource: string, namespace: string, condition: string, timeout = '120s'): void {
  kubectl(['wait', resource, '-n', namespace, `--for=${condition}`, `--timeout=${timeout}`]);
}

/** A fresh namespace name per test, so tests never see each other's objects. */
export function uniqueNamespace(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** A secrets manifest for k8s/ made from the committed example, with throwaway values. */
export function secretsFromExample(namespace = 'medaudit'): string {
  const example = readFileSync(path.join(REPO, 'k8s', 'secrets.yaml.example'), 'utf8');
  return example
    .replace(/CHANGE_ME_[A-Z0-9_]*/g, (m) => `test-${m.slice(10).toLowerCase().replace(/_/g, '-')}`)
    .replace(/namespace: medaudit\b/g, `namespace: ${namespace}`);
}

/** A namespace ready for a first deploy of k8s/: created, with the app's Secret applied first. */
export function createAppNamespace(namespace: string): void {
  kubectl(['create', 'namespace', namespace]);
  kubectl(['apply', '-f', '-'], { input: secretsFromExample(namespace) });
}

/** A namespace labelled as a repository's preview of a PR, as a preview deploy leaves it, for destroy and the janitor to judge. */
export function labelledPreview(pr: number, repository: string, expires = Math.floor(Date.now() / 1000) + 3600): void {
  const labels = {
    'medaudit.io/preview': 'true',
    'medaudit.io/pr': String(pr),
    'medaudit.io/expires': String(expires),
    'medaudit.io/repository': repository.replace('/', '_'),
  };
  kubectl(['create', 'namespace', `medaudit-pr-${pr}`]);
  kubectl(['label', 'namespace', `medaudit-pr-${pr}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
}

/** The digest the local registry serves for a tag, or null when it has none. */
export async function servedDigest(repository: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
    },
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

/** The images of an app's Ready pods that are not terminating (its first container). */
export function readyImages(ns: string, app = 'web'): Set<string> {
  const pods = kubectlJson(['get', 'pods', '-n', ns, '-l', `app=${app}`]).items as any[];
  return new Set(
    pods
      .filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.spec.containers[0].image),
  );
}
