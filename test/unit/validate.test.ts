import { describe, expect, test } from '@jest/globals';
import { readManifests, renderKustomize } from '../support/manifests.js';
import { ManifestError } from '../../src/errors.js';
import type { KubeObject } from '../../src/kube/objects.js';
import type { SourcedObject } from '../../src/manifests/objects.js';
import { findPlaceholders, isDns1123Label, manifestNamespace, validateObjects } from '../../src/manifests/validate.js';

const sourced = (objects: KubeObject[], source: string): SourcedObject[] => objects.map((o) => ({ ...o, __source: source }));

const renderK8s = () => sourced(renderKustomize('k8s'), 'k8s');
const secretsExample = () => sourced(readManifests('k8s/secrets.yaml.example'), 'k8s/secrets.yaml');

const configMap = (name: string, extra: Partial<SourcedObject> = {}): SourcedObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'medaudit' },
  __source: 'k8s/configmap.yaml',
  ...extra,
});

const base64 = (text: string) => Buffer.from(text).toString('base64');

function errorOf(call: () => void): ManifestError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error('expected a ManifestError');
}

describe('isDns1123Label', () => {
  test.each(['medaudit', 'medaudit-pr-42', 'a', '0', 'a'.repeat(63)])('accepts %s', (s) => {
    expect(isDns1123Label(s)).toBe(true);
  });
  test.each(['', 'Medaudit', '-a', 'a-', 'a.b', 'a_b', 'a'.repeat(64), 'pr 1'])('rejects %j', (s) => {
    expect(isDns1123Label(s)).toBe(false);
  });
});

describe('findPlaceholders', () => {
  test('finds every CHANGE_ME value of the example Secret', () => {
    expect(findPlaceholders(secretsExample())).toEqual([
      { where: 'k8s/secrets.yaml: Secret/medaudit/medaudit-secrets', path: 'stringData.SECRET_KEY' },
      { where: 'k8s/secrets.yaml: Secret/medaudit/medaudit-secrets', path: 'stringData.POSTGRES_PASSWORD' },
      { where: 'k8s/secrets.yaml: Secret/medaudit/medaudit-secrets', path: 'stringData.DATABASE_URL' },
    ]);
  });

  test('looks inside base64 Secret data, nested values and arrays', () => {
    const secret: SourcedObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'medaudit' },
      data: { TOKEN: base64('CHANGE_ME_TOKEN'), OK: base64('fine'), 'tls.crt': base64('x CHANGE_ME') },
    };
    const deployment: SourcedObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', annotations: { 'example.com/owner': 'CHANGE_ME' } },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'c',
                env: [
                  { name: 'A', value: 'ok' },
                  { name: 'B', value: 'CHANGE_ME' },
                ],
              },
            ],
          },
        },
      },
    };
    expect(findPlaceholders([secret, deployment])).toEqual([
      { where: 'Secret/medaudit/s', path: 'data.TOKEN' },
      { where: 'Secret/medaudit/s', path: 'data["tls.crt"]' },
      { where: 'Deployment/d', path: 'metadata.annotations["example.com/owner"]' },
      { where: 'Deployment/d', path: 'spec.template.spec.containers[0].env[1].value' },
    ]);
  });

  test('decodes base64 only under Secret data, and takes another marker', () => {
    const encodedInConfigMap = configMap('c', { data: { A: base64('CHANGE_ME') } });
    expect(findPlaceholders([encodedInConfigMap])).toEqual([]);
    expect(findPlaceholders([configMap('c', { data: { A: 'TODO' } })], 'TODO')).toEqual([
      { where: 'k8s/configmap.yaml: ConfigMap/medaudit/c', path: 'data.A' },
    ]);
  });

  test('has nothing to report on the rendered k8s/', () => {
    expect(findPlaceholders(renderK8s())).toEqual([]);
  });
});

describe('validateObjects', () => {
  test('accepts the rendered k8s/', () => {
    expect(() => validateObjects(renderK8s())).not.toThrow();
  });

  test('rejects the example Secret, listing every placeholder in one error', () => {
    const error = errorOf(() => validateObjects([...renderK8s(), ...secretsExample()]));
    expect(error.where).toBe('k8s/secrets.yaml: Secret/medaudit/medaudit-secrets');
    expect(error.message).toBe(
      "k8s/secrets.yaml: Secret/medaudit/medaudit-secrets: placeholder 'CHANGE_ME' must be replaced before deploying: " +
        'stringData.SECRET_KEY, stringData.POSTGRES_PASSWORD, stringData.DATABASE_URL',
    );
  });

  test('lists placeholders of several objects together', () => {
    const error = errorOf(() => validateObjects([configMap('a', { data: { X: 'CHANGE_ME' } }), configMap('b', { data: { Y: 'CHANGE_ME', Z: 'CHANGE_ME' } })]));
    expect(error.message).toBe(
      "k8s/configmap.yaml: ConfigMap/medaudit/a: placeholder 'CHANGE_ME' must be replaced before deploying: data.X; " +
        'k8s/configmap.yaml: ConfigMap/medaudit/b: data.Y, data.Z',
    );
  });

  test.each([
    ['apiVersion', { apiVersion: undefined }, 'k8s/configmap.yaml: ConfigMap/medaudit/c: missing apiVersion'],
    ['kind', { kind: undefined }, 'k8s/configmap.yaml: object #2: missing kind'],
    ['metadata', { metadata: undefined }, 'k8s/configmap.yaml: object #2: missing metadata'],
    ['metadata.name', { metadata: { namespace: 'medaudit' } }, 'k8s/configmap.yaml: object #2: missing metadata.name'],
  ])('rejects a missing %s', (_field, override, message) => {
    const broken = { ...configMap('c'), ...override } as unknown as SourcedObject;
    expect(errorOf(() => validateObjects([configMap('ok'), broken])).message).toBe(message);
  });

  test('rejects duplicates, naming both places', () => {
    const first = configMap('c');
    const second = { ...configMap('c'), __source: 'k8s/other.yaml' };
    expect(errorOf(() => validateObjects([first, second])).message).toBe(
      'k8s/other.yaml: ConfigMap/medaudit/c: duplicate object, also defined at k8s/configmap.yaml: ConfigMap/medaudit/c',
    );
  });

  test('allows the same name in another namespace or of another kind', () => {
    const otherNamespace = { ...configMap('c'), metadata: { name: 'c', namespace: 'other' } };
    const secret = { ...configMap('c'), kind: 'Secret' };
    expect(() => validateObjects([configMap('c'), otherNamespace, secret])).not.toThrow();
  });

  test('rejects a namespace that is not a DNS-1123 label', () => {
    const badNamespace = { ...configMap('c'), metadata: { name: 'c', namespace: 'MedAudit' } };
    expect(errorOf(() => validateObjects([badNamespace])).message).toMatch(
      /^k8s\/configmap\.yaml: ConfigMap\/MedAudit\/c: namespace 'MedAudit' is not a DNS-1123 label/,
    );
    const namespace: SourcedObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'med_audit' }, __source: 'k8s/namespace.yaml' };
    expect(errorOf(() => validateObjects([namespace])).message).toMatch(
      /^k8s\/namespace\.yaml: Namespace\/med_audit: namespace 'med_audit' is not a DNS-1123 label/,
    );
  });

  test('rejects a StatefulSet name longer than 52 characters', () => {
    const statefulSet = (name: string): SourcedObject => ({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace: 'medaudit' },
      __source: 'k8s/postgres-statefulset.yaml',
    });
    expect(() => validateObjects([statefulSet('p'.repeat(52))])).not.toThrow();
    expect(errorOf(() => validateObjects([statefulSet('p'.repeat(53))])).message).toMatch(
      new RegExp(`^k8s/postgres-statefulset\\.yaml: StatefulSet/medaudit/${'p'.repeat(53)}: StatefulSet name is 53 characters; at most 52`),
    );
    // Other kinds may use the full 63.
    expect(() => validateObjects([{ ...statefulSet('p'.repeat(60)), kind: 'Deployment' }])).not.toThrow();
  });
});

describe('manifestNamespace', () => {
  const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  test('is the Namespace of k8s/', () => {
    expect(manifestNamespace(renderK8s())).toBe('medaudit');
  });

  test('prefers a single Namespace object', () => {
    expect(manifestNamespace([namespace('preview'), configMap('c')])).toBe('preview');
  });

  test('falls back to the one namespace the objects use', () => {
    expect(manifestNamespace([configMap('a'), configMap('b'), namespace('x'), namespace('y')])).toBe('medaudit');
    expect(manifestNamespace([configMap('a'), { ...configMap('b'), metadata: { name: 'b' } }])).toBe('medaudit');
  });

  test('is undefined when it is ambiguous or absent', () => {
    expect(manifestNamespace([configMap('a'), { ...configMap('b'), metadata: { name: 'b', namespace: 'other' } }])).toBeUndefined();
    expect(manifestNamespace([{ ...configMap('a'), metadata: { name: 'a' } }])).toBeUndefined();
    expect(manifestNamespace([])).toBeUndefined();
  });
});
