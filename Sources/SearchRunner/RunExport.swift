import Foundation
import Metrics
import Store

/// One exported candidate: the columns of `candidates.csv` and the keys of `candidates.json` (absent when empty):
/// its id, generation and status, one column per stored metric of the table (by the metric's key, in the table's
/// order), then the rest of its record.
public struct ExportRow: Encodable, Equatable, Sendable {
    public var id: Int64
    public var generation: Int
    public var status: CandidateStatus
    /// The candidate's figures; the export writes those of `table`.
    public var metrics: MetricValues
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var stem: Int
    public var head: Int
    public var onFrontier: Bool
    /// Grid runs only.
    public var alpha: Double?
    public var beta: Double?
    public var gamma: Double?
    public var arch: String
    public var reason: String?
    /// The kept weights (`nas --keep-checkpoints`).
    public var checkpoint: String?
    /// Where a trained candidate was computed (CPU, threads, kernel paths).
    public var machine: String?
    /// Successive halving: the highest rung reached (its figures are the candidate's); 0 otherwise.
    public var rung: Int
    /// The space's choice indices (a JSON array), as the strategy proposed it: with the space, the candidate again.
    public var genotype: String
    /// The metrics it exports.
    public let table: MetricTable

    /// The columns after the metrics.
    static let recordColumns = ["width", "depth", "resolution", "stem", "head", "on_frontier", "alpha", "beta", "gamma", "arch", "reason",
                                "checkpoint", "machine", "rung", "genotype"]

    /// The column names, in CSV order, for a table's metrics.
    public static func columns(for table: MetricTable) -> [String] { ["id", "generation", "status"] + table.stored.map(\.key) + recordColumns }

    /// The column names of an export of efsearch's metrics.
    public static let columns = columns(for: .standard)

    public init(_ candidate: CandidateRecord, table: MetricTable = .standard) throws {
        // Grid candidates keep their coordinates in `extra`; proxy-check candidates keep their setting there.
        let point = candidate.extra.flatMap { try? GridPointCoding.decode($0) }
        id = candidate.id!
        generation = candidate.generation
        status = candidate.status
        metrics = candidate.metrics
        width = candidate.width
        depth = candidate.depth
        resolution = candidate.resolution
        stem = candidate.stem
        head = candidate.head
        onFrontier = candidate.onFrontier
        alpha = point?.alpha
        beta = point?.beta
        gamma = point?.gamma
        arch = candidate.arch
        reason = candidate.reason
        checkpoint = candidate.checkpoint
        machine = candidate.machine
        rung = candidate.rung
        genotype = candidate.genotype
        self.table = table
    }

    /// A metric's value as the export writes it: whole-number metrics as integers.
    static func text(_ value: Double, _ metric: Metric) -> String {
        if metric.type == .integer, let whole = Int64(exactly: value) { return "\(whole)" }
        return "\(value)"
    }

    /// The CSV fields in column order (empty for absent values; quoted where needed).
    public var csvFields: [String] {
        func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "" }
        let figures = table.stored.map { metric in metrics[metric].map { ExportRow.text($0, metric) } ?? "" }
        let fields: [String] = ["\(id)", "\(generation)", status.rawValue] + figures + [
            "\(width)", "\(depth)", "\(resolution)", "\(stem)", "\(head)", "\(onFrontier)", text(alpha), text(beta), text(gamma), arch, text(reason),
            text(checkpoint), text(machine), "\(rung)", genotype,
        ]
        return fields.map(RunExport.csvQuoted)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ColumnKey.self)
        try c.encode(id, forKey: ColumnKey("id"))
        try c.encode(generation, forKey: ColumnKey("generation"))
        try c.encode(status, forKey: ColumnKey("status"))
        for metric in table.stored {
            guard let value = metrics[metric] else { continue }
            if metric.type == .integer, let whole = Int64(exactly: value) { try c.encode(whole, forKey: ColumnKey(metric.key)) } else { try c.encode(value, forKey: ColumnKey(metric.key)) }
        }
        try c.encode(width, forKey: ColumnKey("width"))
        try c.encode(depth, forKey: ColumnKey("depth"))
        try c.encode(resolution, forKey: ColumnKey("resolution"))
        try c.encode(stem, forKey: ColumnKey("stem"))
        try c.encode(head, forKey: ColumnKey("head"))
        try c.encode(onFrontier, forKey: ColumnKey("on_frontier"))
        try c.encodeIfPresent(alpha, forKey: ColumnKey("alpha"))
        try c.encodeIfPresent(beta, forKey: ColumnKey("beta"))
        try c.encodeIfPresent(gamma, forKey: ColumnKey("gamma"))
        try c.encode(arch, forKey: ColumnKey("arch"))
        try c.encodeIfPresent(reason, forKey: ColumnKey("reason"))
        try c.encodeIfPresent(checkpoint, forKey: ColumnKey("checkpoint"))
        try c.encodeIfPresent(machine, forKey: ColumnKey("machine"))
        try c.encode(rung, forKey: ColumnKey("rung"))
        try c.encode(genotype, forKey: ColumnKey("genotype"))
    }
}

/// One rung result of successive halving: a row of `observations.csv` / `observations.json`.
public struct ExportedObservation: Codable, Equatable, Sendable {
    public var candidateId: Int64
    public var rung: Int
    public var epochs: Int
    public var accuracy: Double
    public var top5: Double
    public var loss: Double
    public var trainSeconds: Double
    public var worker: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case candidateId = "candidate_id", rung, epochs, accuracy, top5, loss
        case trainSeconds = "train_seconds", worker
    }

    public static let columns = CodingKeys.allCases.map(\.stringValue)

    public init(_ record: ObservationRecord) {
        candidateId = record.candidateId
        rung = record.rung
        epochs = record.epochs
        accuracy = record.accuracy
        top5 = record.top5
        loss = record.loss
        trainSeconds = record.trainSeconds
        worker = record.worker
    }

    public var csvFields: [String] {
        ["\(candidateId)", "\(rung)", "\(epochs)", "\(accuracy)", "\(top5)", "\(loss)", "\(trainSeconds)", worker ?? ""].map(RunExport.csvQuoted)
    }
}

/// The run as `run.json` describes it.
public struct ExportedRun: Encodable {
    public var name: String
    public var command: String
    public var config: RunConfiguration?
    public var seed: Int64
    public var version: String
    public var machine: String
    public var status: RunStatus
    public var createdAt: Date
    public var candidates: Int
    public var frontier: Int
    public var columns: [String]

    enum CodingKeys: String, CodingKey {
        case name, command, config, seed, version, machine, status, candidates, frontier, columns
        case createdAt = "created_at"
    }
}

/// CSV and JSON exports of a run: `candidates`, `frontier`, `observations` (successive halving's rungs) and `run.json`.
public enum RunExport {
    public enum Format: String, CaseIterable, Sendable { case csv, json }

    /// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
    public static func csvQuoted(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func csv(_ rows: [ExportRow], table: MetricTable = .standard) -> String {
        csv(columns: ExportRow.columns(for: table), rows.map(\.csvFields))
    }

    /// A header line and one line per row of already quoted fields.
    static func csv(columns: [String], _ rows: [[String]]) -> String {
        ([columns.joined(separator: ",")] + rows.map { $0.joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(value)
    }

    /// Writes the files into `directory` (created if needed).
    public static func write(store: any Store, run: RunRecord, configuration: RunConfiguration?, format: Format, directory: String,
                             metrics table: MetricTable = .standard) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(location: directory, message: "cannot create the export directory: \(error.localizedDescription)")
        }
        let rows = try store.candidates(runId: run.id!).map { try ExportRow($0, table: table) }
        let frontier = rows.filter(\.onFrontier)
        func write(_ name: String, _ data: Data) throws {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
            do { try data.write(to: url, options: .atomic) } catch {
                throw StoreError(location: url.path, message: "cannot write the export: \(error.localizedDescription)")
            }
        }
        for (name, part) in [("candidates", rows), ("frontier", frontier)] {
            switch format {
            case .csv: try write("\(name).csv", Data(csv(part, table: table).utf8))
            case .json: try write("\(name).json", try json(part) + Data("\n".utf8))
            }
        }
        let observations = try store.observations(runId: run.id!).map(ExportedObservation.init)
        if !observations.isEmpty {
            switch format {
            case .csv: try write("observations.csv", Data(csv(columns: ExportedObservation.columns, observations.map(\.csvFields)).utf8))
            case .json: try write("observations.json", try json(observations) + Data("\n".utf8))
            }
        }
        let info = ExportedRun(name: run.name, command: run.command, config: configuration, seed: run.seed, version: run.version,
                               machine: run.machine, status: run.status, createdAt: run.createdAt, candidates: rows.count,
                               frontier: frontier.count, columns: ExportRow.columns(for: table))
        try write("run.json", try json(info) + Data("\n".utf8))
    }
}

/// The points of a grid run, ranked.
public enum GridRanking {
    /// A grid run's points, ranked (`ranked(_:losses:)` with the losses of its stored observations when the plan
    /// ranks by loss).
    public static func ranked(store: any Store, runId: Int64, plan: GridPlan) throws -> [(candidate: CandidateRecord, point: GridPoint)] {
        try ranked(store.candidates(runId: runId), losses: plan.rankingLosses { losses(try store.observations(runId: runId)) })
    }

    /// The best point of the grid run `name` and the run's base network (`scale --from-run`).
    public static func best(of name: String, in catalog: RunCatalog) throws -> (point: GridPoint, base: String) {
        let (record, configuration) = try catalog.open(name)
        guard case .grid(let plan) = configuration.plan else {
            throw RunError(store: catalog.store.location, run: name, message: "is a \(configuration.plan.kind) run; --from-run takes a grid run")
        }
        guard let best = try ranked(store: catalog.store, runId: record.id!, plan: plan).first else {
            throw RunError(store: catalog.store.location, run: name, message: "has no grid points")
        }
        return (best.point, plan.base)
    }

    /// Each candidate's validation loss at its highest observed rung.
    public static func losses(_ observations: [ObservationRecord]) -> [Int64: Double] {
        var result: [Int64: (rung: Int, loss: Double)] = [:]
        for observation in observations where result[observation.candidateId].map({ $0.rung < observation.rung }) ?? true {
            result[observation.candidateId] = (observation.rung, observation.loss)
        }
        return result.mapValues(\.loss)
    }

    /// Grid candidates with their coordinates: under successive halving the highest rung first; then the lower
    /// validation loss (when `losses` has the candidate's), then the better accuracy (then fewer MACs, then the
    /// older); unfinished and failed ones last. A candidate's twins (points with the same proxy network) follow it
    /// with its figures. The loss ranks first because it carries the signal a short training has: after an epoch
    /// or two, accuracies on the proxy task are close to chance and their order changes with the seed, while
    /// the cross-entropy already orders the points (see the README's grid section).
    public static func ranked(_ candidates: [CandidateRecord], losses: [Int64: Double] = [:]) throws -> [(candidate: CandidateRecord, point: GridPoint)] {
        let sorted = try candidates.map { ($0, try GridPointCoding.decode($0.extra)) }.sorted { a, b in
            let (x, y) = (a.0, b.0)
            let rungs = (x.accuracy == nil ? -1 : x.rung, y.accuracy == nil ? -1 : y.rung)
            if rungs.0 != rungs.1 { return rungs.0 > rungs.1 }
            let (lx, ly) = (x.accuracy == nil ? nil : losses[x.id!], y.accuracy == nil ? nil : losses[y.id!])
            if let lx, let ly, lx != ly { return lx < ly }
            if (lx == nil) != (ly == nil) { return lx != nil }
            return (x.accuracy ?? -1, -x.macs, -x.id!) > (y.accuracy ?? -1, -y.macs, -y.id!)
        }
        return sorted.flatMap { candidate, point in
            var first = point
            first.twins = nil
            return [(candidate, first)] + (point.twins ?? []).map { (candidate, $0) }
        }
    }
}
