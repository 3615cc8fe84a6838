import Architecture
import ArgumentParser
import Cost
import Foundation
import Search
import SearchRunner
import Store
import Training

/// `--store`, shared by every command that reads or writes runs.
struct StoreOptions: ParsableArguments {
    @Option(help: "The SQLite store.")
    var store: String = "results/efsearch.sqlite"

    func open() throws -> Store {
        do { return try Store(path: store) } catch let error as StoreError { throw StoreFailure(error) }
    }

    /// A stored run, marked running again.
    func resume(_ name: String, in store: Store) throws -> RunRecord {
        let record = try run(name, in: store)
        try store.setRunStatus(record.id!, "running")
        print("resuming run \(record.name)")
        return record
    }

    /// Stores a new run with its configuration, after printing `summary` under its name.
    func create(_ name: String?, config: SearchConfig, in store: Store, summary: String) throws -> RunRecord {
        let name = name ?? generatedRunName()
        print("run \(name) (store \(store.path)): \(summary)")
        return try store.createRun(RunRecord(
            name: name, command: CommandLine.arguments.joined(separator: " "),
            config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
            seed: Int64(bitPattern: config.seed), version: EfsearchVersion.current, machine: machineDescription()))
    }

    func run(_ name: String, in store: Store) throws -> RunRecord {
        guard let run = try store.run(named: name) else {
            let known = (try? store.runs().map(\.name)) ?? []
            throw StoreFailure(StoreError(path: store.path, message: "no run named \"\(name)\"\(known.isEmpty ? "" : "; runs: " + known.joined(separator: ", "))"))
        }
        return run
    }
}

/// A store problem reported as bad input (exit code 2).
struct StoreFailure: UserInputError {
    var error: StoreError
    init(_ error: StoreError) { self.error = error }
    var description: String { error.description }
}

/// The proxy task that `--fidelity train` uses (documented defaults that finish in minutes here).
struct ProxyOptions: ParsableArguments {
    @Option(help: "Proxy dataset (synthetic, synthetic:N, cifar10:DIR, ...).") var dataset: String = "synthetic:3000"
    @Option(help: "Train on this many proxy images (class-balanced).") var subset: Int?
    @Option(help: "Proxy epochs per candidate.") var epochs: Int = 3
    @Option(help: "Proxy batch size.") var batch: Int = 64
    @Option(help: "Proxy learning rate (SGD, cosine).") var lr: Float = 0.05
    @Option(help: "Threads per worker (default: all cores).") var threads: Int?

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs \(epochs) must be at least 1") }
        if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
        if !(lr > 0) { throw ValidationError("--lr \(lr) must be greater than 0") }
        // ArgumentParser reports only ValidationError from validate() as a usage error (exit 2).
        do { _ = try DatasetSpec(parsing: dataset) } catch { throw ValidationError("\(error)") }
    }
}

func generatedRunName() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    formatter.timeZone = TimeZone(identifier: "UTC")
    return "run-" + formatter.string(from: Date()) + "-" + String(ProcessInfo.processInfo.processIdentifier % 10_000)
}

func machineDescription() -> String {
    "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / (1 << 30)) GiB, \(ProcessInfo.processInfo.operatingSystemVersionString)"
}

extension Efsearch {
    /// `efsearch nas`: architecture search over a search-space file.
    struct Nas: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search architectures: sample a search space, evaluate candidates, keep all of them and the Pareto frontier in SQLite.",
            discussion: """
            Example:
              efsearch nas --space searchspaces/tiny.yaml --strategy evolution --budget 12 --objectives accuracy,macs --seed 1
              efsearch worker --run NAME          # more processes on the same run (same store)
              efsearch nas --resume NAME          # continue after Ctrl-C or a crash
            """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var proxy: ProxyOptions
        @Option(help: "Search-space file (YAML or JSON).") var space: String?
        @Option(help: "grid, random, sobol, evolution or nsga2.") var strategy: String = "evolution"
        @Option(help: "Candidates to evaluate.") var budget: Int = 12
        @Option(help: "Objectives, comma-separated: accuracy, macs, params, latency, memory, each optionally :min or :max.") var objectives: String?
        @Option(name: .customLong("constraint"), help: "A constraint such as macs<=400M (repeatable).") var constraints: [String] = []
        @Option(help: "MnasNet reward ACC * (X / T)^w as METRIC:T:W or METRIC:T:ALPHA:BETA, e.g. macs:400M:-0.07.") var reward: String?
        @Option(help: "estimate (cost model only) or train (short training on the proxy).") var fidelity: String = "train"
        @Option(help: "Latency: estimate (roofline) or measured (timed forward passes; with --fidelity train).") var latency: String = "estimate"
        @Option(help: "Seed of the search and of every candidate's training.") var seed: UInt64 = 0
        @Option(help: "Candidates per round (default: 4 when training, 1000 when estimating).") var generation: Int?
        @Option(help: "Evolution / NSGA-II population.") var population: Int = 8
        @Option(help: "Evolution sample size.") var sample: Int = 3
        @Option(help: "Per-choice mutation probability.") var mutation: Double = 0.1
        @Option(name: .customLong("run"), help: "Name of the run (default: generated).") var runName: String?
        @Option(help: "Continue the run with this name.") var resume: String?
        @Option(help: "Seconds without a heartbeat before another worker takes a candidate over.") var grace: Double = 60
        @Flag(help: "Print the frontier as JSON lines at the end.") var json = false

        func validate() throws {
            if resume == nil && space == nil { throw ValidationError("--space is required (or --resume NAME)") }
            if budget <= 0 { throw ValidationError("--budget \(budget) must be greater than 0") }
            if StrategyKind(rawValue: strategy) == nil { throw ValidationError("--strategy \(strategy): expected grid, random, sobol, evolution or nsga2") }
            if fidelity != "estimate" && fidelity != "train" { throw ValidationError("--fidelity \(fidelity): expected estimate or train") }
            if latency != "estimate" && latency != "measured" { throw ValidationError("--latency \(latency): expected estimate or measured") }
            if latency == "measured" && fidelity != "train" { throw ValidationError("--latency measured needs --fidelity train") }
            if let generation, generation < 1 { throw ValidationError("--generation \(generation) must be at least 1") }
            if population < 2 { throw ValidationError("--population \(population) must be at least 2") }
            if sample < 1 { throw ValidationError("--sample \(sample) must be at least 1") }
            if !(mutation >= 0 && mutation <= 1) { throw ValidationError("--mutation \(mutation) must be in [0, 1]") }
            if !(grace > 0) { throw ValidationError("--grace \(grace) must be greater than 0") }
        }

        func run() throws {
            let store = try storeOptions.open()
            let record: RunRecord
            if let resume {
                record = try storeOptions.resume(resume, in: store)
            } else {
                let objectiveList = (objectives ?? (fidelity == "train" ? "accuracy,macs" : "macs,params"))
                    .split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                let parsedObjectives = try objectiveList.map(Objective.init(parsing:))
                if fidelity == "estimate", parsedObjectives.contains(where: { $0.metric == .accuracy }) || reward != nil {
                    throw ValidationError("--fidelity estimate has no accuracy: use objectives macs, params, latency, memory and no --reward")
                }
                for constraint in constraints { _ = try Constraint(parsing: constraint) }
                if let reward { _ = try Reward(parsing: reward) }
                let searchSpace = try SearchSpace.load(path: space!)
                let config = SearchConfig(
                    space: space!, strategy: strategy, budget: budget, objectives: objectiveList, constraints: constraints, reward: reward,
                    fidelity: fidelity, latency: latency, seed: seed, generation: generation ?? (fidelity == "train" ? 4 : 1000),
                    population: population, sample: sample, mutation: mutation, dataset: proxy.dataset, subset: proxy.subset,
                    epochs: proxy.epochs, batch: proxy.batch, lr: proxy.lr, threads: proxy.threads ?? ProcessInfo.processInfo.activeProcessorCount)
                record = try storeOptions.create(runName, config: config, in: store, summary: "\(searchSpace.name), \(searchSpace.dimensions.filter { $0.count > 1 }.count) varying choices, about \(Format.engineering(searchSpace.size)) candidates; \(strategy), budget \(budget), fidelity \(fidelity)")
            }
            let driver = try SearchDriver(store: store, run: record, grace: grace, machine: cachedMachine(threads: record)) { Console.note($0) }
            SignalFlag.install()
            try driver.search()
            print()
            try FrontierReport.print(store: store, run: record, json: json)
        }
    }

    /// `efsearch worker`: one more process evaluating a run's pending candidates.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Join a run: claim pending candidates and evaluate them until the run is finished.")

        @OptionGroup var storeOptions: StoreOptions
        @Option(name: .customLong("run"), help: "The run to work on.") var runName: String
        @Option(help: "Seconds without a heartbeat before a candidate is taken over.") var grace: Double = 60
        @Option(help: "Stop after this many seconds without work (0: wait for the run to finish).") var idle: Double = 0

        func run() throws {
            let store = try storeOptions.open()
            let record = try storeOptions.run(runName, in: store)
            let driver = try SearchDriver(store: store, run: record, grace: grace, machine: cachedMachine(threads: record)) { Console.note($0) }
            var idleSince = Date()
            while true {
                if try driver.workOne() {
                    idleSince = Date()
                    continue
                }
                let status = try store.run(named: runName)?.status ?? "done"
                if status != "running" { break }
                if idle > 0 && Date().timeIntervalSince(idleSince) > idle { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            Console.note("worker done: run \(runName) is \(try store.run(named: runName)?.status ?? "gone")")
        }
    }

    /// `efsearch runs`: the runs in a store.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the runs in a store.")
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            let store = try storeOptions.open()
            var rows: [[String]] = []
            for run in try store.runs() {
                let counts = try store.counts(runId: run.id!)
                let config = try? JSONDecoder().decode(SearchConfig.self, from: Data(run.config.utf8))
                rows.append([run.name, run.status, config.map { "\($0.kind) \($0.strategy)" } ?? "", "\(counts["done", default: 0])",
                             "\(counts["failed", default: 0])", "\(counts["pending", default: 0] + counts["running", default: 0])",
                             ISO8601DateFormatter().string(from: run.createdAt)])
            }
            print(Format.table(["run", "status", "kind", "done", "failed", "open", "created"], rows, leftColumns: 3))
        }
    }

    /// `efsearch frontier NAME`.
    struct Frontier: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a run's Pareto frontier.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.") var name: String
        @Flag(help: "JSON lines.") var json = false

        func run() throws {
            let store = try storeOptions.open()
            try FrontierReport.print(store: store, run: try storeOptions.run(name, in: store), json: json)
        }
    }

    /// `efsearch show ID`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one candidate.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The candidate id.") var id: Int64

        func run() throws {
            let store = try storeOptions.open()
            guard let candidate = try store.candidate(id: id) else {
                throw StoreFailure(StoreError(path: store.path, message: "no candidate \(id)"))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(candidate), as: UTF8.self))
        }
    }

    /// `efsearch export NAME`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's candidates.csv, frontier.csv and run.json (or .json tables) for plotting.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.") var name: String
        @Option(help: "csv or json.") var format: String = "csv"
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?

        func validate() throws {
            if format != "csv" && format != "json" { throw ValidationError("--format \(format): expected csv or json") }
        }

        func run() throws {
            let store = try storeOptions.open()
            let record = try storeOptions.run(name, in: store)
            let directory = out ?? "notebooks-export/\(name)"
            try Exporter.export(store: store, run: record, format: format, directory: directory)
            print("wrote \(directory)/candidates.\(format), frontier.\(format), run.json")
        }
    }
}

/// Ctrl-C: the store keeps everything finished; the candidate in flight is taken over after the grace period.
enum SignalFlag {
    static func install() {
        signal(SIGINT) { _ in
            FileHandle.standardError.write(Data("\ninterrupted: finished candidates are stored; continue with --resume NAME\n".utf8))
            exit(130)
        }
    }
}

enum FrontierReport {
    static func print(store: Store, run: RunRecord, json: Bool) throws {
        let frontier = try store.frontier(runId: run.id!).sorted { ($0.macs, $0.id!) < ($1.macs, $1.id!) }
        if json {
            for candidate in frontier {
                var out = JSONObjectWriter()
                out.add("id", Int(candidate.id!))
                if let accuracy = candidate.accuracy { out.add("accuracy", accuracy) }
                out.add("macs", candidate.macs)
                out.add("params", candidate.params)
                out.add("latency_ms_estimate", candidate.latencyEstimateMs)
                out.add("resolution", candidate.resolution)
                out.add("arch", candidate.arch)
                Swift.print(out.finished())
            }
            return
        }
        Swift.print("frontier of \(run.name) (\(frontier.count) candidates):")
        let rows = frontier.map { candidate in
            [String(candidate.id!), candidate.accuracy.map { Format.fixed(100 * $0, 1) + "%" } ?? "-",
             Format.engineering(Double(candidate.macs)), Format.engineering(Double(candidate.params)),
             Format.fixed(candidate.latencyMeasuredMs ?? candidate.latencyEstimateMs, 2), "\(candidate.resolution)", candidate.arch]
        }
        Swift.print(Format.table(["id", "accuracy", "MACs", "params", "latency ms", "px", "arch"], rows, leftColumns: 1))
    }
}

/// CSV and JSON exports. Columns: id, generation, status, accuracy, top5, params, macs, latency_estimate_ms,
/// latency_measured_ms, memory_bytes, train_seconds, width, depth, resolution, stem, head, on_frontier,
/// alpha, beta, gamma (grid runs), arch, reason.
enum Exporter {
    static let columns = ["id", "generation", "status", "accuracy", "top5", "params", "macs", "latency_estimate_ms", "latency_measured_ms",
                          "memory_bytes", "train_seconds", "width", "depth", "resolution", "stem", "head", "on_frontier",
                          "alpha", "beta", "gamma", "arch", "reason"]

    static func values(_ candidate: CandidateRecord) -> [String: Any] {
        let point = candidate.extra.flatMap { try? JSONDecoder().decode(GridPoint.self, from: Data($0.utf8)) }
        var values: [String: Any] = [
            "id": candidate.id!, "generation": candidate.generation, "status": candidate.status, "params": candidate.params,
            "macs": candidate.macs, "latency_estimate_ms": candidate.latencyEstimateMs, "memory_bytes": candidate.memoryBytes,
            "width": candidate.width, "depth": candidate.depth, "resolution": candidate.resolution, "stem": candidate.stem,
            "head": candidate.head, "on_frontier": candidate.onFrontier, "arch": candidate.arch,
        ]
        values["accuracy"] = candidate.accuracy
        values["top5"] = candidate.top5
        values["latency_measured_ms"] = candidate.latencyMeasuredMs
        values["train_seconds"] = candidate.trainSeconds
        values["reason"] = candidate.reason
        values["alpha"] = point?.alpha
        values["beta"] = point?.beta
        values["gamma"] = point?.gamma
        return values
    }

    static func csvField(_ value: Any?) -> String {
        guard let value else { return "" }
        let text = "\(value)"
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) { return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        return text
    }

    static func export(store: Store, run: RunRecord, format: String, directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreFailure(StoreError(path: directory, message: "cannot create the export directory: \(error.localizedDescription)"))
        }
        let candidates = try store.candidates(runId: run.id!)
        func write(_ name: String, _ rows: [CandidateRecord]) throws {
            let url = URL(fileURLWithPath: directory).appendingPathComponent("\(name).\(format)")
            let text: String
            if format == "csv" {
                text = ([columns.joined(separator: ",")] + rows.map { row in
                    let values = values(row)
                    return columns.map { csvField(values[$0]) }.joined(separator: ",")
                }).joined(separator: "\n") + "\n"
            } else {
                let objects = rows.map { values($0) }
                text = String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self) + "\n"
            }
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("candidates", candidates)
        try write("frontier", candidates.filter(\.onFrontier))
        let config = (try? JSONSerialization.jsonObject(with: Data(run.config.utf8))) ?? [:]
        let info: [String: Any] = ["name": run.name, "command": run.command, "config": config, "seed": run.seed, "version": run.version,
                                   "machine": run.machine, "status": run.status, "created_at": ISO8601DateFormatter().string(from: run.createdAt),
                                   "candidates": candidates.count, "frontier": candidates.filter(\.onFrontier).count, "columns": columns]
        try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: directory).appendingPathComponent("run.json"))
    }
}

extension Efsearch {
    /// `efsearch grid --phi 1`: the compound-scaling grid search of the EfficientNet paper, on a proxy.
    struct Grid: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grid-search alpha, beta, gamma >= 1 with alpha * beta^2 * gamma^2 ~= 2 at phi = 1, on a proxy, and rank them by accuracy.",
            discussion: """
            The base network is shrunk to a proxy that fits this machine (default: width 0.25, depth 0.25 of the base,
            64 px), scaled by each (alpha, beta, gamma) at --phi with the official rounding, short-trained on the proxy
            dataset, and stored as a run. efsearch scale --from-run NAME then prints the full family from the best one.
            """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var proxy: ProxyOptions
        @Option(help: "Base network (a preset).") var base: String = "efficientnet-b0"
        @Option(help: "Compound coefficient of the realised networks.") var phi: Double = 1
        @Option(help: "Grid step for alpha, beta and gamma.") var step: Double = 0.05
        @Option(help: "Largest alpha.") var alphaMax: Double = 1.4
        @Option(help: "Largest beta.") var betaMax: Double = 1.3
        @Option(help: "Largest gamma.") var gammaMax: Double = 1.3
        @Option(help: "Keep points with |alpha * beta^2 * gamma^2 - 2| <= tolerance.") var tolerance: Double = 0.05
        @Option(name: .customLong("proxy-width"), help: "Proxy width multiplier (times the base's).") var proxyWidth: Double = 0.25
        @Option(name: .customLong("proxy-depth"), help: "Proxy depth multiplier (times the base's).") var proxyDepth: Double = 0.25
        @Option(name: .customLong("proxy-resolution"), help: "Proxy resolution before scaling.") var proxyResolution: Int = 64
        @Option(help: "estimate or train.") var fidelity: String = "train"
        @Option(help: "Seed.") var seed: UInt64 = 0
        @Option(name: .customLong("run"), help: "Name of the run (default: generated).") var runName: String?
        @Option(help: "Continue the run with this name.") var resume: String?
        @Option(help: "Seconds without a heartbeat before a candidate is taken over.") var grace: Double = 60

        func validate() throws {
            if !(step > 0) { throw ValidationError("--step \(step) must be greater than 0") }
            for (name, value) in [("--alpha-max", alphaMax), ("--beta-max", betaMax), ("--gamma-max", gammaMax)] where !(value >= 1) {
                throw ValidationError("\(name) \(value) must be at least 1")
            }
            if !(tolerance >= 0) { throw ValidationError("--tolerance \(tolerance) must be 0 or more") }
            if !(phi > 0) { throw ValidationError("--phi \(phi) must be greater than 0") }
            if fidelity != "estimate" && fidelity != "train" { throw ValidationError("--fidelity \(fidelity): expected estimate or train") }
        }

        /// Every grid point within the tolerance.
        var points: [GridPoint] {
            func axis(_ high: Double) -> [Double] { stride(from: 1.0, through: high + 1e-9, by: step).map { ($0 * 1e6).rounded() / 1e6 } }
            var result: [GridPoint] = []
            for alpha in axis(alphaMax) {
                for beta in axis(betaMax) {
                    for gamma in axis(gammaMax) where abs(alpha * beta * beta * gamma * gamma - 2) <= tolerance {
                        result.append(GridPoint(alpha: alpha, beta: beta, gamma: gamma))
                    }
                }
            }
            return result
        }

        func run() throws {
            let store = try storeOptions.open()
            let record: RunRecord
            if let resume {
                record = try storeOptions.resume(resume, in: store)
            } else {
                guard !points.isEmpty else { throw ValidationError("no (alpha, beta, gamma) on this grid is within --tolerance \(tolerance) of 2") }
                _ = try Architecture.Presets.named(base)
                let config = SearchConfig(
                    kind: "grid", space: "", strategy: "grid", budget: points.count, objectives: fidelity == "train" ? ["accuracy", "macs"] : ["macs"],
                    constraints: [], reward: nil, fidelity: fidelity, latency: "estimate", seed: seed, generation: points.count, population: 2,
                    sample: 1, mutation: 0, dataset: proxy.dataset, subset: proxy.subset, epochs: proxy.epochs, batch: proxy.batch, lr: proxy.lr,
                    threads: proxy.threads ?? ProcessInfo.processInfo.activeProcessorCount, gridBase: base, proxyWidth: proxyWidth,
                    proxyDepth: proxyDepth, proxyResolution: proxyResolution, phi: phi)
                record = try storeOptions.create(runName, config: config, in: store, summary: "grid over alpha <= \(alphaMax), beta <= \(betaMax), gamma <= \(gammaMax), step \(step); \(points.count) points with |alpha*beta^2*gamma^2 - 2| <= \(tolerance); proxy \(base) x width \(proxyWidth), depth \(proxyDepth), \(proxyResolution) px")
            }
            let driver = try SearchDriver(store: store, run: record, grace: grace, machine: cachedMachine(threads: record)) { Console.note($0) }
            SignalFlag.install()
            try driver.gridSearch(points: points)
            try GridReport.print(store: store, run: record)
        }
    }
}

enum GridReport {
    /// The ranked table and the chosen coefficients.
    static func print(store: Store, run: RunRecord) throws {
        let rows = try ranked(store: store, run: run)
        let table = rows.map { candidate, point in
            [Format.fixed(point.alpha, 2), Format.fixed(point.beta, 2), Format.fixed(point.gamma, 2),
             Format.fixed(point.alpha * point.beta * point.beta * point.gamma * point.gamma, 3), Format.fixed(point.flopsRatio ?? 0, 2),
             candidate.accuracy.map { Format.fixed(100 * $0, 1) + "%" } ?? "-", Format.engineering(Double(candidate.macs)),
             Format.engineering(Double(candidate.params)), "\(candidate.resolution)", candidate.status]
        }
        Swift.print(Format.table(["alpha", "beta", "gamma", "a*b^2*g^2", "FLOPs ratio", "accuracy", "MACs", "params", "px", "status"], table))
        if let best = rows.first {
            Swift.print("chosen: alpha \(best.1.alpha), beta \(best.1.beta), gamma \(best.1.gamma) (efsearch scale --from-run \(run.name))")
        }
    }

    /// Finished points, best accuracy first (then fewer MACs), failed ones last.
    static func ranked(store: Store, run: RunRecord) throws -> [(CandidateRecord, GridPoint)] {
        try store.candidates(runId: run.id!).compactMap { candidate in
            candidate.extra.flatMap { try? JSONDecoder().decode(GridPoint.self, from: Data($0.utf8)) }.map { (candidate, $0) }
        }.sorted { a, b in
            (a.0.accuracy ?? -1, -a.0.macs, -a.0.id!) > (b.0.accuracy ?? -1, -b.0.macs, -b.0.id!)
        }
    }
}

/// The cached roofline figures for a run's thread count (the development machine's when nothing is cached).
func cachedMachine(threads record: RunRecord) -> MachineProfile {
    let threads = (try? JSONDecoder().decode(SearchConfig.self, from: Data(record.config.utf8)))?.threads ?? ProcessInfo.processInfo.activeProcessorCount
    return MachineProfileCache.load(threads: threads) ?? .developmentMachine
}
