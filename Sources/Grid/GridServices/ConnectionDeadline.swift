import Net
import NIOCore

/// How long a gridsvc connection may take (without it, 200 slowloris connections all stayed open).
public struct GridHTTPTimeouts: Sendable, Equatable {
    /// A request head must be complete this long after its first byte (or the first empty line before
    /// it); else 408 and the connection closes (RFC 9110 section 15.5.9).
    public var head: Duration
    /// A request body must be complete this long after its head; else 408 and the connection closes.
    public var body: Duration
    /// A keep-alive connection with no request in progress, or whose client does not read its answers,
    /// is closed after this long, without an answer (RFC 9112 section 9.5: a server may close an idle
    /// connection at any time; a 408 there could be taken as the answer to a request in flight).
    public var idle: Duration

    /// Timeouts; the defaults (10 s head and body, 60 s idle) are generous for requests of a few KiB.
    public init(head: Duration = .seconds(10), body: Duration = .seconds(10), idle: Duration = .seconds(60)) {
        self.head = head
        self.body = body
        self.idle = idle
    }
}

/// Which deadline a connection is under and what to do when its timer fires. Pure (events in, actions
/// out; time is passed in): ``GridHTTPHandler`` keeps one timer per connection and executes the actions.
/// The timer is not re-armed per request: a later deadline waits for the timer to fire and is re-armed
/// then, so a busy keep-alive connection costs one clock read per read burst, not a timer per request.
struct ConnectionDeadline {
    /// What the connection is waiting for.
    enum State: Equatable {
        /// The next request (no byte of it yet).
        case idle
        /// The rest of a request head.
        case head
        /// The rest of a request body.
        case body
        /// The rest of an oversized body that is dropped (its answer is already written).
        case discarding
        /// The client to read its answers (the output is past its high-water mark).
        case blockedOutput
        /// The server's own work (an answer computed off the event loop): no deadline.
        case busy
    }

    /// What to do when the timer fires.
    enum Action: Equatable {
        /// Nothing now; arm the timer for this deadline (nil: no deadline).
        case wait(until: NIODeadline?)
        /// Close without an answer.
        case close
        /// Answer 408 with this message and close.
        case timeout(message: String)
    }

    let timeouts: GridHTTPTimeouts
    private(set) var state = State.idle
    private(set) var deadline: NIODeadline?
    // The timeouts as NIO time amounts, converted once (the idle deadline is renewed per read burst).
    private let head: TimeAmount, body: TimeAmount, idle: TimeAmount

    init(timeouts: GridHTTPTimeouts, now: NIODeadline) {
        self.timeouts = timeouts
        head = TimeAmount(timeouts.head)
        body = TimeAmount(timeouts.body)
        idle = TimeAmount(timeouts.idle)
        deadline = now + idle
    }

    /// The connection is now waiting for `next`. `newRequest`: a request was completed since the last
    /// call, so a head or body in progress is a new one. A head's or body's deadline runs from its start,
    /// so it is kept while the same head or body goes on arriving.
    mutating func enter(_ next: State, now: NIODeadline, newRequest: Bool) {
        if next == state, !newRequest, next != .idle, next != .blockedOutput { return }
        state = next
        switch next {
        case .idle, .blockedOutput: deadline = now + idle
        case .head: deadline = now + head
        case .body, .discarding: deadline = now + body
        case .busy: deadline = nil
        }
    }

    /// The timer fired at `now`.
    func fired(now: NIODeadline) -> Action {
        guard let d = deadline, now >= d else { return .wait(until: deadline) }
        switch state {
        case .head: return .timeout(message: "the request head did not arrive within \(timeouts.head.humanReadable) of its first byte; send it at once")
        case .body: return .timeout(message: "the request body did not arrive within \(timeouts.body.humanReadable) of its head; send it at once")
        case .idle, .discarding, .blockedOutput: return .close
        case .busy: return .wait(until: nil)
        }
    }
}
