// The release image: built and pushed (then pinned by the digest the builder reports), or, with
// build false or a dry run, an existing tag looked up in the registry.
import path from 'node:path';
import { InputError } from '../errors.js';
import type { Inputs } from '../inputs.js';
import * as docker from './build.js';
import { formatImageReference, parseImageReference, pinImage, type ImageReference } from './reference.js';
import { manifestDigest, type Credentials } from './registry.js';

export type ReleaseImage = { ref: ImageReference; pinned: string; digest?: string };
export type BuildContext = { cwd: string; sha?: string; repositoryUrl?: string };

/** Like `docker build -f`: relative to the working directory, not to the context. */
export const dockerfilePath = (inputs: Inputs, cwd: string) => path.resolve(cwd, inputs.dockerfile);

const credentialsOf = (inputs: Inputs): Credentials | undefined =>
  inputs.registryUsername && inputs.registryPassword ? { username: inputs.registryUsername, password: inputs.registryPassword } : undefined;

/** An existing tag, pinned by the digest the registry serves for it. */
async function lookUp(inputs: Inputs, ref: ImageReference): Promise<ReleaseImage> {
  const tagged = formatImageReference(ref);
  const digest = await manifestDigest(ref, credentialsOf(inputs)).catch((err: Error) => {
    throw new InputError('image', `cannot read ${tagged} from its registry: ${err.message}`);
  });
  if (digest) return { ref, pinned: pinImage(ref, digest), digest };
  if (inputs.dryRun) return { ref, pinned: tagged };
  throw new InputError('tag', `${tagged} is not in the registry (build is false, so it must exist)`);
}

/** Runs `work` logged in, when credentials are given, so no credentials stay in the runner's docker config. */
async function loggedIn<T>(d: docker.Docker, inputs: Inputs, ref: ImageReference, work: () => Promise<T>): Promise<T> {
  const creds = credentialsOf(inputs);
  const registry = ref.registry ?? 'docker.io';
  if (creds) await docker.login(d, registry, creds.username, creds.password);
  try {
    return await work();
  } finally {
    if (creds) await docker.logout(d, registry);
  }
}

export async function releaseImage(
  inputs: Inputs,
  ctx: BuildContext,
  d: docker.Docker,
  log: (line: string) => void,
  warn: (line: string) => void,
): Promise<ReleaseImage> {
  const ref = { ...parseImageReference(inputs.image), tag: inputs.tag };
  if (!inputs.build || inputs.dryRun) return lookUp(inputs, ref);
  const tagged = formatImageReference(ref);
  const labels = docker.ociLabels(ctx.repositoryUrl, ctx.sha, new Date());
  const request = { tagged, dockerfile: dockerfilePath(inputs, ctx.cwd), context: path.resolve(ctx.cwd, inputs.context), buildArgs: inputs.buildArgs, labels };
  // BuildKit pushes as it builds, so the login covers the build.
  const digest = await loggedIn(d, inputs, ref, () => docker.buildAndPush(d, request, inputs.push, log));
  if (!inputs.push) {
    warn(`push is false: ${tagged} is deployed by tag, not pinned by digest`);
    return { ref, pinned: tagged };
  }
  if (!digest) throw new Error(`the builder reported no digest for ${tagged} after pushing it`);
  log(`pushed ${tagged} (${digest})`);
  return { ref, pinned: pinImage(ref, digest), digest };
}
