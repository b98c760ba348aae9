//! The reactor library: pure Zig, no N-API. `zig build test` runs every test reachable from here.
pub const poller = @import("poller.zig");
pub const reactor = @import("reactor.zig");
pub const datagram = @import("datagram.zig");
pub const stream = @import("stream.zig");
pub const sendfile = @import("sendfile.zig");
pub const sockets = @import("sockets.zig");
pub const mailbox = @import("mailbox.zig");

test {
    _ = @import("reactor_test.zig");
}

test {
    @import("std").testing.refAllDecls(@This());
}
