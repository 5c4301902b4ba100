// Reading the manifests: kustomize directories rendered by `kubectl kustomize`, plain files and
// directories parsed by kubectl itself (offline), so YAML is read exactly as kubectl reads it.
import { existsSync, readdirSync, statSync } from 'node:fs';
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

/** Parses manifests offline; `kubectl annotate --local` reads any kind and prints JSON. */
async function parse(kube: KubeClient, source: string, file: string | undefined, input?: string): Promise<SourcedObject[]> {
  const args = ['annotate', '--local', '-f', file ?? '-', '-o', 'json', 'medaudit-deploy/parse-'];
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
        out.push(...(await parse(kube, `${entry} (kustomize)`, undefined, yaml)));
        continue;
      }
      const files = readdirSync(full)
        .filter((f) => MANIFEST.test(f))
        .sort();
      if (!files.length) throw new InputError('manifests', `'${entry}' holds no .yaml, .yml or .json file`);
      for (const f of files) out.push(...(await parse(kube, path.join(entry, f), path.join(full, f))));
    } else {
      out.push(...(await parse(kube, entry, full)));
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
