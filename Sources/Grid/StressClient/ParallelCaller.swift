import Foundation
import HTTPWire
import Net
import Synchronization

/// Sends a fixed list of requests over `concurrency` keep-alive connections on dedicated threads and keeps
/// every answer. For tests and tools that need the answers themselves (the stress runner keeps only timings).
public enum ParallelCaller {
    /// One request: where and what bytes.
    public struct Call: Sendable {
        /// Host (IPv4 literal).
        public var host: String
        /// Port.
        public var port: Int
        /// Complete HTTP/1.1 request bytes.
        public var request: [UInt8]
        /// Creates a call.
        public init(host: String, port: Int, request: [UInt8]) {
            self.host = host
            self.port = port
            self.request = request
        }

        /// A JSON POST.
        public static func post(host: String = "127.0.0.1", port: Int, path: String, json: String,
                                contentType: String = "application/json") -> Call {
            let body = Array(json.utf8)
            return Call(host: host, port: port, request: Array(
                "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        }

        /// A GET.
        public static func get(host: String = "127.0.0.1", port: Int, path: String) -> Call {
            Call(host: host, port: port, request: Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n\r\n".utf8))
        }
    }

    /// The answer to one call.
    public struct Answer: Sendable {
        /// HTTP status, or nil when the call failed below HTTP.
        public var status: Int?
        /// Response head text (status line + headers), empty on failure.
        public var head: String
        /// Body as text.
        public var body: String
        /// Failure kind when `status` is nil.
        public var failure: String?
        /// Seconds from send to answer.
        public var seconds: Double

        /// Value of response header `name` (case-insensitive), if present.
        public func header(_ name: String) -> String? { HTTPResponseParser.headerValue(name, in: head.utf8) }
    }

    /// Runs `calls` (answers in the same order) with at most `concurrency` at once; blocks the calling thread.
    public static func run(_ calls: [Call], concurrency: Int, timeoutMillis: Int = 10_000) -> [Answer] {
        let answers = Mutex([Answer?](repeating: nil, count: calls.count))
        let next = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(concurrency, calls.count)) {
            group.enter()
            let t = Thread {
                var conns: [String: HTTPConnection] = [:]
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < calls.count else { break }
                    let c = calls[i]
                    let key = "\(c.host):\(c.port)"
                    let conn = conns[key] ?? HTTPConnection(host: c.host, port: c.port, timeoutMillis: timeoutMillis)
                    conns[key] = conn
                    let start = ContinuousClock.now
                    var a: Answer
                    do throws(CallFailure) {
                        let r = try conn.roundTripWithHead(c.request)
                        a = Answer(status: r.status, head: r.head, body: String(decoding: r.body, as: UTF8.self), failure: nil, seconds: 0)
                    } catch {
                        a = Answer(status: nil, head: "", body: "", failure: error.kind, seconds: 0)
                    }
                    a.seconds = (ContinuousClock.now - start).inSeconds
                    let answer = a
                    answers.withLock { $0[i] = answer }
                }
                for c in conns.values { c.close() }
                group.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        group.wait()
        return answers.withLock { $0.map { $0! } }
    }

    /// ``run(_:concurrency:timeoutMillis:)`` from async code, on its own threads (never blocks the
    /// cooperative pool, which an in-process server may need to answer).
    public static func runAsync(_ calls: [Call], concurrency: Int, timeoutMillis: Int = 10_000) async -> [Answer] {
        await withCheckedContinuation { cont in
            let t = Thread { cont.resume(returning: run(calls, concurrency: concurrency, timeoutMillis: timeoutMillis)) }
            t.start()
        }
    }
}
