/// The first element of `stream` that satisfies `match`, or nil when `within` passes first.
/// (Iterating ends the stream's one iteration: call it once per stream.)
public func first<T: Sendable>(_ stream: AsyncStream<T>, within: Duration,
                               where match: @escaping @Sendable (T) -> Bool = { _ in true }) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask {
            for await x in stream where match(x) { return x }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: within)
            return nil
        }
        let r = await group.next() ?? nil
        group.cancelAll()
        return r
    }
}

/// The first `count` elements of `stream`; what arrived so far when `within` passes first.
public func collect<T: Sendable>(_ stream: AsyncStream<T>, count: Int, within: Duration) async -> [T] {
    let (found, sink) = AsyncStream.makeStream(of: T.self)
    return await withTaskGroup(of: Void.self) { group in
        group.addTask {
            var n = 0
            for await x in stream {
                sink.yield(x)
                n += 1
                if n == count { break }
            }
            sink.finish()
        }
        group.addTask {
            try? await Task.sleep(for: within)
            sink.finish()
        }
        var out: [T] = []
        for await x in found { out.append(x) }
        group.cancelAll()
        return out
    }
}
