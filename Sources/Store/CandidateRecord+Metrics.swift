import Foundation
import Metrics

/// A key known only at run time: a column or an export's column (a metric's).
public struct ColumnKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ name: String) { stringValue = name }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// A candidate's columns: its own fields by name, and one column per stored metric (whatever the table), so that
/// the stores and the JSON of a record follow the metric table without a list of their own.
extension CandidateRecord {
    /// The columns that are fields of the record, not metrics.
    public static let fieldColumns = [
        "id", "runId", "key", "generation", "genotype", "extra", "arch", "width", "depth", "resolution", "stem", "head", "checkpoint", "machine",
        "seed", "rung", "status", "reason", "worker", "heartbeatAt", "createdAt", "finishedAt", "onFrontier",
    ]
    static let fieldColumnSet = Set(fieldColumns)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ColumnKey.self)
        func key(_ name: String) -> ColumnKey { ColumnKey(name) }
        self.init(runId: try c.decode(Int64.self, forKey: key("runId")), key: try c.decode(String.self, forKey: key("key")),
                  generation: try c.decode(Int.self, forKey: key("generation")), genotype: try c.decode(String.self, forKey: key("genotype")),
                  extra: try c.decodeIfPresent(String.self, forKey: key("extra")), arch: try c.decode(String.self, forKey: key("arch")),
                  width: try c.decode(Double.self, forKey: key("width")), depth: try c.decode(Double.self, forKey: key("depth")),
                  resolution: try c.decode(Int.self, forKey: key("resolution")), stem: try c.decode(Int.self, forKey: key("stem")),
                  head: try c.decode(Int.self, forKey: key("head")), seed: try c.decode(Int64.self, forKey: key("seed")))
        id = try c.decodeIfPresent(Int64.self, forKey: key("id"))
        checkpoint = try c.decodeIfPresent(String.self, forKey: key("checkpoint"))
        machine = try c.decodeIfPresent(String.self, forKey: key("machine"))
        rung = try c.decode(Int.self, forKey: key("rung"))
        status = try c.decode(CandidateStatus.self, forKey: key("status"))
        reason = try c.decodeIfPresent(String.self, forKey: key("reason"))
        worker = try c.decodeIfPresent(String.self, forKey: key("worker"))
        heartbeatAt = try c.decodeIfPresent(Date.self, forKey: key("heartbeatAt"))
        createdAt = try c.decode(Date.self, forKey: key("createdAt"))
        finishedAt = try c.decodeIfPresent(Date.self, forKey: key("finishedAt"))
        onFrontier = try c.decode(Bool.self, forKey: key("onFrontier"))
        // Every other column is a metric: a number or null.
        var values: [String: Double] = [:]
        for column in c.allKeys where !Self.fieldColumnSet.contains(column.stringValue) {
            if let value = try c.decodeIfPresent(Double.self, forKey: column) { values[column.stringValue] = value }
        }
        metrics = MetricValues(byColumn: values)
    }

    /// Writes every field and metric; the standard table's metrics that the candidate lacks are written as null,
    /// so that an update clears them.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ColumnKey.self)
        func key(_ name: String) -> ColumnKey { ColumnKey(name) }
        try c.encodeIfPresent(id, forKey: key("id"))
        try c.encode(runId, forKey: key("runId"))
        try c.encode(self.key, forKey: key("key"))
        try c.encode(generation, forKey: key("generation"))
        try c.encode(genotype, forKey: key("genotype"))
        try c.encodeIfPresent(extra, forKey: key("extra"))
        try c.encode(arch, forKey: key("arch"))
        try c.encode(width, forKey: key("width"))
        try c.encode(depth, forKey: key("depth"))
        try c.encode(resolution, forKey: key("resolution"))
        try c.encode(stem, forKey: key("stem"))
        try c.encode(head, forKey: key("head"))
        try c.encodeIfPresent(checkpoint, forKey: key("checkpoint"))
        try c.encodeIfPresent(machine, forKey: key("machine"))
        try c.encode(seed, forKey: key("seed"))
        try c.encode(rung, forKey: key("rung"))
        try c.encode(status, forKey: key("status"))
        try c.encodeIfPresent(reason, forKey: key("reason"))
        try c.encodeIfPresent(worker, forKey: key("worker"))
        try c.encodeIfPresent(heartbeatAt, forKey: key("heartbeatAt"))
        try c.encode(createdAt, forKey: key("createdAt"))
        try c.encodeIfPresent(finishedAt, forKey: key("finishedAt"))
        try c.encode(onFrontier, forKey: key("onFrontier"))
        for metric in MetricTable.standard.stored where metrics[metric] == nil { try c.encodeNil(forKey: key(metric.column!)) }
        // Whole numbers in an INTEGER column are stored as integers by SQLite's column affinity.
        for (column, value) in metrics.byColumn.sorted(by: { $0.key < $1.key }) { try c.encode(value, forKey: key(column)) }
    }

    // The metrics every part of efsearch names, typed. A metric added to the table needs no accessor:
    // `candidate.metrics[.energy]` reads and writes it.
    public var params: Int { get { metrics.integer(.params) ?? 0 } set { metrics[.params] = Double(newValue) } }
    public var macs: Int { get { metrics.integer(.macs) ?? 0 } set { metrics[.macs] = Double(newValue) } }
    public var memoryBytes: Int { get { metrics.integer(.memory) ?? 0 } set { metrics[.memory] = Double(newValue) } }
    public var latencyEstimateMs: Double { get { metrics[.latencyEstimate] ?? 0 } set { metrics[.latencyEstimate] = newValue } }
    public var latencyMeasuredMs: Double? { get { metrics[.latencyMeasured] } set { metrics[.latencyMeasured] = newValue } }
    public var latencyPredictedMs: Double? { get { metrics[.latencyPredicted] } set { metrics[.latencyPredicted] = newValue } }
    public var accuracy: Double? { get { metrics[.accuracy] } set { metrics[.accuracy] = newValue } }
    public var top5: Double? { get { metrics[.top5] } set { metrics[.top5] = newValue } }
    public var trainSeconds: Double? { get { metrics[.trainSeconds] } set { metrics[.trainSeconds] = newValue } }
    public var synflow: Double? { get { metrics[.synflow] } set { metrics[.synflow] = newValue } }
    public var naswot: Double? { get { metrics[.naswot] } set { metrics[.naswot] = newValue } }
    public var supernet: Double? { get { metrics[.supernet] } set { metrics[.supernet] = newValue } }
}

extension CandidateRecord {
    /// The record as indented JSON with sorted keys and ISO 8601 dates (`efsearch show`).
    public func prettyJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
