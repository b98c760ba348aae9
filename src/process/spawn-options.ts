// The options of subprocessExec/subprocessShell and their checks, before anything is spawned:
// asyncio's names (PIPE, STDOUT, DEVNULL), the (...args, options?) rest list, stdio values, and
// finding the program on PATH so a missing one fails as Node's spawn does.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import { describeType, argRangeError, argTypeError, argValueError } from '../core/validate.js';

/** asyncio.subprocess.PIPE: a new pipe to the child (the loop methods' default for all three). */
export const PIPE = 'pipe' as const;
/** asyncio.subprocess.STDOUT: stderr goes where stdout goes (stderr only). */
export const STDOUT = 'stdout' as const;
/** asyncio.subprocess.DEVNULL: /dev/null. */
export const DEVNULL = 'ignore' as const;

/** 'pipe', 'inherit' (asyncio's None), 'ignore' (DEVNULL), or an fd of this process. */
export type StdioSpec = 'pipe' | 'inherit' | 'ignore' | number | null;
export type SubprocessOptions = {
  stdin?: StdioSpec;
  stdout?: StdioSpec;
  /** Also STDOUT: the child's stderr is its stdout. */
  stderr?: StdioSpec | typeof STDOUT;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
};
export type CreateSubprocessOptions = SubprocessOptions & { limit?: number };

const OPTION_KEYS = new Set(['stdin', 'stdout', 'stderr', 'cwd', 'env']);

/** Splits subprocessExec's (...args, options?) rest list and checks both. */
export function splitArgs(rest: unknown[]): { args: string[]; options: SubprocessOptions } {
  let options: SubprocessOptions = {};
  const last = rest[rest.length - 1];
  if (last !== null && typeof last === 'object') {
    options = last as SubprocessOptions;
    rest = rest.slice(0, -1);
  }
  const args = rest.map((arg, index) => {
    if (typeof arg !== 'string') throw argTypeError(`program arguments must be strings, argument ${index + 1} is ${describeType(arg)}`);
    return arg;
  });
  return { args, options };
}

export function checkOptions(options: SubprocessOptions, extraKeys: readonly string[] = []): void {
  if (options === null || typeof options !== 'object') throw argTypeError(`options must be an object, not ${describeType(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key) && !extraKeys.includes(key)) {
      throw argValueError(`options.${key} is not supported (supported: stdin, stdout, stderr, cwd, env${extraKeys.length ? ', ' + extraKeys.join(', ') : ''})`);
    }
  }
  if (options.cwd !== undefined && typeof options.cwd !== 'string') throw argTypeError(`options.cwd must be a string, not ${describeType(options.cwd)}`);
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) {
    throw argTypeError(`options.env must be an object, not ${describeType(options.env)}`);
  }
}

export type NodeStdio = 'pipe' | 'inherit' | 'ignore' | number;

export function stdioOf(value: unknown, name: string): NodeStdio {
  if (value === undefined || value === null || value === 'inherit') return 'inherit';
  if (value === 'pipe' || value === 'ignore') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (value === STDOUT) throw argRangeError(`options.${name}: STDOUT can be used for stderr only`, 'ERR_INVALID_ARG_VALUE');
  throw argTypeError(`options.${name} must be PIPE ('pipe'), DEVNULL ('ignore'), 'inherit', null or an fd, not ${describeType(value)}`);
}

/** Node's "spawn <program> ENOENT" error, made before spawning when Node's own check is bypassed. */
export function findProgram(program: string, options: SubprocessOptions): void {
  const cwd = options.cwd ?? process.cwd();
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : (options.env?.PATH ?? process.env.PATH ?? '/usr/bin:/bin').split(':').map((dir) => path.resolve(cwd, dir || '.', program));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return;
    } catch {
      // not this one
    }
  }
  throw Object.assign(new Error(`spawn ${program} ENOENT`), { code: 'ENOENT', errno: -2, syscall: `spawn ${program}`, path: program });
}
