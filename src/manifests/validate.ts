// Checks on rendered manifests that the API server would only report halfway
// through an apply, or not at all (a placeholder secret deploys "fine").
import { ManifestError } from '../errors.js';
import { isRecord, objectId, type KubeObject } from '../kube/objects.js';
import type { SourcedObject } from './objects.js';

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL_LENGTH = 63;
// Pods of a StatefulSet get the label controller-revision-hash=<name>-<hash>;
// with the 10-character hash and the dash it must fit in a 63-character label.
const MAX_STATEFULSET_NAME_LENGTH = 52;
const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export const isDns1123Label = (s: string): boolean => s.length <= MAX_LABEL_LENGTH && DNS_1123_LABEL.test(s);

const describe = (o: SourcedObject): string => (o.__source ? `${o.__source}: ${objectId(o)}` : objectId(o));

// Keys like 'app.kubernetes.io/name' would make a dotted path ambiguous.
const childPath = (path: string, key: string) => (SIMPLE_KEY.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);

function stringsIn(value: unknown, path: string): { path: string; value: string }[] {
  if (typeof value === 'string') return [{ path, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringsIn(item, `${path}[${i}]`));
  if (isRecord(value)) return Object.entries(value).flatMap(([key, item]) => stringsIn(item, childPath(path, key)));
  return [];
}

const decodeBase64 = (value: string) => Buffer.from(value, 'base64').toString('utf8');

// Secret `data` is base64, so a placeholder there is invisible to a plain search.
function secretDataValue(o: SourcedObject, path: string, value: string): string {
  return o.kind === 'Secret' && /^data[.[]/.test(path) ? `${value}\n${decodeBase64(value)}` : value;
}

export function findPlaceholders(objects: SourcedObject[], marker = 'CHANGE_ME'): { where: string; path: string }[] {
  return objects.flatMap((o) => {
    const { __source: _, ...content } = o;
    // Paths are only worth building where the marker is; a Secret's data hides it in base64.
    if (o.kind !== 'Secret' && !JSON.stringify(content).includes(marker)) return [];
    return stringsIn(content, '')
      .filter(({ path, value }) => secretDataValue(o, path, value).includes(marker))
      .map(({ path }) => ({ where: describe(o), path }));
  });
}

function whereOf(o: SourcedObject, index: number): string {
  const source = o.__source ?? 'manifests';
  const named = typeof o.kind === 'string' && isRecord(o.metadata) && typeof o.metadata.name === 'string';
  return named ? describe(o) : `${source}: object #${index + 1}`;
}

function checkRequiredFields(o: SourcedObject, index: number): void {
  const where = whereOf(o, index);
  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') throw new ManifestError(where, 'missing apiVersion');
  if (typeof o.kind !== 'string' || o.kind === '') throw new ManifestError(where, 'missing kind');
  if (!isRecord(o.metadata)) throw new ManifestError(where, 'missing metadata');
  if (typeof o.metadata.name !== 'string' || o.metadata.name === '') throw new ManifestError(where, 'missing metadata.name');
}

function checkNames(o: SourcedObject): void {
  const namespace = o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace;
  if (namespace !== undefined && !(typeof namespace === 'string' && isDns1123Label(namespace))) {
    throw new ManifestError(describe(o), `namespace '${namespace}' is not a DNS-1123 label (lowercase letters, digits and '-', at most ${MAX_LABEL_LENGTH})`);
  }
  if (o.kind === 'StatefulSet' && o.metadata.name.length > MAX_STATEFULSET_NAME_LENGTH) {
    throw new ManifestError(
      describe(o),
      `StatefulSet name is ${o.metadata.name.length} characters; at most ${MAX_STATEFULSET_NAME_LENGTH} fit, because its pods get the label controller-revision-hash=<name>-<hash>`,
    );
  }
}

function checkDuplicates(objects: SourcedObject[]): void {
  const seen = new Map<string, SourcedObject>();
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const first = seen.get(key);
    if (first) throw new ManifestError(describe(o), `duplicate object, also defined at ${describe(first)}`);
    seen.set(key, o);
  }
}

function checkPlaceholders(objects: SourcedObject[], marker: string): void {
  const found = findPlaceholders(objects, marker);
  if (found.length === 0) return;
  const byWhere = new Map<string, string[]>();
  for (const { where, path } of found) byWhere.set(where, [...(byWhere.get(where) ?? []), path]);
  const [[firstWhere, firstPaths], ...others] = [...byWhere];
  const elsewhere = others.map(([where, paths]) => `; ${where}: ${paths.join(', ')}`).join('');
  throw new ManifestError(firstWhere, `placeholder '${marker}' must be replaced before deploying: ${firstPaths.join(', ')}${elsewhere}`);
}

export function validateObjects(objects: SourcedObject[]): void {
  objects.forEach(checkRequiredFields);
  objects.forEach(checkNames);
  checkDuplicates(objects);
  checkPlaceholders(objects, 'CHANGE_ME');
}

export function manifestNamespace(objects: KubeObject[]): string | undefined {
  const namespaceObjects = objects.filter((o) => o.kind === 'Namespace');
  if (namespaceObjects.length === 1) return namespaceObjects[0].metadata.name;
  const used = new Set(objects.map((o) => o.metadata.namespace).filter((ns): ns is string => !!ns));
  return used.size === 1 ? [...used][0] : undefined;
}
