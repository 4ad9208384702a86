// The pieces of the FID Inception-v3 (`InceptionV3`), inference only, one C×H×W image at a time:
// the convolution with its BatchNorm folded in, the two poolings, the bilinear resize of the input.

import NeuralCore

/// The shape of one image's activations: C planes of H×W floats (NCHW, one image).
struct MapShape: Equatable, Sendable {
    var channels: Int
    var height: Int
    var width: Int

    var count: Int { channels * height * width }
    var pixels: Int { height * width }
}

/// A BasicConv2d of the FID Inception (a convolution without bias, BatchNorm with ε = 0.001, ReLU)
/// with the BatchNorm folded into the convolution at load time:
/// y = ReLU(W′ ⋆ x + b′), W′ = W·γ/√(σ² + ε), b′ = β − μ·γ/√(σ² + ε) (μ, σ² the running statistics).
///
/// Any kernel, stride and padding per axis (the 1×7, 7×1, 1×3 and 3×1 kernels pad one axis only):
/// im2col + SGEMM; a 1×1 stride-1 convolution is the SGEMM alone. A padding that differs between
/// the axes is made explicit first (a zero-bordered copy), so the project's `im2col` runs it unpadded.
struct FoldedConvolution: Sendable {
    /// The state_dict prefix (`blocks.2.4.branch7x7_2`), for the step profile.
    let name: String
    let inputChannels: Int
    let outputChannels: Int
    let kernelHeight: Int
    let kernelWidth: Int
    let stride: Int
    let paddingHeight: Int
    let paddingWidth: Int
    /// W′ [M, C·kh·kw] (PyTorch's [Cout, Cin, kh, kw], row-major).
    let weight: [Float]
    /// b′ [M].
    let bias: [Float]

    /// The BatchNorm ε of torchvision's BasicConv2d.
    static let batchNormEpsilon = 0.001

    /// Folds BatchNorm (γ, β, running mean μ, running variance σ², each [M]) into the
    /// convolution weights `convolution` [M, C, kh, kw], in Double.
    init(name: String = "", inputChannels: Int, outputChannels: Int, kernel: (height: Int, width: Int), stride: Int = 1,
         padding: (height: Int, width: Int) = (0, 0), convolution: [Float],
         gamma: [Float], beta: [Float], runningMean: [Float], runningVariance: [Float]) {
        let patch = inputChannels * kernel.height * kernel.width
        precondition(convolution.count == outputChannels * patch && gamma.count == outputChannels
                     && beta.count == outputChannels && runningMean.count == outputChannels
                     && runningVariance.count == outputChannels, "FoldedConvolution: sizes")
        self.name = name
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        kernelHeight = kernel.height
        kernelWidth = kernel.width
        self.stride = stride
        paddingHeight = padding.height
        paddingWidth = padding.width
        var weight = [Float](repeating: 0, count: convolution.count)
        var bias = [Float](repeating: 0, count: outputChannels)
        for o in 0..<outputChannels {
            let scale = Double(gamma[o]) / (Double(runningVariance[o]) + Self.batchNormEpsilon).squareRoot()
            for i in o * patch..<(o + 1) * patch { weight[i] = Float(Double(convolution[i]) * scale) }
            bias[o] = Float(Double(beta[o]) - Double(runningMean[o]) * scale)
        }
        self.weight = weight
        self.bias = bias
    }

    /// A 1×1 stride-1 convolution: the input planes are already the column matrix.
    var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && paddingHeight == 0 && paddingWidth == 0 }

    func outputShape(_ input: MapShape) -> MapShape {
        precondition(input.channels == inputChannels, "FoldedConvolution: \(input.channels) channels, expected \(inputChannels)")
        return MapShape(channels: outputChannels,
                        height: (input.height + 2 * paddingHeight - kernelHeight) / stride + 1,
                        width: (input.width + 2 * paddingWidth - kernelWidth) / stride + 1)
    }

    /// The most column-matrix floats one SGEMM reads (4 MB): a larger column matrix (the stem's,
    /// up to 288 × 21,609 floats, 25 MB) is cut into bands of output rows. 1 MB bands measured the
    /// same on the stem and slower on the 35² maps, which then got cut too.
    var columnBudget = 1024 * 1024

    /// Output rows per SGEMM of one image: all of them unless the column matrix exceeds
    /// `columnBudget` (a 1×1 convolution has no column matrix).
    func bandRows(_ input: MapShape) -> Int {
        let out = outputShape(input)
        if isPointwise { return out.height }
        return max(1, min(out.height, columnBudget / (inputChannels * kernelHeight * kernelWidth * out.width)))
    }

    /// Images per SGEMM of a group: as many as the budget holds, at least one.
    func bandImages(_ input: MapShape) -> Int {
        max(1, columnBudget / (inputChannels * kernelHeight * kernelWidth * outputShape(input).pixels))
    }

    /// Whether `forward` first copies the input into a zero border: when the padding differs
    /// between the axes (the 1×7, 7×1, 1×3 and 3×1 kernels), or a padded input is cut into bands.
    private func copiesPadding(_ input: MapShape) -> Bool {
        paddingHeight != paddingWidth || (paddingHeight > 0 && bandRows(input) < outputShape(input).height)
    }

    /// The geometry `im2col` runs: the input itself, or its zero-bordered copy.
    private func geometry(_ input: MapShape) -> ConvGeometry {
        let explicit = copiesPadding(input)
        return ConvGeometry(channels: inputChannels,
                            height: input.height + (explicit ? 2 * paddingHeight : 0),
                            width: input.width + (explicit ? 2 * paddingWidth : 0),
                            kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride,
                            padding: explicit ? 0 : paddingHeight)
    }

    /// Multiply-adds × 2 of one image of `input`'s shape.
    func flops(_ input: MapShape) -> Double {
        2 * Double(outputChannels * inputChannels * kernelHeight * kernelWidth * outputShape(input).pixels)
    }

    /// "768×17² → 192×17², 1×7" (with "/2" for stride 2), for the step profile.
    func describe(_ input: MapShape) -> String {
        let out = outputShape(input)
        return "\(input.channels)×\(input.height)² → \(out.channels)×\(out.height)², \(kernelHeight)×\(kernelWidth)"
            + (stride > 1 ? "/\(stride)" : "")
    }

    /// Scratch floats `forward` needs on `count` images of `input`'s shape.
    func scratchCount(_ input: MapShape, count: Int = 1) -> Int {
        if isPointwise { return 0 }
        let g = geometry(input)
        let columns = count == 1 ? bandRows(input) * g.outputWidth : min(count, bandImages(input)) * g.outputPixels
        return (copiesPadding(input) ? count * g.channels * g.inputPixels : 0) + g.patchSize * columns
    }

    /// y = ReLU(W′ ⋆ x + b′) for `count` images x of `shape` into `output`, both grouped
    /// [C, count·H·W] (channel c of every image side by side: one image is NCHW). One im2col +
    /// SGEMM per band: of output rows for one image (`bandRows`), of images for a group
    /// (`bandImages`); bias and ReLU on the band while it is in cache.
    /// Measured (bench --inception --layers, one thread): the stem's 32 → 32 and 32 → 64 3×3
    /// convolutions 8.4 → 6.5 and 12.5 → 11.2 ms per image in row bands against one SGEMM over
    /// the whole column matrix.
    func forward(_ input: UnsafePointer<Float>, shape: MapShape, count: Int = 1, into output: UnsafeMutablePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>) {
        let out = outputShape(shape), columns = count * out.pixels, patch = inputChannels * kernelHeight * kernelWidth
        weight.withUnsafeBufferPointer { w in
            /// Y[:, first ..< first + n] = W′ · column [patch, n], bias and ReLU.
            func product(_ column: UnsafePointer<Float>, n: Int, first: Int) {
                sgemm(m: outputChannels, n: n, k: patch, a: w.baseAddress!, lda: patch, b: column, ldb: n,
                      c: output + first, ldc: columns)
                addBiasReLU(output + first, columns: n, ldc: columns)
            }
            if isPointwise { return product(input, n: columns, first: 0) }
            let g = geometry(shape)
            var source = input, column = scratch
            if copiesPadding(shape) {
                zeroBordered(input, shape: MapShape(channels: count * inputChannels, height: shape.height, width: shape.width),
                             into: scratch)
                source = UnsafePointer(scratch)
                column = scratch + count * g.channels * g.inputPixels
            }
            if count > 1 {
                let images = bandImages(shape)
                for b0 in Swift.stride(from: 0, to: count, by: images) {
                    let n = min(images, count - b0) * out.pixels
                    for b in b0..<min(b0 + images, count) {
                        im2col(g, source: source + b * g.inputPixels, channelStride: count * g.inputPixels,
                               column: column + (b - b0) * out.pixels, ldc: n)
                    }
                    product(column, n: n, first: b0 * out.pixels)
                }
                return
            }
            let rows = bandRows(shape)
            for y0 in Swift.stride(from: 0, to: out.height, by: rows) {
                let bandHeight = min(rows, out.height - y0), n = bandHeight * out.width
                // A band below the first reads its input rows from y0·stride on, unpadded.
                let band = rows == out.height ? g
                    : ConvGeometry(channels: inputChannels, height: (bandHeight - 1) * stride + kernelHeight, width: g.width,
                                   kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride, padding: 0)
                im2col(band, source: source + y0 * stride * g.width, channelStride: g.inputPixels, column: column, ldc: n)
                product(column, n: n, first: y0 * out.width)
            }
        }
    }

    /// y = max(y + b′, 0) on `columns` columns of each of the M rows (`ldc` apart) at `y`.
    private func addBiasReLU(_ y: UnsafeMutablePointer<Float>, columns: Int, ldc: Int) {
        for o in 0..<outputChannels {
            let row = y + o * ldc, b = bias[o]
            for i in 0..<columns { row[i] = max(row[i] + b, 0) }
        }
    }

    /// The input with `paddingHeight` zero rows above and below and `paddingWidth` zero columns
    /// on each side.
    private func zeroBordered(_ input: UnsafePointer<Float>, shape: MapShape, into output: UnsafeMutablePointer<Float>) {
        let h = shape.height + 2 * paddingHeight, w = shape.width + 2 * paddingWidth
        output.initialize(repeating: 0, count: shape.channels * h * w)
        for c in 0..<shape.channels {
            for y in 0..<shape.height {
                (output + (c * h + y + paddingHeight) * w + paddingWidth)
                    .update(from: input + (c * shape.height + y) * shape.width, count: shape.width)
            }
        }
    }
}

/// The two 3×3 poolings of the FID Inception, on C planes of H×W (one image's, or a group's).
enum InceptionPool: Sendable, Equatable {
    /// Max pooling 3×3 with a stride and zero or one pixel of padding, which never wins (PyTorch
    /// pads max pooling with −∞): the stem, Mixed_6a, Mixed_7a (stride 2), Mixed_7c's pool branch
    /// (stride 1, padding 1).
    case max(stride: Int, padding: Int)
    /// Average pooling 3×3, stride 1, padding 1, dividing by the pixels inside the image only
    /// (`count_include_pad=False`, TensorFlow's average pool): the pool branches of the FID blocks.
    case average

    func outputShape(_ input: MapShape) -> MapShape {
        let (stride, padding) = switch self {
        case let .max(stride, padding): (stride, padding)
        case .average: (1, 1)
        }
        return MapShape(channels: input.channels, height: (input.height + 2 * padding - 3) / stride + 1,
                        width: (input.width + 2 * padding - 3) / stride + 1)
    }

    /// "maxpool" or "avgpool", for the step profile.
    var kind: String { self == .average ? "avgpool" : "maxpool" }

    /// "288×35² → 288×17², maxpool 3×3/2", for the step profile.
    func describe(_ input: MapShape) -> String {
        let out = outputShape(input), stride = if case let .max(stride, _) = self { stride } else { 1 }
        return "\(input.channels)×\(input.height)² → \(out.channels)×\(out.height)², \(kind) 3×3" + (stride > 1 ? "/\(stride)" : "")
    }

    /// The pool on every plane of `shape` (any number of images' planes one after the other),
    /// separably: the 3 window rows combined into one row (contiguous, vectorised), then 3
    /// neighbours of that row per output pixel, the border windows cut to the image.
    /// Measured (bench --inception --layers, one thread): 3.3–5.5× faster than the 9-tap loop
    /// with clamped bounds per pixel it replaced (all 13 pools 25.9 → 5.8 ms per image; Mixed_5d's
    /// average pool 3.1 → 0.59 ms, the stem's first max pool 3.7 → 0.68 ms).
    func forward(_ input: UnsafePointer<Float>, shape: MapShape, into output: UnsafeMutablePointer<Float>) {
        switch self {
        case let .max(stride, padding):
            Self.pool(input, shape: shape, stride: stride, padding: padding, average: false, into: output) { Swift.max($0, $1) }
        case .average:
            Self.pool(input, shape: shape, stride: 1, padding: 1, average: true, into: output) { $0 + $1 }
        }
    }

    /// out = the window's values combined, times 1/(its pixel count) if `average`, for each 3×3 window.
    @inline(__always)
    private static func pool(_ input: UnsafePointer<Float>, shape: MapShape, stride: Int, padding: Int, average: Bool,
                             into output: UnsafeMutablePointer<Float>, combine: (Float, Float) -> Float) {
        let (h, w) = (shape.height, shape.width)
        let outHeight = (h + 2 * padding - 3) / stride + 1, outWidth = (w + 2 * padding - 3) / stride + 1
        // Output columns whose window lies inside the row: ox·s − p ≥ 0 and ox·s − p + 3 ≤ w.
        let innerStart = min((padding + stride - 1) / stride, outWidth)
        let inner = innerStart..<Swift.max(innerStart, min((w + padding - 3) / stride + 1, outWidth))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: w) { buffer in
            let row = buffer.baseAddress!
            for c in 0..<shape.channels {
                let plane = input + c * h * w, target = output + c * outHeight * outWidth
                for oy in 0..<outHeight {
                    let y0 = Swift.max(oy * stride - padding, 0), y1 = min(oy * stride - padding + 3, h)
                    row.update(from: plane + y0 * w, count: w)
                    for y in (y0 + 1)..<y1 {
                        let next = plane + y * w
                        for x in 0..<w { row[x] = combine(row[x], next[x]) }
                    }
                    let line = target + oy * outWidth, rows = y1 - y0, scale: Float = average ? 1 / Float(3 * rows) : 1
                    for ox in inner {
                        let x = ox * stride - padding
                        line[ox] = combine(combine(row[x], row[x + 1]), row[x + 2]) * scale
                    }
                    func border(_ ox: Int) {
                        let x0 = Swift.max(ox * stride - padding, 0), x1 = min(ox * stride - padding + 3, w)
                        var value = row[x0]
                        for x in (x0 + 1)..<x1 { value = combine(value, row[x]) }
                        line[ox] = average ? value / Float((x1 - x0) * rows) : value
                    }
                    for ox in 0..<inner.lowerBound { border(ox) }
                    for ox in inner.upperBound..<outWidth { border(ox) }
                }
            }
        }
    }
}

/// Bilinear resizing of planes exactly as PyTorch's `F.interpolate(mode='bilinear',
/// align_corners=False)` computes it in float32 on the CPU: source coordinate
/// s = max(scale·(d + ½) − ½, 0) with scale = in/out, neighbours ⌊s⌋ and ⌊s⌋ + 1 (clamped to the
/// edge), weights λ₁ = s − ⌊s⌋ and λ₀ = 1 − λ₁; each output is
/// λ₀ʸ·(λ₀ˣ·x₀₀ + λ₁ˣ·x₀₁) + λ₁ʸ·(λ₀ˣ·x₁₀ + λ₁ˣ·x₁₁), in that order.
struct BilinearResize: Sendable {
    /// Per output row or column: the two source indices and their weights.
    struct Taps: Sendable {
        var first: [Int] = []
        var second: [Int] = []
        var firstWeight: [Float] = []
        var secondWeight: [Float] = []

        init(input: Int, output: Int) {
            let scale = Float(input) / Float(output)
            for d in 0..<output {
                let source = max(scale * (Float(d) + 0.5) - 0.5, 0)
                let index = Int(source)
                let lambda = min(max(source - Float(index), 0), 1)
                first.append(index)
                second.append(index + (index < input - 1 ? 1 : 0))
                firstWeight.append(1 - lambda)
                secondWeight.append(lambda)
            }
        }
    }

    let inputHeight: Int
    let inputWidth: Int
    let outputHeight: Int
    let outputWidth: Int
    let rows: Taps
    let columns: Taps

    init(inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        rows = Taps(input: inputHeight, output: outputHeight)
        columns = Taps(input: inputWidth, output: outputWidth)
    }

    /// Resizes one inputHeight × inputWidth plane into an outputHeight × outputWidth plane.
    func resize(_ plane: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        for oy in 0..<outputHeight {
            let top = plane + rows.first[oy] * inputWidth, bottom = plane + rows.second[oy] * inputWidth
            let wy0 = rows.firstWeight[oy], wy1 = rows.secondWeight[oy]
            for ox in 0..<outputWidth {
                let x0 = columns.first[ox], x1 = columns.second[ox]
                let wx0 = columns.firstWeight[ox], wx1 = columns.secondWeight[ox]
                let upper = top[x0] * wx0 + top[x1] * wx1
                let lower = bottom[x0] * wx0 + bottom[x1] * wx1
                output[oy * outputWidth + ox] = upper * wy0 + lower * wy1
            }
        }
    }
}
