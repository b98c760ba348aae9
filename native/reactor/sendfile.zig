//! sendfile(2) on a stream socket (pread + send on macOS): started from JS, continued as the
//! socket turns writable; bytes written meanwhile queue behind the file.
const std = @import("std");
const posix = std.posix;
const sockets = @import("sockets.zig");
const reactor_mod = @import("reactor.zig");
const Reactor = reactor_mod.Reactor;
const Socket = reactor_mod.Socket;

/// Starts sending `count` bytes of `file_fd` from `offset` to a stream socket whose write
/// queue is empty. Whatever happens after this returns, one sendfile_done (or failed, phase
/// sendfile) record follows, from the next batch at the latest. The caller keeps `file_fd`
/// open until then.
pub fn start(self: *Reactor, fd: i32, file_fd: i32, offset: u64, count: u64) ?posix.E {
    const socket = self.lookup(fd) orelse return .BADF;
    if (socket.kind != .stream) return .NOTCONN;
    if (socket.sendfile != null) return .BUSY;
    if (socket.queued() > 0) return .BUSY;
    if (socket.write_failed) return .PIPE;
    socket.sendfile = .{ .file_fd = file_fd, .offset = offset, .remaining = count, .finished = count == 0 };
    if (sendSome(self, fd, socket)) |err| {
        socket.sendfile = null;
        return err;
    }
    // Writable interest brings the next batch here even when it is all sent already.
    return self.updateInterest(fd, socket);
}

/// Sends file bytes until EAGAIN, the end of the file or `remaining` reaches 0.
pub fn sendSome(self: *Reactor, fd: i32, socket: *Socket) ?posix.E {
    const state = &socket.sendfile.?;
    while (!state.finished) {
        const wanted: usize = @intCast(@min(state.remaining, 1 << 30));
        switch (sockets.sendFile(fd, state.file_fd, &state.offset, wanted)) {
            .ok => |sent| {
                if (sent == 0) {
                    state.finished = true; // the file is shorter than asked
                    break;
                }
                state.sent += sent;
                state.remaining -= sent;
                self.counters.bytes_out += sent;
                if (state.remaining == 0) state.finished = true;
            },
            .err => |err| {
                if (err == .AGAIN) return null;
                return err;
            },
        }
    }
    return null;
}
