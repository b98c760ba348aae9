//! A reactor is what one EventLoop owns natively: a poller, the loop's sockets, and the encoding
//! of what happened to them into fixed-size records that JS reads out of a shared Int32Array.
//! The syscalls of the hot path happen here: accept until EAGAIN, read into the loop's receive
//! buffer, write at once and queue only what the kernel did not take.
const std = @import("std");
const posix = std.posix;
const poller_mod = @import("poller.zig");
const sockets = @import("sockets.zig");
const datagram = @import("datagram.zig");
const stream = @import("stream.zig");
const sendfile_mod = @import("sendfile.zig");

pub const Poller = poller_mod.Poller;
pub const Interest = poller_mod.Interest;
pub const Event = poller_mod.Event;

/// The shared Int32Array starts with a header that both sides read and write on the loop's
/// thread; records follow it. Keep these numbers in sync with src/native.ts.
pub const header = struct {
    /// 1 while the native dispatch loop runs (JS then flags work instead of writing the eventfd).
    pub const in_dispatch = 0;
    /// Set by JS when its ready queue has callbacks, read by Zig after each batch.
    pub const work_pending = 1;
    /// Set by Zig when the timer deadline passed, so JS re-arms it even if nothing was due.
    pub const timer_expired = 2;
    /// Set by JS: where in the receive buffer the next collect starts writing. Bytes before it
    /// may still be referenced by JS (views handed to protocols), so they are never written.
    pub const receive_start = 3;
    pub const ints = 4;
};

pub const record_ints = 4;

/// Every record is (kind, fd, a, b).
pub const RecordKind = enum(i32) {
    /// An fd registered with addReader/addWriter is ready: a = ReadyFlags.
    fd_ready = 1,
    /// A listener accepted a connection: a = the new socket's fd (already reading).
    accepted = 2,
    /// Bytes arrived: a = offset in the receive buffer, b = length.
    data = 3,
    /// The peer finished sending; reading has stopped.
    eof = 4,
    /// A socket failed: a = errno, b = Phase.
    failed = 5,
    /// Queued bytes were written: a = bytes still queued (0: the queue drained).
    written = 6,
    /// A connect settled: a = errno (0: connected, now reading).
    connected = 7,
    /// A datagram arrived: a = offset in the receive buffer of its sender's address
    /// (sockets.datagram_address_bytes, see sockets.encodeAddress), the payload follows it;
    /// b = payload length.
    datagram = 8,
    /// A sendfile finished: bytes sent = a * 2^31 + b (files may pass 2 GiB).
    sendfile_done = 9,
};

/// For `failed` records. A datagram socket's read and write failures are not fatal (ICMP
/// errors, one refused datagram): it keeps reading, as asyncio's error_received implies.
pub const Phase = enum(i32) { read = 1, write = 2, accept = 3, sendfile = 4 };

pub const ReadyFlags = struct {
    pub const readable: i32 = 1;
    pub const writable: i32 = 2;
    pub const hangup: i32 = 4;
};

/// A sendfile under way on a stream socket: the rest is sent as the socket turns writable.
const Sendfile = struct {
    file_fd: i32,
    offset: u64,
    remaining: u64,
    sent: u64 = 0,
    /// The file ended or `remaining` reached 0: the next flush reports sendfile_done.
    finished: bool = false,
};

pub const Socket = struct {
    /// lingering: closed by JS, write side shut down; read and dropped until the peer's EOF.
    kind: enum { listener, connecting, stream, datagram, lingering },
    /// What the poller watches now.
    interest: Interest = .none,
    /// JS wants reads (accepts, for a listener).
    reading: bool,
    read_eof: bool = false,
    /// Listener options passed on to accepted sockets.
    accept_nodelay: bool = false,
    accept_keepalive: bool = false,
    /// Bytes JS wrote that the kernel has not taken yet: queue[head..].
    queue: std.ArrayListUnmanaged(u8) = .{},
    head: usize = 0,
    shutdown_after_flush: bool = false,
    write_failed: bool = false,
    /// Bytes written while it runs queue behind it, so they reach the peer after the file.
    sendfile: ?Sendfile = null,

    pub fn queued(self: *const Socket) usize {
        std.debug.assert(self.head <= self.queue.items.len);
        return self.queue.items.len - self.head;
    }

    fn wantedInterest(self: *const Socket) Interest {
        return switch (self.kind) {
            .listener => .{ .readable = self.reading },
            .connecting => .{ .writable = true },
            .stream => .{
                .readable = self.reading and !self.read_eof,
                .writable = (self.queued() > 0 or self.sendfile != null) and !self.write_failed,
            },
            .datagram => .{ .readable = self.reading, .writable = self.queued() > 0 },
            .lingering => .{ .readable = true },
        };
    }
};

pub const ListenOptions = struct {
    backlog: u31 = 100,
    reuse_address: bool = false,
    reuse_port: bool = false,
    ipv6_only: bool = false,
    nodelay: bool = true,
    keepalive: bool = false,
    accepting: bool = true,
};

/// Appends records after the header of the shared array, never past its end.
pub const RecordWriter = struct {
    records: []i32,
    count: usize = 0,

    pub fn capacity(self: *const RecordWriter) usize {
        return self.records.len / record_ints;
    }

    pub fn room(self: *const RecordWriter) usize {
        return self.capacity() - self.count;
    }

    pub fn push(self: *RecordWriter, kind: RecordKind, fd: i32, a: i32, b: i32) void {
        std.debug.assert(self.count < self.capacity());
        self.records[self.count * record_ints ..][0..record_ints].* = .{ @intFromEnum(kind), fd, a, b };
        self.count += 1;
    }

    /// Extends the previous data record when this read continues it in the buffer.
    pub fn pushData(self: *RecordWriter, fd: i32, offset: usize, length: usize) void {
        if (self.count > 0) {
            const last = self.records[(self.count - 1) * record_ints ..][0..record_ints];
            if (last[0] == @intFromEnum(RecordKind.data) and last[1] == fd and
                @as(usize, @intCast(last[2] + last[3])) == offset)
            {
                last[3] += @intCast(length);
                return;
            }
        }
        self.push(.data, fd, @intCast(offset), @intCast(length));
    }
};

pub const Counters = struct {
    accepted: u64 = 0,
    bytes_in: u64 = 0,
    bytes_out: u64 = 0,
};

pub const Reactor = struct {
    allocator: std.mem.Allocator,
    poller: Poller,
    /// Indexed by fd: fds are small and dense, so a slice beats a hash map on the hot path.
    sockets: std.ArrayListUnmanaged(?*Socket) = .{},
    sockets_open: u32 = 0,
    /// Totals since the reactor was made, for a shard's stats: cheap to keep here, exact.
    counters: Counters = .{},

    pub fn init(allocator: std.mem.Allocator) !Reactor {
        return .{ .allocator = allocator, .poller = try Poller.init() };
    }

    pub fn deinit(self: *Reactor) void {
        for (self.sockets.items, 0..) |entry, fd| {
            if (entry != null) self.closeSocket(@intCast(fd));
        }
        self.sockets.deinit(self.allocator);
        self.poller.deinit();
    }

    /// Polls without waiting; turns what happened into records after the header of `shared`,
    /// with read bytes in `receive_buffer`. Returns the number of records.
    pub fn collect(self: *Reactor, shared: []i32, receive_buffer: []u8) usize {
        std.debug.assert(shared.len >= header.ints);
        var writer = RecordWriter{ .records = shared[header.ints..] };
        std.debug.assert(writer.records.len % record_ints == 0);
        var events: [poller_mod.events_max]Event = undefined;
        // Each event needs at least one record; reads may add an eof or failure after data.
        const wanted = @min(events.len, writer.capacity() / 2);
        const count = self.poller.poll(events[0..wanted], 0);
        // JS keeps the start inside the buffer (and far enough from its end to read a batch).
        const start = shared[header.receive_start];
        std.debug.assert(start >= 0 and start <= receive_buffer.len);
        var received: usize = @min(@as(usize, @intCast(@max(start, 0))), receive_buffer.len);
        for (events[0..count]) |event| {
            if (writer.room() < 2) break; // level-triggered: the rest is reported again
            const socket = self.lookup(event.fd) orelse {
                var flags: i32 = 0;
                if (event.readable) flags |= ReadyFlags.readable;
                if (event.writable) flags |= ReadyFlags.writable;
                if (event.hangup) flags |= ReadyFlags.hangup;
                writer.push(.fd_ready, event.fd, flags, 0);
                continue;
            };
            switch (socket.kind) {
                .listener => stream.acceptAll(self, event.fd, socket, &writer),
                .lingering => stream.discardUntilEof(self, event.fd),
                .connecting => stream.finishConnect(self, event.fd, socket, &writer),
                .stream => {
                    if ((event.writable or event.hangup) and (socket.queued() > 0 or socket.sendfile != null)) {
                        stream.flush(self, event.fd, socket, &writer);
                    }
                    if ((event.readable or event.hangup) and socket.reading and !socket.read_eof) {
                        received = stream.readSome(self, event.fd, socket, receive_buffer, received, &writer);
                    }
                },
                .datagram => {
                    if ((event.writable or event.hangup) and socket.queued() > 0) datagram.flush(self, event.fd, socket, &writer);
                    // An ICMP error shows as EPOLLERR (hangup here): the read reports it.
                    if ((event.readable or event.hangup) and socket.reading) {
                        received = datagram.readSome(self, event.fd, socket, receive_buffer, received, &writer);
                    }
                },
            }
        }
        if (self.poller.timer_expired) {
            self.poller.timer_expired = false;
            shared[header.timer_expired] = 1;
        }
        return writer.count;
    }

    // ---- sockets JS asks for ----------------------------------------------------------------

    // ---- stream sockets (stream.zig) and sendfile (sendfile.zig) -------------------------------

    pub fn listen(self: *Reactor, address: std.net.Address, options: ListenOptions) sockets.Result(i32) {
        return stream.listen(self, address, options);
    }

    pub fn connect(self: *Reactor, address: std.net.Address, local: ?std.net.Address) sockets.Result(i32) {
        return stream.connect(self, address, local);
    }

    pub fn write(self: *Reactor, fd: i32, bytes: []const u8) sockets.Result(usize) {
        return stream.write(self, fd, bytes);
    }

    pub fn shutdownWrite(self: *Reactor, fd: i32) ?posix.E {
        return stream.shutdownWrite(self, fd);
    }

    pub fn closeGracefully(self: *Reactor, fd: i32) void {
        stream.closeGracefully(self, fd);
    }

    pub fn closeLingering(self: *Reactor, fd: i32) void {
        stream.closeLingering(self, fd);
    }

    pub fn sendfile(self: *Reactor, fd: i32, file_fd: i32, offset: u64, count: u64) ?posix.E {
        return sendfile_mod.start(self, fd, file_fd, offset, count);
    }

    pub fn setReading(self: *Reactor, fd: i32, reading: bool) ?posix.E {
        const socket = self.lookup(fd) orelse return .BADF;
        socket.reading = reading;
        return self.updateInterest(fd, socket);
    }

    /// Closes at once; queued bytes are dropped (JS waits for `written` 0 before a graceful close).
    pub fn closeSocket(self: *Reactor, fd: i32) void {
        const socket = self.lookup(fd) orelse return;
        std.debug.assert(self.sockets_open > 0);
        self.sockets.items[@intCast(fd)] = null;
        socket.queue.deinit(self.allocator);
        self.allocator.destroy(socket);
        self.sockets_open -= 1;
        // Closing the fd also drops it from the epoll set (it has no duplicates).
        sockets.close(fd);
    }

    /// Lets go of a connected socket without closing it, so another reactor (another thread's
    /// loop) can adopt it. Fails if bytes are still queued: they belong to this reactor.
    pub fn detachSocket(self: *Reactor, fd: i32) ?posix.E {
        const socket = self.lookup(fd) orelse return .BADF;
        if (socket.kind != .stream or socket.queued() > 0 or socket.sendfile != null) return .BUSY;
        if (!socket.interest.isEmpty()) _ = self.poller.setInterest(fd, .none, socket.interest);
        self.sockets.items[@intCast(fd)] = null;
        socket.queue.deinit(self.allocator);
        self.allocator.destroy(socket);
        self.sockets_open -= 1;
        return null;
    }

    /// Takes over a connected socket that another reactor detached (or accepted), reading it.
    pub fn adoptStream(self: *Reactor, fd: i32) sockets.Result(i32) {
        if (self.lookup(fd) != null) return .{ .err = .EXIST };
        return self.adopt(fd, .{ .kind = .stream, .reading = true });
    }

    pub fn queuedBytes(self: *Reactor, fd: i32) usize {
        const socket = self.lookup(fd) orelse return 0;
        return socket.queued();
    }

    /// A UDP socket (datagram.zig): bound and connected as asked, reading from the start.
    pub fn openDatagram(self: *Reactor, family: u32, local: ?std.net.Address, remote: ?std.net.Address, options: sockets.DatagramOptions) sockets.Result(i32) {
        return datagram.open(self, family, local, remote, options);
    }

    /// Sends one datagram now, or queues it whole (datagram.zig); the bytes queued after the call.
    pub fn sendDatagram(self: *Reactor, fd: i32, bytes: []const u8, address: ?std.net.Address) sockets.Result(usize) {
        return datagram.send(self, fd, bytes, address);
    }

    // ---- internals --------------------------------------------------------------------------

    pub fn lookup(self: *Reactor, fd: i32) ?*Socket {
        if (fd < 0) return null;
        const index: usize = @intCast(fd);
        if (index >= self.sockets.items.len) return null;
        return self.sockets.items[index];
    }

    /// Takes ownership of `fd` (closing it on failure) and registers its interest.
    pub fn adopt(self: *Reactor, fd: i32, initial: Socket) sockets.Result(i32) {
        const index: usize = @intCast(fd);
        if (index >= self.sockets.items.len) {
            const length = @max(index + 1, self.sockets.items.len * 2, 64);
            self.sockets.appendNTimes(self.allocator, null, length - self.sockets.items.len) catch {
                sockets.close(fd);
                return .{ .err = .NOMEM };
            };
        }
        std.debug.assert(self.sockets.items[index] == null);
        const socket = self.allocator.create(Socket) catch {
            sockets.close(fd);
            return .{ .err = .NOMEM };
        };
        socket.* = initial;
        self.sockets.items[index] = socket;
        self.sockets_open += 1;
        if (self.updateInterest(fd, socket)) |err| {
            self.closeSocket(fd);
            return .{ .err = err };
        }
        return .{ .ok = fd };
    }

    pub fn updateInterest(self: *Reactor, fd: i32, socket: *Socket) ?posix.E {
        const wanted = socket.wantedInterest();
        if (@as(u8, @bitCast(wanted)) == @as(u8, @bitCast(socket.interest))) return null;
        const errno = self.poller.setInterest(fd, wanted, socket.interest);
        if (errno != 0) return @enumFromInt(errno);
        socket.interest = wanted;
        return null;
    }

    pub fn compactQueue(self: *Reactor, socket: *Socket) void {
        _ = self;
        if (socket.head == 0) return;
        const rest = socket.queued();
        std.mem.copyForwards(u8, socket.queue.items[0..rest], socket.queue.items[socket.head..]);
        socket.queue.items.len = rest;
        socket.head = 0;
    }

};

// ---- tests ----------------------------------------------------------------------------------
