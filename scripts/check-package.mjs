#!/usr/bin/env node
// What a user of the published package meets, checked end to end (the last step of `npm test`):
// 1. `npm pack` holds the four prebuilt addons, each of its platform's format;
// 2. the tarball installs in a new project with no Zig anywhere on PATH, and both `import` and
//    `require` run a loop on the prebuilt addon; no `any` in its .d.ts files;
// 3. a strict TypeScript consumer (module nodenext) type-checks, and a mistyped callback
//    argument is refused (`// @ts-expect-error` fails the build when there is no error);
// 4. the examples run against the installed package;
// 5. `npm install /path/to/a/fresh/clone` and `npm install git+file://...` build from source
//    and load.
// Everything happens in a temporary folder that is removed at the end.
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { examplesUnder, promisedOutput } from './examples.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const npmCli = process.env.npm_execpath;
const work = mkdtempSync(join(tmpdir(), 'zloop-package-'));
// A PATH with node and the system's programs but no Zig: the bundled one lives in node_modules.
const noZigPath = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');

function step(title) {
  console.log(`\nzloop package check: ${title}`);
}

class CheckFailed extends Error {}

/** Ends the check; the temporary folder is still removed (see the end of this file). */
function fail(message) {
  throw new CheckFailed(message);
}

function run(program, args, options = {}) {
  const result = spawnSync(program, args, { encoding: 'utf8', ...options, env: { ...process.env, ZIG: '', ...options.env } });
  if (result.status !== 0) fail(`${basename(program)} ${args.join(' ')} (in ${options.cwd ?? root}) exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function npm(args, cwd, env = {}) {
  return npmCli ? run(process.execPath, [npmCli, ...args], { cwd, env }) : run('npm', args, { cwd, env });
}

/** The format a binary's first bytes name, as `file` would (ELF machine, Mach-O CPU type). */
function binaryFormat(path) {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  readSync(fd, header, 0, 20, 0);
  closeSync(fd);
  if (header.readUInt32BE(0) === 0x7f454c46) return { 0x3e: 'ELF x86-64', 0xb7: 'ELF aarch64' }[header.readUInt16LE(18)] ?? 'ELF ?';
  if (header.readUInt32LE(0) === 0xfeedfacf) return { 0x01000007: 'Mach-O x86_64', 0x0100000c: 'Mach-O arm64' }[header.readUInt32LE(4)] ?? 'Mach-O ?';
  return 'unknown';
}

const hasGit = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0;
const isRepository = hasGit && spawnSync('git', ['-C', root, 'rev-parse', '--git-dir'], { stdio: 'ignore' }).status === 0;

/**
 * What a fresh clone holds: a `git clone` of this repository (its last commit), or, where this
 * folder is not a repository, a copy of it without what the build makes, committed to a new
 * repository when git exists (the git URL step installs from it).
 */
function freshClone(dir) {
  if (isRepository) {
    run('git', ['clone', '--quiet', root, dir]);
    return dir;
  }
  const made = new Set(['node_modules', 'build', 'dist', '.zig-cache', 'zig-out', '.git']);
  cpSync(root, dir, { recursive: true, filter: (source) => !made.has(relative(root, source).split('/')[0]) });
  if (hasGit) {
    run('git', ['init', '--quiet'], { cwd: dir });
    run('git', ['add', '-A'], { cwd: dir });
    run('git', ['-c', 'user.name=zloop', '-c', 'user.email=zloop@localhost', 'commit', '--quiet', '-m', 'copy'], { cwd: dir });
  }
  return dir;
}

function newProject(name) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  return dir;
}

try {
  step('npm pack');
  // prepack prints build output before the JSON.
  const packOutput = npm(['pack', '--json', '--pack-destination', work], root);
  const packed = JSON.parse(packOutput.slice(packOutput.indexOf('[\n')));
  const tarball = join(work, packed[0].filename);
  const files = packed[0].files.map((file) => file.path);
  const expected = { 'linux-x64': 'ELF x86-64', 'linux-arm64': 'ELF aarch64', 'darwin-x64': 'Mach-O x86_64', 'darwin-arm64': 'Mach-O arm64' };
  for (const [key, format] of Object.entries(expected)) {
    const path = `build/prebuilt/${key}/zloop.node`;
    if (!files.includes(path)) fail(`${path} is not in the tarball`);
    const found = binaryFormat(join(root, path));
    if (found !== format) fail(`${path} is ${found}, not ${format}`);
    const described = spawnSync('file', ['-b', join(root, path)], { encoding: 'utf8' });
    console.log(`  ${path}: ${found}${described.status === 0 ? ` (file: ${described.stdout.trim()})` : ''}`);
  }
  if (files.includes('build/zloop.node')) fail('the tarball carries the local build/zloop.node');
  console.log(`  ${packed[0].filename}: ${files.length} files, ${(packed[0].size / 1024).toFixed(0)} KiB`);

  step('install the tarball in a new project, no Zig on PATH');
  const app = newProject('app');
  if (spawnSync('sh', ['-c', 'command -v zig'], { env: { PATH: noZigPath } }).status === 0) fail('zig is on the stripped PATH');
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app, { PATH: noZigPath });
  if (existsSync(join(app, 'node_modules/zloop/build/zloop.node'))) fail('the install built an addon');
  writeFileSync(join(app, 'esm.mjs'), "import { run, sleep } from 'zloop';\nconsole.log(await run(async () => { await sleep(0.01); return 'esm ok'; }));\n");
  writeFileSync(join(app, 'cjs.cjs'), "const { newEventLoop } = require('zloop');\nconst loop = newEventLoop();\nloop.runUntilComplete(async () => 'cjs ok').then((r) => { console.log(r); loop.close(); });\n");
  for (const script of ['esm.mjs', 'cjs.cjs']) console.log(`  ${script}: ${run(process.execPath, [script], { cwd: app, env: { PATH: noZigPath } }).trim()}`);

  step('no `any` in the installed type declarations');
  const declarations = files.filter((path) => path.endsWith('.d.ts'));
  for (const path of declarations) {
    const code = readFileSync(join(app, 'node_modules/zloop', path), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    if (/\bany\b/.test(code)) fail(`${path} has \`any\` in a declaration`);
  }
  console.log(`  ${declarations.length} .d.ts files, none with \`any\``);

  step('a strict nodenext TypeScript consumer type-checks; a mistyped callback is refused');
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false,
      lib: ['es2022', 'esnext.disposable'], types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
    include: ['consumer.ts'],
  }));
  writeFileSync(join(app, 'consumer.ts'), [
    "import { newEventLoop, run, sleep, type Shard, type StreamsHandler, type Transport } from 'zloop';",
    "import { Socket } from 'zloop/net';",
    'const loop = newEventLoop();',
    'loop.callSoon((n: number, s: string) => console.log(n.toFixed(1), s.length), 1, "two");',
    'loop.callLater(0.1, (n: number) => n.toFixed(), 1);',
    '// @ts-expect-error: the argument is not a number',
    "loop.callSoon((n: number) => n.toFixed(), 'not a number');",
    '// @ts-expect-error: a missing argument',
    'loop.callLater(1, (n: number) => n.toFixed());',
    "const peer: string | undefined = (null as unknown as Transport).getExtraInfo('peername')?.[0];",
    '// @ts-expect-error: sockname is an address, not a number',
    "const wrong: number = (null as unknown as Transport).getExtraInfo('sockname');",
    'const handler: StreamsHandler = async (reader, writer, shard: Shard) => { writer.write(`${shard.id}`); await reader.read(); };',
    'await run(async () => sleep(0, 1));',
    'new Socket().setNoDelay(true);',
    'loop.close();',
    'export { peer, wrong, handler };',
    '',
  ].join('\n'));
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app });
  console.log('  consumer.ts: type-checks, with its three @ts-expect-error lines refused by the compiler');

  step('the examples, against the installed package');
  // express-register.mjs needs Express, as a user's project would have it.
  const expressVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies.express;
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', `express@${expressVersion}`], app);
  cpSync(join(root, 'examples'), join(app, 'examples'), { recursive: true });
  cpSync(join(root, 'test/fixtures/certs'), join(app, 'test/fixtures/certs'), { recursive: true });
  for (const file of examplesUnder(join(app, 'examples'))) {
    const promised = promisedOutput(readFileSync(file, 'utf8'));
    if (promised === null) continue;
    const name = relative(app, file);
    const printed = run(process.execPath, [file], { cwd: app }).trimEnd().split('\n');
    if (JSON.stringify(printed) !== JSON.stringify(promised)) fail(`${name} printed ${JSON.stringify(printed)}, not ${JSON.stringify(promised)}`);
    console.log(`  ${name}: ok`);
  }

  step('npm install from a fresh clone\'s folder (builds from source)');
  const clone = freshClone(join(work, 'clone'));
  const fromClone = newProject('from-clone');
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', clone], fromClone);
  const loadsZloop = (dir, what) => run(process.execPath, ['-e', `import('zloop').then(async (z) => console.log(await z.run(async () => '${what}')))`], { cwd: dir }).trim();
  console.log(`  ${loadsZloop(fromClone, 'the folder install runs a loop')}`);

  step('npm install from a git URL (npm clones it, runs prepare, packs it without prepack)');
  if (hasGit) {
    const fromGit = newProject('from-git');
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline', `git+file://${clone}`], fromGit);
    console.log(`  ${loadsZloop(fromGit, 'the git install runs a loop')}`);
  } else {
    console.log('  skipped: git is not installed, and npm needs it to install from a git URL');
  }
  console.log('\nzloop package check: all passed');
} catch (error) {
  if (!(error instanceof CheckFailed)) throw error;
  console.error(`zloop package check FAILED: ${error.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
