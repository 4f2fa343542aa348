/// One MariaDB server of a replication ring, as the monitor knows it before it has talked to it.
public struct RingNode: Sendable, Hashable, Codable {
    /// Name used in reports (topology VM name, or "host:port").
    public var name: String
    /// "host:port" the monitor connects to; also what a slave's `Master_Host:Master_Port` is matched
    /// against when the master's server id is not known yet.
    public var endpoint: String

    /// Creates a node.
    public init(name: String, endpoint: String) {
        self.name = name; self.endpoint = endpoint
    }
}

/// A directed replication link: `to` runs a slave connection whose master is `from`.
public struct RingLinkID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Source (master) node name.
    public var from: String
    /// Target (slave) node name.
    public var to: String
    /// Creates a link id.
    public init(from: String, to: String) { self.from = from; self.to = to }
    /// "from→to".
    public var description: String { "\(from)→\(to)" }
}

/// A circular replication ring: node i replicates from node i-1, the first from the last
/// (A→B→…→A), the order `ReplicationRing.members` and `scripts/ring` use.
public struct Ring: Sendable, Hashable, Codable {
    /// Nodes in ring order.
    public var nodes: [RingNode]

    /// Creates a ring; names must be unique and there must be at least two nodes.
    public init(nodes: [RingNode]) throws(RingDefinitionError) {
        guard nodes.count >= 2 else { throw .tooFewNodes(nodes.count) }
        var seen = Set<String>()
        for n in nodes where !seen.insert(n.name).inserted { throw .duplicateName(n.name) }
        self.nodes = nodes
    }

    /// Every link, in ring order of their targets: (last→first), (first→second), ...
    public var links: [RingLinkID] {
        nodes.indices.map { i in RingLinkID(from: predecessor(ofIndex: i).name, to: nodes[i].name) }
    }

    /// The node `name` replicates from.
    public func predecessor(of name: String) -> RingNode? {
        nodes.firstIndex { $0.name == name }.map { predecessor(ofIndex: $0) }
    }

    private func predecessor(ofIndex i: Int) -> RingNode { nodes[(i + nodes.count - 1) % nodes.count] }

    /// The node with this name.
    public func node(_ name: String) -> RingNode? { nodes.first { $0.name == name } }
}

/// Why a ring definition was refused.
public enum RingDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A ring needs two nodes or more.
    case tooFewNodes(Int)
    /// Two nodes share a name.
    case duplicateName(String)

    /// What was wrong and what to do.
    public var description: String {
        switch self {
        case .tooFewNodes(let n): return "a replication ring needs at least 2 nodes, got \(n); list every node in ring order"
        case .duplicateName(let n): return "node name '\(n)' appears twice in the ring; each node must be listed once"
        }
    }
}
