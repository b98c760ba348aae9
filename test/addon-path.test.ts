// Which addon file loads: a build from source first, else the prebuilt one for the platform,
// else an error naming the platform (and the ones there are).
import { describe, expect, it } from 'vitest';
import { addonFile, hostPlatform } from '../dist/src/io/addon-path.js';

const root = '/pkg/';
const host = (platform: string, arch: string, glibc = true) => () => ({ platform, arch, glibc });
const files = (...present: string[]) => (path: string) => present.includes(path);

describe('addonFile', () => {
  it('prefers build/zloop.node (built from source here), then the prebuilt addon of the platform', () => {
    expect(addonFile(root, host('linux', 'x64'), files('/pkg/build/zloop.node', '/pkg/build/prebuilt/linux-x64/zloop.node'), undefined)).toBe('/pkg/build/zloop.node');
    expect(addonFile(root, host('linux', 'arm64'), files('/pkg/build/prebuilt/linux-arm64/zloop.node'), undefined)).toBe('/pkg/build/prebuilt/linux-arm64/zloop.node');
    expect(addonFile(root, host('darwin', 'arm64'), files('/pkg/build/prebuilt/darwin-arm64/zloop.node'), undefined)).toBe('/pkg/build/prebuilt/darwin-arm64/zloop.node');
    expect(addonFile(root, host('darwin', 'x64'), files('/pkg/build/prebuilt/darwin-x64/zloop.node'), undefined)).toBe('/pkg/build/prebuilt/darwin-x64/zloop.node');
  });

  it('ZLOOP_ADDON_BUILD=safe picks the ReleaseSafe build', () => {
    expect(addonFile(root, host('linux', 'x64'), files('/pkg/build/zloop.node'), 'safe')).toBe('/pkg/build/safe/zloop.node');
  });

  it('an unsupported platform, or Linux without glibc, is an error that names it', () => {
    const all = files(...['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64'].map((key) => `/pkg/build/prebuilt/${key}/zloop.node`));
    expect(() => addonFile(root, host('win32', 'x64'), all, undefined)).toThrow(expect.objectContaining({ code: 'ERR_ZLOOP_NO_ADDON', message: expect.stringContaining('no native addon for win32-x64') }));
    expect(() => addonFile(root, host('linux', 'x64', false), all, undefined)).toThrow(/no native addon for linux-x64 \(musl\)/);
    expect(() => addonFile(root, host('linux', 'ppc64'), all, undefined)).toThrow(/linux-x64, linux-arm64, darwin-x64, darwin-arm64/);
    // A supported platform whose file is missing (a clone that was never built) says the same.
    expect(() => addonFile(root, host('linux', 'x64'), files(), undefined)).toThrow(/npm install/);
  });

  it('hostPlatform() is this process: platform and arch as Node names them, glibc only on Linux', () => {
    const here = hostPlatform();
    expect(here).toMatchObject({ platform: process.platform, arch: process.arch });
    if (process.platform !== 'linux') expect(here.glibc).toBe(false);
  });
});
