// Handing what `rollout undo` restored to our field manager, on managed fields as the local cluster
// wrote them after an apply, an apply that dropped env B, and an undo.
import { describe, expect, test } from '@jest/globals';
import { reclaimed, unionFields, type ManagedFieldsEntry } from '../../src/rollout/ownership.js';

const env = (...names: string[]) => Object.fromEntries([['.', {}], ...names.map((n) => [`k:{"name":"${n}"}`, { '.': {}, 'f:name': {}, 'f:value': {} }])]);
const container = (envNames: string[]) => ({ '.': {}, 'f:env': env(...envNames), 'f:image': {}, 'f:name': {} });

const entries = (): ManagedFieldsEntry[] => [
  {
    manager: 'medaudit-deploy',
    operation: 'Apply',
    time: '2026-11-30T05:30:05Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"a"}': container(['A']) } } } } },
  },
  { manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', time: '2026-11-30T05:30:11Z', fieldsV1: { 'f:status': {} } },
  {
    manager: 'kubectl',
    operation: 'Update',
    time: '2026-11-30T05:30:10Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"a"}': { ...container(['A', 'B']), 'f:imagePullPolicy': {} } } } } } },
  },
];

describe('unionFields', () => {
  test('merges field tries key by key', () => {
    expect(unionFields({ 'f:a': { 'f:b': {} } }, { 'f:a': { 'f:c': {} }, 'f:d': {} })).toEqual({ 'f:a': { 'f:b': {}, 'f:c': {} }, 'f:d': {} });
  });
});

describe('reclaimed', () => {
  test("the undo's entry is folded into ours: env B and the defaults it set become ours, the entry goes", () => {
    // Before the undo: our apply and the controller's status only.
    const out = reclaimed(entries(), 'medaudit-deploy', entries().slice(0, 2))!;
    expect(out.map((e) => e.manager)).toEqual(['medaudit-deploy', 'kube-controller-manager']);
    const mine = out[0].fieldsV1 as any;
    expect(mine['f:spec']['f:replicas']).toEqual({});
    const c = mine['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"a"}'];
    expect(Object.keys(c['f:env'])).toEqual(['.', 'k:{"name":"A"}', 'k:{"name":"B"}']);
    expect(c['f:imagePullPolicy']).toEqual({});
  });

  test('a kubectl entry that was there before the undo (a user edit) is left alone', () => {
    expect(reclaimed(entries(), 'medaudit-deploy', entries())).toBeUndefined();
  });

  test('without an entry of ours there is nothing to fold into', () => {
    expect(reclaimed(entries(), 'other-manager', entries().slice(0, 2))).toBeUndefined();
  });
});
