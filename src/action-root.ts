// Where the action's own files are (action.yml, the k8s/ it ships), wherever the bundle runs from.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding action.yml and k8s/. */
export function actionRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'action.yml'))) {
    const up = path.dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
  return dir;
}

/** The manifests shipped with the action: k8s/, or its preview overlay for a preview. */
export const defaultManifests = (preview = false) => path.join(actionRoot(), 'k8s', ...(preview ? ['overlays', 'preview'] : []));

/** Whether a directory is one of the manifests the action ships (k8s/ or below), not the user's. */
export function isBundledManifests(dir: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : path.resolve(p));
  const relative = path.relative(real(defaultManifests()), real(dir));
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}
