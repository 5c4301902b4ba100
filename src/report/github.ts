// The GitHub Actions side of reporting: log groups, error annotations, the job summary, masking.
import * as core from '@actions/core';
import type { Reporter } from './reporter.js';

export const githubReporter: Reporter = {
  info: (line) => core.info(line),
  warning: (line) => core.warning(line),
  error: (line, title) => core.error(line, title ? { title } : {}),
  group: (name, fn) => core.group(name, fn),
  async summary(markdown) {
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    await core.summary.addRaw(markdown, true).write();
  },
  setSecret: (value) => core.setSecret(value),
};
