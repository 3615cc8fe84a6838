import ArgumentParser
import SearchRunner

extension Efsearch {
    /// `efsearch grid --phi 1`: the compound-scaling grid search of the EfficientNet paper, on a proxy.
    struct Grid: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grid-search alpha, beta, gamma >= 1 with alpha * beta^2 * gamma^2 ~= 2 at phi = 1, on a proxy, and rank them by accuracy.",
            discussion: """
            The base network is shrunk to a proxy that fits this machine (default: width 0.25, depth 0.25 of the base,
            64 px), scaled by each (alpha, beta, gamma) at --phi with the official rounding, short-trained on the proxy
            dataset with successive halving at learning rate 0.01 (every point 2 epochs, the best third on to 6, the best of
            those to 18; --rungs, --eta, --lr; --fidelity train --epochs N trains every point alike), ranked by validation
            loss within a rung, and stored as a run with its grid. efsearch scale --from-run NAME then prints the full
            family from the best one. Settings given again with --resume must equal the stored ones.

            Examples:
              efsearch grid --phi 1 --run b0-grid                 # trains the grid's points on a proxy
              efsearch grid --fidelity estimate --run b0-costs    # the grid's costs only, in seconds
              efsearch scale --from-run b0-grid --phi 0-7         # the family from the best point
            """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var proxy: ProxyOptions
        @Option(help: "Base network, a preset (default: efficientnet-b0).") var base: String?
        @Option(help: "Compound coefficient of the realised networks (default: 1).") var phi: Double?
        @Option(help: "Grid step for alpha, beta and gamma (default: 0.1).") var step: Double?
        @Option(help: "Largest alpha (default: 1.4).") var alphaMax: Double?
        @Option(help: "Largest beta (default: 1.3).") var betaMax: Double?
        @Option(help: "Largest gamma (default: 1.3).") var gammaMax: Double?
        @Option(help: "Keep points with |alpha * beta^2 * gamma^2 - 2| <= tolerance (default: 0.1).") var tolerance: Double?
        @Option(name: .customLong("proxy-width"), help: "Proxy width multiplier, times the base's (default: 0.25).") var proxyWidth: Double?
        @Option(name: .customLong("proxy-depth"), help: "Proxy depth multiplier, times the base's (default: 0.25).") var proxyDepth: Double?
        @Option(name: .customLong("proxy-resolution"), help: "Proxy resolution before scaling (default: 64).") var proxyResolution: Int?
        @Option(help: "estimate, train or sh (successive halving over --rungs, default 2,6,18 with eta 3) (default: sh; train when --epochs is given).") var fidelity: Fidelity?
        @Option(help: "Seed (default: 0).") var seed: UInt64?
        @OptionGroup var runOptions: RunOptions

        func validate() throws {
            do { try flags.validate() } catch { throw ValidationError("\(error)") }
        }

        /// The plan flags as given (`GridFlags`: defaults, checks, resume comparison).
        var flags: GridFlags {
            var flags = GridFlags()
            (flags.base, flags.phi, flags.step, flags.alphaMax, flags.betaMax, flags.gammaMax) = (base, phi, step, alphaMax, betaMax, gammaMax)
            (flags.tolerance, flags.proxyWidth, flags.proxyDepth, flags.proxyResolution) = (tolerance, proxyWidth, proxyDepth, proxyResolution)
            (flags.fidelity, flags.seed) = (fidelity, seed)
            return flags
        }

        /// The plan of a new grid run: successive halving unless --epochs or --fidelity says otherwise.
        func plan() throws -> GridPlan { try flags.plan(fidelity: try proxy.flags.fidelity(given: fidelity, fallback: proxy.epochs == nil ? .sh : .train)) }

        func checkResume(_ name: String, store: String, configuration: RunConfiguration) throws {
            try flags.compare(with: configuration, proxy: proxy.flags, run: name, store: store)
        }

        func run() throws {
            var gridPlan: GridPlan?  // the stored plan (on --resume) or the new one
            let check = { (name: String, store: String, configuration: RunConfiguration) throws in
                try checkResume(name, store: store, configuration: configuration)
                if case .grid(let stored) = configuration.plan { gridPlan = stored }
            }
            let (store, record) = try storeOptions.execute(runOptions, check: check) { _ in
                let plan = try plan()
                gridPlan = plan
                return RunConfiguration(seed: seed ?? 0, proxy: try proxy.flags.task(fidelity: plan.fidelity, defaultRungs: GridFlags.defaultRungs,
                                                                             defaultLearningRate: GridFlags.defaultLearningRate), plan: .grid(plan))
            } announce: { record, _, store in
                print("run \(record.name) (store \(store)): \(gridPlan!.summary)")
            }
            print(try GridReport.text(store: store, run: record, plan: gridPlan!))
        }
    }
}
