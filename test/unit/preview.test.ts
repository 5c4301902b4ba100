// Preview ownership: which repository a preview namespace belongs to, and when a destroy, the
// janitor or a preview deploy may touch it.
import { describe, expect, test } from '@jest/globals';
import { janitor } from '../../src/preview/lifecycle.js';
import { ownershipRefusal, previewLabels, previewSelector, REPOSITORY_LABEL, repositoryLabelValue } from '../../src/preview/names.js';
import { consoleReporter } from '../../src/report/reporter.js';
import { fails, ok, ScriptedKube } from '../support/scripted-kube.js';

const mine = (pr: number, repository = 'acme/medaudit-backend') => previewLabels(pr, new Date(0), repository);

describe('the repository label', () => {
  test('owner_name when it fits a label value', () => {
    expect(repositoryLabelValue('acme/medaudit-backend')).toBe('acme_medaudit-backend');
    expect(mine(5)[REPOSITORY_LABEL]).toBe('acme_medaudit-backend');
  });

  test('a long name keeps a hash of the whole: two long names sharing 63 characters differ', () => {
    const a = repositoryLabelValue(`acme/${'x'.repeat(80)}-one`);
    const b = repositoryLabelValue(`acme/${'x'.repeat(80)}-two`);
    for (const v of [a, b]) expect(v).toMatch(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/);
    expect(a).not.toBe(b);
  });

  test("the janitor's selector names this repository", () => {
    expect(previewSelector('acme/medaudit-backend')).toBe('medaudit.io/preview=true,medaudit.io/repository=acme_medaudit-backend');
  });
});

describe('ownership', () => {
  test("this repository's preview of this PR may be deleted", () => {
    expect(ownershipRefusal('medaudit-pr-5', mine(5), 5, 'acme/medaudit-backend')).toBeUndefined();
  });

  test("another repository's preview with the same PR number is refused, naming its owner", () => {
    expect(ownershipRefusal('medaudit-pr-5', mine(5, 'other/api'), 5, 'acme/medaudit-backend')).toBe(
      "namespace 'medaudit-pr-5' is the preview of repository other/api, not of acme/medaudit-backend: refusing to delete it",
    );
  });

  test('a preview without a repository label is refused when the repository is known', () => {
    const labels = { 'medaudit.io/preview': 'true', 'medaudit.io/pr': '5' };
    expect(ownershipRefusal('medaudit-pr-5', labels, 5, 'acme/medaudit-backend', 'deploy a preview into')).toMatch(
      /is the preview of no repository \(no medaudit.io\/repository label\).*refusing to deploy a preview into it/,
    );
  });

  test('a namespace that is no preview, or another PR, is refused', () => {
    expect(ownershipRefusal('medaudit', {}, 5, 'acme/medaudit-backend')).toMatch(/is not a preview/);
    expect(ownershipRefusal('medaudit-pr-5', mine(6), 5, 'acme/medaudit-backend')).toMatch(/belongs to PR 6, not 5/);
  });
});

describe('the janitor against a scripted cluster', () => {
  const expired = String(Math.floor(Date.now() / 1000) - 60);
  const ns = (pr: number) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: `medaudit-pr-${pr}`, uid: `uid-${pr}`, resourceVersion: `${pr}0`, labels: { ...mine(pr), 'medaudit.io/expires': expired } },
  });

  test('a namespace changed since its labels were read is not deleted (the precondition), a warning; the next one is still cleaned', async () => {
    const kube = new ScriptedKube('unused');
    kube.on(
      /^get namespaces -l medaudit.io\/preview=true,medaudit.io\/repository=acme_medaudit-backend -o json$/,
      ok(JSON.stringify({ items: [ns(1), ns(2)] })),
    );
    kube.on(/^get namespace medaudit-pr-(\d) -o json --ignore-not-found$/, (args) => ok(JSON.stringify(ns(Number(args[2].slice(-1))))));
    kube.on(
      /^delete --raw \/api\/v1\/namespaces\/medaudit-pr-1 -f -$/,
      fails('Error from server (Conflict): Operation cannot be fulfilled on namespaces "medaudit-pr-1": Precondition failed'),
    );
    kube.on(/^delete --raw \/api\/v1\/namespaces\/medaudit-pr-2 -f -$/, ok());
    kube.on(/^wait --for=delete /, ok());
    const lines: string[] = [];
    const decisions = await janitor(
      kube,
      consoleReporter((t) => lines.push(t)),
      { repository: 'acme/medaudit-backend' },
    );
    expect(decisions.map((d) => [d.namespace, d.delete, d.error])).toEqual([
      ['medaudit-pr-1', true, "namespace 'medaudit-pr-1' changed after its labels were checked: not deleted"],
      ['medaudit-pr-2', true, undefined],
    ]);
    expect(lines.join('')).toContain("warning: medaudit-pr-1: not cleaned: namespace 'medaudit-pr-1' changed after its labels were checked");
    const deletes = kube.calls.filter((c) => c.args[0] === 'delete');
    expect(deletes.map((c) => JSON.parse(c.input!).preconditions)).toEqual([
      { uid: 'uid-1', resourceVersion: '10' },
      { uid: 'uid-2', resourceVersion: '20' },
    ]);
  });
});
