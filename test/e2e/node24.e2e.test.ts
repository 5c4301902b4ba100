// The bundle under Node 24, the runtime GitHub gives `runs.using: node24`: a deploy, then a
// crashing release rolled back.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { kubectl, kubectlJson, REGISTRY, createAppNamespace, uniqueNamespace } from '../support/cluster.js';
import { NODE24, runAction, sampleWorkspace } from '../support/action.js';

const ns = uniqueNamespace('medaudit-node24');
let ws: string;
const run = (inputs: Record<string, string>) =>
  runAction({ image: `${REGISTRY}/medaudit-backend`, namespace: ns, timeout: '4m', ...inputs }, { cwd: ws, node: NODE24 });

beforeAll(() => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
});
afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

test('the bundle runs on Node 24', () => {
  expect(execFileSync(NODE24, ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
});

test('deploy, then a crashing release rolled back, on Node 24', async () => {
  const good = await run({ tag: 'node24-good' });
  expect(good.code).toBe(0);
  expect(good.outputs.status).toBe('deployed');
  const image = kubectlJson(['get', 'deployment', 'backend', '-n', ns]).spec.template.spec.containers[0].image;
  expect(image).toBe(good.outputs.image);

  const bad = await run({ tag: 'node24-crash', 'build-args': 'SIM_BEHAVIOUR=crash' });
  expect(bad.code).toBe(1);
  expect(bad.outputs).toMatchObject({ status: 'rolled-back', 'rolled-back': 'true' });
  expect(bad.outputs['failure-reason']).toMatch(/CrashLoopBackOff/);
  expect(kubectlJson(['get', 'deployment', 'backend', '-n', ns]).spec.template.spec.containers[0].image).toBe(good.outputs.image);
});
