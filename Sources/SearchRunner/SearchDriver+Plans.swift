import Architecture
import Cost
import Engine
import Foundation
import Search
import Store
import Training

// The run kinds besides a search: a proxy-check and the compound-scaling grid.

extension SearchDriver {
    // MARK: proxy-check

    /// Samples the candidates (seeded random draws of the space) and stores each twice, at the short setting
    /// (generation 0) and the long one (generation 1), both with the same training seed, and with `noiseFloor` a
    /// third time at the short setting with another seed (generation 2); then trains them all.
    func proxyCheck(_ plan: ProxyCheckPlan) throws {
        if try store.candidates(runId: run.id!).isEmpty {
            var strategy = RandomStrategy(dimensions: space.dimensions, seed: configuration.seed)
            var keys = Set<String>()
            var bases: [CandidateRecord] = []
            _ = strategy.propose(plan.sample) { genotype in
                guard let base = record(genotype, generation: 0), keys.insert(base.key).inserted else { return false }
                bases.append(base)
                return true
            }
            var records: [CandidateRecord] = []
            for (generation, name) in (["short", "long"] + (plan.noiseFloor == true ? ["reseeded"] : [])).enumerated() {
                for base in bases {
                    var record = base
                    record.key = base.key + "/" + name
                    if name == "reseeded" { record.seed = Int64(bitPattern: CandidateEvaluator.seed(runSeed: configuration.seed &+ 1, key: base.key)) }
                    record.generation = generation
                    record.extra = ProxyCheckCoding.encode(setting: name)
                    let spec = try network(of: record)
                    record.resolution = spec.resolution
                    evaluator.estimate(try spec.resolve(), into: &record)
                    records.append(record)
                }
            }
            try score(&records)
            try store.insert(records)
            log("proxy-check: \(bases.count) candidates, each at \(plan.short) and at \(plan.long)")
        }
        for generation in 0..<(plan.noiseFloor == true ? 3 : 2) { try finish(generation: generation) }
        try store.setRunStatus(run.id!, .done)
    }

    // MARK: grid --phi

    func gridMember(_ point: GridPoint, plan: GridPlan) -> NetworkSpec {
        CandidateNetworks.gridMember(point, base: space.base, phi: plan.phi)
    }

    /// Every (alpha, beta, gamma) point of the plan, realised, stored and evaluated.
    func gridSearch(_ plan: GridPlan) throws {
        if try store.candidates(runId: run.id!).isEmpty {
            let baseMACs = Double(CostModel.summary(of: try space.base.resolve()).macs)
            var records: [CandidateRecord] = []
            var keys = Set<String>()
            var points: [GridPoint] = []
            var networks: [String: Int] = [:]
            var twins = 0
            for var point in plan.points {
                let spec = gridMember(point, plan: plan)
                guard let network = try? spec.resolve() else {
                    log("grid: alpha \(point.alpha), beta \(point.beta), gamma \(point.gamma) makes no valid network; skipped")
                    continue
                }
                let key = SearchSpace.key(network) + "/a\(point.alpha)b\(point.beta)g\(point.gamma)"
                guard keys.insert(key).inserted else { continue }
                // A point whose proxy network an earlier point already has is trained once, with that point.
                if let index = networks[SearchSpace.key(network)] {
                    point.flopsRatio = points[index].flopsRatio
                    points[index].twins = (points[index].twins ?? []) + [point]
                    twins += 1
                    continue
                }
                networks[SearchSpace.key(network)] = records.count
                // Common random numbers: every point trains with the same seed (batch order, crops, flips), so that
                // the points differ by their networks and not by their draws.
                var record = CandidateRecord(
                    runId: run.id!, key: key, generation: 0, genotype: GenotypeCoding.encode([]), arch: network.archString, width: spec.width,
                    depth: spec.depth, resolution: spec.resolution, stem: network.stemChannels, head: network.headChannels,
                    seed: Int64(bitPattern: CandidateEvaluator.seed(runSeed: configuration.seed, key: "grid")))
                evaluator.estimate(network, into: &record)
                point.flopsRatio = Double(record.macs) / baseMACs
                points.append(point)
                if plan.fidelity == .estimate {
                    record.status = .done
                    record.finishedAt = Date()
                }
                records.append(record)
            }
            for index in records.indices { records[index].extra = try GridPointCoding.encode(points[index]) }
            try score(&records)
            try store.insert(records)
            log("grid: \(records.count + twins) (alpha, beta, gamma) points\(twins > 0 ? ", \(records.count) distinct proxy networks (\(twins) points share one with an earlier point and are trained with it)" : "")")
        }
        try finish(generation: 0)
        try updateFrontier()
        try store.setRunStatus(run.id!, .done)
    }
}
