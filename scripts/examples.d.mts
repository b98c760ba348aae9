// Types of examples.mjs, for test/examples.test.ts.
export function promisedOutput(source: string): string[] | null;
export function examplesUnder(dir: string): string[];
