// Reading the manifests: kustomize directories rendered by `kubectl kustomize`, plain files and
// directories parsed by kubectl itself (offline), so YAML is read exactly as kubectl reads it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isBundledManifests } from '../action-root.js';
import { InputError, ManifestError } from '../errors.js';
import { KubectlError, type KubeClient } from '../kube/client.js';
import { splitJsonStream } from '../kube/kubectl.js';
import type { KubeObject } from '../kube/objects.js';
import type { SourcedObject } from './objects.js';

const KUSTOMIZATION = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const MANIFEST = /\.(ya?ml|json)$/;

const isKustomization = (dir: string) => KUSTOMIZATION.some((f) => existsSync(path.join(dir, f)));

/**
 * Parses manifests offline; `kubectl annotate --local` reads any kind. Each object is printed as
 * compact JSON (`{@}`): the same object `-o json` prints, in less than half the bytes.
 */
async function parse(kube: KubeClient, source: string, file: string | undefined, input?: string): Promise<SourcedObject[]> {
  const args = ['annotate', '--local', '-f', file ?? '-', '-o', 'jsonpath={@}', 'medaudit-deploy/parse-'];
  let stdout: string;
  try {
    ({ stdout } = await kube.run(args, input !== undefined ? { input } : {}));
  } catch (err) {
    if (err instanceof KubectlError)
      throw new ManifestError(source, `does not parse: ${(err.result.stderr || err.result.stdout).trim().replace(/^error: /, '')}`);
    throw err;
  }
  return (splitJsonStream(stdout) as KubeObject[])
    .flatMap((o) => (o.kind === 'List' ? (o.items as KubeObject[]) : [o]))
    .map((o) => {
      if (o.metadata?.annotations && Object.keys(o.metadata.annotations).length === 0) delete o.metadata.annotations;
      return { ...o, __source: source };
    });
}

/** Below this size one kubectl parses a file; above it, one per core parses a piece each. */
const PIECE_MIN_CHARS = 256 * 1024;

// Where kubectl's own YAML reader ends a document: a line of "---", perhaps with a comment after.
// Lines end at "\n" only, as kubectl reads them (a regex's multiline ^ would also break at "\r").
const SEPARATOR = /(?<=^|\n)---[ \t]*(?:#[^\n]*)?\r?(?=\n|$)/g;

/**
 * The YAML text cut into at most `count` pieces of whole documents, in order (pure): each cut is at
 * a separator line, where kubectl's reader would end a document anyway, so every piece reads as
 * it would within the whole. JSON is one document and stays whole.
 */
export function documentPieces(text: string, count: number): string[] {
  if (count <= 1 || /^\s*[{[]/.test(text)) return [text];
  const separators = [...text.matchAll(SEPARATOR)].map((m) => m.index);
  const cuts: number[] = [];
  for (let k = 1; k < count; k++) {
    const cut = separators.find((at) => at >= (text.length * k) / count && at > (cuts.at(-1) ?? 0));
    if (cut !== undefined) cuts.push(cut);
  }
  return [0, ...cuts].map((start, i) => text.slice(start, cuts[i] ?? text.length));
}

/**
 * A big input is parsed in pieces at once. Should a piece not parse, the whole is parsed again in
 * one go, so that kubectl's error names the file and the line as it would.
 */
async function parseAll(kube: KubeClient, source: string, file: string | undefined, input?: string): Promise<SourcedObject[]> {
  const size = input?.length ?? (file ? statSync(file).size : 0);
  if (size < PIECE_MIN_CHARS) return parse(kube, source, file, input);
  const pieces = documentPieces(input ?? readFileSync(file!, 'utf8'), os.availableParallelism());
  if (pieces.length === 1) return parse(kube, source, file, input);
  try {
    return (await Promise.all(pieces.map((piece) => parse(kube, source, undefined, piece)))).flat();
  } catch (err) {
    if (err instanceof ManifestError) return parse(kube, source, file, input);
    throw err;
  }
}

async function render(kube: KubeClient, dir: string): Promise<string> {
  try {
    // The shipped preview overlay references files above its own directory; the user's
    // kustomizations keep kustomize's default restriction to their own tree.
    const restrictor = isBundledManifests(dir) ? ['--load-restrictor=LoadRestrictionsNone'] : [];
    return (await kube.run(['kustomize', ...restrictor, dir])).stdout;
  } catch (err) {
    if (err instanceof KubectlError) throw new ManifestError(dir, `kustomize failed: ${err.result.stderr.trim()}`);
    throw err;
  }
}

/** Every object in the given files and directories, each remembering its source. */
export async function loadManifests(kube: KubeClient, entries: string[], cwd: string): Promise<SourcedObject[]> {
  const out: SourcedObject[] = [];
  for (const entry of entries) {
    const full = path.resolve(cwd, entry);
    if (!existsSync(full)) throw new InputError('manifests', `'${entry}' does not exist`);
    if (statSync(full).isDirectory()) {
      if (isKustomization(full)) {
        const yaml = await render(kube, full);
        out.push(...(await parseAll(kube, `${entry} (kustomize)`, undefined, yaml)));
        continue;
      }
      const files = readdirSync(full)
        .filter((f) => MANIFEST.test(f))
        .sort();
      if (!files.length) throw new InputError('manifests', `'${entry}' holds no .yaml, .yml or .json file`);
      for (const f of files) out.push(...(await parseAll(kube, path.join(entry, f), path.join(full, f))));
    } else {
      out.push(...(await parseAll(kube, entry, full)));
    }
  }
  if (!out.length) throw new InputError('manifests', 'no Kubernetes objects found');
  return out;
}

/** The object as it is sent to the cluster: without the bookkeeping of where it came from. */
export function stripSource(o: SourcedObject): KubeObject {
  const { __source: _ignored, ...rest } = o;
  return rest;
}
