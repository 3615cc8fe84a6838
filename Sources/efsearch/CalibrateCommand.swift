import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Latency
import Search

extension Efsearch {
    /// `efsearch calibrate`: fits a latency model on this machine, or checks one against timed passes.
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the engine's units on seeded random networks and fit a latency model, or check one (--check N).",
            discussion: """
            Calibration times seeded random networks (all four block types, kernels 3-7, 64-320 px; a quarter of \
            them members of the built-in families at other widths, depths and resolutions) in inference as the \
            engine runs them: every block whole (fused), the stem, head and classifier apart, beside passes of a \
            reference network (EfficientNet-B0 at 160 px) so that the host's speed drift cancels out. A block's time \
            is the sum of its units' linear models (MACs with the busiest thread's share, activation bytes, weight \
            bytes, SiLU elements, kxk tap-outputs, and the bytes of weights and of activations larger than the L2 cache); all units are fitted together over the timed \
            blocks by weighted least squares (GSL), minimising relative error, then whole passes give a scale, an \
            exponent and a per-pass term. The model is cached for this CPU, thread count, batch, efsearch version \
            and BLAS, and `estimate`, `nas` and `grid` use it from then on.

            Examples:
              efsearch calibrate                          # about 3 minutes on 2 cores
              efsearch calibrate --check 40 --json        # predicted against measured on 40 new networks
              efsearch calibrate --out device.json        # then, elsewhere: efsearch estimate ... --latency-model device.json
            """)

        @Option(help: "Threads of the engine (default: all cores).") var threads: Int?
        @Option(help: "Batch size of the timed passes.") var batch: Int = 1
        @Option(name: .customLong("budget-seconds"), help: "Time to spend drawing and timing networks (a calibration takes about this long).") var budgetSeconds: Amount<Double> = 180
        @Option(help: "Write the model here (default: the cache directory).") var out: String?
        @Option(help: "Seed of the random networks.") var seed: UInt64 = 0
        @Option(help: "Check the model instead: time this many networks never used to fit it.") var check: Int?
        @Option(help: "With --check: draw the networks from this search space (default: random arch strings, 96-256 px).") var space: String?
        @Option(help: "With --check: also write each network's predicted and measured ms to this CSV file.") var csv: String?
        @Option(help: "Timed passes per network per round, the same to calibrate and to check (with fewer, a network's time relative to the reference comes out lower).") var runs: Int = 10
        @Option(name: .customLong("series-seconds"), help: "Each series of timed passes, the reference network's too, lasts at least this long: a fast network runs more than --runs passes.") var seriesSeconds: Double = 0.1
        @Option(help: "Rounds over all the networks (default 3 to calibrate, 10 with --check); a network's time relative to the reference network is the median over rounds.") var rounds: Int?
        @Option(name: .customLong("family-share"), help: "The share of calibration networks drawn from the built-in families (EfficientNet-B0, MobileNetV2, MnasNet, EfficientNetV2-S at other widths, depths and resolutions); the rest are random arch strings. A check draws random arch strings only.") var familyShare: Double = 0.25
        @Option(help: "Also write every timed block and unit (its units' features, seconds) to this CSV file.") var samples: String?
        @OptionGroup var latency: LatencyModelOptions
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if !(budgetSeconds.value > 0) { throw ValidationError("--budget-seconds \(budgetSeconds) must be greater than 0") }
            if let check, check < 2 { throw ValidationError("--check \(check) must be at least 2 (a ranking needs two networks)") }
            if runs < 1 { throw ValidationError("--runs \(runs) must be at least 1") }
            if !(seriesSeconds >= 0 && seriesSeconds <= 60) { throw ValidationError("--series-seconds \(seriesSeconds) must be between 0 and 60") }
            if !(familyShare >= 0 && familyShare <= 1) { throw ValidationError("--family-share \(familyShare) must be between 0 and 1") }
            if let rounds, rounds < 1 { throw ValidationError("--rounds \(rounds) must be at least 1") }
            if check == nil && (space != nil || csv != nil) { throw ValidationError("--space and --csv go with --check") }
        }

        var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

        var settings: CalibrationSettings {
            var settings = CalibrationSettings(threads: threadCount)
            settings.batch = batch
            settings.budgetSeconds = budgetSeconds.value
            settings.seed = seed
            settings.runs = runs
            settings.seriesSeconds = seriesSeconds
            settings.rounds = rounds
            settings.familyShare = familyShare
            return settings
        }

        func run() throws {
            if let check { try runCheck(count: check) } else { try calibrate() }
        }

        func calibrate() throws {
            let key = CalibrationKey.current(threads: threadCount, batch: batch, efsearch: EfsearchVersion.current)
            let path = out ?? LatencyModel.cacheFile(in: MachineProfileCache.directory, key: key)
            // Check the destination before spending minutes.
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw CalibrationError(file: path, message: "cannot create \(directory.path): \(error.localizedDescription)")
            }
            guard FileManager.default.isWritableFile(atPath: directory.path) else { throw CalibrationError(file: path, message: "its folder is not writable") }
            if !json { Console.note("calibrating \(key) for about \(Int(budgetSeconds.value)) s") }
            let progress = ProgressBar("calibrate")
            let outcome = try Calibration.run(settings, key: key, note: { if !json { Console.note($0) } }, progress: progress.report)
            progress.finish()
            let model = outcome.model
            try model.save(path)
            if let file = samples {
                do { try outcome.samplesCSV.write(toFile: file, atomically: true, encoding: .utf8) } catch {
                    throw CalibrationError(file: nil, message: "cannot write --samples \(file): \(error.localizedDescription)")
                }
            }
            if json {
                var object = JSONObjectWriter()
                object.add("file", path)
                object.add("networks", model.networks)
                object.add("fit_mape", model.fitMAPE)
                let units = LatencyUnit.allCases.compactMap { unit in
                    model.units[unit].map { "\"\(unit.rawValue)\":{\"samples\":\($0.samples),\"rms_relative_error\":\($0.rmsRelativeError)}" }
                }
                object.addRaw("units", "{" + units.joined(separator: ",") + "}")
                print(object.finished())
                return
            }
            var rows: [[String]] = []
            for unit in LatencyUnit.allCases {
                guard let fit = model.units[unit] else { continue }
                rows.append([unit.rawValue, "\(fit.samples)", Format.fixed(100 * fit.rmsRelativeError, 1) + "%"])
                if !ProgressBar.isTerminalOutput { Console.note("\(unit.rawValue): \(fit.samples) timed units, RMS error \(Format.fixed(100 * fit.rmsRelativeError, 1))%") }
            }
            print(Format.table(["unit", "samples", "RMS rel. error"], rows, leftColumns: 1))
            print("\(model.networks) networks timed; end to end the fit is off by \(Format.fixed(100 * model.fitMAPE, 1))% on average (in sample)")
            print("wrote \(path)")
            print("check it on networks it has not seen: efsearch calibrate --check 40\(out.map { " --latency-model \($0)" } ?? "")")
        }

        func runCheck(count: Int) throws {
            guard let model = try latency.load(threads: threadCount, batch: batch, quiet: json) else {
                throw CalibrationError(file: nil, message: "no latency model for this machine (\(threadCount) threads, batch \(batch)): run efsearch calibrate first, or pass --latency-model FILE")
            }
            // From a search space (random genotypes), or random arch strings; never networks a calibration used.
            let networks = try space.map { path in
                try SearchSpace.load(path: path).sampleNetworks(count: count, seed: LatencyCheck.checkSeed(seed)).map { ($0.archString, $0) }
            } ?? LatencyCheck.randomNetworks(count: count, seed: seed)
            let progress = ProgressBar("check")
            let check = try LatencyCheck(model: model, modelFile: latency.latencyModel, networks: networks, settings: settings, progress: progress.report)
            progress.finish()
            if let csv {
                do { try check.csv.write(toFile: csv, atomically: true, encoding: .utf8) } catch {
                    throw CalibrationError(file: nil, message: "cannot write --csv \(csv): \(error.localizedDescription)")
                }
            }
            let presets = check.presetRows
            if json {
                var object = JSONObjectWriter()
                object.add("count", check.random.count)
                check.plain.add(to: &object)
                if let corrected = check.corrected {
                    var nested = JSONObjectWriter()
                    corrected.add(to: &nested)
                    object.addRaw("drift_corrected", nested.finished())
                }
                object.add("threads", threadCount)
                object.add("batch", batch)
                object.add("rounds", check.rounds)
                object.add("runs", runs)
                object.add("series_seconds", seriesSeconds)
                let items = presets.map { row -> String in
                    var item = JSONObjectWriter()
                    item.add("name", row.name)
                    item.add("resolution", row.network.resolution)
                    item.add("predicted_ms", row.predicted)
                    item.add("measured_ms", row.measured)
                    if let value = row.corrected { item.add("drift_corrected_ms", value) }
                    return item.finished()
                }
                object.addRaw("presets", "[" + items.joined(separator: ",") + "]")
                print(object.finished())
                return
            }
            print("\(check.random.count) networks never used in the fit, batch \(batch), \(threadCount) threads, \(check.rounds) rounds of at least \(runs) passes and \(Format.fixed(seriesSeconds, 2)) s each:")
            print("measured (median of all passes):  \(check.plain.summary)")
            if let corrected = check.corrected { print("drift-corrected (to the reference): \(corrected.summary)") }
            print()
            print(Format.table(["preset", "px", "predicted ms", "measured ms", "error", "corrected ms", "error"], presets.map { row in
                [row.name, "\(row.network.resolution)", Format.fixed(row.predicted, 2), Format.fixed(row.measured, 2), Format.fixed(100 * (row.predicted / row.measured - 1), 1) + "%",
                 row.corrected.map { Format.fixed($0, 2) } ?? "-", row.corrected.map { Format.fixed(100 * (row.predicted / $0 - 1), 1) + "%" } ?? "-"]
            }, leftColumns: 1))
        }
    }
}
