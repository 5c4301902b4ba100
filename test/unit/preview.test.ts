// Preview ownership: which repository a preview namespace belongs to, and when a destroy, the
// janitor or a preview deploy may touch it.
import { describe, expect, test } from '@jest/globals';
import { ownershipRefusal, previewLabels, previewSelector, REPOSITORY_LABEL, repositoryLabelValue } from '../../src/preview/names.js';

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
