import Architecture
@testable import Engine
import XCTest
import Statistics

/// The fused inference path (`InferenceKernels.fused`, on both instruction sets this CPU has) against the
/// unfused reference path, block by block on random weights and batch-norm statistics.
final class FusedInferenceTests: XCTestCase {
    /// Runs `body` with fusion `fused`, the instruction set `isa` and `threads` threads (the settings in effect
    /// where not given), then restores the settings before.
    func engine<T>(fused: Bool, isa: KernelISA? = nil, threads: Int? = nil, _ body: () throws -> T) rethrows -> T {
        try EngineConfiguration.current.with { $0.fused = fused; $0.isa = isa ?? $0.isa; $0.threads = threads ?? $0.threads }.apply(body)
    }

    /// The instruction sets this machine can run (AVX-512 only where the CPU has it).
    static var instructionSets: [KernelISA] { InferenceKernels.cpuHasAVX512 ? [.avx2, .avx512] : [.avx2] }

    /// Every block type, strides 1 and 2, kernels 3, 5 and 7, with and without squeeze-excite, SiLU, ReLU and
    /// ReLU6; channel counts that are not multiples of 16; dilation 2 where the output stride caps the strides;
    /// kxk convolutions with megabytes of weights.
    static let networks: [(arch: String, outputStride: Int)] = [
        ("ds_r1_k3_s1_e1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;ir_r2_k5_s2_e6_c40_se0.25;er_r2_k3_s2_e4_c36;cn_r2_k3_s1_c36", 32),
        ("ds_r1_k5_s1_e1_c20_nre;ir_r2_k5_s2_e3_c28_nr6;er_r2_k3_s2_e4_c44_se0.25;ir_r2_k3_s2_e4_c52_se0.25;cn_r2_k5_s2_c60_nre", 8),
        ("cn_r1_k3_s1_c24;er_r2_k5_s2_e6_c32_se0.25_nr6;ds_r2_k7_s2_e1_c48_se0.25;ir_r2_k3_s1_e2_c48_noskip;ir_r1_k7_s1_e3_c56_se0.25", 4),
        // Weights too large for one pass over the rows: the kxk kernel walks groups of output blocks; the last
        // stage (10x10 output, 900,000 weights) splits its output channels over 2 threads.
        ("cn_r1_k3_s1_c24;er_r1_k3_s2_e4_c176;er_r2_k5_s1_e2_c180_se0.25;cn_r1_k5_s1_c200", 32),
    ]

    func model(_ arch: String, outputStride: Int, seed: UInt64) throws -> EfficientNetModel {
        var spec = try NetworkSpec(arch: arch)
        spec.resolution = 38
        spec.classes = 21
        spec.outputStride = outputStride
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: seed)
        // Batch norm that is not the identity, and squeeze-excite biases that are not zero.
        let random = RandomGenerator(seed: seed + 1)
        for (name, parameter) in model.namedParameters() where name.hasSuffix(".bias") || name.contains("bn") {
            for index in 0..<parameter.value.count { parameter.value[index] = Float(random.uniform() * 0.6 - 0.3) + (name.hasSuffix("weight") ? 1 : 0) }
            parameter.markModified()
        }
        for (_, norm) in model.namedNorms() {
            for channel in 0..<norm.channels {
                norm.runningMean[channel] = Float(random.uniform() * 0.4 - 0.2)
                norm.runningVar[channel] = Float(0.5 + random.uniform())
            }
            norm.markStatisticsModified()
        }
        return model
    }

    func worstRelative(_ ours: Tensor, _ reference: Tensor) -> Float {
        precondition(ours.shape == reference.shape)
        var scale: Float = 1e-30, worst: Float = 0
        for index in 0..<reference.count {
            scale = max(scale, abs(reference[index]))
            worst = max(worst, abs(ours[index] - reference[index]))
        }
        return worst / scale
    }

    func testFusedBlocksMatchTheUnfusedPath() throws {
        var blocksChecked = 0
        var seenDilation = false, seenTypes = Set<String>()
        for (networkIndex, network) in Self.networks.enumerated() {
            let model = try model(network.arch, outputStride: network.outputStride, seed: UInt64(10 + networkIndex))
            var input = TestData.tensor([2, 19, 19, model.stem.outChannels], seed: 3)
            for block in model.blocks.joined() {
                input = TestData.tensor([2, input.shape[1], input.shape[2], block.spec.inChannels], seed: UInt64(blocksChecked), scale: 2)
                let reference = engine(fused: false) { block.forward(input, training: false, random: nil).clone() }
                for isa in Self.instructionSets {
                    // Fresh buffers: what the previous pass left in them must not hide an output the kernels skip.
                    block.releaseCaches()
                    let fused = engine(fused: true, isa: isa) { block.forward(input, training: false, random: nil) }
                    XCTAssertEqual(fused.shape, reference.shape)
                    let error = worstRelative(fused, reference)
                    XCTAssertLessThanOrEqual(error, 1e-5, "\(block.spec.name) (\(block.spec.type), k\(block.spec.kernel) s\(block.spec.stride) d\(block.spec.dilation) se \(block.spec.seChannels)) on \(isa): \(error)")
                }
                input = reference
                blocksChecked += 1
                seenDilation = seenDilation || block.spec.dilation > 1
                seenTypes.insert("\(block.spec.type)")
            }
        }
        XCTAssertGreaterThanOrEqual(blocksChecked, 20)
        XCTAssertTrue(seenDilation, "a dilated block was checked")
        XCTAssertEqual(seenTypes.count, 4, "every block type was checked: \(seenTypes)")
    }

    func testFusedLogitsMatchTheUnfusedPath() throws {
        for (networkIndex, network) in Self.networks.enumerated() {
            let model = try model(network.arch, outputStride: network.outputStride, seed: UInt64(20 + networkIndex))
            let x = TestData.tensor([3, 38, 38, 3], seed: 7, scale: 2)
            let reference = engine(fused: false) { model.forward(x, training: false).clone() }
            for isa in Self.instructionSets {
                model.releaseCaches()
                let error = worstRelative(engine(fused: true, isa: isa) { model.forward(x, training: false) }, reference)
                XCTAssertLessThanOrEqual(error, 1e-5, "network \(networkIndex) on \(isa): \(error)")
            }
        }
    }

    /// The inference arena never hands out a buffer that holds a live tensor, grows a buffer on demand, and a
    /// tensor over a buffer it has since replaced keeps its memory.
    func testInferenceArenaNeverHandsOutALiveBuffer() {
        let arena = InferenceArena()
        let a = arena.tensor(shape: [2, 3], live: [])
        a.fill(1)
        let b = arena.tensor(shape: [6], live: [a])
        b.fill(2)
        let c = arena.tensor(shape: [6], live: [a, b])
        c.fill(3)
        XCTAssertEqual(Set([a.data, b.data, c.data]).count, 3)
        // a and c live: b's buffer comes back, grown.
        let d = arena.tensor(shape: [1000], live: [c, a])
        d.fill(4)
        XCTAssertFalse([a.data, c.data].contains(d.data))
        XCTAssertEqual(a.array, [Float](repeating: 1, count: 6))
        XCTAssertEqual(b.array, [Float](repeating: 2, count: 6), "b's old buffer stays alive while b does")
        XCTAssertEqual(c.array, [Float](repeating: 3, count: 6))
        XCTAssertGreaterThanOrEqual(arena.capacity, 6 + 6 + 1000)
        // Any two live tensors leave a third buffer.
        for _ in 0..<10 {
            let e = arena.tensor(shape: [6], live: [d, a])
            XCTAssertFalse([d.data, a.data].contains(e.data))
        }
    }

    /// The fused path gives the same logits whatever the thread count (its pooling sums go row by row; a kxk
    /// convolution split over output channels, as the last network's last stage is on 2 threads, computes every
    /// output as one split over rows does).
    func testFusedLogitsDoNotDependOnThreads() throws {
        for networkIndex in [0, Self.networks.count - 1] {
            let model = try model(Self.networks[networkIndex].arch, outputStride: Self.networks[networkIndex].outputStride, seed: 5)
            let x = TestData.tensor([2, 38, 38, 3], seed: 8)
            for isa in Self.instructionSets {
                let one = engine(fused: true, isa: isa, threads: 1) { model.forward(x, training: false).clone() }
                let two = engine(fused: true, isa: isa, threads: 2) { model.forward(x, training: false) }
                XCTAssertEqual(one.array, two.array, "network \(networkIndex) on \(isa)")
            }
        }
    }
}
