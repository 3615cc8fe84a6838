import ArgumentParser
import Cost
import Latency
import SearchRunner

extension Efsearch {
    /// `efsearch calibrate`: fits a latency model on this machine, or checks one against timed passes.
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the engine's units on seeded random networks and fit a latency model, or check one (--check N).",
            discussion: """
            Times seeded networks (random arch strings, members of the built-in families, genotypes of the shipped search \
            spaces or --space) block by block as the engine runs them, beside a reference network that takes out the \
            host's drift, and fits every unit's linear model by weighted least squares (GSL), then whole passes. The \
            model is cached for this CPU, thread count, batch, efsearch version and BLAS; estimate, nas and grid use it. \
            With --from MODEL, a model made elsewhere is adapted from a minute of timings instead. See docs/latency.md.

            Examples:
              efsearch calibrate                          # about 3 minutes on 2 cores
              efsearch calibrate --check 40 --json        # predicted against measured on 40 new networks
              efsearch calibrate --out device.json        # then, elsewhere: efsearch estimate ... --latency-model device.json
              efsearch calibrate --from device.json --budget-seconds 60   # adapt another machine's (or thread count's) model
            """)

        @OptionGroup var threads: ThreadOptions
        @Option(help: "Batch size of the timed passes.") var batch: Int = 1
        @Option(name: .customLong("budget-seconds"), help: "Time to spend drawing and timing networks (a calibration takes about this long).") var budgetSeconds: Amount<Double> = 180
        @Option(help: "Write the model here (default: the cache directory).") var out: String?
        @Option(help: "Seed of the random networks.") var seed: UInt64 = 0
        @Option(help: "Check the model instead: time this many networks never used to fit it.") var check: Int?
        @Option(help: "Draw networks from this search space, repeatable: to calibrate, --space-share of them (default: the shipped spaces); with --check, all (the count shared; default: random arch strings, 96-256 px).") var space: [String] = []
        @Option(help: "With --check: also write each network's predicted and measured ms to this CSV file.") var csv: String?
        @Option(help: "Timed passes per network per round, the same to calibrate and to check (the quietest round's median of fewer passes comes out lower).") var runs: Int = 10
        @Option(name: .customLong("series-seconds"), help: "Each series of timed passes, the reference network's too, lasts at least this long: a fast network runs more than --runs passes.") var seriesSeconds: Double = 0.1
        @Option(help: "Rounds over all the networks (default 3 to calibrate, 10 with --check); a network's time is its quietest round's median, a layer's its fastest profiled pass.") var rounds: Int?
        @Option(name: .customLong("family-share"), help: "The share of calibration networks drawn from the built-in families (EfficientNet-B0, MobileNetV2, MnasNet, EfficientNetV2-S at other widths, depths and resolutions); the rest are random arch strings. A check draws random arch strings only.") var familyShare: Double = 0.25
        @Option(name: .customLong("space-share"), help: "The share of calibration networks drawn from the search spaces (--space).") var spaceShare: Double = 0.12
        @Option(help: "Adapt this latency model (made on another machine, thread count or batch) from a few timed networks instead of fitting anew (with a short --budget-seconds, e.g. 60).") var from: String?
        @Option(help: "Also write every timed block and unit (its units' features, seconds) to this CSV file.") var samples: String?
        @OptionGroup var latency: LatencyModelOptions
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            do { try settings.validate() } catch { throw ValidationError("\(error)") }
            if let check, check < 2 { throw ValidationError("--check \(check) must be at least 2 (a ranking needs two networks)") }
            if check == nil ? csv != nil : from != nil { throw ValidationError(check == nil ? "--csv goes with --check" : "--from goes without --check") }
        }

        var threadCount: Int { threads.count }
        var settings: CalibrationSettings {
            CalibrationSettings(threads: threadCount, batch: batch, budgetSeconds: budgetSeconds.value, seed: seed, runs: runs, seriesSeconds: seriesSeconds,
                                rounds: rounds, familyShare: familyShare).with { $0.spaceShare = spaceShare }
        }

        func run() throws {
            if let check { try runCheck(count: check) } else { try calibrate() }
        }

        func calibrate() throws {
            let progress = ProgressBar("calibrate")
            let (outcome, path) = try settings.calibrate(spaces: space, from: from, out: out, samples: samples, note: { if !json { Console.note($0) } }, progress: progress.report)
            progress.finish()
            if json { return print(outcome.model.fitJSON(file: path)) }
            if !ProgressBar.isTerminalOutput { outcome.model.fitLines.forEach(Console.note) }
            print(outcome.model.fitText(file: path, given: out))
        }

        func runCheck(count: Int) throws {
            guard let model = try latency.load(threads: threadCount, batch: batch, quiet: json) else {
                throw CalibrationError(file: nil, message: "no latency model for this machine (\(threadCount) threads, batch \(batch)): run efsearch calibrate first, or pass --latency-model FILE")
            }
            // From a search space (random genotypes), or random arch strings; never networks a calibration used.
            let networks = try LatencyCheck.networks(count: count, spaces: space, seed: seed)
            let progress = ProgressBar("check")
            let check = try LatencyCheck(model: model, modelFile: latency.latencyModel, networks: networks, settings: settings, progress: progress.report)
            progress.finish()
            if let csv { try check.writeCSV(to: csv) }
            print(json ? check.json(settings: settings) : check.text(settings: settings))
        }
    }
}
