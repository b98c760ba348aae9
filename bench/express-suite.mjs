#!/usr/bin/env node
// Runs Express's own test suite (mocha + supertest) from a checkout of its repository, first on
// node:net and then with NODE_OPTIONS=--import zloop/register, and prints both summaries and how
// many server connections zloop served. Express's code stays in its checkout.
//
//   git clone https://github.com/expressjs/express /tmp/express
//   node bench/express-suite.mjs /tmp/express      (runs npm install there if needed)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const checkout = process.argv[2];
if (checkout === undefined || !existsSync(join(checkout, 'package.json'))) {
  console.error('usage: node bench/express-suite.mjs <path to a checkout of expressjs/express>');
  process.exit(2);
}
const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
if (!existsSync(join(checkout, 'node_modules', 'mocha'))) {
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: checkout, stdio: 'inherit' });
  if (install.status !== 0) process.exit(install.status ?? 1);
}
// Express's own npm test script, with the dot reporter.
const mocha = [join(checkout, 'node_modules', '.bin', 'mocha'), '--require', 'test/support/env', '--reporter', 'dot', '--check-leaks', 'test/', 'test/acceptance/'];

function run(label, nodeOptions) {
  const result = spawnSync(mocha[0], mocha.slice(1), { cwd: checkout, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  const summary = `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => /passing|failing|pending|zloop:/.test(line)).map((line) => line.trim());
  console.log(`${label}: ${summary.join('; ')} (exit ${result.status})`);
  if (result.status !== 0) console.log(result.stdout.split('\n').slice(-80).join('\n'));
  return result.status === 0;
}

const register = join(root, 'dist', 'src', 'node-compat', 'register.js');
const counter = join(root, 'bench', 'support', 'count-zloop-connections.mjs');
const onNode = run('node:net', '');
const onZloop = run('zloop/register', `--import ${register} --import ${counter}`);
process.exit(onNode && onZloop ? 0 : 1);
