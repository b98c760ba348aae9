//! What the load generator and the ceiling server share: argument parsing and fatal errors.
const std = @import("std");

/// Prints `echo-bench: <message>` to stderr and exits with status 1.
pub fn fatal(comptime format: []const u8, args: anytype) noreturn {
    std.io.getStdErr().writer().print("echo-bench: " ++ format ++ "\n", args) catch {};
    std.process.exit(1);
}

/// Parses an IPv4 loopback address (127.0.0.0/8) and a port. Anything else is refused: these
/// tools generate load, and they must only ever point it at this machine.
pub fn parseLoopback(host: []const u8, port_text: []const u8) std.net.Address {
    const port = std.fmt.parseInt(u16, port_text, 10) catch fatal("port must be 0-65535, got '{s}'", .{port_text});
    const address = std.net.Address.parseIp4(host, port) catch fatal("host must be an IPv4 address, got '{s}'", .{host});
    const first_octet: u8 = @truncate(std.mem.bigToNative(u32, address.in.sa.addr) >> 24);
    if (first_octet != 127) fatal("host must be a loopback address (127.0.0.0/8), got '{s}'", .{host});
    return address;
}

/// Parses a decimal integer argument in [min, max], naming the argument in the error.
pub fn parseArg(comptime T: type, name: []const u8, text: []const u8, min: T, max: T) T {
    const value = std.fmt.parseInt(T, text, 10) catch fatal("{s} must be an integer, got '{s}'", .{ name, text });
    if (value < min or value > max) fatal("{s} must be in [{d}, {d}], got {d}", .{ name, min, max, value });
    return value;
}

/// Parses a decimal number of seconds in (0, max_s] into nanoseconds.
pub fn parseSeconds(name: []const u8, text: []const u8, max_s: f64) u64 {
    const value = std.fmt.parseFloat(f64, text) catch fatal("{s} must be a number of seconds, got '{s}'", .{ name, text });
    if (!(value >= 0 and value <= max_s)) fatal("{s} must be in [0, {d}] seconds, got '{s}'", .{ name, max_s, text });
    return @intFromFloat(value * std.time.ns_per_s);
}
