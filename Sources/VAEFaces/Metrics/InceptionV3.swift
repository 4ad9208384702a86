// The FID Inception-v3 of pytorch-fid (`pytorch_fid/inception.py`, the TensorFlow FID network):
// 8-bit RGB faces in, the 2048 pool3 features out, inference only.

import Foundation
import NeuralCore
import TensorIO

/// The feature extractor of the FID: pytorch-fid's `InceptionV3` (default block 3, `resize_input`,
/// `normalize_input`, `use_fid_inception`) with its weights from a safetensors file of that
/// module's `state_dict` names (`blocks.0.0.conv.weight`, …, `blocks.3.2.branch_pool.bn.running_var`).
///
/// The forward pass of one image: x/255, bilinear resize to 299×299 (`BilinearResize`, as
/// `F.interpolate(mode='bilinear', align_corners=False)`), 2x − 1; the stem (five convolutions,
/// two 3×3/2 max pools); Mixed_5b–5d (FIDInceptionA), Mixed_6a (InceptionB), Mixed_6b–6e
/// (FIDInceptionC), Mixed_7a (InceptionD), Mixed_7b (FIDInceptionE_1), Mixed_7c (FIDInceptionE_2);
/// the global average of the 2048 × 8 × 8 map. Every convolution carries its BatchNorm folded in
/// (`FoldedConvolution`); the images of a batch are spread over `Threading.workers` threads.
public final class InceptionV3: Sendable {
    /// The length of a feature vector (pool3).
    public static let featureDimension = 2048
    /// The side the input is resized to.
    public static let inputSide = 299

    private let stages: [Stage]
    /// The largest activation map (floats) any stage reads or writes, and the largest convolution
    /// scratch: the sizes of one worker's buffers.
    private let largestMap: Int
    private let largestScratch: Int
    /// The first stage that runs on a group of images (its input has ≤ `groupedPixels` pixels).
    private let groupedFrom: Int

    /// Images per group in the stages on small maps: their SGEMMs then have `groupSize` × the
    /// columns of one image (17² → 2,312, 8² → 512), and OpenBLAS packs the weights once for the
    /// group. The stages on larger maps run one image at a time (their SGEMMs are wide enough, and
    /// one image's maps stay in cache).
    static let groupSize = 8
    /// Maps of at most this many pixels (Mixed_6b on, 17²) run in groups.
    static let groupedPixels = 17 * 17

    /// One step of the network.
    enum Stage: Sendable {
        case convolution(FoldedConvolution)
        case pool(InceptionPool, name: String)
        case mixed(MixedBlock)
    }

    /// Reads and checks the weights in `archive`: every tensor of pytorch-fid's state_dict must be
    /// there with its shape (the first missing or misshapen one is named); others are ignored.
    public init(archive: SafeTensorsArchive) throws {
        let weights = InceptionWeights(archive: archive)
        func conv(_ name: String, _ input: Int, _ output: Int, _ kernel: (Int, Int), stride: Int = 1,
                  padding: (Int, Int) = (0, 0)) throws -> FoldedConvolution {
            try weights.convolution(name, input: input, output: output, kernel: kernel, stride: stride, padding: padding)
        }
        let stem2 = InceptionPool.max(stride: 2, padding: 0)
        stages = [
            .convolution(try conv("blocks.0.0", 3, 32, (3, 3), stride: 2)),
            .convolution(try conv("blocks.0.1", 32, 32, (3, 3))),
            .convolution(try conv("blocks.0.2", 32, 64, (3, 3), padding: (1, 1))),
            .pool(stem2, name: "blocks.0.3"),
            .convolution(try conv("blocks.1.0", 64, 80, (1, 1))),
            .convolution(try conv("blocks.1.1", 80, 192, (3, 3))),
            .pool(stem2, name: "blocks.1.2"),
            .mixed(try MixedBlock.a("blocks.2.0", input: 192, poolFeatures: 32, weights)),
            .mixed(try MixedBlock.a("blocks.2.1", input: 256, poolFeatures: 64, weights)),
            .mixed(try MixedBlock.a("blocks.2.2", input: 288, poolFeatures: 64, weights)),
            .mixed(try MixedBlock.b("blocks.2.3", input: 288, weights)),
            .mixed(try MixedBlock.c("blocks.2.4", channels7x7: 128, weights)),
            .mixed(try MixedBlock.c("blocks.2.5", channels7x7: 160, weights)),
            .mixed(try MixedBlock.c("blocks.2.6", channels7x7: 160, weights)),
            .mixed(try MixedBlock.c("blocks.2.7", channels7x7: 192, weights)),
            .mixed(try MixedBlock.d("blocks.3.0", weights)),
            .mixed(try MixedBlock.e("blocks.3.1", input: 1280, pool: .average, weights)),
            .mixed(try MixedBlock.e("blocks.3.2", input: 2048, pool: .max(stride: 1, padding: 1), weights)),
        ]
        var shape = MapShape(channels: 3, height: Self.inputSide, width: Self.inputSide)
        var largestMap = shape.count, largestScratch = 0, groupedFrom = stages.count
        for (i, stage) in stages.enumerated() {
            if groupedFrom == stages.count && shape.pixels <= Self.groupedPixels { groupedFrom = i }
            let count = i >= groupedFrom ? Self.groupSize : 1
            let sizes = stage.sizes(shape, count: count)
            largestMap = max(largestMap, count * shape.count, sizes.map)
            largestScratch = max(largestScratch, sizes.scratch)
            shape = stage.outputShape(shape)
        }
        self.groupedFrom = groupedFrom
        precondition(shape.channels == Self.featureDimension, "InceptionV3: \(shape.channels) pool3 channels")
        self.largestMap = largestMap
        self.largestScratch = largestScratch
    }

    /// Reads the weights from the safetensors file at `path` (see `init(archive:)`).
    public convenience init(contentsOf path: String) throws {
        try self.init(archive: SafeTensorsArchive.read(path: path))
    }

    // MARK: where the weights come from

    /// The environment variable naming the weights file when `--inception` is not given.
    public static let environmentVariable = "VAE_FACES_INCEPTION"

    /// How to get the weights: pytorch-fid downloads the FID network's `.pth` and this converts
    /// its `InceptionV3` state_dict, on any machine with PyTorch and internet access.
    public static let conversion = "pip install pytorch-fid safetensors && python -c \"from pytorch_fid.inception import "
        + "InceptionV3; from safetensors.torch import save_file; "
        + "save_file(InceptionV3().state_dict(), 'pt_inception-2015-12-05.safetensors')\""

    /// The weights file: `option` (from `--inception`), else `$VAE_FACES_INCEPTION`; with
    /// neither, or a file that is not there, a one-line error that says how to make it.
    public static func resolveWeightsFile(_ option: String?,
                                          environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let path = [option, environment[environmentVariable]].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw VAEFacesError("no FID Inception weights: pass --inception FILE or set \(environmentVariable)=FILE, "
                + "a safetensors file made with: \(conversion)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw FileError(file: path, "no such file: the FID Inception weights are made with: \(conversion)")
        }
        return path
    }

    /// The pool3 features of `count` 8-bit RGB images of side × side pixels, HWC bytes one image
    /// after the other (the prepared cache's layout): one row of 2048 per image.
    public func features(images: UnsafeBufferPointer<UInt8>, count: Int, side: Int) -> FeatureMatrix {
        run(images: images, count: count, side: side, profiled: false).features
    }

    /// The CPU time of each step of the forward pass (the input transform, every convolution and
    /// pool, the final average) on `count` images, summed over the images and the workers that ran
    /// them, in the order the steps run: where the extractor spends its time
    /// (`vae-faces bench --inception FILE --layers`).
    public func profile(images: UnsafeBufferPointer<UInt8>, count: Int, side: Int, repeats: Int = 1) -> [StepTime] {
        let total = StepClock()
        for _ in 0..<repeats { total.merge(run(images: images, count: count, side: side, profiled: true).steps) }
        return total.steps
    }

    /// The features, and with `profiled` each worker's step times merged.
    private func run(images: UnsafeBufferPointer<UInt8>, count: Int, side: Int,
                     profiled: Bool) -> (features: FeatureMatrix, steps: [StepTime]) {
        precondition(images.count == count * side * side * 3, "InceptionV3.features: \(images.count) bytes for \(count) images of \(side)²")
        var values = [Float](repeating: 0, count: count * Self.featureDimension)
        let resize = BilinearResize(inputHeight: side, inputWidth: side, outputHeight: Self.inputSide, outputWidth: Self.inputSide)
        let source = UnsafeSendable(images.baseAddress!)
        let total = StepClock(), lock = NSLock()
        values.withUnsafeMutableBufferPointer { out in
            let target = UnsafeSendable(out.baseAddress!)
            parallelChunks(count) { range in
                let arena = Arena(map: largestMap, scratch: largestScratch, clock: profiled ? StepClock() : nil)
                defer { arena.deallocate() }
                for first in stride(from: range.lowerBound, to: range.upperBound, by: Self.groupSize) {
                    forward(source.value + first * side * side * 3, count: min(Self.groupSize, range.upperBound - first),
                            side: side, resize: resize, arena: arena, into: target.value + first * Self.featureDimension)
                }
                if let clock = arena.clock { lock.withLock { total.merge(clock.steps) } }
            }
        }
        return (FeatureMatrix(values: values, count: count, dimension: Self.featureDimension), total.steps)
    }

    /// One worker's buffers: two activation maps the stages pass between them, one that gathers
    /// a group's images, three for the branches inside a mixed block, and the convolutions'
    /// scratch; and, when profiling, the worker's step clock.
    struct Arena {
        let current: UnsafeMutablePointer<Float>
        let next: UnsafeMutablePointer<Float>
        let group: UnsafeMutablePointer<Float>
        let branch: [UnsafeMutablePointer<Float>]
        let scratch: UnsafeMutablePointer<Float>
        let clock: StepClock?

        init(map: Int, scratch: Int, clock: StepClock? = nil) {
            current = .allocate(capacity: map)
            next = .allocate(capacity: map)
            group = .allocate(capacity: map)
            branch = (0..<3).map { _ in .allocate(capacity: map) }
            self.scratch = .allocate(capacity: max(scratch, 1))
            self.clock = clock
        }

        /// Runs `body`, a step of the forward pass, charging its thread CPU time to the clock if
        /// there is one (the name and shape are only built then).
        @inline(__always)
        func timed(_ name: @autoclosure () -> String, _ shape: @autoclosure () -> String, flops: @autoclosure () -> Double = 0,
                   images: Int = 1, _ body: () -> Void) {
            guard let clock else { return body() }
            clock.time(name(), shape: shape(), flops: flops(), images: images, body)
        }

        func deallocate() {
            for buffer in [current, next, group, scratch] + branch { buffer.deallocate() }
        }
    }

    /// The network's input from one image (HWC bytes): x/255, resized to 299×299, 2x − 1, as
    /// pytorch-fid's `ToTensor`, `resize_input` and `normalize_input` compute it in float32.
    static func input(_ image: UnsafePointer<UInt8>, side: Int, resize: BilinearResize,
                      into output: UnsafeMutablePointer<Float>) {
        let plane = side * side, inputPixels = inputSide * inputSide
        withUnsafeTemporaryAllocation(of: Float.self, capacity: plane) { buffer in
            let channel = buffer.baseAddress!
            for c in 0..<3 {
                for p in 0..<plane { channel[p] = Float(image[3 * p + c]) / 255 }
                let resized = output + c * inputPixels
                resize.resize(channel, into: resized)
                for p in 0..<inputPixels { resized[p] = 2 * resized[p] - 1 }
            }
        }
    }

    /// The features of `count` (≤ `groupSize`) images, HWC bytes one after the other, into
    /// `features` [count, 2048]: each image alone through the stages on large maps, then the
    /// group together, grouped [C, count·H·W], through the rest.
    private func forward(_ images: UnsafePointer<UInt8>, count: Int, side: Int, resize: BilinearResize, arena: Arena,
                         into features: UnsafeMutablePointer<Float>) {
        var shape = MapShape(channels: 3, height: Self.inputSide, width: Self.inputSide)
        for b in 0..<count {
            arena.timed("input", "\(side)² → 3×\(Self.inputSide)²") {
                Self.input(images + b * side * side * 3, side: side, resize: resize, into: arena.current)
            }
            var x = arena.current, y = arena.next
            shape = MapShape(channels: 3, height: Self.inputSide, width: Self.inputSide)
            for stage in stages[..<groupedFrom] {
                run(stage, x, shape: shape, count: 1, into: y, arena: arena)
                shape = stage.outputShape(shape)
                swap(&x, &y)
            }
            for c in 0..<shape.channels {
                (arena.group + (c * count + b) * shape.pixels).update(from: x + c * shape.pixels, count: shape.pixels)
            }
        }
        var x = arena.group, y = arena.current
        for stage in stages[groupedFrom...] {
            run(stage, x, shape: shape, count: count, into: y, arena: arena)
            shape = stage.outputShape(shape)
            swap(&x, &y)
        }
        let (map, pixels) = (x, shape.pixels)
        arena.timed("pool3", "\(shape.channels)×\(shape.height)² → \(shape.channels)", images: count) {
            for b in 0..<count {
                for c in 0..<Self.featureDimension {
                    let plane = map + (c * count + b) * pixels
                    var sum: Float = 0
                    for p in 0..<pixels { sum += plane[p] }
                    features[b * Self.featureDimension + c] = sum / Float(pixels)
                }
            }
        }
    }

    /// One stage on `count` images x, grouped [C, count·H·W] (one image: NCHW), into y.
    private func run(_ stage: Stage, _ x: UnsafeMutablePointer<Float>, shape: MapShape, count: Int,
                     into y: UnsafeMutablePointer<Float>, arena: Arena) {
        switch stage {
        case let .convolution(conv):
            arena.timed(conv.name, conv.describe(shape), flops: conv.flops(shape), images: count) {
                conv.forward(x, shape: shape, count: count, into: y, scratch: arena.scratch)
            }
        case let .pool(pool, name):
            let planes = MapShape(channels: count * shape.channels, height: shape.height, width: shape.width)
            arena.timed(name, pool.describe(shape), images: count) { pool.forward(x, shape: planes, into: y) }
        case let .mixed(block): block.forward(x, shape: shape, count: count, into: y, arena: arena)
        }
    }
}

extension InceptionV3.Stage {
    func outputShape(_ input: MapShape) -> MapShape {
        switch self {
        case let .convolution(conv): conv.outputShape(input)
        case let .pool(pool, _): pool.outputShape(input)
        case let .mixed(block): block.outputShape(input)
        }
    }

    /// The largest map (floats) the stage writes on `count` images, and the scratch its
    /// convolutions need.
    func sizes(_ input: MapShape, count: Int) -> (map: Int, scratch: Int) {
        switch self {
        case let .convolution(conv): (count * conv.outputShape(input).count, conv.scratchCount(input, count: count))
        case let .pool(pool, _): (count * pool.outputShape(input).count, 0)
        case let .mixed(block): block.sizes(input, count: count)
        }
    }
}

/// One branch of a mixed block: an optional pool, a chain of convolutions, and optionally two
/// heads that both read the chain's output (FIDInceptionE's 1×3 and 3×1 pair), concatenated.
struct InceptionBranch: Sendable {
    var pool: InceptionPool?
    var chain: [FoldedConvolution]
    var heads: [FoldedConvolution] = []

    /// The steps in order, the heads last (side by side, not one after the other).
    func outputShape(_ input: MapShape) -> MapShape {
        var shape = input
        if let pool { shape = pool.outputShape(shape) }
        for conv in chain { shape = conv.outputShape(shape) }
        guard !heads.isEmpty else { return shape }
        var out = heads[0].outputShape(shape)
        out.channels = heads.reduce(0) { $0 + $1.outputChannels }
        return out
    }
}

/// A mixed (Inception) block: branches side by side on one input, their outputs concatenated
/// along the channels in order.
struct MixedBlock: Sendable {
    /// The state_dict prefix (`blocks.2.4`), for the step profile.
    var name: String
    var branches: [InceptionBranch]

    func outputShape(_ input: MapShape) -> MapShape {
        var out = branches[0].outputShape(input)
        out.channels = branches.reduce(0) { $0 + $1.outputShape(input).channels }
        return out
    }

    /// The largest map (floats) written inside the block on `count` images, and the largest
    /// convolution scratch.
    func sizes(_ input: MapShape, count: Int) -> (map: Int, scratch: Int) {
        var map = count * outputShape(input).count, scratch = 0
        for branch in branches {
            var shape = input
            if let pool = branch.pool {
                shape = pool.outputShape(shape)
                map = max(map, count * shape.count)
            }
            for conv in branch.chain {
                scratch = max(scratch, conv.scratchCount(shape, count: count))
                shape = conv.outputShape(shape)
                map = max(map, count * shape.count)
            }
            for head in branch.heads { scratch = max(scratch, head.scratchCount(shape, count: count)) }
        }
        return (map, scratch)
    }

    /// The block on `count` images x, grouped [C, count·H·W] (one image: NCHW), into `output`,
    /// grouped too (the branches' channels one after the other). Each step of a branch writes
    /// into the next of the arena's three branch buffers, the last step straight into the
    /// branch's channels of `output`.
    func forward(_ x: UnsafePointer<Float>, shape: MapShape, count: Int, into output: UnsafeMutablePointer<Float>,
                 arena: InceptionV3.Arena) {
        let pixels = count * outputShape(shape).pixels
        var slot = output
        for branch in branches {
            var source = x, current = shape, step = 0
            /// Where a step writes: the slot if it is the branch's last step, else a branch buffer.
            func destination(last: Bool) -> UnsafeMutablePointer<Float> {
                defer { step += 1 }
                return last ? slot : arena.branch[step % 3]
            }
            let tail = branch.chain.count + (branch.heads.isEmpty ? 0 : 1)
            if let pool = branch.pool {
                let (input, target) = (source, destination(last: tail == 0))
                let planes = MapShape(channels: count * current.channels, height: current.height, width: current.width)
                arena.timed("\(name).\(pool.kind)", pool.describe(current), images: count) { pool.forward(input, shape: planes, into: target) }
                source = UnsafePointer(target)
                current = pool.outputShape(current)
            }
            for (i, conv) in branch.chain.enumerated() {
                let (input, target) = (source, destination(last: branch.heads.isEmpty && i == branch.chain.count - 1))
                arena.timed(conv.name, conv.describe(current), flops: conv.flops(current), images: count) {
                    conv.forward(input, shape: current, count: count, into: target, scratch: arena.scratch)
                }
                source = UnsafePointer(target)
                current = conv.outputShape(current)
            }
            for head in branch.heads {
                let (input, target) = (source, slot)
                arena.timed(head.name, head.describe(current), flops: head.flops(current), images: count) {
                    head.forward(input, shape: current, count: count, into: target, scratch: arena.scratch)
                }
                slot += head.outputChannels * pixels
            }
            if branch.heads.isEmpty { slot += current.channels * pixels }
        }
    }
}

// MARK: the blocks of pytorch-fid (torchvision's InceptionA–E with the FID patches)

extension MixedBlock {
    /// FIDInceptionA (Mixed_5b–5d): 1×1 | 1×1 → 5×5 | 1×1 → 3×3 → 3×3 | avg pool → 1×1.
    static func a(_ name: String, input: Int, poolFeatures: Int, _ w: InceptionWeights) throws -> MixedBlock {
        MixedBlock(name: name, branches: [
            InceptionBranch(chain: [try w.convolution("\(name).branch1x1", input: input, output: 64, kernel: (1, 1))]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch5x5_1", input: input, output: 48, kernel: (1, 1)),
                try w.convolution("\(name).branch5x5_2", input: 48, output: 64, kernel: (5, 5), padding: (2, 2)),
            ]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch3x3dbl_1", input: input, output: 64, kernel: (1, 1)),
                try w.convolution("\(name).branch3x3dbl_2", input: 64, output: 96, kernel: (3, 3), padding: (1, 1)),
                try w.convolution("\(name).branch3x3dbl_3", input: 96, output: 96, kernel: (3, 3), padding: (1, 1)),
            ]),
            InceptionBranch(pool: .average, chain: [
                try w.convolution("\(name).branch_pool", input: input, output: poolFeatures, kernel: (1, 1)),
            ]),
        ])
    }

    /// InceptionB (Mixed_6a, 35 → 17): 3×3/2 | 1×1 → 3×3 → 3×3/2 | max pool 3×3/2.
    static func b(_ name: String, input: Int, _ w: InceptionWeights) throws -> MixedBlock {
        MixedBlock(name: name, branches: [
            InceptionBranch(chain: [try w.convolution("\(name).branch3x3", input: input, output: 384, kernel: (3, 3), stride: 2)]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch3x3dbl_1", input: input, output: 64, kernel: (1, 1)),
                try w.convolution("\(name).branch3x3dbl_2", input: 64, output: 96, kernel: (3, 3), padding: (1, 1)),
                try w.convolution("\(name).branch3x3dbl_3", input: 96, output: 96, kernel: (3, 3), stride: 2),
            ]),
            InceptionBranch(pool: .max(stride: 2, padding: 0), chain: []),
        ])
    }

    /// FIDInceptionC (Mixed_6b–6e, 768 channels): 1×1 | 1×1 → 1×7 → 7×1 |
    /// 1×1 → 7×1 → 1×7 → 7×1 → 1×7 | avg pool → 1×1.
    static func c(_ name: String, channels7x7 c7: Int, _ w: InceptionWeights) throws -> MixedBlock {
        let input = 768
        func row(_ branch: String, _ i: Int, _ o: Int) throws -> FoldedConvolution {
            try w.convolution("\(name).\(branch)", input: i, output: o, kernel: (1, 7), padding: (0, 3))
        }
        func column(_ branch: String, _ i: Int, _ o: Int) throws -> FoldedConvolution {
            try w.convolution("\(name).\(branch)", input: i, output: o, kernel: (7, 1), padding: (3, 0))
        }
        return MixedBlock(name: name, branches: [
            InceptionBranch(chain: [try w.convolution("\(name).branch1x1", input: input, output: 192, kernel: (1, 1))]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch7x7_1", input: input, output: c7, kernel: (1, 1)),
                try row("branch7x7_2", c7, c7),
                try column("branch7x7_3", c7, 192),
            ]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch7x7dbl_1", input: input, output: c7, kernel: (1, 1)),
                try column("branch7x7dbl_2", c7, c7),
                try row("branch7x7dbl_3", c7, c7),
                try column("branch7x7dbl_4", c7, c7),
                try row("branch7x7dbl_5", c7, 192),
            ]),
            InceptionBranch(pool: .average, chain: [
                try w.convolution("\(name).branch_pool", input: input, output: 192, kernel: (1, 1)),
            ]),
        ])
    }

    /// InceptionD (Mixed_7a, 17 → 8): 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2 | max pool 3×3/2.
    static func d(_ name: String, _ w: InceptionWeights) throws -> MixedBlock {
        let input = 768
        return MixedBlock(name: name, branches: [
            InceptionBranch(chain: [
                try w.convolution("\(name).branch3x3_1", input: input, output: 192, kernel: (1, 1)),
                try w.convolution("\(name).branch3x3_2", input: 192, output: 320, kernel: (3, 3), stride: 2),
            ]),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch7x7x3_1", input: input, output: 192, kernel: (1, 1)),
                try w.convolution("\(name).branch7x7x3_2", input: 192, output: 192, kernel: (1, 7), padding: (0, 3)),
                try w.convolution("\(name).branch7x7x3_3", input: 192, output: 192, kernel: (7, 1), padding: (3, 0)),
                try w.convolution("\(name).branch7x7x3_4", input: 192, output: 192, kernel: (3, 3), stride: 2),
            ]),
            InceptionBranch(pool: .max(stride: 2, padding: 0), chain: []),
        ])
    }

    /// FIDInceptionE_1 (Mixed_7b, `pool` .average) and FIDInceptionE_2 (Mixed_7c, `pool` max
    /// 3×3/1 pad 1, the FID network's quirk): 1×1 | 1×1 → (1×3, 3×1) | 1×1 → 3×3 → (1×3, 3×1) |
    /// pool → 1×1.
    static func e(_ name: String, input: Int, pool: InceptionPool, _ w: InceptionWeights) throws -> MixedBlock {
        func pair(_ prefix: String) throws -> [FoldedConvolution] {
            [try w.convolution("\(name).\(prefix)a", input: 384, output: 384, kernel: (1, 3), padding: (0, 1)),
             try w.convolution("\(name).\(prefix)b", input: 384, output: 384, kernel: (3, 1), padding: (1, 0))]
        }
        return MixedBlock(name: name, branches: [
            InceptionBranch(chain: [try w.convolution("\(name).branch1x1", input: input, output: 320, kernel: (1, 1))]),
            InceptionBranch(chain: [try w.convolution("\(name).branch3x3_1", input: input, output: 384, kernel: (1, 1))],
                            heads: try pair("branch3x3_2")),
            InceptionBranch(chain: [
                try w.convolution("\(name).branch3x3dbl_1", input: input, output: 448, kernel: (1, 1)),
                try w.convolution("\(name).branch3x3dbl_2", input: 448, output: 384, kernel: (3, 3), padding: (1, 1)),
            ], heads: try pair("branch3x3dbl_3")),
            InceptionBranch(pool: pool, chain: [
                try w.convolution("\(name).branch_pool", input: input, output: 192, kernel: (1, 1)),
            ]),
        ])
    }
}

/// The weights of a pytorch-fid `InceptionV3` state_dict, read by name with their shapes checked.
struct InceptionWeights {
    let archive: SafeTensorsArchive

    /// Tensor `name`, which must have `shape`.
    func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        guard let found = archive.shape(name) else {
            throw FileError(file: archive.source, "no tensor '\(name)' (shape \(shape)): not the state_dict of pytorch-fid's InceptionV3")
        }
        guard found == shape else {
            throw FileError(file: archive.source, "tensor '\(name)' has shape \(found), expected \(shape)")
        }
        return try archive.floats(name)
    }

    /// BasicConv2d `name` (`name.conv.weight`, `name.bn.{weight,bias,running_mean,running_var}`)
    /// with its BatchNorm folded in.
    func convolution(_ name: String, input: Int, output: Int, kernel: (Int, Int), stride: Int = 1,
                     padding: (Int, Int) = (0, 0)) throws -> FoldedConvolution {
        let weight = try tensor("\(name).conv.weight", shape: [output, input, kernel.0, kernel.1])
        func statistic(_ leaf: String) throws -> [Float] { try tensor("\(name).bn.\(leaf)", shape: [output]) }
        return FoldedConvolution(name: name, inputChannels: input, outputChannels: output, kernel: kernel, stride: stride,
                                 padding: padding, convolution: weight, gamma: try statistic("weight"),
                                 beta: try statistic("bias"), runningMean: try statistic("running_mean"),
                                 runningVariance: try statistic("running_var"))
    }
}
