// Reading manifests with kubectl (offline): a big file is parsed in pieces at once, cut only where
// kubectl's own YAML reader ends a document, and yields exactly what one kubectl reads from the
// whole; a piece that does not parse leaves kubectl's own error for the whole file.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { Kubectl, splitJsonStream } from '../../src/kube/kubectl.js';
import { documentPieces, loadManifests, stripSource } from '../../src/manifests/render.js';
import { renderKustomize } from '../support/manifests.js';

describe('documentPieces', () => {
  const docs = ['a: 1\n', 'b: |\n  text\n  ---\n  more\n', 'c: 3\n', 'd: 4\n'];

  test('cuts only at separator lines, and the pieces put together are the text', () => {
    const text = docs.join('---\n');
    const pieces = documentPieces(text, 3);
    expect(pieces.join('')).toBe(text);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.length).toBeLessThanOrEqual(3);
    for (const piece of pieces.slice(1)) expect(piece).toMatch(/^---\n/);
  });

  test('a separator may carry a comment; an indented "---" (inside a block scalar) or "---x" is no separator', () => {
    expect(documentPieces('aaaaaaaaaaaa: 1\n--- # next\nb: 2\n', 2)).toEqual(['aaaaaaaaaaaa: 1\n', '--- # next\nb: 2\n']);
    expect(documentPieces('b: |\n  ---\n  x\n', 2)).toEqual(['b: |\n  ---\n  x\n']);
    expect(documentPieces('a: 1\n---x\nb: 2\n', 2)).toEqual(['a: 1\n---x\nb: 2\n']);
  });

  test('lines end at a newline only, as kubectl reads them: a "---" after a bare carriage return is no separator', () => {
    expect(documentPieces('aaaaaaaaaaaa: "x\r---"\nb: 2\n', 2)).toEqual(['aaaaaaaaaaaa: "x\r---"\nb: 2\n']);
    expect(documentPieces('aaaaaaaaaaaaa: 1\r\n---\r\nb: 2\r\n', 2)).toEqual(['aaaaaaaaaaaaa: 1\r\n', '---\r\nb: 2\r\n']);
  });

  test('JSON, one piece asked for, or no separator: whole', () => {
    expect(documentPieces('{"kind": "List"}\n---\n', 4)).toEqual(['{"kind": "List"}\n---\n']);
    expect(documentPieces(docs.join('---\n'), 1)).toEqual([docs.join('---\n')]);
    expect(documentPieces('a: 1\n', 4)).toEqual(['a: 1\n']);
  });
});

describe('loadManifests of a file big enough to be parsed in pieces', () => {
  const kube = new Kubectl('kubectl');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-render-'));

  /** k8s/ repeated under other names: 1,500 objects, about 1.4 MB of YAML. */
  function bigFile(name: string, tail = ''): string {
    const base = renderKustomize('k8s').filter((o) => o.kind !== 'Namespace');
    const docs: string[] = [];
    for (let i = 0; docs.length < 1500; i++)
      for (const o of base) docs.push(YAML.stringify({ ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${i}` } }));
    const file = path.join(dir, name);
    writeFileSync(file, docs.join('---\n') + tail);
    return file;
  }

  test('the same objects, in the same order, as one kubectl reading the whole file', async () => {
    const file = bigFile('big.yaml');
    const whole = splitJsonStream(
      execFileSync('kubectl', ['annotate', '--local', '-f', file, '-o', 'json', 'x-'], { encoding: 'utf8', maxBuffer: 1 << 30 }),
    ) as any[];
    for (const o of whole) if (o.metadata?.annotations && !Object.keys(o.metadata.annotations).length) delete o.metadata.annotations;
    const counted = new Kubectl('kubectl');
    const objects = (await loadManifests(counted, [file], '/')).map(stripSource);
    expect(objects.length).toBe(whole.length);
    expect(objects).toEqual(whole);
    // In pieces: more than one kubectl read it (on a machine with more than one core).
    if (os.availableParallelism() > 1) expect(counted.count.total).toBeGreaterThan(1);
  });

  test('a piece that does not parse: the error is the one kubectl gives for the whole file, naming its line', async () => {
    const file = bigFile('broken.yaml', '---\nkind: ConfigMap\nmetadata: {name: x\n');
    const said = (() => {
      try {
        execFileSync('kubectl', ['annotate', '--local', '-f', file, '-o', 'json', 'x-'], { encoding: 'utf8', stdio: 'pipe', maxBuffer: 1 << 30 });
      } catch (err) {
        return String((err as { stderr: string }).stderr).trim();
      }
      throw new Error('the broken file parsed');
    })();
    await expect(loadManifests(kube, [file], '/')).rejects.toThrow(`broken.yaml: does not parse: ${said.replace(/^error: /, '')}`);
  });
});
