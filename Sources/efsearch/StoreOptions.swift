import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Latency
import Search
import SearchRunner
import Store
import StoreBackends
import Training

/// `--store`, shared by every command that reads or writes runs.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The store: a path to an SQLite file, or postgresql://user[:password]@host[:port]/database[?sslmode=...] (default: $EFSEARCH_STORE, else results/efsearch.sqlite).", valueName: "path-or-url"))
    var store: String?

    /// The store's path or URL: the flag, else `$EFSEARCH_STORE`, else the default file.
    var location: String { StoreOptions.resolve(store) }

    static func resolve(_ given: String?) -> String {
        given ?? ProcessInfo.processInfo.environment["EFSEARCH_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "results/efsearch.sqlite"
    }

    func open(readOnly: Bool = false) throws -> any Store {
        do { return try openStore(location, readOnly: readOnly) } catch let error as StoreError { throw StoreFailure(error) }
    }

    /// The store's runs, with warnings on standard error. `readOnly` for commands that only read: nothing is
    /// written to the store.
    func catalog(readOnly: Bool = false) throws -> RunCatalog {
        RunCatalog(store: try open(readOnly: readOnly), readOnly: readOnly) { Console.note($0) }
    }

    /// Runs a new or resumed run to its end (`RunExecution.execute`), progress on standard error; Ctrl-C leaves
    /// everything finished stored. Returns the store and the run.
    func execute(resume: String?, grace: Double, workers: Int = 1, check: (_ name: String, _ store: String, RunConfiguration) throws -> Void,
                 create: (RunCatalog) throws -> (RunRecord, RunConfiguration)) throws -> (any Store, RunRecord) {
        let catalog = try catalog()
        SignalFlag.install()
        let record = try RunExecution.execute(catalog, resume: resume, grace: grace, workers: workers, executable: Bundle.main.executableURL,
                                              check: check, create: create) { Console.note($0) }
        return (catalog.store, record)
    }
}

/// Checks a run name given on the command line (`--run`, `--resume`, a command's argument) before anything is
/// done with it: the same rule as every name read from a store (`RunName`).
func checkRunName(_ name: String?, _ flag: String) throws {
    guard let name else { return }
    do { _ = try RunName(name) } catch { throw ValidationError("\(flag): \(error)") }
}

/// A store problem reported as bad input (exit code 2).
struct StoreFailure: UserInputError {
    var error: StoreError
    init(_ error: StoreError) { self.error = error }
    var description: String { error.description }
}

/// The proxy task that `--fidelity train` uses (documented defaults that finish in minutes here). Every flag is
/// optional so that `--resume` can tell a flag given again from a default.
struct ProxyOptions: ParsableArguments {
    @Option(help: "Proxy dataset: synthetic, synthetic:N, cifar10:DIR, ... (default: synthetic:3000).") var dataset: String?
    @Option(help: "Train on this many proxy images (class-balanced).") var subset: Int?
    @Option(help: "Proxy epochs per candidate (default: 3).") var epochs: Int?
    @Option(help: "Proxy batch size (default: 64).") var batch: Int?
    @Option(help: "Proxy learning rate, SGD with a cosine schedule (default: 0.05; grid: 0.01).") var lr: Float?
    @Option(help: "Threads per worker (default: all cores).") var threads: Int?
    @Option(help: "Proxy normalisation: imagenet (default for image folders) or dataset.") var normalize: String?
    @Option(name: .customLong("crop-scale"), help: "Image folders: the area range of training crops, LOW,HIGH (default 0.08,1).", transform: CropScale.init(parsing:)) var cropScale: CropScale?
    @Flag(name: .customLong("no-flip"), help: "Image folders: no horizontal flips in training.") var noFlip = false
    @Flag(name: .customLong("skip-bad-images"), help: "Image folders: leave out corrupt images instead of stopping.") var skipBadImages = false
    @Option(help: "Successive halving (implies --fidelity sh): the epochs trained in all at the end of each rung, increasing (default 1,3,9; grid: 2,6,18).", transform: SuccessiveHalving.rungs(parsing:))
    var rungs: [Int]?
    @Option(help: "Successive halving: the best 1/eta of a rung go on to the next (default: 3).") var eta: Int?
    @Option(name: .customLong("min-epochs"), help: "Successive halving: the first rung's epochs; the rungs grow by eta up to --max-epochs.") var minEpochs: Int?
    @Option(name: .customLong("max-epochs"), help: "Successive halving: the top rung's epochs.") var maxEpochs: Int?
    @Option(help: "The engine's GEMM: fast (OpenBLAS, its kernels per CPU) or portable (the engine's own, fixed order: the same bits on every x86-64 machine with AVX2, for workers on different machines). (default: fast)")
    var numerics: Numerics?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs) must be at least 1") }
        if let batch, batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr \(lr) must be greater than 0") }
        if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
        if let subset, subset < 1 { throw ValidationError("--subset \(subset) must be at least 1") }
        // ArgumentParser reports only ValidationError from validate() as a usage error (exit 2).
        if let dataset { do { _ = try DatasetSpec(parsing: dataset) } catch { throw ValidationError("\(error)") } }
        if let normalize { do { try DatasetSpec.checkNormalization(normalize) } catch { throw ValidationError("\(error)") } }
        if rungs != nil && (minEpochs != nil || maxEpochs != nil) {
            throw ValidationError("--rungs and --min-epochs/--max-epochs: give the rungs one way")
        }
        if asksForHalving && epochs != nil {
            throw ValidationError("--epochs with successive halving: the top rung sets the epochs (--rungs or --max-epochs)")
        }
        if asksForHalving { do { _ = try halving(defaultRungs: [1, 3, 9]) } catch { throw ValidationError("\(error)") } }
    }

    /// Whether a successive-halving flag was given.
    var asksForHalving: Bool { rungs != nil || eta != nil || minEpochs != nil || maxEpochs != nil }

    /// The successive-halving schedule the flags describe (`defaultRungs` when they name none).
    func halving(defaultRungs: [Int]) throws -> SuccessiveHalving {
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
    func fidelity(given: Fidelity?, fallback: Fidelity) throws -> Fidelity {
        if let given, given != .sh, asksForHalving {
            throw ValidationError("--rungs, --eta, --min-epochs and --max-epochs are successive halving's: they need --fidelity sh, not \(given.rawValue)")
        }
        return given ?? (asksForHalving ? .sh : fallback)
    }

    /// The task for a run of `fidelity`, with the defaults filled in (successive halving's rungs included).
    /// `defaultLearningRate` when `--lr` is not given (the grid's is lower: see `Efsearch.Grid.defaultLearningRate`).
    func task(fidelity: Fidelity, defaultRungs: [Int] = [1, 3, 9], defaultLearningRate: Float = 0.05) throws -> ProxyTask {
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
    var task: ProxyTask {
        var task = ProxyTask(dataset: dataset ?? "synthetic:3000", subset: subset, epochs: epochs ?? 3, batch: batch ?? 64, lr: lr ?? 0.05,
                             threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        task.normalize = normalize
        task.cropScale = cropScale
        task.noFlip = noFlip ? true : nil
        task.skipBadImages = skipBadImages ? true : nil
        task.numerics = numerics == .portable ? .portable : nil
        return task
    }

    /// Flags given again with `--resume` must match the stored task.
    func compare(with stored: ProxyTask, _ check: inout ResumeCheck) {
        check.compare("--dataset", given: dataset, stored: stored.dataset)
        check.compare("--subset", given: subset, stored: stored.subset)
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

extension StrategyKind: ExpressibleByArgument {}
extension Fidelity: ExpressibleByArgument {}
extension LatencySource: ExpressibleByArgument {}
extension Numerics: ExpressibleByArgument {}
extension RunExport.Format: ExpressibleByArgument {}

/// Ctrl-C: the store keeps everything finished; the candidate in flight is taken over after the grace period.
enum SignalFlag {
    static func install() {
        signal(SIGINT) { _ in
            FileHandle.standardError.write(Data("\ninterrupted: finished candidates are stored; continue with --resume NAME\n".utf8))
            exit(130)
        }
    }
}
