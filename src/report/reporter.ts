// Where the run speaks: the GitHub log (groups, error annotations, job summary) or a terminal.
export interface Reporter {
  info(line: string): void;
  warning(line: string): void;
  /** An error annotation on the run, with a title, as well as a log line. */
  error(line: string, title?: string): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  summary(markdown: string): Promise<void>;
  setSecret(value: string): void;
}

/** A terminal: plain lines, the summary printed at the end. */
export const consoleReporter = (write: (s: string) => void = (s) => process.stdout.write(s)): Reporter => ({
  info: (line) => write(`${line}\n`),
  warning: (line) => write(`warning: ${line}\n`),
  error: (line, title) => write(`error: ${title ? `${title}: ` : ''}${line}\n`),
  async group(name, fn) {
    write(`== ${name}\n`);
    return fn();
  },
  async summary(markdown) {
    write(`\n${markdown}\n`);
  },
  setSecret: () => undefined,
});

/**
 * Runs a step whose failure must not change the release's result (a summary, a PR comment, a
 * deployment status, the release record): a failure becomes a warning.
 */
export async function bestEffort<T>(reporter: Reporter, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    reporter.warning(`${what} failed: ${(err as Error).message.split('\n')[0]}; the release's result is unchanged`);
    return undefined;
  }
}
