// Restoring a release's other objects: what our field manager applied, read back from objects
// captured from the cluster, and the plan of what to restore, delete or keep.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeObject } from '../../src/kube/objects.js';
import { appliedConfiguration, pickFields, planRestore, type ObjectState } from '../../src/rollout/restore.js';

const fixture = JSON.parse(readFileSync(path.join(process.cwd(), 'test/fixtures/status/ssa-objects.json'), 'utf8')) as { objects: KubeObject[] };
const live = (name: string) => structuredClone(fixture.objects.find((o) => o.metadata.name === name)!);

describe('appliedConfiguration: what our field manager applied, from the live object', () => {
  test('a ConfigMap: our data and label, not the label another tool added, no server fields', () => {
    expect(appliedConfiguration(live('app-config'), 'medaudit-deploy')).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-config', namespace: 'fx-ssa', labels: { app: 'backend' } },
      data: { LOG_LEVEL: 'info', NLP_URL: 'http://nlp:8080' },
    });
  });

  test('a Service: list items by key, an atomic selector whole, and none of the defaults the server filled in', () => {
    const applied = appliedConfiguration(live('backend-service'), 'medaudit-deploy');
    expect(applied.spec).toEqual({ selector: { app: 'backend' }, ports: [{ name: 'http', port: 80, targetPort: 8000, protocol: 'TCP' }] });
    expect(live('backend-service').spec.clusterIP).toBeDefined();
  });

  test('an object no apply of ours touched: the whole object, without status and server metadata', () => {
    const applied = appliedConfiguration(live('app-config'), 'someone-else');
    expect(applied.metadata).toEqual({ name: 'app-config', namespace: 'fx-ssa', labels: { app: 'backend', team: 'ops' } });
    expect(applied.data).toEqual({ LOG_LEVEL: 'info', NLP_URL: 'http://nlp:8080' });
    expect(applied).not.toHaveProperty('status');
  });

  test('a Secret applied with stringData: the values come back as data, as they were stored', () => {
    expect(appliedConfiguration(live('s'), 'medaudit-deploy')).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'fx-sd' },
      data: { TOKEN: 'YWJj' },
    });
  });

  test('pickFields keeps list order and picks items by value and index too', () => {
    const set = { 'f:args': { 'v:"b"': {}, 'v:"a"': {} }, 'f:ports': { 'i:1': { 'f:port': {} } } };
    expect(pickFields({ args: ['a', 'x', 'b'], ports: [{ port: 1 }, { port: 2, name: 'n' }], other: 1 }, set)).toEqual({
      args: ['a', 'b'],
      ports: [{ port: 2 }],
    });
  });
});

describe('planRestore', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', name: 'app-config' };
  const svc = { apiVersion: 'v1', kind: 'Service', name: 'extra' };
  const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data' };
  const before: ObjectState[] = [
    { ...cm, existed: true, resourceVersion: '10', applied: live('app-config') },
    { ...svc, existed: false },
    { ...pvc, existed: false },
  ];
  const now = (rv: string, ...created: { kind: string; name: string }[]) =>
    new Map<string, KubeObject>([
      ['ConfigMap/app-config', { ...live('app-config'), metadata: { ...live('app-config').metadata, resourceVersion: rv } }],
      ...created.map((c) => [`${c.kind}/${c.name}`, { apiVersion: 'v1', kind: c.kind, metadata: { name: c.name } }] as [string, KubeObject]),
    ]);

  test('an upgrade: the changed ConfigMap restored, the added Service deleted, a PVC kept for its data', () => {
    const steps = planRestore(before, now('11', svc, pvc), { firstInstall: false, deleteCreated: false });
    expect(steps.map((s) => [s.kind, s.action])).toEqual([
      ['ConfigMap', 'restore'],
      ['Service', 'delete'],
      ['PersistentVolumeClaim', 'leave'],
    ]);
  });

  test('what the release did not change or never created is kept', () => {
    const steps = planRestore(before, now('10'), { firstInstall: false, deleteCreated: false });
    expect(steps.map((s) => s.action)).toEqual(['keep', 'keep', 'keep']);
  });

  test('a first install keeps what it created for debugging, unless asked to delete it', () => {
    expect(planRestore(before.slice(1), now('10', svc), { firstInstall: true, deleteCreated: false })[0]).toMatchObject({ action: 'leave' });
    expect(planRestore(before.slice(1), now('10', svc), { firstInstall: true, deleteCreated: true })[0]).toMatchObject({ action: 'delete' });
  });

  test('without a fresh read, everything that existed is restored and everything created deleted', () => {
    expect(planRestore(before, undefined, { firstInstall: false, deleteCreated: false }).map((s) => s.action)).toEqual(['restore', 'delete', 'leave']);
  });
});
