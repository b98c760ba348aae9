// What an example in examples/ says it prints: the comment lines after "// Prints:" in its
// header. Shared by test/examples.test.ts and scripts/check-package.mjs.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The promised lines, or null for a file that promises nothing (a module other examples use). */
export function promisedOutput(source) {
  const lines = source.split('\n');
  const start = lines.indexOf('// Prints:');
  if (start < 0) return null;
  const promised = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('//   ')) break;
    promised.push(line.slice(5));
  }
  return promised;
}

/** Every .mjs file under `dir`, recursively. */
export function examplesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? examplesUnder(path) : entry.name.endsWith('.mjs') ? [path] : [];
  });
}
