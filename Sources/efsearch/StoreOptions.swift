import ArgumentParser
import Engine
import Foundation
import Search
import SearchRunner
import Store
import StoreBackends
import Training

/// `--store`, shared by every command that reads or writes runs.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The store: a path to an SQLite file, or postgresql://user[:password]@host[:port]/database[?sslmode=...] (default: $EFSEARCH_STORE, else results/efsearch.sqlite).", valueName: "path-or-url")) var store: String?

    /// The store's path or URL: the flag, else `$EFSEARCH_STORE`, else the default file.
    var location: String { StoreLocation.text(given: store) }

    func open(readOnly: Bool = false) throws -> any Store { try openStore(location, readOnly: readOnly) }

    /// The store's runs, with warnings on standard error. `readOnly` for commands that only read: nothing is
    /// written to the store.
    func catalog(readOnly: Bool = false) throws -> RunCatalog {
        RunCatalog(store: try open(readOnly: readOnly), readOnly: readOnly) { Console.note($0) }
    }

    /// Runs a new or resumed run to its end (`RunExecution.execute`), progress on standard error; Ctrl-C leaves
    /// everything finished stored. A new run gets the configuration `create` makes, and `announce` says what it is.
    /// Returns the store and the run.
    func execute(_ run: RunOptions, check: (_ name: String, _ store: String, RunConfiguration) throws -> Void,
                 create: (RunCatalog) throws -> RunConfiguration, announce: (RunRecord, RunConfiguration, String) throws -> Void) throws -> (any Store, RunRecord) {
        let catalog = try catalog()
        SignalFlag.install()
        let record = try RunExecution.execute(catalog, name: run.name?.text, command: CommandLine.arguments.joined(separator: " "), resume: run.resume?.text,
                                              grace: run.grace.value, workers: run.workers, executable: Bundle.main.executableURL, check: check,
                                              configure: create, announce: announce) { Console.note($0) }
        return (catalog.store, record)
    }
}

/// `--run`, `--resume`, `--grace` and `--workers`: how `nas`, `grid` and `proxy-check` start or continue a run.
struct RunOptions: ParsableArguments {
    @Option(name: .customLong("run"), help: "Name of the run (default: generated).", transform: RunName.init) var name: RunName?
    @Option(help: "Continue the run with this name.", transform: RunName.init) var resume: RunName?
    @Option(help: "Seconds without a heartbeat before another worker takes a candidate over.") var grace: Amount<Double> = 60
    @Option(help: "Processes that work on the run on this machine, this one included; each trains with --threads threads (default: 1).") var workers: Int = 1

    func validate() throws {
        if resume != nil && name != nil { throw ValidationError("--run and --resume: --resume NAME already names the run") }
        if !(grace.value > 0) { throw ValidationError("--grace \(grace) must be greater than 0") }
        if workers < 1 { throw ValidationError("--workers \(workers) must be at least 1") }
    }
}

/// The proxy task that `--fidelity train` uses (documented defaults that finish in minutes here). Every flag is
/// optional so that `--resume` can tell a flag given again from a default.
struct ProxyOptions: ParsableArguments {
    @Option(help: "Proxy dataset: synthetic, synthetic:N, cifar10:DIR, ... (default: synthetic:3000).", transform: DatasetSource.init(parsing:)) var dataset: DatasetSource?
    @Option(help: "Train on this many proxy images (class-balanced).") var subset: Int?
    @Option(name: .customLong("validation-fraction"), help: "Share of the proxy's training files held out for validation (default: 0.1).") var validationFraction: Double?
    @Option(help: "Proxy epochs per candidate (default: 3).") var epochs: Int?
    @Option(help: "Proxy batch size (default: 64).") var batch: Int?
    @Option(help: "Proxy learning rate, SGD with a cosine schedule (default: 0.05; grid: 0.01).") var lr: Float?
    @Option(help: "Threads per worker (default: all cores).") var threads: Int?
    @Option(help: "Proxy normalisation: imagenet (default for image folders) or dataset.") var normalize: String?
    @Option(name: .customLong("crop-scale"), help: "Image folders: the area range of training crops, LOW,HIGH (default 0.08,1).", transform: CropScale.init(parsing:)) var cropScale: CropScale?
    @Flag(name: .customLong("no-flip"), help: "Image folders: no horizontal flips in training.") var noFlip = false
    @Flag(name: .customLong("skip-bad-images"), help: "Image folders: leave out corrupt images instead of stopping.") var skipBadImages = false
    @Option(help: "Successive halving (implies --fidelity sh): the epochs trained in all at the end of each rung, increasing (default 1,3,9; grid: 2,6,18).", transform: SuccessiveHalving.rungs(parsing:)) var rungs: [Int]?
    @Option(help: "Successive halving: the best 1/eta of a rung go on to the next (default: 3).") var eta: Int?
    @Option(name: .customLong("min-epochs"), help: "Successive halving: the first rung's epochs; the rungs grow by eta up to --max-epochs.") var minEpochs: Int?
    @Option(name: .customLong("max-epochs"), help: "Successive halving: the top rung's epochs.") var maxEpochs: Int?
    @Option(help: "The engine's GEMM: fast (OpenBLAS, its kernels per CPU) or portable (the engine's own, fixed order: the same bits on every x86-64 machine with AVX2, for workers on different machines). (default: fast)") var numerics: Numerics?

    /// The flags as given, for the plan (`ProxyFlags`: defaults, successive halving's schedule, resume checks).
    var flags: ProxyFlags {
        ProxyFlags(dataset: dataset, subset: subset, epochs: epochs, batch: batch, lr: lr, threads: threads, normalize: normalize, cropScale: cropScale,
                   noFlip: noFlip, skipBadImages: skipBadImages, rungs: rungs, eta: eta, minEpochs: minEpochs, maxEpochs: maxEpochs, numerics: numerics, validationFraction: validationFraction)
    }

    func validate() throws {
        // ArgumentParser reports only ValidationError from validate() as a usage error (exit 2).
        do { try flags.validate() } catch { throw ValidationError("\(error)") }
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
