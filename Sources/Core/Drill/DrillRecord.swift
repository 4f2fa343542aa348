import LoadReport

/// A moment on the wall clock: Unix epoch, milliseconds. Every record of a drill (the probe's
/// slots, the directors' samples, the hooks' marks) is put on this one axis.
public typealias EpochMillis = Double

/// One reading of one director, as its `/status` answered (or a VIP watch reported).
public struct DirectorSample: Codable, Sendable, Equatable {
    /// When it was read.
    public var at: EpochMillis
    /// The director (a VM of the pair).
    public var director: String
    /// Whether it answered at all; a director that does not answer holds nothing.
    public var reachable: Bool
    /// Whether it holds the VIPs; `nil` when it runs no VRRP (a single director).
    public var holdsVIP: Bool?
    /// Its VRRP state (`master`, `backup`…), if it reported one.
    public var state: String?
    /// The watched members as it sees them (the drill's target service).
    public var members: [MemberSample]
    /// The watched service's last-member or single-writer action, if any.
    public var serviceNote: String?

    /// Creates a sample.
    public init(at: EpochMillis, director: String, reachable: Bool, holdsVIP: Bool?, state: String? = nil,
                members: [MemberSample] = [], serviceNote: String? = nil) {
        self.at = at; self.director = director; self.reachable = reachable; self.holdsVIP = holdsVIP
        self.state = state; self.members = members; self.serviceNote = serviceNote
    }

    /// Holds the VIP and answers.
    public var holding: Bool { reachable && holdsVIP == true }
}

/// One member of a service as a director sees it.
public struct MemberSample: Codable, Sendable, Equatable {
    /// Service name.
    public var service: String
    /// Member VM.
    public var member: String
    /// `up`, `down` or `unknown`.
    public var state: String
    /// Drained by an operator.
    public var drained: Bool
    /// The weight the director wants.
    public var weight: Int
    /// The weight in the topology.
    public var topologyWeight: Int
    /// The weight the kernel held at the last reconcile (`nil`: not in the table).
    public var kernelWeight: Int?

    /// Creates a sample.
    public init(service: String, member: String, state: String, drained: Bool, weight: Int, topologyWeight: Int, kernelWeight: Int?) {
        self.service = service; self.member = member; self.state = state; self.drained = drained
        self.weight = weight; self.topologyWeight = topologyWeight; self.kernelWeight = kernelWeight
    }

    /// Up, not drained, and the kernel holds the weight the director wants for it. Not "at its
    /// topology weight": a single-writer service keeps its other members at 0 by design.
    public var serving: Bool { state == "up" && !drained && kernelWeight == weight }
    /// No new connection goes to it.
    public var drainedInKernel: Bool { (kernelWeight ?? weight) == 0 }
}

/// A moment marked on a drill's time axis.
public struct DrillMark: Codable, Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Codable, Sendable {
        /// The probe's t = 0.
        case probeStart = "probe start"
        /// The inject hook was started: the fault.
        case fault
        /// The inject hook returned.
        case faultDone = "fault done"
        /// The heal hook was started.
        case heal
        /// The heal hook returned.
        case healDone = "heal done"
        /// The site was steady again after the heal.
        case restored
        /// The probe was asked to stop.
        case probeStop = "probe stop"
        /// A moment a hook reported itself (`tandem-drill-event MS LABEL` on its output).
        case hook
    }
    /// When.
    public var at: EpochMillis
    /// What.
    public var kind: Kind
    /// For people.
    public var label: String

    /// Creates a mark.
    public init(at: EpochMillis, kind: Kind, label: String) { self.at = at; self.kind = kind; self.label = label }
}

/// One run of a hook.
public struct HookRun: Codable, Sendable, Equatable {
    /// `prepare`, `inject` or `heal`.
    public var stage: String
    /// The argv run.
    public var command: [String]
    /// When it started and ended.
    public var started: EpochMillis
    /// When it ended.
    public var ended: EpochMillis
    /// `exit status 0`, `killed by signal 9`, `timed out after 30 s`, `could not start: …`.
    public var outcome: String
    /// Exit status 0.
    public var succeeded: Bool
    /// Its output (stdout and stderr), cut to a readable length.
    public var output: String

    /// Creates a record.
    public init(stage: String, command: [String], started: EpochMillis, ended: EpochMillis, outcome: String, succeeded: Bool, output: String) {
        self.stage = stage; self.command = command; self.started = started; self.ended = ended
        self.outcome = outcome; self.succeeded = succeeded; self.output = output
    }
}

/// Everything one drill recorded: what it ran against, the probe's report, the directors' samples
/// and the marks. ``DrillAnalysis`` turns it into figures; reports draw it.
public struct DrillRecord: Codable, Sendable, Equatable {
    /// The kind.
    public var kind: DrillKind
    /// Whose pair this was (`tandemd`, `keepalived`), or the site's name.
    public var label: String
    /// Site name.
    public var site: String
    /// The service the probe loaded.
    public var service: String
    /// The probe's target, `host:port`.
    public var probeTarget: String
    /// What the fault hit: a director or a member VM.
    public var target: String
    /// The service of a member target.
    public var targetService: String?
    /// The directors watched, in the pair's order.
    public var directors: [String]
    /// When the drill began.
    public var startedAt: EpochMillis
    /// When it ended.
    public var endedAt: EpochMillis
    /// The probe's report (its series, errors, held connection); `nil` if it never ran.
    public var probe: StressReport?
    /// The directors' samples, in time order.
    public var samples: [DirectorSample]
    /// The marks, in time order.
    public var marks: [DrillMark]
    /// The hooks run.
    public var hooks: [HookRun]
    /// Why the drill stopped before its verdict, if it did.
    public var aborted: String?

    /// Creates a record.
    public init(kind: DrillKind, label: String, site: String, service: String, probeTarget: String, target: String,
                targetService: String?, directors: [String], startedAt: EpochMillis, endedAt: EpochMillis,
                probe: StressReport?, samples: [DirectorSample], marks: [DrillMark], hooks: [HookRun], aborted: String? = nil) {
        self.kind = kind; self.label = label; self.site = site; self.service = service; self.probeTarget = probeTarget
        self.target = target; self.targetService = targetService; self.directors = directors; self.startedAt = startedAt
        self.endedAt = endedAt; self.probe = probe; self.samples = samples; self.marks = marks; self.hooks = hooks; self.aborted = aborted
    }

    /// The first mark of `kind`.
    public func mark(_ kind: DrillMark.Kind) -> DrillMark? { marks.first { $0.kind == kind } }

    /// The probe's t = 0 on the wall clock.
    public var probeStart: EpochMillis? { probe?.startedAtEpochMillis ?? mark(.probeStart)?.at }
}
