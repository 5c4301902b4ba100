// The permission check in one SelfSubjectRulesReview, against the answers the local cluster gave
// the least-privilege deployer of k8s/deployer-rbac.yaml (test/fixtures/access): in its own
// namespace and in another one.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { allowedByRules, missingPermissions, type Permission, type ResourceRule } from '../../src/kube/access.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { requiredPermissions } from '../../src/manifests/permissions.js';
import { REPO } from '../support/cluster.js';
import { renderKustomize } from '../support/manifests.js';
import { fails, ok, ScriptedKube } from '../support/scripted-kube.js';

type Review = { status: { resourceRules: ResourceRule[]; incomplete: boolean } };
const review = (name: string) => JSON.parse(readFileSync(path.join(REPO, 'test', 'fixtures', 'access', `${name}.json`), 'utf8')) as Review;
const own = review('deployer-in-its-namespace');
// The server's answer does not repeat the namespace asked about: the Role's rule on its own namespace names it.
const NS = own.status.resourceRules.find((r) => r.resources?.includes('namespaces'))!.resourceNames![0];

/** k8s/, its Namespace being the one the deployer was made for. */
const objects = (renderKustomize('k8s') as KubeObject[]).map((o) => (o.kind === 'Namespace' ? { ...o, metadata: { ...o.metadata, name: NS } } : o));

const may = (rules: ResourceRule[], verb: string, resource: string, subresource?: string) =>
  allowedByRules(rules, { verb, resource, namespaced: true, ...(subresource ? { subresource } : {}) });

describe('allowedByRules, on the deployer Role as the API server reports it', () => {
  const rules = own.status.resourceRules;

  test('everything a deploy and a rollback need in its namespace', () => {
    const namespaced = requiredPermissions(objects, true).filter((p) => p.namespaced || p.resource === `namespaces/${NS}`);
    expect(namespaced.filter((p) => !allowedByRules(rules, p))).toEqual([]);
  });

  test('groups, verbs and subresources as RBAC matches them', () => {
    expect(may(rules, 'patch', 'deployments.apps')).toBe(true);
    expect(may(rules, 'patch', 'deployments')).toBe(false);
    expect(may(rules, 'delete', 'deployments.apps')).toBe(true);
    expect(may(rules, 'delete', 'replicasets.apps')).toBe(false);
    expect(may(rules, 'get', 'pods', 'log')).toBe(true);
    expect(may(rules, 'create', 'pods', 'exec')).toBe(false);
    expect(may(rules, 'create', 'roles.rbac.authorization.k8s.io')).toBe(false);
  });

  test('a rule naming objects grants those only, and nothing unnamed', () => {
    expect(may(rules, 'update', 'leases.coordination.k8s.io/medaudit-deploy-lock')).toBe(true);
    expect(may(rules, 'update', 'leases.coordination.k8s.io/another-lock')).toBe(false);
    expect(may(rules, 'update', 'leases.coordination.k8s.io')).toBe(false);
    expect(may(rules, 'patch', `namespaces/${NS}`)).toBe(true);
    expect(may(rules, 'patch', 'namespaces/default')).toBe(false);
  });

  test('wildcards', () => {
    const admin: ResourceRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];
    expect(may(admin, 'delete', 'clusterroles.rbac.authorization.k8s.io/x')).toBe(true);
    expect(may([{ verbs: ['get'], apiGroups: [''], resources: ['*/log'] }], 'get', 'pods', 'log')).toBe(true);
  });
});

describe('missingPermissions: one review for the namespace, SelfSubjectAccessReviews only for what it cannot tell', () => {
  const answering = (r: Review | 'fails') => {
    const kube = new ScriptedKube(NS);
    kube.on(/^create --validate=false -f - -o json$/, r === 'fails' ? fails('error: the server could not find the requested resource') : ok(JSON.stringify(r)));
    kube.on(/^auth can-i /, ok('no\n'));
    return kube;
  };

  test('an upgrade in its namespace: one review, no other call, nothing missing', async () => {
    const kube = answering(own);
    expect(await missingPermissions(kube, NS, requiredPermissions(objects, true))).toEqual([]);
    expect(kube.calls.map((c) => c.args.join(' '))).toEqual(['create --validate=false -f - -o json']);
    expect(JSON.parse(kube.calls[0].input!)).toEqual({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: NS } });
  });

  test('a first install: creating the namespace is cluster-wide, asked on its own (and denied to this identity)', async () => {
    const kube = answering(own);
    expect(await missingPermissions(kube, NS, requiredPermissions(objects, false))).toEqual(['create namespaces']);
    expect(kube.called(/^auth can-i /)).toEqual(['auth can-i create namespaces']);
  });

  test('another namespace: what is missing is named, without asking one by one', async () => {
    const kube = answering(review('deployer-in-default'));
    const missing = await missingPermissions(kube, 'default', requiredPermissions(objects, true));
    expect(missing).toEqual(expect.arrayContaining(['patch deployments.apps in default', 'get pods/log in default', 'delete pods in default']));
    expect(kube.called(/^auth can-i /)).toEqual([`auth can-i patch namespaces/${NS}`]);
  });

  test('an incomplete review (another authorizer may allow more): what it does not grant is asked one by one', async () => {
    const kube = answering({ ...own, status: { resourceRules: [], incomplete: true } });
    const wanted: Permission[] = [
      { verb: 'get', resource: 'pods', namespaced: true, subresource: 'log' },
      { verb: 'patch', resource: 'deployments.apps', namespaced: true },
    ];
    kube.on(/^auth can-i patch deployments.apps /, ok('yes\n'));
    expect(await missingPermissions(kube, NS, wanted)).toEqual([`get pods/log in ${NS}`]);
    expect(kube.called(/^auth can-i /)).toEqual([`auth can-i get pods --subresource=log -n ${NS}`, `auth can-i patch deployments.apps -n ${NS}`]);
  });

  test('no review (an old or restricted server): every permission asked one by one', async () => {
    const kube = answering('fails');
    kube.on(/^auth can-i /, ok('yes\n'));
    const wanted = requiredPermissions(objects, true);
    expect(await missingPermissions(kube, NS, wanted)).toEqual([]);
    expect(kube.called(/^auth can-i /)).toHaveLength(wanted.length);
  });
});
