//! Socket syscalls for the reactor, through libc, returning the errno on failure so the binding
//! can report it in Node's shape. The Linux/macOS differences (accept4, MSG_NOSIGNAL,
//! SOCK_NONBLOCK) are settled here so reactor.zig reads the same on both.
const std = @import("std");
const builtin = @import("builtin");
const posix = std.posix;
const c = std.c;

pub const is_linux = builtin.os.tag == .linux;

/// A syscall's outcome: the value, or the errno that refused it.
pub fn Result(comptime T: type) type {
    return union(enum) {
        ok: T,
        err: posix.E,
    };
}

fn lastErrno(rc: anytype) posix.E {
    return posix.errno(rc);
}

const TCP_NODELAY: u32 = 1; // the same number on Linux and the BSDs
const IPV6_V6ONLY: u32 = if (is_linux) 26 else 27;
/// Suppresses SIGPIPE on a write to a closed peer. macOS has no MSG_NOSIGNAL; it sets
/// SO_NOSIGPIPE on the socket once instead.
pub const send_flags: u32 = if (is_linux) std.os.linux.MSG.NOSIGNAL else 0;

pub const Options = struct {
    reuse_address: bool = false,
    reuse_port: bool = false,
    ipv6_only: bool = false,
};

/// A non-blocking, close-on-exec stream socket for `family`.
pub fn openStream(family: u32) Result(i32) {
    const flags: u32 = if (is_linux) posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC else 0;
    const rc = c.socket(family, posix.SOCK.STREAM | flags, 0);
    if (rc < 0) return .{ .err = lastErrno(rc) };
    if (!is_linux) {
        if (makeNonblocking(rc)) |err| {
            _ = c.close(rc);
            return .{ .err = err };
        }
        setFlag(rc, posix.SOL.SOCKET, c.SO.NOSIGPIPE);
    }
    return .{ .ok = rc };
}

fn makeNonblocking(fd: i32) ?posix.E {
    if (c.fcntl(fd, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return lastErrno(@as(c_int, -1));
    const current = c.fcntl(fd, posix.F.GETFL);
    if (current < 0) return lastErrno(current);
    const nonblock: c_int = @bitCast(@as(u32, @bitCast(posix.O{ .NONBLOCK = true })));
    if (c.fcntl(fd, posix.F.SETFL, current | nonblock) < 0) return lastErrno(@as(c_int, -1));
    return null;
}

fn setFlag(fd: i32, level: i32, name: u32) void {
    const one: c_int = 1;
    // Best effort: these options tune behaviour; a kernel that refuses one still works.
    _ = c.setsockopt(fd, level, name, &one, @sizeOf(c_int));
}

pub fn setNoDelay(fd: i32) void {
    setFlag(fd, posix.IPPROTO.TCP, TCP_NODELAY);
}

pub fn setKeepAlive(fd: i32) void {
    setFlag(fd, posix.SOL.SOCKET, posix.SO.KEEPALIVE);
}

/// socket + options + bind + listen. The fd is closed again on any failure.
pub fn listen(address: std.net.Address, backlog: u31, options: Options) Result(i32) {
    const fd = switch (openStream(address.any.family)) {
        .ok => |fd| fd,
        .err => |err| return .{ .err = err },
    };
    if (options.reuse_address) setFlag(fd, posix.SOL.SOCKET, posix.SO.REUSEADDR);
    if (options.reuse_port) setFlag(fd, posix.SOL.SOCKET, posix.SO.REUSEPORT);
    if (options.ipv6_only and address.any.family == posix.AF.INET6) setFlag(fd, posix.IPPROTO.IPV6, IPV6_V6ONLY);
    if (c.bind(fd, &address.any, sockLen(&address)) < 0) return closeWith(fd);
    if (c.listen(fd, backlog) < 0) return closeWith(fd);
    return .{ .ok = fd };
}

/// Starts a non-blocking connect. `.ok` means the connect is under way (or done): the socket
/// turns writable when it settles, and `takeError` tells how.
pub fn connect(address: std.net.Address, local: ?std.net.Address) Result(i32) {
    const fd = switch (openStream(address.any.family)) {
        .ok => |fd| fd,
        .err => |err| return .{ .err = err },
    };
    if (local) |local_address| {
        if (c.bind(fd, &local_address.any, sockLen(&local_address)) < 0) return closeWith(fd);
    }
    if (address.any.family != posix.AF.UNIX) setNoDelay(fd);
    while (true) {
        if (c.connect(fd, &address.any, sockLen(&address)) == 0) return .{ .ok = fd };
        switch (lastErrno(@as(c_int, -1))) {
            .INTR => continue,
            .INPROGRESS, .AGAIN => return .{ .ok = fd },
            else => return closeWith(fd),
        }
    }
}

fn closeWith(fd: i32) Result(i32) {
    const err = lastErrno(@as(c_int, -1));
    _ = c.close(fd);
    return .{ .err = err };
}

/// SO_ERROR: how a non-blocking connect ended (.SUCCESS if it connected).
pub fn takeError(fd: i32) posix.E {
    var value: c_int = 0;
    var length: posix.socklen_t = @sizeOf(c_int);
    if (c.getsockopt(fd, posix.SOL.SOCKET, posix.SO.ERROR, &value, &length) < 0) return lastErrno(@as(c_int, -1));
    return @enumFromInt(value);
}

/// Accepts one connection as a non-blocking, close-on-exec socket.
/// What to do when accept(2) fails.
pub const AcceptFailure = enum {
    /// The listener is drained: wait for readiness.
    drained,
    /// The pending connection failed on its own (the peer, the network): take the next one.
    /// accept(2) asks to treat the network errors this way, like EAGAIN, so a remote peer
    /// cannot stall the listener.
    next,
    /// Out of a resource (fds, buffers, memory): report it; JS pauses accepting for a while.
    resources,
    /// Anything else says the listener itself is broken: report it.
    other,
};

pub fn acceptFailure(err: posix.E) AcceptFailure {
    return switch (err) {
        .AGAIN => .drained,
        .CONNABORTED, .INTR, .NETDOWN, .PROTO, .NOPROTOOPT, .HOSTDOWN, .HOSTUNREACH, .OPNOTSUPP, .NETUNREACH => .next,
        .MFILE, .NFILE, .NOBUFS, .NOMEM => .resources,
        else => if (is_linux and err == .NONET) .next else .other,
    };
}

test "sockets: accept failures, as accept(2) and asyncio sort them" {
    try std.testing.expectEqual(AcceptFailure.drained, acceptFailure(.AGAIN));
    for ([_]posix.E{ .CONNABORTED, .INTR, .NETDOWN, .PROTO, .NOPROTOOPT, .HOSTDOWN, .HOSTUNREACH, .OPNOTSUPP, .NETUNREACH }) |err| {
        try std.testing.expectEqual(AcceptFailure.next, acceptFailure(err));
    }
    if (is_linux) try std.testing.expectEqual(AcceptFailure.next, acceptFailure(.NONET));
    for ([_]posix.E{ .MFILE, .NFILE, .NOBUFS, .NOMEM }) |err| {
        try std.testing.expectEqual(AcceptFailure.resources, acceptFailure(err));
    }
    try std.testing.expectEqual(AcceptFailure.other, acceptFailure(.BADF));
    try std.testing.expectEqual(AcceptFailure.other, acceptFailure(.INVAL));
}

pub fn accept(listen_fd: i32) Result(i32) {
    if (is_linux) {
        const rc = c.accept4(listen_fd, null, null, posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC);
        if (rc < 0) return .{ .err = lastErrno(rc) };
        return .{ .ok = rc };
    }
    const rc = c.accept(listen_fd, null, null);
    if (rc < 0) return .{ .err = lastErrno(rc) };
    if (makeNonblocking(rc)) |err| {
        _ = c.close(rc);
        return .{ .err = err };
    }
    setFlag(rc, posix.SOL.SOCKET, c.SO.NOSIGPIPE);
    return .{ .ok = rc };
}

pub fn recv(fd: i32, buffer: []u8) Result(usize) {
    while (true) {
        const rc = c.recv(fd, buffer.ptr, buffer.len, 0);
        if (rc >= 0) return .{ .ok = @intCast(rc) };
        const err = lastErrno(rc);
        if (err == .INTR) continue;
        return .{ .err = err };
    }
}

pub fn send(fd: i32, bytes: []const u8) Result(usize) {
    while (true) {
        const rc = c.send(fd, bytes.ptr, bytes.len, send_flags);
        if (rc >= 0) return .{ .ok = @intCast(rc) };
        const err = lastErrno(rc);
        if (err == .INTR) continue;
        return .{ .err = err };
    }
}

// ---- datagrams ---------------------------------------------------------------------------

pub const DatagramOptions = struct {
    reuse_address: bool = false,
    reuse_port: bool = false,
    broadcast: bool = false,
};

/// A non-blocking, close-on-exec UDP socket of `family`, bound to `local` and connected to
/// `remote` when given (a connected UDP socket sends with `send` and hears ICMP errors).
pub fn datagram(family: u32, local: ?std.net.Address, remote: ?std.net.Address, options: DatagramOptions) Result(i32) {
    const flags: u32 = if (is_linux) posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC else 0;
    const fd = c.socket(family, posix.SOCK.DGRAM | flags, 0);
    if (fd < 0) return .{ .err = lastErrno(fd) };
    if (!is_linux) {
        if (makeNonblocking(fd)) |err| {
            _ = c.close(fd);
            return .{ .err = err };
        }
        setFlag(fd, posix.SOL.SOCKET, c.SO.NOSIGPIPE);
    }
    if (options.reuse_address) setFlag(fd, posix.SOL.SOCKET, posix.SO.REUSEADDR);
    // Unlike the tuning flags above, these two change what the socket may do: a refusal is an error.
    if (options.reuse_port and !setFlagChecked(fd, posix.SOL.SOCKET, posix.SO.REUSEPORT)) return closeWith(fd);
    if (options.broadcast and !setFlagChecked(fd, posix.SOL.SOCKET, posix.SO.BROADCAST)) return closeWith(fd);
    if (local) |address| {
        if (c.bind(fd, &address.any, sockLen(&address)) < 0) return closeWith(fd);
    }
    if (remote) |address| {
        while (c.connect(fd, &address.any, sockLen(&address)) < 0) {
            if (lastErrno(@as(c_int, -1)) != .INTR) return closeWith(fd);
        }
    }
    return .{ .ok = fd };
}

fn setFlagChecked(fd: i32, level: i32, name: u32) bool {
    const one: c_int = 1;
    return c.setsockopt(fd, level, name, &one, @sizeOf(c_int)) == 0;
}

const TCP_KEEPIDLE: u32 = if (is_linux) 4 else 0x10; // macOS calls it TCP_KEEPALIVE

/// TCP_NODELAY on or off (net.Socket.setNoDelay).
pub fn setNoDelayTo(fd: i32, on: bool) ?posix.E {
    return setIntOption(fd, posix.IPPROTO.TCP, TCP_NODELAY, @intFromBool(on));
}

/// SO_KEEPALIVE on or off; on with idle_seconds > 0 also sets the idle time before the first
/// probe (net.Socket.setKeepAlive(enable, initialDelay)).
pub fn setKeepAliveTo(fd: i32, on: bool, idle_seconds: u31) ?posix.E {
    if (setIntOption(fd, posix.SOL.SOCKET, posix.SO.KEEPALIVE, @intFromBool(on))) |err| return err;
    if (on and idle_seconds > 0) return setIntOption(fd, posix.IPPROTO.TCP, TCP_KEEPIDLE, idle_seconds);
    return null;
}

/// SO_LINGER on with a zero timeout: the next close() resets the connection (RST) instead of a
/// FIN, dropping what is unsent (net.Socket.resetAndDestroy).
pub fn setResetOnClose(fd: i32) ?posix.E {
    const linger = extern struct { onoff: c_int, seconds: c_int }{ .onoff = 1, .seconds = 0 };
    if (c.setsockopt(fd, posix.SOL.SOCKET, posix.SO.LINGER, &linger, @sizeOf(@TypeOf(linger))) < 0) return lastErrno(@as(c_int, -1));
    return null;
}

fn setIntOption(fd: i32, level: i32, name: u32, value: c_int) ?posix.E {
    if (c.setsockopt(fd, level, name, &value, @sizeOf(c_int)) < 0) return lastErrno(@as(c_int, -1));
    return null;
}

/// Whether a socket option is on (tests read SO_BROADCAST and SO_REUSEPORT back with it).
pub fn flagIsSet(fd: i32, level: i32, name: u32) bool {
    var value: c_int = 0;
    var length: posix.socklen_t = @sizeOf(c_int);
    if (c.getsockopt(fd, level, name, &value, &length) < 0) return false;
    return value != 0;
}

/// One datagram to `address`, or to the connected peer when `address` is null.
pub fn sendTo(fd: i32, bytes: []const u8, address: ?*const posix.sockaddr, address_len: posix.socklen_t) Result(usize) {
    // An empty slice's pointer may be any address, and the kernel checks it even for 0 bytes.
    const empty: [1]u8 = .{0};
    const pointer = if (bytes.len == 0) &empty else bytes.ptr;
    while (true) {
        const rc = c.sendto(fd, pointer, bytes.len, send_flags, address, if (address == null) 0 else address_len);
        if (rc >= 0) return .{ .ok = @intCast(rc) };
        const err = lastErrno(rc);
        if (err == .INTR) continue;
        return .{ .err = err };
    }
}

/// One datagram into `buffer`; the sender's address lands in `from`.
pub fn recvFrom(fd: i32, buffer: []u8, from: *posix.sockaddr.storage) Result(usize) {
    while (true) {
        var length: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
        const rc = c.recvfrom(fd, buffer.ptr, buffer.len, 0, @ptrCast(from), &length);
        if (rc >= 0) return .{ .ok = @intCast(rc) };
        const err = lastErrno(rc);
        if (err == .INTR) continue;
        return .{ .err = err };
    }
}

extern "c" fn recvmmsg(fd: c_int, messages: [*]std.os.linux.mmsghdr, count: c_uint, flags: c_uint, timeout: ?*anyopaque) c_int;

/// recvmmsg(2): several datagrams with one syscall. Linux only (callers check `is_linux`);
/// other systems loop on recvFrom.
pub fn recvMany(fd: i32, messages: []std.os.linux.mmsghdr) Result(usize) {
    while (true) {
        const rc = recvmmsg(fd, messages.ptr, @intCast(messages.len), 0, null);
        if (rc >= 0) return .{ .ok = @intCast(rc) };
        const err = lastErrno(rc);
        if (err == .INTR) continue;
        return .{ .err = err };
    }
}

/// Bytes of a datagram's address as the reactor hands it to JS, in front of the payload:
/// [0] 4 or 6, [2..4] port (big-endian), [4..8] IPv4 or [8..24] IPv6, [24..28] scope id
/// (little-endian). A fixed layout, so one record (offset, length) describes a datagram whole.
pub const datagram_address_bytes = 32;

pub fn encodeAddress(from: *const posix.sockaddr.storage, out: *[datagram_address_bytes]u8) void {
    @memset(out, 0);
    switch (from.family) {
        posix.AF.INET => {
            const in4: *const posix.sockaddr.in = @ptrCast(from);
            out[0] = 4;
            @memcpy(out[2..4], std.mem.asBytes(&in4.port));
            @memcpy(out[4..8], std.mem.asBytes(&in4.addr));
        },
        posix.AF.INET6 => {
            const in6: *const posix.sockaddr.in6 = @ptrCast(from);
            out[0] = 6;
            @memcpy(out[2..4], std.mem.asBytes(&in6.port));
            @memcpy(out[8..24], &in6.addr);
            std.mem.writeInt(u32, out[24..28], in6.scope_id, .little);
        },
        else => {}, // an unnamed sender: family 0, JS reports no address
    }
}

// ---- sendfile -----------------------------------------------------------------------------

/// Sends up to `count` bytes of `file_fd` from `offset.*` to a socket, advancing `offset.*`.
/// 0 means the file ended. macOS's sendfile(2) has another signature and semantics on a
/// non-blocking socket, so there (and on the BSDs) it is pread + send through a stack buffer.
pub fn sendFile(socket_fd: i32, file_fd: i32, offset: *u64, count: usize) Result(usize) {
    if (is_linux) {
        while (true) {
            var position: i64 = @intCast(offset.*);
            const rc = c.sendfile64(socket_fd, file_fd, &position, count);
            if (rc >= 0) {
                offset.* = @intCast(position);
                return .{ .ok = @intCast(rc) };
            }
            const err = lastErrno(rc);
            if (err == .INTR) continue;
            return .{ .err = err };
        }
    }
    var chunk: [64 * 1024]u8 = undefined;
    const wanted = @min(count, chunk.len);
    const read = c.pread(file_fd, &chunk, wanted, @intCast(offset.*));
    if (read < 0) return .{ .err = lastErrno(read) };
    if (read == 0) return .{ .ok = 0 };
    // What the socket does not take is read again next time: pread leaves nothing behind.
    return switch (send(socket_fd, chunk[0..@intCast(read)])) {
        .ok => |sent| blk: {
            offset.* += sent;
            break :blk .{ .ok = sent };
        },
        .err => |err| .{ .err = err },
    };
}

pub fn shutdownWrite(fd: i32) ?posix.E {
    if (c.shutdown(fd, posix.SHUT.WR) < 0) return lastErrno(@as(c_int, -1));
    return null;
}

/// The length to pass with `address`. std.net.Address ends a Unix path at its first NUL, which
/// for a Linux abstract name ('\x00name') would be no name at all (an autobind): the name is the
/// bytes after the leading NUL, up to the zero padding initUnix leaves behind it.
pub fn sockLen(address: *const std.net.Address) posix.socklen_t {
    if (address.any.family == posix.AF.UNIX and address.un.path[0] == 0) {
        const name = std.mem.sliceTo(address.un.path[1..], 0);
        return @intCast(@offsetOf(posix.sockaddr.un, "path") + 1 + name.len);
    }
    return address.getOsSockLen();
}

/// The text of a Unix address: the path, or for an abstract name the leading NUL and the name.
/// An unnamed socket (all zeros, as addressOf leaves it) reads as the empty path; so would the
/// empty abstract name, which nothing uses.
pub fn unixPath(address: *const std.net.Address) []const u8 {
    std.debug.assert(address.any.family == posix.AF.UNIX);
    const path = &address.un.path;
    if (path[0] != 0) return std.mem.sliceTo(path, 0);
    const name = std.mem.sliceTo(path[1..], 0);
    if (name.len == 0) return path[0..0];
    return path[0 .. 1 + name.len];
}

/// A second fd for the same socket (close-on-exec). A shard that takes over a connection from
/// another works on its own duplicate, so the number it was handed stays the sender's to close.
pub fn duplicate(fd: i32) Result(i32) {
    // F_DUPFD_CLOEXEC (fcntl.h; std.posix.F lacks it on Linux).
    const dupfd_cloexec: c_int = if (is_linux) 1030 else 67;
    const rc = c.fcntl(fd, dupfd_cloexec, @as(c_int, 0));
    if (rc < 0) return .{ .err = lastErrno(rc) };
    return .{ .ok = rc };
}

pub fn close(fd: i32) void {
    _ = c.close(fd);
}

pub const Side = enum { local, peer };

/// The socket's own or its peer's address, or null if it has none (an unconnected socket).
pub fn addressOf(fd: i32, side: Side) ?std.net.Address {
    // Zeroed, so an unnamed Unix socket reads as the empty path (asyncio returns '').
    var storage = std.mem.zeroes(posix.sockaddr.storage);
    var length: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const target: *posix.sockaddr = @ptrCast(&storage);
    const rc = switch (side) {
        .local => c.getsockname(fd, target, &length),
        .peer => c.getpeername(fd, target, &length),
    };
    if (rc < 0) return null;
    // std.net.Address.initPosix knows only IPv4 and IPv6.
    if (target.family == posix.AF.UNIX) {
        return .{ .un = @as(*const posix.sockaddr.un, @ptrCast(@alignCast(target))).* };
    }
    return std.net.Address.initPosix(@alignCast(target));
}

test "sockets: listen, connect, accept, send and recv over loopback" {
    const any = try std.net.Address.parseIp("127.0.0.1", 0);
    const listener = listen(any, 16, .{ .reuse_address = true }).ok;
    defer close(listener);
    const bound = addressOf(listener, .local).?;
    const client = connect(bound, null).ok;
    defer close(client);

    var server: i32 = -1;
    for (0..100) |_| {
        switch (accept(listener)) {
            .ok => |fd| {
                server = fd;
                break;
            },
            .err => std.time.sleep(1_000_000),
        }
    }
    try std.testing.expect(server >= 0);
    defer close(server);
    try std.testing.expectEqual(posix.E.SUCCESS, takeError(client));
    try std.testing.expectEqual(@as(usize, 5), send(client, "hello").ok);
    var buffer: [16]u8 = undefined;
    var got: usize = 0;
    for (0..100) |_| {
        switch (recv(server, &buffer)) {
            .ok => |count| {
                got = count;
                break;
            },
            .err => std.time.sleep(1_000_000),
        }
    }
    try std.testing.expectEqualStrings("hello", buffer[0..got]);
}

test "sockets: a Unix socket's long path comes back whole" {
    const path = "/tmp/zloop-sockets-test-a-rather-long-name.sock";
    std.fs.deleteFileAbsolute(path) catch {};
    const listener = listen(try std.net.Address.initUnix(path), 1, .{}).ok;
    defer std.fs.deleteFileAbsolute(path) catch {};
    defer close(listener);
    const bound = addressOf(listener, .local).?;
    try std.testing.expectEqualStrings(path, std.mem.sliceTo(&bound.un.path, 0));
}

test "sockets: a refused connect reports ECONNREFUSED through SO_ERROR or at once" {
    const any = try std.net.Address.parseIp("127.0.0.1", 0);
    const listener = listen(any, 1, .{}).ok;
    const port = addressOf(listener, .local).?.getPort();
    close(listener);
    const target = try std.net.Address.parseIp("127.0.0.1", port);
    switch (connect(target, null)) {
        .err => |err| try std.testing.expectEqual(posix.E.CONNREFUSED, err),
        .ok => |fd| {
            defer close(fd);
            var fds = [_]posix.pollfd{.{ .fd = fd, .events = posix.POLL.OUT, .revents = 0 }};
            _ = try posix.poll(&fds, 1000);
            try std.testing.expectEqual(posix.E.CONNREFUSED, takeError(fd));
        },
    }
}

test "sockets: a Linux abstract Unix name binds, connects and reads back whole" {
    if (@import("builtin").os.tag != .linux) return error.SkipZigTest;
    const name = "\x00zloop-abstract-test";
    const listener = listen(try std.net.Address.initUnix(name), 1, .{}).ok;
    defer close(listener);
    const bound = addressOf(listener, .local).?;
    try std.testing.expectEqualSlices(u8, name, unixPath(&bound));
    const client = connect(try std.net.Address.initUnix(name), null).ok;
    defer close(client);
}

test "sockets: a duplicate is another fd for the same socket, and outlives the original" {
    const any = try std.net.Address.parseIp("127.0.0.1", 0);
    const listener = listen(any, 1, .{}).ok;
    const copy = duplicate(listener).ok;
    defer close(copy);
    try std.testing.expect(copy != listener);
    const bound = addressOf(listener, .local).?;
    close(listener);
    try std.testing.expectEqual(bound.getPort(), addressOf(copy, .local).?.getPort());
}
