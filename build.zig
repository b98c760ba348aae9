//! Builds the zloop addon (build/zloop.node with `--prefix build`), runs the reactor's tests, and
//! cross-compiles the reactor for aarch64-macos so the kqueue backend is type-checked on Linux.
//! `zig build bench` builds the echo benchmark's native tools (bench/native/) on their own step,
//! so `npm install` never builds them; bench/echo.mjs runs it on demand.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    // The prebuilt addons of the package are stripped (scripts/prebuild.mjs): 1.5 MB -> ~200 KB.
    const strip = b.option(bool, "strip", "Strip debug info from the addon") orelse false;

    const reactor = b.createModule(.{
        .root_source_file = b.path("native/reactor/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });

    const addon = b.addSharedLibrary(.{
        .name = "zloop",
        .root_source_file = b.path("native/binding/main.zig"),
        .target = target,
        .optimize = optimize,
        .strip = strip,
    });
    addon.root_module.addImport("reactor", reactor);
    addon.addIncludePath(b.path("node_modules/node-api-headers/include"));
    addon.linkLibC();
    // N-API and libuv symbols come from the node binary that loads the addon.
    addon.linker_allow_shlib_undefined = true;
    const install_addon = b.addInstallFileWithDir(addon.getEmittedBin(), .prefix, "zloop.node");
    b.getInstallStep().dependOn(&install_addon.step);

    const test_step = b.step("test", "Run the reactor's unit tests and check the kqueue backend compiles");
    const reactor_tests = b.addTest(.{
        .root_source_file = b.path("native/reactor/root.zig"),
        .target = target,
        .optimize = optimize,
    });
    reactor_tests.linkLibC();
    test_step.dependOn(&b.addRunArtifact(reactor_tests).step);

    const macos_check = b.addTest(.{
        .name = "reactor-macos",
        .root_source_file = b.path("native/reactor/root.zig"),
        .target = b.resolveTargetQuery(.{ .cpu_arch = .aarch64, .os_tag = .macos }),
        .optimize = .Debug,
    });
    macos_check.linkLibC();
    const check_macos_step = b.step("check-macos", "Cross-compile the reactor (kqueue backend) for aarch64-macos");
    // Compiling the test binary type-checks every backend function and test; it is not run.
    check_macos_step.dependOn(&macos_check.step);
    test_step.dependOn(check_macos_step);

    // The echo benchmark's load generator and ceiling server: pure Zig std (no libc), installed
    // as <prefix>/bench/zloop-loadgen and <prefix>/bench/echo-ceiling by the `bench` step only.
    const bench_step = b.step("bench", "Build the echo benchmark's load generator and ceiling server");
    const bench_tools = [_]struct { name: []const u8, source: []const u8 }{
        .{ .name = "zloop-loadgen", .source = "bench/native/loadgen.zig" },
        .{ .name = "echo-ceiling", .source = "bench/native/echo_ceiling.zig" },
        .{ .name = "udp-loadgen", .source = "bench/native/udp_loadgen.zig" },
    };
    for (bench_tools) |tool| {
        const exe = b.addExecutable(.{
            .name = tool.name,
            .root_source_file = b.path(tool.source),
            .target = target,
            .optimize = optimize,
        });
        const install = b.addInstallArtifact(exe, .{ .dest_dir = .{ .override = .{ .custom = "bench" } } });
        bench_step.dependOn(&install.step);
    }
}
