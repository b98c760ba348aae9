// Programs from the system that some interop suites drive (socat, openssl). A fresh machine with
// only Node and npm has neither: those suites are skipped there, and say so, while .ci/run
// installs both so CI always runs them.
import { spawnSync } from 'node:child_process';

/** Whether `name` can be run from PATH. */
export function hasProgram(name: string): boolean {
  const probe = spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  return probe.status === 0;
}

/**
 * The title for a suite that needs `name`, and whether to skip it. A skipped suite's title says
 * why, and the reason is printed once, so a green run shows what it did not test.
 */
export function needsProgram(name: string, title: string): { title: string; missing: boolean } {
  const missing = !hasProgram(name);
  if (missing) console.warn(`zloop tests: skipping "${title}": ${name} is not installed (apt-get install ${name})`);
  return { title: missing ? `${title} (skipped: ${name} is not installed)` : title, missing };
}
