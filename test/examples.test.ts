// Every example in examples/ and every JavaScript block of the README and the guides runs, as a
// user would run it (`node examples/x.mjs`, importing 'zloop' by name).
// - An example says what it prints in its header (the comment lines after "// Prints:") and
//   must print exactly that.
// - A ```js block is run as a module; one whose first line is `// examples/<path>` shows that
//   file: the rest of the block must be its exact text (the file is run as an example).
//   A block tagged `js fragment` is a piece of a program and is not run.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { examplesUnder, promisedOutput } from '../scripts/examples.mjs';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the package (and not under node_modules), so `import 'zloop'` resolves to this package
// by its own name, as it does in a project that installed zloop.
const scratch = join(root, 'build', 'readme-blocks');

function runNode(file: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.stderr.on('data', (data) => (stderr += data));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const examples = examplesUnder(join(root, 'examples')).filter((file) => promisedOutput(readFileSync(file, 'utf8')) !== null);
// The README and the guides in docs/; a block tagged `js fragment` is a piece of a program.
const documents = ['README.md', 'docs/getting-started.md', 'docs/servers-and-clients.md', 'docs/from-node-net.md'];
const jsBlocks = documents.flatMap((document) =>
  [...readFileSync(join(root, document), 'utf8').matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match, index) => [`${document} block ${index + 1}`, match[1]] as const),
);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('examples/', () => {
  it('has examples, each saying what it prints', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  it.each(examples.map((file) => [relative(root, file), file]))('%s prints what its header says', async (_name, file) => {
    const { status, stdout, stderr } = await runNode(file);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout.trimEnd().split('\n')).toEqual(promisedOutput(readFileSync(file, 'utf8')));
  });
});

describe('README.md and docs/', () => {
  it('have JavaScript blocks', () => {
    expect(jsBlocks.length).toBeGreaterThanOrEqual(10);
  });

  it.each(jsBlocks.map(([name, block], index) => [name, index, block] as const))('%s runs, or is the example it names', async (_name, index, block) => {
    const named = /^\/\/ (examples\/\S+)\n/.exec(block);
    if (named !== null) {
      expect(block.slice(named[0].length)).toBe(readFileSync(join(root, named[1]), 'utf8'));
      return;
    }
    mkdirSync(scratch, { recursive: true });
    const file = join(scratch, `block-${index}.mjs`);
    writeFileSync(file, block);
    const { status, stderr } = await runNode(file);
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });
});
