import Architecture
import Engine
import Foundation
import Training

/// The proxy-task flags of `nas`, `grid` and `proxy-check` as given: nil where a flag was left out, so that a new
/// run fills in the documented defaults (`task`) and `--resume` compares only the flags given again (`compare`).
public struct ProxyFlags: Sendable {
    public var dataset: DatasetSource?
    public var subset: Int?
    public var epochs: Int?
    public var batch: Int?
    public var lr: Float?
    public var threads: Int?
    public var normalize: String?
    public var cropScale: CropScale?
    public var noFlip = false
    public var skipBadImages = false
    public var rungs: [Int]?
    public var eta: Int?
    public var minEpochs: Int?
    public var maxEpochs: Int?
    public var numerics: Numerics?
    /// The share of the training files held out for validation (nil: the dataset's default, 0.1).
    public var validationFraction: Double?

    public init(dataset: DatasetSource?, subset: Int?, epochs: Int?, batch: Int?, lr: Float?, threads: Int?, normalize: String?, cropScale: CropScale?,
                noFlip: Bool, skipBadImages: Bool, rungs: [Int]?, eta: Int?, minEpochs: Int?, maxEpochs: Int?, numerics: Numerics?,
                validationFraction: Double? = nil) {
        self.validationFraction = validationFraction
        (self.dataset, self.subset, self.epochs, self.batch, self.lr, self.threads) = (dataset, subset, epochs, batch, lr, threads)
        (self.normalize, self.cropScale, self.noFlip, self.skipBadImages) = (normalize, cropScale, noFlip, skipBadImages)
        (self.rungs, self.eta, self.minEpochs, self.maxEpochs, self.numerics) = (rungs, eta, minEpochs, maxEpochs, numerics)
    }

    /// Refuses values out of range and flags that contradict each other.
    public func validate() throws {
        if let epochs, epochs < 1 { throw FlagError("--epochs \(epochs) must be at least 1") }
        if let batch, batch < 1 { throw FlagError("--batch \(batch) must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw FlagError("--lr \(lr) must be greater than 0") }
        if let threads, threads < 1 { throw FlagError("--threads \(threads) must be at least 1") }
        if let subset, subset < 1 { throw FlagError("--subset \(subset) must be at least 1") }
        if let validationFraction, !(validationFraction > 0 && validationFraction < 1) {
            throw FlagError("--validation-fraction \(validationFraction) must be greater than 0 and less than 1")
        }
        if let normalize { try DatasetSpec.checkNormalization(normalize) }
        if rungs != nil && (minEpochs != nil || maxEpochs != nil) {
            throw FlagError("--rungs and --min-epochs/--max-epochs: give the rungs one way")
        }
        if asksForHalving && epochs != nil {
            throw FlagError("--epochs with successive halving: the top rung sets the epochs (--rungs or --max-epochs)")
        }
        if asksForHalving { _ = try halving(defaultRungs: [1, 3, 9]) }
    }

    /// Whether a successive-halving flag was given.
    public var asksForHalving: Bool { rungs != nil || eta != nil || minEpochs != nil || maxEpochs != nil }

    /// The successive-halving schedule the flags describe (`defaultRungs` when they name none).
    public func halving(defaultRungs: [Int]) throws -> SuccessiveHalving {
        let eta = self.eta ?? 3
        if let rungs { return try SuccessiveHalving(rungs: rungs, eta: eta) }
        if minEpochs != nil || maxEpochs != nil {
            let low = minEpochs ?? 1
            return try SuccessiveHalving(minEpochs: low, maxEpochs: maxEpochs ?? low * eta * eta, eta: eta)
        }
        return try SuccessiveHalving(rungs: defaultRungs, eta: eta)
    }

    /// The fidelity the flags ask for: `given`, else successive halving when a rung flag is there, else `fallback`.
    /// Rung flags with another fidelity are refused.
    public func fidelity(given: Fidelity?, fallback: Fidelity) throws -> Fidelity {
        if let given, given != .sh, asksForHalving {
            throw FlagError("--rungs, --eta, --min-epochs and --max-epochs are successive halving's: they need --fidelity sh, not \(given.rawValue)")
        }
        return given ?? (asksForHalving ? .sh : fallback)
    }

    /// The task for a run of `fidelity`, with the defaults filled in (successive halving's rungs included).
    /// `defaultLearningRate` when `--lr` is not given (the grid's is lower: see `Efsearch.Grid.defaultLearningRate`).
    public func task(fidelity: Fidelity, defaultRungs: [Int] = [1, 3, 9], defaultLearningRate: Float = 0.05) throws -> ProxyTask {
        var task = self.task
        if lr == nil { task.lr = defaultLearningRate }
        if fidelity == .sh {
            let halving = try halving(defaultRungs: defaultRungs)
            task.halving = halving
            task.epochs = halving.maxEpochs
        }
        return task
    }

    /// The task with the defaults filled in.
    public var task: ProxyTask {
        var task = ProxyTask(dataset: dataset ?? .synthetic(3000), subset: subset, epochs: epochs ?? 3, batch: batch ?? 64, lr: lr ?? 0.05,
                             threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        task.normalize = normalize
        task.cropScale = cropScale
        task.noFlip = noFlip ? true : nil
        task.skipBadImages = skipBadImages ? true : nil
        task.numerics = numerics == .portable ? .portable : nil
        task.validationFraction = validationFraction
        return task
    }

    /// Flags given again with `--resume` must match the stored task.
    public func compare(with stored: ProxyTask, _ check: inout ResumeCheck) {
        check.compare("--dataset", given: dataset, stored: stored.dataset)
        check.compare("--subset", given: subset, stored: stored.subset)
        check.compare("--validation-fraction", given: validationFraction, stored: stored.validationFraction)
        check.compare("--epochs", given: epochs, stored: stored.epochs)
        check.compare("--batch", given: batch, stored: stored.batch)
        check.compare("--lr", given: lr, stored: stored.lr)
        check.compare("--threads", given: threads, stored: stored.threads)
        check.compare("--normalize", given: normalize, stored: stored.normalize)
        check.compare("--crop-scale", given: cropScale, stored: stored.cropScale)
        if noFlip { check.compare("--no-flip", given: "given", stored: stored.noFlip == true ? "given" : "not given") }
        check.compare("--rungs", given: rungs, stored: stored.halving?.rungs)
        check.compare("--numerics", given: numerics?.rawValue, stored: (stored.numerics ?? .fast).rawValue)
        check.compare("--eta", given: eta, stored: stored.halving?.eta)
        check.compare("--max-epochs", given: maxEpochs, stored: stored.halving?.maxEpochs)
        check.compare("--min-epochs", given: minEpochs, stored: stored.halving?.rungs.first)
    }
}

extension ResumeCheck {
    /// The start of every resume's comparison: the stored proxy task and seed against the flags given again.
    public init(_ configuration: RunConfiguration, proxy: ProxyFlags, seed: UInt64?) {
        self.init()
        proxy.compare(with: configuration.proxy, &self)
        compare("--seed", given: seed, stored: configuration.seed)
    }
}

extension RunConfiguration {
    /// The error for resuming run `name` with another kind's command: it names the command that resumes it.
    public func wrongKind(run name: String, store: String) -> RunError {
        RunError(store: store, run: name, message: "is a \(plan.kind) run; resume it with efsearch \(plan.kind) --resume \(name)")
    }
}
