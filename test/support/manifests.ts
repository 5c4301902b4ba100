// Reading the repository's manifests in tests: kustomize renders (kubectl's, offline) and plain
// YAML files, parsed into objects.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { REPO } from './cluster.js';

/** Every document of a YAML stream; a syntax error throws, empty documents are dropped. */
export function parseYamlDocuments(text: string): any[] {
  return YAML.parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw doc.errors[0];
      return doc.toJS();
    })
    .filter((obj) => obj !== null && obj !== undefined);
}

/** `kubectl kustomize` of a directory (relative to the repository), flags passed through. */
export function renderKustomize(dir: string, ...flags: string[]): any[] {
  return parseYamlDocuments(execFileSync('kubectl', ['kustomize', ...flags, path.resolve(REPO, dir)], { encoding: 'utf8' }));
}

/** The objects of one manifest file of the repository. */
export function readManifests(file: string): any[] {
  return parseYamlDocuments(readFileSync(path.resolve(REPO, file), 'utf8'));
}
