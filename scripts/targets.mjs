// The platforms the package ships a prebuilt addon for: Node's platform-arch key and Zig's
// target triple. src/io/addon-path.ts names the same keys when none fits.
export const PREBUILT_TARGETS = [
  { key: 'linux-x64', zigTarget: 'x86_64-linux-gnu.2.28' },
  { key: 'linux-arm64', zigTarget: 'aarch64-linux-gnu.2.28' },
  { key: 'darwin-x64', zigTarget: 'x86_64-macos.11.0' },
  { key: 'darwin-arm64', zigTarget: 'aarch64-macos.11.0' },
];
