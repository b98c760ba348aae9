// Which addon file this process loads. A build from source on this machine (build/zloop.node,
// what `npm install` in a clone makes) comes first; else the package's prebuilt addon for this
// platform and arch (build/prebuilt/<platform>-<arch>/zloop.node, made by `npm pack`); else a
// clear error naming the platform. ZLOOP_ADDON_BUILD=safe picks the ReleaseSafe build the tests
// run against.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The platform-arch keys the package ships prebuilt addons for (scripts/targets.mjs). */
export const PREBUILT_KEYS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64'] as const;

export type AddonPlatform = { platform: string; arch: string; glibc: boolean };

/**
 * The addon file for the platform `platform()` names, given the package root and how to test for a file; throws an Error
 * with code ERR_ZLOOP_NO_ADDON when there is none.
 */
export function addonFile(root: string, platform: () => AddonPlatform, exists: (path: string) => boolean, build: string | undefined): string {
  if (build === 'safe') return `${root}build/safe/zloop.node`;
  const local = `${root}build/zloop.node`;
  if (exists(local)) return local;
  const host = platform(); // only now: the glibc check reads process.report, which takes a few ms
  const key = `${host.platform}-${host.arch}`;
  const supported = (PREBUILT_KEYS as readonly string[]).includes(key) && (host.platform !== 'linux' || host.glibc);
  const prebuilt = `${root}build/prebuilt/${key}/zloop.node`;
  if (supported && exists(prebuilt)) return prebuilt;
  const name = host.platform === 'linux' && !host.glibc ? `${key} (musl)` : key;
  throw Object.assign(
    new Error(
      `zloop has no native addon for ${name}: prebuilt addons are for ${PREBUILT_KEYS.join(', ')} (Linux with glibc); ` +
        'to build one from source, clone the repository and run npm install (it fetches Zig from npm)',
    ),
    { code: 'ERR_ZLOOP_NO_ADDON' },
  );
}

/** This process's platform; glibc is what the prebuilt Linux addons link against. */
export function hostPlatform(): AddonPlatform {
  const report = process.platform === 'linux' ? (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined) : undefined;
  return { platform: process.platform, arch: process.arch, glibc: report?.header?.glibcVersionRuntime !== undefined };
}

/** The package root, from dist/src/io/addon-path.js. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function resolveAddon(): string {
  return addonFile(PACKAGE_ROOT, hostPlatform, existsSync, process.env.ZLOOP_ADDON_BUILD);
}
