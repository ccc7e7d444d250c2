import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request is not received in full within `deadline` of its head: a client that drips
/// its body a byte at a time (which resets an idle timer on every chunk) cannot hold a connection and its buffers.
/// Header drip is the idle timeout's job (no request head is decoded until the headers are complete).
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let deadline: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            scheduled?.cancel()
            let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
            scheduled = loop.scheduleTask(in: deadline) { context.close(promise: nil) }
        case .end:
            scheduled?.cancel()
            scheduled = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        context.fireChannelInactive()
    }
}
