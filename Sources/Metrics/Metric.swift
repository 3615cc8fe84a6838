// A candidate's figures, declared once.
//
// `MetricTable.standard` is the one list of what a candidate can be measured by. The stores derive their
// columns from it (a metric added to it gets its column by a migration named after it), the export writes one
// column per metric in its order, the report offers every metric as an axis and a table column, and objectives,
// constraints and rewards name metrics by `name`. Adding a metric is a line in that table plus the code that
// computes it (docs/contributing.md, "Adding a metric").

/// Which way is better.
public enum Direction: String, Sendable, Codable {
    case minimize = "min", maximize = "max"
}

/// One figure of a candidate: what it is called, how it is kept, which way is better.
public struct Metric: Sendable, Hashable, CustomStringConvertible {
    /// How the stores keep the values: whole numbers (counts, bytes) or reals.
    public enum ValueType: String, Sendable { case integer, real }

    /// Where the value comes from.
    public enum Storage: Sendable, Hashable {
        /// Its own column of the candidates table.
        case column(String)
        /// Not stored: the first of these (stored) metrics that a candidate has.
        case firstOf([Metric])
    }

    /// What objectives, constraints, rewards and the report call it: `macs`, `latency`, `energy_mj`.
    public let name: String
    /// Its column in `candidates.csv` and key in the JSON exports (the name unless given).
    public let key: String
    public let type: ValueType
    /// Its unit, as the report's axis shows it (`ms`, `bytes`; empty for counts and scores).
    public let unit: String
    /// The better way, unless an objective says otherwise.
    public let direction: Direction
    /// The report's label for an axis or column.
    public let label: String
    public let storage: Storage
    /// Every candidate has a value (a cost-model figure; a NOT NULL column): false for trained and optional figures.
    public let required: Bool
    /// The report shows the value multiplied by this (100 for a fraction shown as a percentage).
    public let displayScale: Double
    /// The named, literal store migration that created the column; nil for a column that the stores add by the
    /// migration `metric <name>` that this table implies (every metric added after the table was introduced).
    public let migration: String?
    /// The cost model gives it from the architecture alone, for any candidate before it is evaluated (free to
    /// compute: model-based strategies take it exactly and model only the others).
    public let fromCostModel: Bool

    public init(name: String, key: String? = nil, type: ValueType = .real, unit: String = "", direction: Direction, label: String? = nil,
                storage: Storage? = nil, required: Bool = false, displayScale: Double = 1, migration: String? = nil, fromCostModel: Bool = false) {
        self.name = name
        self.key = key ?? name
        self.type = type
        self.unit = unit
        self.direction = direction
        self.label = label ?? (unit.isEmpty ? name : "\(name) \(unit)")
        self.storage = storage ?? .column(name)
        self.required = required
        self.displayScale = displayScale
        self.migration = migration
        self.fromCostModel = fromCostModel
    }

    /// Its column of the candidates table, when it is stored.
    public var column: String? {
        if case .column(let column) = storage { return column }
        return nil
    }

    /// The name of the migration that adds its column (the literal one for the first metrics).
    public var migrationName: String { migration ?? "metric \(name)" }

    public var description: String { name }

    // Metrics are the same when their names are.
    public static func == (a: Metric, b: Metric) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// The metrics a run knows, in the export's column order.
public struct MetricTable: Sendable, Equatable {
    public let metrics: [Metric]

    /// A table of these metrics; names, keys and columns must be unique, and a `firstOf` metric's sources stored.
    public init(_ metrics: [Metric]) {
        let names = metrics.map(\.name), keys = metrics.map(\.key), columns = metrics.compactMap(\.column)
        precondition(Set(names).count == names.count && Set(keys).count == keys.count && Set(columns).count == columns.count,
                     "metric names, keys and columns must be unique")
        for metric in metrics {
            if case .firstOf(let sources) = metric.storage {
                precondition(sources.allSatisfy { $0.column != nil }, "metric \(metric.name) is the first of metrics that are not stored")
            }
        }
        self.metrics = metrics
    }

    /// This table with `metric` appended.
    public func adding(_ metric: Metric) -> MetricTable { MetricTable(metrics + [metric]) }

    /// The metric called `name` (any case), if the table has it.
    public func metric(named name: String) -> Metric? {
        let lowered = name.lowercased()
        return metrics.first { $0.name == lowered }
    }

    /// The metrics that have a column, in order.
    public var stored: [Metric] { metrics.filter { $0.column != nil } }

    /// "accuracy, top5, ... or naswot", for messages.
    public var names: String {
        let all = metrics.map(\.name)
        return all.dropLast().joined(separator: ", ") + " or " + all.last!
    }

    /// The metrics of efsearch. The first eleven columns come from the stores' literal migrations v1-v4 (their
    /// column names are those of the first schema); append a new metric at the end with no `migration`.
    public static let standard = MetricTable([
        .accuracy, .top5, .params, .macs, .latency, .latencyEstimate, .latencyMeasured, .latencyPredicted, .memory, .trainSeconds,
        .synflow, .naswot, .supernet,
    ])
}

extension Metric {
    static let v1 = "v1: runs and candidates", v2 = "v2: predicted latency, kept checkpoints, machine", v4 = "v4: zero-cost proxy scores"

    /// Top-1 accuracy on the proxy task's test set, a fraction (trained candidates).
    public static let accuracy = Metric(name: "accuracy", direction: .maximize, label: "accuracy %", displayScale: 100, migration: v1)
    public static let top5 = Metric(name: "top5", direction: .maximize, label: "top-5 accuracy %", displayScale: 100, migration: v1)
    /// Parameters, counted as timm counts them.
    public static let params = Metric(name: "params", type: .integer, direction: .minimize, required: true, migration: v1, fromCostModel: true)
    /// Multiply-accumulates of one image's forward pass, as fvcore counts them.
    public static let macs = Metric(name: "macs", type: .integer, direction: .minimize, label: "MACs", required: true, migration: v1, fromCostModel: true)
    /// The best latency figure a candidate has: measured, else the calibrated model's, else the roofline estimate.
    public static let latency = Metric(name: "latency", key: "latency", unit: "ms", direction: .minimize,
                                       label: "latency ms (measured, else predicted, else roofline)",
                                       storage: .firstOf([.latencyMeasured, .latencyPredicted, .latencyEstimate]))
    public static let latencyEstimate = Metric(name: "latency_estimate", key: "latency_estimate_ms", unit: "ms", direction: .minimize,
                                               label: "roofline latency ms", storage: .column("latencyEstimateMs"), required: true, migration: v1,
                                               fromCostModel: true)
    /// A timed forward pass on the engine (`--measure-latency`).
    public static let latencyMeasured = Metric(name: "latency_measured", key: "latency_measured_ms", unit: "ms", direction: .minimize,
                                               label: "measured latency ms", storage: .column("latencyMeasuredMs"), migration: v1)
    /// The calibrated latency model's prediction, batch 1.
    public static let latencyPredicted = Metric(name: "latency_predicted", key: "latency_predicted_ms", unit: "ms", direction: .minimize,
                                                label: "predicted latency ms", storage: .column("latencyPredictedMs"), migration: v2,
                                                fromCostModel: true)
    /// Peak activation and weight memory of inference, bytes.
    public static let memory = Metric(name: "memory", key: "memory_bytes", type: .integer, unit: "bytes", direction: .minimize,
                                      label: "peak memory bytes", storage: .column("memoryBytes"), required: true, migration: v1,
                                      fromCostModel: true)
    public static let trainSeconds = Metric(name: "train_seconds", unit: "s", direction: .minimize, label: "training seconds",
                                            storage: .column("trainSeconds"), migration: v1)
    /// Zero-cost proxies of the untrained network (ln synflow, NASWOT's log |det K|): higher predicts better accuracy.
    public static let synflow = Metric(name: "synflow", direction: .maximize, label: "synflow (ln)", migration: v4)
    public static let naswot = Metric(name: "naswot", direction: .maximize, label: "NASWOT log|K|", migration: v4)
    /// Accuracy with weights inherited from a supernet (batch norms recalibrated): `--fidelity supernet:FILE`,
    /// `proxy-check --supernet FILE`. A fraction.
    public static let supernet = Metric(name: "supernet", direction: .maximize, label: "supernet accuracy %", displayScale: 100)
}

/// A candidate's values, by metric; a metric it has no value for is absent.
public struct MetricValues: Sendable, Hashable {
    /// Values by column name (the way the stores hold them).
    public private(set) var byColumn: [String: Double]

    public init(byColumn: [String: Double] = [:]) { self.byColumn = byColumn }

    /// A whole-number metric's value as an integer (nil when absent, or not a whole number an Int holds).
    public func integer(_ metric: Metric) -> Int? { self[metric].flatMap { Int(exactly: $0) } }

    /// These stored metrics' values: `MetricValues([.macs: 3.9e8, .accuracy: 0.7])`.
    public init(_ values: [Metric: Double]) {
        byColumn = [:]
        for (metric, value) in values { self[metric] = value }
    }

    /// A stored metric's value; setting one of a metric that is not stored is a programming error.
    public subscript(metric: Metric) -> Double? {
        get {
            switch metric.storage {
            case .column(let column): return byColumn[column]
            case .firstOf(let sources): return sources.lazy.compactMap { self[$0] }.first
            }
        }
        set {
            guard let column = metric.column else { preconditionFailure("metric \(metric.name) is not stored") }
            byColumn[column] = newValue
        }
    }
}
