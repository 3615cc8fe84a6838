import Architecture
import Cost
import Engine
import Foundation
import Training
import Search

/// How candidates are evaluated.
public enum Fidelity: String, Codable, CaseIterable, Sendable {
    /// The cost model only: params, MACs, memory, roofline latency; no accuracy.
    case estimate
    /// Short training on the proxy task (and the cost model).
    case train
    /// Successive halving: every candidate trains to the first rung; the best 1/eta of each rung (by Pareto rank
    /// on the run's objectives) train on from their checkpoint to the next.
    case sh
    /// Each candidate answered from an earlier run's stored results (`--replay RUN`): a strategy benchmarked on a
    /// finished search in seconds. A candidate the earlier run does not have fails, with the reason, and is counted.
    case replay
    /// Each candidate scored with weights inherited from a trained supernet (`--fidelity supernet:FILE`): batch
    /// norms recalibrated on a few training batches, then evaluated on the validation split; no training.
    case supernet

    /// Whether candidates are trained.
    public var trains: Bool { self == .train || self == .sh }
    /// Whether candidates get an accuracy (trained, or scored with a supernet's weights).
    public var scoresAccuracy: Bool { trains || self == .supernet }
}

/// Successive halving's schedule: the epochs a candidate has trained in all when each rung ends (increasing), and
/// eta. A candidate's learning-rate schedule spans the top rung's epochs, so that a promoted candidate continues
/// exactly where it stopped: its top-rung result equals an uninterrupted training to the top rung.
public struct SuccessiveHalving: Codable, Equatable, Sendable {
    public var rungs: [Int]
    public var eta: Int

    /// Checks the schedule: at least one rung, each at least 1 epoch and more than the one before, eta at least 2.
    public init(rungs: [Int], eta: Int) throws {
        guard eta >= 2 else { throw PlanError(field: "--eta", message: "\(eta) must be at least 2 (eta 1 would promote every candidate)") }
        guard !rungs.isEmpty else { throw PlanError(field: "--rungs", message: "expected at least one rung, such as 1,3,9") }
        guard rungs[0] >= 1 else { throw PlanError(field: "--rungs", message: "\(rungs.map(String.init).joined(separator: ",")): a rung's epochs must be at least 1") }
        for (a, b) in zip(rungs, rungs.dropFirst()) where b <= a {
            throw PlanError(field: "--rungs", message: "\(rungs.map(String.init).joined(separator: ",")): each rung must have more epochs than the one before (\(b) after \(a))")
        }
        self.rungs = rungs
        self.eta = eta
    }

    /// `--rungs 1,3,9`.
    public init(parsing text: String, eta: Int) throws {
        try self.init(rungs: try SuccessiveHalving.rungs(parsing: text), eta: eta)
    }

    /// The epochs of `--rungs 1,3,9`, as whole numbers (checked as a schedule by `init(rungs:eta:)`).
    public static func rungs(parsing text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count else {
            throw PlanError(field: "--rungs", message: "\"\(text)\": expected whole numbers of epochs separated by commas, such as 1,3,9")
        }
        return numbers
    }

    /// Rungs from `--min-epochs` growing by eta up to `--max-epochs` (the top rung is always `maxEpochs`).
    public init(minEpochs: Int, maxEpochs: Int, eta: Int) throws {
        guard minEpochs >= 1, maxEpochs >= minEpochs else {
            throw PlanError(field: "--min-epochs/--max-epochs", message: "\(minEpochs) and \(maxEpochs): expected 1 <= min <= max")
        }
        guard eta >= 2 else { throw PlanError(field: "--eta", message: "\(eta) must be at least 2 (eta 1 would promote every candidate)") }
        var rungs: [Int] = []
        var epochs = minEpochs
        while epochs < maxEpochs {
            rungs.append(epochs)
            epochs *= eta
        }
        rungs.append(maxEpochs)
        try self.init(rungs: rungs, eta: eta)
    }

    public var topRung: Int { rungs.count - 1 }
    public var maxEpochs: Int { rungs[rungs.count - 1] }

    /// How many of the `entered` candidates of a generation's rung move on: floor(entered / eta), at least one.
    public func promoted(from entered: Int) -> Int { entered == 0 ? 0 : max(1, entered / eta) }

    /// The epoch a rung starts from (the previous rung's end, 0 for the first).
    public func startEpoch(rung: Int) -> Int { rung == 0 ? 0 : rungs[rung - 1] }

    public var description: String { "rungs \(rungs.map(String.init).joined(separator: ",")) epochs, eta \(eta)" }
}

/// Where a candidate's latency figure comes from.
public enum LatencySource: String, Codable, CaseIterable, Sendable {
    /// The cost model's roofline.
    case estimate
    /// Timed eval-mode forward passes at batch 1 on the engine (needs training fidelity).
    case measured
    /// The calibrated latency model (`efsearch calibrate`), stored with the run.
    case predicted
}

/// The proxy task of `--fidelity train`.
public struct ProxyTask: Codable, Equatable, Sendable {
    /// Stored as its canonical text, as runs always stored it.
    public var dataset: DatasetSource
    public var subset: Int?
    public var epochs: Int
    public var batch: Int
    public var lr: Float
    public var threads: Int
    /// Image folders: `imagenet` or `dataset` normalisation (nil: the dataset kind's default), the training
    /// crops' area range (`LOW,HIGH`; nil: 0.08,1), flips off, bad images left out. Absent in older runs.
    public var normalize: String?
    public var cropScale: CropScale?
    public var noFlip: Bool?
    public var skipBadImages: Bool?
    /// Successive halving (`--fidelity sh`): the rungs and eta; `epochs` is then the top rung's.
    public var halving: SuccessiveHalving?
    /// The engine's GEMM (`--numerics`): portable runs compute bitwise-identical results on every x86-64 machine
    /// with AVX2, so that a candidate's figures do not depend on which worker trained it. Nil (older runs): fast.
    public var numerics: Numerics?
    /// `--validation-fraction`: the share of the training files held out for validation (nil, and older runs: 0.1).
    public var validationFraction: Double?

    public init(dataset: DatasetSource, subset: Int?, epochs: Int, batch: Int, lr: Float, threads: Int) {
        self.dataset = dataset
        self.subset = subset
        self.epochs = epochs
        self.batch = batch
        self.lr = lr
        self.threads = threads
    }

    /// The engine's settings for this task's work: its thread count and GEMM.
    public var engine: EngineConfiguration {
        EngineConfiguration.current.with { $0.threads = threads; $0.numerics = numerics ?? .fast }
    }

    /// How to load the proxy dataset.
    public func datasetSpec() throws -> DatasetSpec {
        var spec = DatasetSpec(source: dataset)
        spec.subset = subset
        if let validationFraction { spec.validationFraction = validationFraction }
        spec.normalization = normalize
        if let cropScale { (spec.cropScaleLow, spec.cropScaleHigh) = (cropScale.low, cropScale.high) }
        spec.allowsFlip = !(noFlip ?? false)
        spec.skipBadImages = skipBadImages ?? false
        return spec
    }
}

/// A search space as a run keeps it: the file's text, its SHA-256, and where it was read from (for messages).
public struct StoredSpace: Codable, Equatable, Sendable {
    public var path: String
    public var text: String
    /// Lower-case hex SHA-256 of `text` (UTF-8).
    public var sha256: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        sha256 = StoredSpace.hash(text)
    }

    /// Reads a search-space file and checks that it parses.
    public static func read(path: String) throws -> StoredSpace {
        let stored = StoredSpace(path: path, text: try SearchSpace.readText(path: path))
        _ = try stored.parse()
        return stored
    }

    public static func hash(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The first 16 hex digits, enough to tell two spaces apart in a message.
    public var shortHash: String { String(sha256.prefix(16)) }

    /// The space, parsed from the stored text (never from the file, which may have changed).
    public func parse() throws -> SearchSpace { try SearchSpace.parse(text: text, file: path) }
}

/// `efsearch nas`: a search over a space with a strategy.
public struct NasPlan: Codable, Sendable {
    /// A line on what a new run searches: the space's name, its varying choices and size, strategy, budget, fidelity.
    public func summary(halving: SuccessiveHalving?) throws -> String {
        let parsed = try space.parse()
        return "\(parsed.name), \(parsed.dimensions.filter { $0.count > 1 }.count) varying choices, about \(Format.engineering(parsed.size)) candidates; "
            + "\(strategy.rawValue), budget \(budget), fidelity \(fidelity.rawValue)\(halving.map { " (\($0.description))" } ?? "")"
    }

    public var space: StoredSpace
    public var strategy: StrategyKind
    public var budget: Int
    /// Parsed once, where the flags are read; stored as canonical text (`CanonicalText`), so that a stored run
    /// reads back the same values and a resume compares values, not spellings.
    public var objectives: [Objective]
    public var constraints: [Constraint]
    public var reward: Reward?
    public var fidelity: Fidelity
    public var latency: LatencySource
    /// Candidates per round.
    public var generation: Int
    public var population: Int
    public var sample: Int
    public var mutation: Double
    /// The latency model whose predictions the candidates get (with `latency: predicted`, and beside measured
    /// latency when a calibration applied as the run started).
    public var latencyModel: LatencyModel?
    /// Write each trained candidate's weights next to the store (`<store folder>/<run>/<id>.safetensors`).
    public var keepCheckpoints: Bool?
    /// `--prefilter PROXY:FRACTION`: train only the best FRACTION of each generation by a zero-cost proxy.
    public var prefilter: Prefilter?
    /// `--strategy tpe` or `bo`: uniform random candidates before the model proposes (absent for other strategies).
    public var startup: Int?
    /// `--replay RUN`: the run (of the same store) whose stored results answer the candidates.
    public var replay: String?
    /// `--warm-start RUN`: a run of the same store and space whose finished candidates the strategy observes first.
    public var warmStart: String?
    /// `--enqueue FILE`: the file's entries (presets or arch strings, `Enqueue`), evaluated first, in order.
    public var enqueue: [String]?
    /// `--fidelity supernet:FILE`: the supernet file that scores the candidates.
    public var supernet: String?

    public init(space: StoredSpace, strategy: StrategyKind, budget: Int, objectives: [Objective], constraints: [Constraint], reward: Reward?,
                fidelity: Fidelity, latency: LatencySource, generation: Int, population: Int, sample: Int, mutation: Double,
                latencyModel: LatencyModel? = nil, keepCheckpoints: Bool = false) {
        self.latencyModel = latencyModel
        self.keepCheckpoints = keepCheckpoints
        self.space = space
        self.strategy = strategy
        self.budget = budget
        self.objectives = objectives
        self.constraints = constraints
        self.reward = reward
        self.fidelity = fidelity
        self.latency = latency
        self.generation = generation
        self.population = population
        self.sample = sample
        self.mutation = mutation
    }
}

/// The (alpha, beta, gamma) grid of `efsearch grid`: every point with alpha, beta, gamma in [1, max] on steps of
/// `step` and |alpha * beta^2 * gamma^2 - 2| <= tolerance.
public struct GridAxes: Codable, Equatable, Sendable {
    public var step: Double
    public var alphaMax: Double
    public var betaMax: Double
    public var gammaMax: Double
    public var tolerance: Double

    public init(step: Double, alphaMax: Double, betaMax: Double, gammaMax: Double, tolerance: Double) {
        self.step = step
        self.alphaMax = alphaMax
        self.betaMax = betaMax
        self.gammaMax = gammaMax
        self.tolerance = tolerance
    }

    /// Every grid point within the tolerance, alpha slowest, gamma fastest.
    public var points: [GridPoint] {
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
}

/// The coordinates of a `grid --phi` candidate, stored in its `extra` column.
public struct GridPoint: Codable, Equatable, Sendable {
    public var alpha: Double
    public var beta: Double
    public var gamma: Double
    public var flopsRatio: Double?
    /// Other points whose proxy network is this one's (the proxy's depth rounding can make alpha change
    /// nothing): trained once, as this candidate, and ranked with it.
    public var twins: [GridPoint]?

    public init(alpha: Double, beta: Double, gamma: Double, flopsRatio: Double? = nil) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.flopsRatio = flopsRatio
    }

    /// alpha * beta^2 * gamma^2, the FLOPs factor per unit of phi.
    public var product: Double { alpha * beta * beta * gamma * gamma }
}

/// `efsearch grid --phi`: the compound-scaling grid search on a shrunken base.
public struct GridPlan: Codable, Sendable {
    /// A line on what a new grid run trains: the grid's bounds and step, its points, the proxy.
    public var summary: String {
        let bounds = axes.map { "grid over alpha <= \($0.alphaMax), beta <= \($0.betaMax), gamma <= \($0.gammaMax), step \($0.step); " } ?? ""
        return bounds + "\(points.count) points\(axes.map { " with |alpha*beta^2*gamma^2 - 2| <= \($0.tolerance)" } ?? ""); "
            + "proxy \(base) x width \(proxyWidth), depth \(proxyDepth), \(proxyResolution) px"
    }


    /// The base network (a preset name) and how it is shrunk to the proxy.
    public var base: String
    public var proxyWidth: Double
    public var proxyDepth: Double
    public var proxyResolution: Int
    public var phi: Double
    /// The grid the points came from; nil for runs made by efsearch 0.1.0, which did not store it.
    public var axes: GridAxes?
    /// The points to evaluate.
    public var points: [GridPoint]
    public var fidelity: Fidelity
    /// Whether the points rank (and go on under successive halving) by validation loss within a rung before
    /// accuracy (`GridRanking`); nil for runs made before that rule, which ranked by accuracy and keep doing so.
    public var ranksByLoss: Bool?

    public init(base: String, proxyWidth: Double, proxyDepth: Double, proxyResolution: Int, phi: Double, axes: GridAxes?,
                points: [GridPoint], fidelity: Fidelity, ranksByLoss: Bool? = true) {
        self.base = base
        self.proxyWidth = proxyWidth
        self.proxyDepth = proxyDepth
        self.proxyResolution = proxyResolution
        self.phi = phi
        self.axes = axes
        self.points = points
        self.fidelity = fidelity
        self.ranksByLoss = ranksByLoss
    }

    /// The validation losses that rank this plan's points (`GridRanking.ranked(_:losses:)`): those `losses` gives
    /// when the plan ranks by loss; none, and `losses` is not called, for a plan that ranks by accuracy.
    public func rankingLosses(_ losses: () throws -> [Int64: Double]) rethrows -> [Int64: Double] {
        ranksByLoss == true ? try losses() : [:]
    }

    /// The base network shrunk to the proxy (width, depth and resolution that fit this machine).
    public func proxyNetwork() throws -> NetworkSpec {
        var spec = try Presets.named(base).spec
        spec.width *= proxyWidth
        spec.depth *= proxyDepth
        spec.resolution = proxyResolution
        return spec
    }

    /// Objectives of the frontier: accuracy and MACs when training, MACs alone on estimates.
    public var objectives: [Objective] { fidelity.trains ? [Objective(metric: .accuracy), Objective(metric: .macs)] : [Objective(metric: .macs)] }
}

/// One training setting of `efsearch proxy-check`: `epochs=2,resolution=32,subset=2000` (resolution and subset
/// optional: the candidate's own resolution, the proxy task's images).
public struct ProxySetting: Codable, Equatable, Sendable, CustomStringConvertible {
    public var epochs: Int
    public var resolution: Int?
    public var subset: Int?

    public init(epochs: Int, resolution: Int? = nil, subset: Int? = nil) {
        self.epochs = epochs
        self.resolution = resolution
        self.subset = subset
    }

    public init(parsing text: String, field: String) throws {
        var values: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, ["epochs", "resolution", "subset"].contains(pair[0]) else {
                throw PlanError(field: field, message: "\"\(part)\": expected KEY=VALUE with KEY epochs, resolution or subset")
            }
            guard let value = Int(pair[1]), value >= (pair[0] == "resolution" ? 8 : 1) else {
                throw PlanError(field: field, message: "\(pair[0]) \"\(pair[1])\" must be a whole number of at least \(pair[0] == "resolution" ? 8 : 1)")
            }
            values[pair[0]] = value
        }
        guard let epochs = values["epochs"] else { throw PlanError(field: field, message: "\"\(text)\": epochs=N is required") }
        self.init(epochs: epochs, resolution: values["resolution"], subset: values["subset"])
    }

    public var description: String {
        (["epochs=\(epochs)"] + [resolution.map { "resolution=\($0)" }, subset.map { "subset=\($0)" }].compactMap { $0 }).joined(separator: ",")
    }
}

/// `efsearch proxy-check`: `sample` candidates of a space, each trained at a short and a long setting.
public struct ProxyCheckPlan: Codable, Sendable {
    public var space: StoredSpace
    public var sample: Int
    public var short: ProxySetting
    public var long: ProxySetting
    /// Bootstrap resamples for the intervals.
    public var bootstrap: Int
    /// `--supernet FILE`: each candidate also scored with this supernet's weights, a predictor beside the short
    /// setting (nil: none).
    public var supernet: String?
    /// `--noise-floor`: each candidate also trained at the short setting with another seed, so that the report gives
    /// the short setting against itself (nil in older runs: no).
    public var noiseFloor: Bool?

    public init(space: StoredSpace, sample: Int, short: ProxySetting, long: ProxySetting, bootstrap: Int, noiseFloor: Bool = false,
                supernet: String? = nil) throws {
        if let supernet { try SupernetScorer.check(supernet, space: space) }
        self.supernet = supernet
        self.space = space
        self.sample = sample
        self.short = short
        self.long = long
        self.bootstrap = bootstrap
        self.noiseFloor = noiseFloor ? true : nil
    }

    /// The settings a candidate is trained at: short, long, and `reseeded` (the short one under another seed).
    public func setting(_ name: String) -> ProxySetting? { name == "short" || name == "reseeded" ? short : name == "long" ? long : nil }
}

/// What a run does: a search, a grid, or a proxy check.
public enum RunPlan: Sendable {
    case nas(NasPlan)
    case grid(GridPlan)
    case proxyCheck(ProxyCheckPlan)

    public var fidelity: Fidelity {
        switch self {
        case .nas(let plan): return plan.fidelity
        case .grid(let plan): return plan.fidelity
        case .proxyCheck: return .train
        }
    }

    /// What ranks the run's candidates: a search's objectives, a grid's (accuracy and MACs when it trains), and a
    /// proxy-check's accuracy and MACs.
    public var objectives: [Objective] {
        switch self {
        case .nas(let plan): return plan.objectives
        case .grid(let plan): return plan.objectives
        case .proxyCheck: return [Objective(metric: .accuracy), Objective(metric: .macs)]
        }
    }

    /// A search's constraints; other plans have none.
    public var constraints: [Constraint] {
        if case .nas(let plan) = self { return plan.constraints }
        return []
    }

    /// A search's reward, when it has one.
    public var reward: Reward? {
        if case .nas(let plan) = self { return plan.reward }
        return nil
    }

    /// `nas`, `grid` or `proxy-check`.
    public var kind: String {
        switch self {
        case .nas: return "nas"
        case .grid: return "grid"
        case .proxyCheck: return "proxy-check"
        }
    }
}

extension RunPlan: Codable {
    enum CodingKeys: String, CodingKey { case kind, nas, grid, proxyCheck }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "nas": self = .nas(try container.decode(NasPlan.self, forKey: .nas))
        case "grid": self = .grid(try container.decode(GridPlan.self, forKey: .grid))
        case "proxy-check": self = .proxyCheck(try container.decode(ProxyCheckPlan.self, forKey: .proxyCheck))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "unknown plan \"\(kind)\"; expected nas, grid or proxy-check")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .nas(let plan): try container.encode(plan, forKey: .nas)
        case .grid(let plan): try container.encode(plan, forKey: .grid)
        case .proxyCheck(let plan): try container.encode(plan, forKey: .proxyCheck)
        }
    }
}

/// Everything that defines a run, stored with it: a resume or a worker reads this and nothing else.
public struct RunConfiguration: Codable, Sendable {
    /// The layout of this record (1 was efsearch 0.1.0's flat `SearchConfig`, which stored the space's path only).
    public var format: Int = RunConfiguration.currentFormat
    public var seed: UInt64
    public var proxy: ProxyTask
    public var plan: RunPlan

    public static let currentFormat = 2

    public init(seed: UInt64, proxy: ProxyTask, plan: RunPlan) {
        self.seed = seed
        self.proxy = proxy
        self.plan = plan
    }

    public var fidelity: Fidelity { plan.fidelity }

    /// The stored JSON (keys sorted, so equal configurations are equal text).
    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// `--prefilter naswot:0.25`: of each generation, only the best quarter by NASWOT is trained; the rest are stored
/// as pruned with their scores.
public struct Prefilter: Hashable, Sendable, CanonicalText {
    public var proxy: ZeroCostProxy
    public var fraction: Double

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw PlanError(field: "--prefilter", message: "\"\(text)\": expected PROXY:FRACTION, such as naswot:0.25") }
        guard let proxy = ZeroCostProxy(rawValue: parts[0].lowercased()) else {
            throw PlanError(field: "--prefilter", message: "\"\(parts[0])\" is not a zero-cost proxy; expected \(ZeroCostProxy.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        guard let fraction = Double(parts[1]), fraction > 0, fraction <= 1 else {
            throw PlanError(field: "--prefilter", message: "fraction \"\(parts[1])\" must be a number in (0, 1]")
        }
        self.proxy = proxy
        self.fraction = fraction
    }

    /// How many of a generation of `count` are trained: ceil(fraction * count), at least one.
    public func kept(of count: Int) -> Int { max(1, Int((fraction * Double(count)).rounded(.up))) }

    /// Canonical: `naswot:0.25`.
    public var description: String { "\(proxy.rawValue):\(canonicalNumber(fraction))" }
}

/// A run setting that does not fit the others (names the flag).
public struct PlanError: UserInputError {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension NasPlan {
    /// Checks that the objectives, constraints, reward and prefilter fit the fidelity.
    public func validate() throws {
        guard !objectives.isEmpty else { throw PlanError(field: "--objectives", message: "expected at least one objective") }
        if (fidelity == .replay) != (replay != nil) {
            throw PlanError(field: "--replay", message: "names the run whose results answer the candidates, and only with --fidelity replay")
        }
        if (fidelity == .supernet) != (supernet != nil) {
            throw PlanError(field: "--fidelity", message: "supernet takes the supernet file: --fidelity supernet:FILE")
        }
        if fidelity == .estimate, objectives.contains(where: { $0.metric == .accuracy }) || reward != nil {
            throw PlanError(field: "--fidelity estimate", message: "has no accuracy: use objectives macs, params, latency, memory and no --reward")
        }
        if latency == .predicted && latencyModel == nil {
            throw PlanError(field: "--latency predicted", message: "needs a latency model: run efsearch calibrate on this machine, or pass --latency-model FILE")
        }
        if keepCheckpoints == true && !fidelity.trains {
            throw PlanError(field: "--keep-checkpoints", message: "needs --fidelity train or sh (estimates train nothing)")
        }
        if latency == .measured && !fidelity.trains {
            throw PlanError(field: "--latency measured", message: "needs --fidelity train (the candidates are built and timed on the engine)")
        }
        if prefilter != nil {
            if !fidelity.trains { throw PlanError(field: "--prefilter", message: "needs --fidelity train or sh (it decides which candidates to train)") }
        }
        if budget < 1 { throw PlanError(field: "--budget", message: "\(budget) must be at least 1") }
        if generation < 1 { throw PlanError(field: "--generation", message: "\(generation) must be at least 1") }
        _ = try space.parse()
    }
}
