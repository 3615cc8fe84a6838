import Foundation
import Metrics
@testable import Search
import Statistics
import XCTest

/// The Gaussian process against scikit-learn and finite differences, the expected hypervolume improvement against
/// numeric integration, and `--strategy bo` as a search.
final class BayesianTests: XCTestCase {
    struct Golden: Decodable {
        var inputs: [[Double]], targets: [Double], queries: [[Double]]
        var lengthscales: [Double]
        var signal_variance: Double, noise_variance: Double
        var log_marginal_likelihood: Double
        var gradient_log_signal: Double, gradient_log_lengthscales: [Double], gradient_log_noise: Double
        var mean: [Double], latent_variance: [Double]
    }

    /// Posterior mean, variance, log marginal likelihood and its gradient on hand-made data, against
    /// `scripts/make_gp_golden.py` (scikit-learn's `GaussianProcessRegressor` with the same kernel).
    func testPosteriorAndLikelihoodMatchScikitLearn() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gp_golden.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        let h = GaussianProcess.Hyperparameters(lengthscales: golden.lengthscales, signalVariance: golden.signal_variance,
                                                noiseVariance: golden.noise_variance)
        let process = try GaussianProcess(inputs: golden.inputs, targets: golden.targets, hyperparameters: h)
        let (means, v) = process.posterior(at: golden.queries)
        for (index, query) in golden.queries.enumerated() {
            let (mean, variance) = process.predict(query)
            XCTAssertEqual(mean, golden.mean[index], accuracy: 1e-9)
            XCTAssertEqual(variance, golden.latent_variance[index], accuracy: 1e-9)
            XCTAssertEqual(means[index], golden.mean[index], accuracy: 1e-9, "the batch posterior")
            let columnSquares = (0..<process.count).reduce(0.0) { $0 + v[$1 * golden.queries.count + index] * v[$1 * golden.queries.count + index] }
            XCTAssertEqual(h.signalVariance - columnSquares, golden.latent_variance[index], accuracy: 1e-9)
        }
        let likelihood = try XCTUnwrap(GaussianProcess.logMarginalLikelihood(inputs: golden.inputs, targets: golden.targets, hyperparameters: h))
        XCTAssertEqual(likelihood.value, golden.log_marginal_likelihood, accuracy: 1e-9)
        for d in 0..<3 { XCTAssertEqual(likelihood.gradient[d], golden.gradient_log_lengthscales[d], accuracy: 1e-8) }
        XCTAssertEqual(likelihood.gradient[3], golden.gradient_log_signal, accuracy: 1e-8)
        XCTAssertEqual(likelihood.gradient[4], golden.gradient_log_noise, accuracy: 1e-8)
    }

    /// The gradient of the log marginal likelihood and of the log prior against central differences.
    func testGradientsMatchFiniteDifferences() throws {
        let random = RandomGenerator(seed: 9)
        let inputs = (0..<20).map { _ in (0..<4).map { _ in random.uniform() } }
        let targets = inputs.map { x in cos(4 * x[0]) + x[1] * x[2] + random.gaussian(sigma: 0.1) }
        let logs = [-0.7, 0.2, 0.9, -1.3, 0.4, -3.0]
        let at = { (logs: [Double]) in GaussianProcess.logMarginalLikelihood(inputs: inputs, targets: targets, hyperparameters: .init(logs: logs))!.value }
        let analytic = try XCTUnwrap(GaussianProcess.logMarginalLikelihood(inputs: inputs, targets: targets, hyperparameters: .init(logs: logs))).gradient
        let prior = GaussianProcess.logPrior(logs).gradient
        let step = 1e-5
        for i in logs.indices {
            var up = logs, down = logs
            up[i] += step
            down[i] -= step
            XCTAssertEqual(analytic[i], (at(up) - at(down)) / (2 * step), accuracy: 1e-5 * max(1, abs(analytic[i])), "coordinate \(i)")
            XCTAssertEqual(prior[i], (GaussianProcess.logPrior(up).value - GaussianProcess.logPrior(down).value) / (2 * step), accuracy: 1e-6)
        }
    }

    /// The fitted noise follows the data: near the true variance for noisy targets, near zero for exact ones.
    func testFitFindsTheNoiseLevel() {
        let random = RandomGenerator(seed: 3)
        let inputs = (0..<80).map { _ in (0..<2).map { _ in random.uniform() } }
        let smooth = inputs.map { x in sin(5 * x[0]) + 0.5 * x[1] }
        let noisy = smooth.map { $0 + random.gaussian(sigma: 0.2) }
        let fittedNoisy = GaussianProcess.fit(inputs: inputs, targets: noisy)
        XCTAssertGreaterThan(fittedNoisy.noiseVariance, 0.02)
        XCTAssertLessThan(fittedNoisy.noiseVariance, 0.08, "true noise variance 0.04")
        let fittedExact = GaussianProcess.fit(inputs: inputs, targets: smooth)
        XCTAssertLessThan(fittedExact.noiseVariance, 1e-3)
        // The optimum is at least as probable as the prior's centre.
        let posterior = { (h: GaussianProcess.Hyperparameters) in
            GaussianProcess.logMarginalLikelihood(inputs: inputs, targets: noisy, hyperparameters: h)!.value + GaussianProcess.logPrior(h.logs).value
        }
        let centre = GaussianProcess.Hyperparameters(logs: [Double](repeating: 2.0.squareRoot() + 0.5 * log(2.0), count: 2) + [0, log(0.01)])
        XCTAssertGreaterThanOrEqual(posterior(fittedNoisy), posterior(centre))
    }

    /// E[HVI] in closed form against a numeric integral of the exact improvement over the normal density, with
    /// one, two and three costs.
    func testExpectedImprovementMatchesNumericIntegration() {
        let cases: [(known: [Double], modelled: Int, front: [[Double]], reference: [Double])] = [
            ([0], 0, [[2.0], [3.5]], [5]),
            ([0, 1.5], 0, [[1, 3], [2, 2], [3, 0.5]], [4, 4]),
            ([0.8, 0], 1, [[1, 3], [2, 2], [3, 0.5]], [4, 4]),
            ([1.5, 0, 2.5], 1, [[1, 3, 1], [2, 2, 3], [3, 0.5, 2], [0.5, 1, 3.5]], [4, 4, 4]),
            ([5, 0], 0, [[1, 3]], [4, 4]),  // outside the reference in a known cost: nothing
        ]
        for (known, j, front, reference) in cases {
            for (mean, deviation) in [(1.8, 0.6), (3.0, 0.05), (0.2, 1.5), (2.5, 0)] {
                let closed = BayesianStrategy.Model.expectedImprovement(known: known, modelled: j, mean: mean, deviation: deviation,
                                                                        front: front, reference: reference)
                let base = Pareto.hypervolume(front, reference: reference)
                func improvement(_ y: Double) -> Double {
                    var point = known
                    point[j] = y
                    return Pareto.hypervolume(front + [point], reference: reference) - base
                }
                var numeric = 0.0
                if deviation == 0 {
                    numeric = improvement(mean)
                } else {
                    // Midpoint rule over ±8 deviations.
                    let steps = 40_000, width = 16 * deviation / Double(steps)
                    for s in 0..<steps {
                        let y = mean - 8 * deviation + (Double(s) + 0.5) * width
                        let z = (y - mean) / deviation
                        numeric += improvement(y) * exp(-z * z / 2) / (deviation * (2 * Double.pi).squareRoot()) * width
                    }
                }
                XCTAssertEqual(closed, numeric, accuracy: 1e-5 * max(1, numeric), "known \(known), cost \(j), N(\(mean), \(deviation)²)")
            }
        }
    }

    /// A separable toy problem: the first cost modelled (a smooth function of the choices), the second free (the
    /// sum of the choices), a free constraint (the first choice is not 0).
    struct Toy {
        let dimensions = (0..<5).map { Dimension(name: "d\($0)", count: 6) }
        func modelledCost(_ genotype: Genotype) -> Double {
            genotype.enumerated().reduce(0.0) { $0 + Double(($1.element - 2 - $1.offset % 2) * ($1.element - 2 - $1.offset % 2)) }
        }
        func freeCost(_ genotype: Genotype) -> Double { Double(genotype.reduce(0, +)) }
        func values(_ genotype: Genotype) -> MetricValues { MetricValues([.naswot: -modelledCost(genotype), .macs: freeCost(genotype)]) }
        var problem: FreeObjectives {
            FreeObjectives(isFree: [false, true], assess: { genotype in
                Assessment(costs: [0, freeCost(genotype)], features: [freeCost(genotype)], feasible: genotype[0] != 0)
            }, modelled: { values in [-values[.naswot]!] })
        }
        let costs = { (values: MetricValues) -> [Double]? in [-values[.naswot]!, values[.macs]!] }

        func run(_ strategy: inout some SearchStrategy, budget: Int) -> [Genotype] {
            var seen: Set<Genotype> = [], proposals: [Genotype] = []
            var id = 0
            while proposals.count < budget {
                let batch = strategy.propose(5) { seen.insert($0).inserted }
                guard !batch.isEmpty else { break }
                proposals += batch
                strategy.observe(batch.map { genotype in
                    id += 1
                    return Observation(id: id, genotype: genotype, metrics: values(genotype))
                })
            }
            return proposals
        }

        func volume(_ proposals: [Genotype]) -> Double {
            Pareto.hypervolume(proposals.filter { $0[0] != 0 }.map { [modelledCost($0), freeCost($0)] }, reference: [30, 25])
        }
    }

    /// BO beats random sampling on the toy problem in most seeds, never proposes a candidate its free constraint
    /// rules out once the model runs, keeps a generation's proposals distinct, and repeats for a seed.
    func testBayesianSearchBeatsRandomKeepsConstraintsAndRepeats() {
        let toy = Toy()
        var wins = 0
        for seed in UInt64(1)...8 {
            var bo = BayesianStrategy(dimensions: toy.dimensions, seed: seed, startup: 10, problem: toy.problem, costs: toy.costs)
            var random = RandomStrategy(dimensions: toy.dimensions, seed: seed)
            let proposals = toy.run(&bo, budget: 40)
            XCTAssertEqual(Set(proposals).count, proposals.count)
            XCTAssertTrue(proposals.dropFirst(10).allSatisfy { $0[0] != 0 }, "a candidate that breaks a free constraint was proposed")
            if toy.volume(proposals) > toy.volume(toy.run(&random, budget: 40)) { wins += 1 }
        }
        XCTAssertGreaterThanOrEqual(wins, 7, "BO beat random in \(wins) of 8 seeds")
        var first = BayesianStrategy(dimensions: toy.dimensions, seed: 4, startup: 10, problem: toy.problem, costs: toy.costs)
        var second = BayesianStrategy(dimensions: toy.dimensions, seed: 4, startup: 10, problem: toy.problem, costs: toy.costs)
        XCTAssertEqual(toy.run(&first, budget: 30), toy.run(&second, budget: 30))
        // Large spaces: a random pool and the front's neighbours instead of the whole space.
        var pooled = BayesianStrategy(dimensions: toy.dimensions, seed: 4, startup: 10, problem: toy.problem, enumerationLimit: 100, poolSize: 300, costs: toy.costs)
        let pooledProposals = toy.run(&pooled, budget: 30)
        XCTAssertEqual(Set(pooledProposals).count, 30)
        XCTAssertTrue(pooledProposals.dropFirst(10).allSatisfy { $0[0] != 0 })
    }

    /// The believer's update of a generation's later proposals equals the process refitted with the proposal
    /// observed at its posterior mean (same hyperparameters).
    func testBelievedProposalShrinksVarianceAsARefit() throws {
        let random = RandomGenerator(seed: 2)
        let inputs = (0..<8).map { _ in (0..<2).map { _ in random.uniform() } }
        let targets = inputs.map { $0[0] - $0[1] * $0[1] }
        let candidates = (0..<6).map { _ in (0..<2).map { _ in random.uniform() } }
        let h = GaussianProcess.Hyperparameters(lengthscales: [0.5, 0.8], signalVariance: 1.1, noiseVariance: 0.01)
        let process = try GaussianProcess(inputs: inputs, targets: targets, hyperparameters: h)
        var posterior = BayesianStrategy.Posterior(process: process, candidates: candidates, offset: 0, scale: 1)
        var refitInputs = inputs, refitTargets = targets
        for chosen in [2, 4] {
            refitInputs.append(candidates[chosen])
            refitTargets.append(posterior.means[chosen])
            posterior.believe(chosen)
        }
        let refit = try GaussianProcess(inputs: refitInputs, targets: refitTargets, hyperparameters: h)
        for (index, candidate) in candidates.enumerated() {
            let (mean, variance) = refit.predict(candidate)
            XCTAssertEqual(posterior.means[index], mean, accuracy: 1e-9)
            XCTAssertEqual(posterior.variances[index], variance, accuracy: 1e-9)
        }
    }
}

/// `--enqueue`: entries found back as genotypes of the shipped spaces, refused when the space lacks them, and
/// proposed before the strategy's own.
final class EnqueueTests: XCTestCase {
    func testEveryCandidateOfTheShippedSpacesIsFoundFromItsArchString() throws {
        for name in ["tiny", "efficientnet-b0", "efficientnetv2"] {
            let space = try SearchSpace.load(path: searchSpaces.appendingPathComponent("\(name).yaml").path)
            var random = RandomStrategy(dimensions: space.dimensions, seed: 7)
            let genotypes = random.propose(12) { (try? space.network(for: $0).resolve()) != nil }
            let text = try genotypes.map { "\(try space.network(for: $0).resolve().archString)@\(space.network(for: $0).resolution)" }
                .joined(separator: "\n  # a comment line\n")
            let found = try Enqueue.genotypes(text, file: "test", space: space)
            XCTAssertEqual(found.count, genotypes.count)
            for (wanted, got) in zip(genotypes, found) {
                // Another genotype may give the same network (a choice without effect): the networks must be equal.
                XCTAssertEqual(SearchSpace.key(try space.network(for: got).resolve()), SearchSpace.key(try space.network(for: wanted).resolve()), name)
            }
        }
    }

    func testEntriesOutsideTheSpaceAreRefusedNamingTheLine() throws {
        let tiny = try SearchSpace.load(path: searchSpaces.appendingPathComponent("tiny.yaml").path)
        XCTAssertThrowsError(try Enqueue.genotypes("\n\nir_r1_k3_s1_e1_c16\n", file: "f.txt", space: tiny)) { error in
            XCTAssertEqual((error as? EnqueueError)?.line, 3)
            XCTAssertTrue("\(error)".contains("not a candidate of the space tiny"), "\(error)")
        }
        XCTAssertThrowsError(try Enqueue.genotypes("ds_r1_kk\n", file: "f.txt", space: tiny)) { error in
            XCTAssertTrue("\(error)".contains("line 1") && "\(error)".contains("neither a preset nor an arch string"), "\(error)")
        }
        XCTAssertThrowsError(try Enqueue.genotypes("ds_r1_k3_s1_c16_se0.25;ir_r1_k5_s2_e3_c24;ir_r2_k5_s2_e3_c40_se0.25;er_r2_k5_s2_e6_c80_se0.25@64", file: "f.txt", space: tiny),
                             "the space has 32 px only")
    }

    func testEnqueuedGenotypesComeFirstAndTheStrategyObservesThem() {
        final class Recorder: SearchStrategy {
            var observed: [Int] = []
            func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] { (0..<count).map { [9, $0] }.filter(accept) }
            func observe(_ observations: [Observation]) { observed += observations.map(\.id) }
        }
        let recorder = Recorder()
        var strategy = EnqueuedFirst([[1, 1], [2, 2], [1, 1], [3, 3]], then: recorder)
        var seen = Set<Genotype>()
        XCTAssertEqual(strategy.propose(2) { seen.insert($0).inserted }, [[1, 1], [2, 2]])
        XCTAssertEqual(strategy.propose(3) { seen.insert($0).inserted }, [[3, 3], [9, 0], [9, 1]], "a duplicate entry is passed over")
        strategy.observe([Observation(id: 1, genotype: [1, 1], metrics: nil)])
        XCTAssertEqual(recorder.observed, [1])
    }
}
