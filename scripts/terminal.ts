// GitHub's workflow commands made readable at a terminal: groups as headings, annotations as
// marked lines, masks and debug lines hidden.
export function forTerminal(chunk: string): string {
  return chunk
    .split('\n')
    .map((line) => {
      if (line.startsWith('::add-mask::') || line.startsWith('::debug::') || line === '::endgroup::') return null;
      const group = /^::group::(.*)$/.exec(line);
      if (group) return `\x1b[1m▸ ${group[1]}\x1b[0m`;
      const annotation = /^::(error|warning|notice)(?: [^:]*)?::(.*)$/.exec(line);
      if (annotation) {
        const text = annotation[2].replace(/%0A/g, '\n  ').replace(/%25/g, '%').replace(/%0D/g, '');
        return `${annotation[1] === 'error' ? '\x1b[31m✖' : '\x1b[33m!'} ${text}\x1b[0m`;
      }
      return line;
    })
    .filter((l) => l !== null)
    .join('\n');
}
