// The piscina worker behind loop.runInExecutor: loads the task's module once per worker thread
// and calls the named export with the call's arguments spread, so task functions keep their
// natural signatures.
import { pathToFileURL } from 'node:url';

type ExecutorTask = { filename: string; name: string; args: unknown[] };

const modules = new Map<string, Promise<Record<string, unknown>>>();

export default async function runTask({ filename, name, args }: ExecutorTask): Promise<unknown> {
  let loading = modules.get(filename);
  if (loading === undefined) {
    const specifier = filename.startsWith('file:') ? filename : pathToFileURL(filename).href;
    loading = import(specifier) as Promise<Record<string, unknown>>;
    modules.set(filename, loading);
  }
  const exports = await loading;
  const fn = exports[name];
  if (typeof fn !== 'function') throw new TypeError(`${filename} has no exported function '${name}'`);
  return fn(...args);
}
