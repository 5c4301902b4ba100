// Planning a rollback from snapshots, reading live revisions from captured objects
// (test/fixtures/status), and the text the run reports about both.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControllerRevision, KubeObject } from '../../src/kube/objects.js';
import { describeStep, explain, summaryMarkdown } from '../../src/report/summary.js';
import type { ReleaseResult } from '../../src/result.js';
import type { Diagnosis } from '../../src/rollout/diagnose.js';
import { planRollback, type RollbackStep } from '../../src/rollout/rollback.js';
import { imagesOf, type Snapshot } from '../../src/rollout/snapshot.js';
import { liveRevision } from '../../src/rollout/workloads.js';
import { deploymentVerdict } from '../../src/rollout/verdict.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const fixtureDir = path.join(repoRoot, 'test', 'fixtures', 'status');

type DeploymentFixture = { deployment: KubeObject; replicaSets: KubeObject[]; pods: KubeObject[]; capturedAt: string };
type StatefulSetFixture = { statefulSet: KubeObject; pods: KubeObject[]; controllerRevisions: ControllerRevision[]; capturedAt: string };
const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(fixtureDir, `${name}.json`), 'utf8')) as T;

const REVISION = 'deployment.kubernetes.io/revision';
const annotatedRevision = (d: KubeObject) => Number(d.metadata.annotations![REVISION]);

const snapshotOf = (
  live: KubeObject | undefined,
  history: ControllerRevision[] = [],
  kind = live?.kind ?? 'Deployment',
  name = live?.metadata.name ?? 'backend',
): Snapshot => ({
  kind,
  name,
  existed: !!live,
  revision: live ? liveRevision(live, history) : undefined,
  generation: live?.metadata.generation,
});

describe('liveRevision and imagesOf on captured objects', () => {
  test('a Deployment: the revision annotation, as a number', () => {
    const healthy = load<DeploymentFixture>('healthy-complete').deployment;
    const crash = load<DeploymentFixture>('crashloop').deployment;
    expect(liveRevision(healthy, [])).toBe(annotatedRevision(healthy));
    expect(liveRevision(crash, [])).toBe(annotatedRevision(crash));
    expect(liveRevision(crash, [])).toBeGreaterThan(liveRevision(healthy, [])!);
  });

  test('a Deployment without a usable annotation has no revision', () => {
    const d = load<DeploymentFixture>('healthy-complete').deployment;
    delete d.metadata.annotations![REVISION];
    expect(liveRevision(d, [])).toBeUndefined();
    d.metadata.annotations![REVISION] = 'x';
    expect(liveRevision(d, [])).toBeUndefined();
  });

  test('a StatefulSet: the ControllerRevision named by status.updateRevision', () => {
    for (const name of ['statefulset-ready', 'statefulset-crashloop']) {
      const f = load<StatefulSetFixture>(name);
      const named = f.controllerRevisions.filter((cr) => cr.metadata.name === f.statefulSet.status.updateRevision);
      expect(named).toHaveLength(1);
      expect(liveRevision(f.statefulSet, f.controllerRevisions)).toBe(named[0].revision);
    }
    expect(liveRevision(load<StatefulSetFixture>('statefulset-ready').statefulSet, load<StatefulSetFixture>('statefulset-ready').controllerRevisions)).toBe(1);
    const crash = load<StatefulSetFixture>('statefulset-crashloop');
    expect(crash.controllerRevisions).toHaveLength(2);
    expect(liveRevision(crash.statefulSet, crash.controllerRevisions)).toBe(2);
  });

  test('a StatefulSet whose updateRevision names the older ControllerRevision: that one, not the newest', () => {
    const f = load<StatefulSetFixture>('statefulset-crashloop');
    f.statefulSet.status.updateRevision = f.statefulSet.status.currentRevision;
    const older = f.controllerRevisions.find((cr) => cr.metadata.name === f.statefulSet.status.currentRevision)!;
    expect(liveRevision(f.statefulSet, f.controllerRevisions)).toBe(older.revision);
    expect(older.revision).toBe(1);
  });

  test('ControllerRevisions of another owner do not count', () => {
    const f = load<StatefulSetFixture>('statefulset-crashloop');
    const foreign = f.controllerRevisions.map((cr) => ({
      ...cr,
      metadata: { ...cr.metadata, ownerReferences: (cr.metadata.ownerReferences as any[]).map((r) => ({ ...r, uid: 'another-uid' })) },
    }));
    expect(liveRevision(f.statefulSet, foreign)).toBeUndefined();
  });

  test('imagesOf lists init containers first, as name=image', () => {
    const d = load<DeploymentFixture>('healthy-complete').deployment;
    const image = d.spec.template.spec.containers[0].image as string;
    expect(image).toMatch(/^127\.0\.0\.1:5000\/capture:healthy/);
    expect(imagesOf(d)).toEqual([`migrate=${image}`, `backend=${image}`]);
    expect(imagesOf(load<StatefulSetFixture>('statefulset-ready').statefulSet)).toEqual(['postgres=postgres:16-alpine']);
  });
});

describe('planRollback', () => {
  const healthy = load<DeploymentFixture>('healthy-complete');
  const crash = load<DeploymentFixture>('crashloop');
  const stsBefore = load<StatefulSetFixture>('statefulset-ready');
  const stsAfter = load<StatefulSetFixture>('statefulset-crashloop');
  const before = [snapshotOf(healthy.deployment), snapshotOf(stsBefore.statefulSet, stsBefore.controllerRevisions)];

  test('undoes each workload whose revision moved, to exactly the recorded revision', () => {
    const after = [snapshotOf(crash.deployment), snapshotOf(stsAfter.statefulSet, stsAfter.controllerRevisions)];
    expect(planRollback(before, after)).toEqual([
      {
        action: 'undo',
        kind: 'Deployment',
        name: 'backend',
        toRevision: annotatedRevision(healthy.deployment),
        fromRevision: annotatedRevision(crash.deployment),
      },
      { action: 'undo', kind: 'StatefulSet', name: 'db', toRevision: 1, fromRevision: 2 },
    ]);
  });

  test('keeps a workload still on its revision and generation (a config-only deploy, or one not reached)', () => {
    const revision = annotatedRevision(healthy.deployment);
    const after = [snapshotOf(healthy.deployment), snapshotOf(stsAfter.statefulSet, stsAfter.controllerRevisions)];
    const plan = planRollback(before, after);
    expect(plan[0]).toEqual({ action: 'keep', kind: 'Deployment', name: 'backend', reason: `still on revision ${revision}` });
    expect(plan[1]).toMatchObject({ action: 'undo', name: 'db', toRevision: 1 });
  });

  test('undoes a workload whose spec moved before its controller made a new revision', () => {
    const applied = structuredClone(healthy.deployment);
    applied.metadata.generation = (applied.metadata.generation as number) + 1;
    const plan = planRollback([before[0]], [snapshotOf(applied)]);
    expect(plan).toEqual([
      {
        action: 'undo',
        kind: 'Deployment',
        name: 'backend',
        toRevision: annotatedRevision(healthy.deployment),
        fromRevision: annotatedRevision(healthy.deployment),
      },
    ]);
  });

  test('leaves what did not exist before: a first install has nothing to return to', () => {
    const plan = planRollback([snapshotOf(undefined)], [snapshotOf(healthy.deployment)]);
    expect(plan).toEqual([{ action: 'leave', kind: 'Deployment', name: 'backend', reason: expect.stringContaining('first install') }]);
  });

  test('keeps, with a reason, a workload that had no revision history (revisionHistoryLimit 0)', () => {
    const d = structuredClone(healthy.deployment);
    d.spec.revisionHistoryLimit = 0;
    const snap = snapshotOf(d);
    expect(snap).toMatchObject({ existed: true, revision: undefined });
    expect(planRollback([snap], [snapshotOf(crash.deployment)])).toEqual([
      { action: 'keep', kind: 'Deployment', name: 'backend', reason: expect.stringContaining('revisionHistoryLimit 0') },
    ]);
  });

  test('a workload gone since the snapshot is undone from an unknown revision', () => {
    expect(planRollback([before[0]], [])).toEqual([
      { action: 'undo', kind: 'Deployment', name: 'backend', toRevision: annotatedRevision(healthy.deployment), fromRevision: undefined },
    ]);
  });
});

describe('describeStep', () => {
  test('an undo names both revisions', () => {
    expect(describeStep({ action: 'undo', kind: 'Deployment', name: 'backend', toRevision: 2, fromRevision: 3 })).toBe('Deployment/backend: revision 3 → 2');
    expect(describeStep({ action: 'undo', kind: 'StatefulSet', name: 'db', toRevision: 1 })).toBe('StatefulSet/db: revision ? → 1');
  });

  test('keep and leave give their reasons', () => {
    expect(describeStep({ action: 'keep', kind: 'Deployment', name: 'backend', reason: 'still on revision 2' })).toBe(
      'Deployment/backend: unchanged (still on revision 2)',
    );
    expect(describeStep({ action: 'leave', kind: 'StatefulSet', name: 'db', reason: 'first install' })).toBe('StatefulSet/db: left in place (first install)');
  });
});

describe('explain and summaryMarkdown', () => {
  const crash = load<DeploymentFixture>('crashloop');
  const verdict = deploymentVerdict(crash.deployment, crash.replicaSets, crash.pods, {
    now: Date.parse(crash.capturedAt),
    unschedulableGraceSeconds: 30,
    pullGraceSeconds: 60,
    failuresAllowed: 0,
    stableSeconds: 0,
    scaleUpGraceSeconds: 300,
  });
  const failure = verdict.failures[0];
  const diagnosis: Diagnosis = {
    ...failure,
    workload: 'Deployment/backend',
    logs: ['INFO:     Application startup complete.', 'RuntimeError: could not connect to the NLP service'],
    events: [`BackOff (x3): Back-off restarting failed container backend in pod ${failure.pod}`],
  };

  test('explain: the pod and container, the reason, the hint, then logs and events', () => {
    expect(explain(diagnosis)).toEqual([
      `Deployment/backend pod ${failure.pod} container backend: CrashLoopBackOff: ${failure.message}`,
      `  hint: ${failure.hint}`,
      '  last log lines (previous instance):',
      '    INFO:     Application startup complete.',
      '    RuntimeError: could not connect to the NLP service',
      '  recent warning events:',
      `    BackOff (x3): Back-off restarting failed container backend in pod ${failure.pod}`,
    ]);
    expect(failure.message).toMatch(/^restarted \d+ times; last exit code 1 \(Error\)$/);
  });

  test('explain: an init container, with no logs or events', () => {
    const lines = explain({
      pod: 'backend-abc',
      container: 'migrate',
      init: true,
      reason: 'InitContainerFailed',
      message: 'init container exited with exit code 1 (Error)',
      hint: 'read the log',
      previousLogs: false,
      workload: 'Deployment/backend',
      logs: [],
      events: [],
    });
    expect(lines).toEqual([
      'Deployment/backend pod backend-abc init container migrate: InitContainerFailed: init container exited with exit code 1 (Error)',
      '  hint: read the log',
    ]);
  });

  test('explain: a failure of the workload itself names no pod', () => {
    expect(
      explain({
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
        hint: 'h',
        workload: 'Job/migrate',
        logs: [],
        events: ['BackoffLimitExceeded: Job has reached the specified backoff limit'],
      }),
    ).toEqual([
      'Job/migrate: BackoffLimitExceeded: Job has reached the specified backoff limit',
      '  hint: h',
      '  recent warning events:',
      '    BackoffLimitExceeded: Job has reached the specified backoff limit',
    ]);
  });

  test('explain: a pod-level failure names no container', () => {
    expect(
      explain({
        pod: 'backend-abc',
        reason: 'Unschedulable',
        message: '0/3 nodes are available',
        hint: 'h',
        workload: 'Deployment/backend',
        logs: ['x'],
        events: [],
      }),
    ).toEqual(['Deployment/backend pod backend-abc: Unschedulable: 0/3 nodes are available', '  hint: h', '  last log lines:', '    x']);
  });

  const rollback: RollbackStep[] = [
    { action: 'undo', kind: 'Deployment', name: 'backend', toRevision: 2, fromRevision: 3 },
    { action: 'keep', kind: 'StatefulSet', name: 'postgres', reason: 'still on revision 1' },
  ];
  const rolledBack: ReleaseResult = {
    status: 'rolled-back',
    rolledBack: true,
    failureReason: `Deployment/backend: CrashLoopBackOff: ${failure.message}`,
    image: '127.0.0.1:5000/medaudit-backend@sha256:0123',
    tag: 'v2',
    namespace: 'medaudit',
    rows: [
      { workload: 'StatefulSet/postgres', image: 'unchanged', before: 1, after: 1, seconds: 2.04, verdict: 'ready' },
      { workload: 'Deployment/backend', image: 'backend, migrate', before: 2, after: 3, seconds: 12.345, verdict: 'failed: CrashLoopBackOff | rolled back' },
    ],
    diagnoses: [diagnosis],
    rollback,
    detectionSeconds: 3.21,
  };
  const SCHEMA = 'The database schema stays migrated: a rollback never runs down-migrations.';

  test('a rolled-back result: headline, table rows, what failed, the rollback and the schema sentence', () => {
    const md = summaryMarkdown(rolledBack);
    const lines = md.split('\n');
    expect(lines[0]).toBe('## ↩️ Rolled back — namespace `medaudit`');
    expect(lines).toContain('Image: `127.0.0.1:5000/medaudit-backend@sha256:0123` (tag `v2`)');
    expect(lines).toContain('Failure detected 3.2 s after the first pod of the release started.');
    expect(lines).toContain('| workload | image | revision before | revision after | time | verdict |');
    expect(lines).toContain('| StatefulSet/postgres | unchanged | 1 | 1 | 2.0 s | ready |');
    expect(lines).toContain('| Deployment/backend | backend, migrate | 2 | 3 | 12.3 s | failed: CrashLoopBackOff \\| rolled back |');
    expect(lines).toContain('### What failed');
    expect(md).toContain(explain(diagnosis).join('\n'));
    expect(lines).toContain('### Rollback');
    expect(lines).toContain('- Deployment/backend: revision 3 → 2');
    expect(lines).toContain('- StatefulSet/postgres: unchanged (still on revision 1)');
    expect(lines.some((l) => l.startsWith(SCHEMA))).toBe(true);
    expect(md).toContain('A PersistentVolumeClaim the failed release created is kept, as it may hold data');
    expect(md.indexOf('### Rollback')).toBeLessThan(md.indexOf(SCHEMA));
  });

  test('a deployed result has no failure, rollback or schema text', () => {
    const md = summaryMarkdown({
      status: 'deployed',
      rolledBack: false,
      image: '127.0.0.1:5000/medaudit-backend@sha256:0123',
      namespace: 'medaudit',
      url: 'http://medaudit.local',
      rows: [{ workload: 'Deployment/backend', image: 'backend, migrate', before: 2, after: 3, seconds: 8, verdict: 'ready' }],
      diagnoses: [],
      rollback: [],
    });
    expect(md.split('\n')[0]).toBe('## ✅ Deployed — namespace `medaudit`');
    expect(md).toContain('URL: http://medaudit.local');
    expect(md).toContain('| Deployment/backend | backend, migrate | 2 | 3 | 8.0 s | ready |');
    expect(md).not.toContain('### Rollback');
    expect(md).not.toContain('### What failed');
    expect(md).not.toContain('**Why:**');
    expect(md).not.toContain(SCHEMA);
  });

  test('missing revisions and times show as a dash', () => {
    const md = summaryMarkdown({
      status: 'failed',
      rolledBack: false,
      rows: [{ workload: 'Deployment/backend', image: 'backend', verdict: 'not reached' }],
      diagnoses: [],
      rollback: [],
    });
    expect(md).toContain('| Deployment/backend | backend | — | — | — | not reached |');
    expect(md.split('\n')[0]).toBe('## ❌ Failed');
  });
});
