import NeuralCore

/// Naive reference kernels: the textbook definitions as direct loops in Double, against which
/// the fast layers are tested. No im2col, no GEMM, no phase tricks: each is the literal formula
/// (the up-sampling layers exactly as written in docs/model.md).
public struct RefTensor: Equatable {
    public var shape: [Int]
    public var data: [Double]

    public init(shape: [Int], data: [Double]) {
        precondition(shape.reduce(1, *) == data.count, "RefTensor: \(data.count) values for \(shape)")
        self.shape = shape
        self.data = data
    }
    public init(zeros shape: [Int]) { self.init(shape: shape, data: [Double](repeating: 0, count: shape.reduce(1, *))) }
    public init(_ t: Tensor) { self.init(shape: t.shape, data: t.array.map(Double.init)) }

    public var floats: [Float] { data.map { Float($0) } }

    /// Index of element (a, b, c, d) of a 4-D tensor.
    @inline(__always) public func at(_ a: Int, _ b: Int, _ c: Int, _ d: Int) -> Int {
        ((a * shape[1] + b) * shape[2] + c) * shape[3] + d
    }
    public static func + (l: RefTensor, r: RefTensor) -> RefTensor {
        precondition(l.shape == r.shape)
        return RefTensor(shape: l.shape, data: zip(l.data, r.data).map(+))
    }
}

public enum Reference {
    // MARK: convolution  x [N, C, H, W], w [O, C, kh, kw] → y [N, O, Hout, Wout]

    public static func conv(_ x: RefTensor, _ w: RefTensor, bias: RefTensor? = nil, stride: Int = 1, padding: Int = 0) -> RefTensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        precondition(w.shape[1] == c)
        let oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1
        var y = RefTensor(zeros: [n, o, oh, ow])
        for b in 0..<n { for oc in 0..<o { for yy in 0..<oh { for xx in 0..<ow {
            var s = bias?.data[oc] ?? 0
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = yy * stride - padding + ky, ix = xx * stride - padding + kx
                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                    s += w.data[w.at(oc, ic, ky, kx)] * x.data[x.at(b, ic, iy, ix)]
                }
            } } }
            y.data[y.at(b, oc, yy, xx)] = s
        } } } }
        return y
    }

    /// Gradients of `conv` for upstream gradient dy: (dx, dw, db).
    public static func convBackward(_ x: RefTensor, _ w: RefTensor, _ dy: RefTensor, stride: Int = 1, padding: Int = 0)
        -> (dx: RefTensor, dw: RefTensor, db: RefTensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        var dx = RefTensor(zeros: x.shape), dw = RefTensor(zeros: w.shape), db = RefTensor(zeros: [o])
        for b in 0..<n { for oc in 0..<o { for yy in 0..<oh { for xx in 0..<ow {
            let g = dy.data[dy.at(b, oc, yy, xx)]
            db.data[oc] += g
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = yy * stride - padding + ky, ix = xx * stride - padding + kx
                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                    dx.data[dx.at(b, ic, iy, ix)] += w.data[w.at(oc, ic, ky, kx)] * g
                    dw.data[dw.at(oc, ic, ky, kx)] += x.data[x.at(b, ic, iy, ix)] * g
                }
            } } }
        } } } }
        return (dx, dw, db)
    }

    // MARK: transposed convolution  x [N, C, H, W], w [C, O, kh, kw] → y [N, O, (H−1)s − 2p + kh, …]

    /// By its definition: every input pixel (i, j) adds x[c, i, j] · W[c, o, :, :] to the output
    /// window whose top-left corner is (i·s − p, j·s − p).
    public static func convTranspose(_ x: RefTensor, _ w: RefTensor, stride: Int, padding: Int) -> RefTensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
        let oh = (h - 1) * stride - 2 * padding + kh, ow = (wd - 1) * stride - 2 * padding + kw
        var y = RefTensor(zeros: [n, o, oh, ow])
        for b in 0..<n { for ic in 0..<c { for i in 0..<h { for j in 0..<wd {
            let v = x.data[x.at(b, ic, i, j)]
            for oc in 0..<o { for ky in 0..<kh { for kx in 0..<kw {
                let yy = i * stride - padding + ky, xx = j * stride - padding + kx
                if yy >= 0 && yy < oh && xx >= 0 && xx < ow {
                    y.data[y.at(b, oc, yy, xx)] += v * w.data[w.at(ic, oc, ky, kx)]
                }
            } } }
        } } } }
        return y
    }

    public static func convTransposeBackward(_ x: RefTensor, _ w: RefTensor, _ dy: RefTensor, stride: Int, padding: Int)
        -> (dx: RefTensor, dw: RefTensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        var dx = RefTensor(zeros: x.shape), dw = RefTensor(zeros: w.shape)
        for b in 0..<n { for ic in 0..<c { for i in 0..<h { for j in 0..<wd {
            for oc in 0..<o { for ky in 0..<kh { for kx in 0..<kw {
                let yy = i * stride - padding + ky, xx = j * stride - padding + kx
                if yy >= 0 && yy < oh && xx >= 0 && xx < ow {
                    let g = dy.data[dy.at(b, oc, yy, xx)]
                    dx.data[dx.at(b, ic, i, j)] += w.data[w.at(ic, oc, ky, kx)] * g
                    dw.data[dw.at(ic, oc, ky, kx)] += x.data[x.at(b, ic, i, j)] * g
                }
            } } }
        } } } }
        return (dx, dw)
    }

    // MARK: helpers for the up-sampling layers

    /// Channel concatenation of two [N, ·, H, W] tensors.
    public static func concat(_ a: RefTensor, _ b: RefTensor) -> RefTensor {
        let (n, ca, cb, h, w) = (a.shape[0], a.shape[1], b.shape[1], a.shape[2], a.shape[3])
        var out = RefTensor(zeros: [n, ca + cb, h, w])
        for i in 0..<n {
            for c in 0..<ca { for y in 0..<h { for x in 0..<w { out.data[out.at(i, c, y, x)] = a.data[a.at(i, c, y, x)] } } }
            for c in 0..<cb { for y in 0..<h { for x in 0..<w { out.data[out.at(i, ca + c, y, x)] = b.data[b.at(i, c, y, x)] } } }
        }
        return out
    }

    /// Channels [from, from + count) of a [N, C, H, W] tensor.
    public static func channels(_ t: RefTensor, from: Int, count: Int) -> RefTensor {
        let (n, h, w) = (t.shape[0], t.shape[2], t.shape[3])
        var out = RefTensor(zeros: [n, count, h, w])
        for i in 0..<n { for c in 0..<count { for y in 0..<h { for x in 0..<w {
            out.data[out.at(i, c, y, x)] = t.data[t.at(i, from + c, y, x)]
        } } } }
        return out
    }

    /// d[n, c, 2i+p, 2j+q] = t[n, c, i, j], zero at the other three phases.
    public static func dilate(_ t: RefTensor, phase p: Int, _ q: Int) -> RefTensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        var out = RefTensor(zeros: [n, c, 2 * h, 2 * w])
        for i in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
            out.data[out.at(i, ch, 2 * y + p, 2 * x + q)] = t.data[t.at(i, ch, y, x)]
        } } } }
        return out
    }

    /// The adjoint of `dilate`: the (p, q) phase of a [N, C, 2H, 2W] tensor.
    public static func phase(_ t: RefTensor, _ p: Int, _ q: Int) -> RefTensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2] / 2, t.shape[3] / 2)
        var out = RefTensor(zeros: [n, c, h, w])
        for i in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
            out.data[out.at(i, ch, y, x)] = t.data[t.at(i, ch, 2 * y + p, 2 * x + q)]
        } } } }
        return out
    }

    /// Nearest-neighbour ×2 up-sampling.
    public static func upsample(_ t: RefTensor) -> RefTensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        var out = RefTensor(zeros: [n, c, 2 * h, 2 * w])
        for i in 0..<n { for ch in 0..<c { for y in 0..<2 * h { for x in 0..<2 * w {
            out.data[out.at(i, ch, y, x)] = t.data[t.at(i, ch, y / 2, x / 2)]
        } } } }
        return out
    }

    /// The adjoint of `upsample`: 2×2 sum pooling.
    public static func sumPool(_ t: RefTensor) -> RefTensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2] / 2, t.shape[3] / 2)
        var out = RefTensor(zeros: [n, c, h, w])
        for i in 0..<n { for ch in 0..<c { for y in 0..<2 * h { for x in 0..<2 * w {
            out.data[out.at(i, ch, y / 2, x / 2)] += t.data[t.at(i, ch, y, x)]
        } } } }
        return out
    }

    // MARK: PixelDCL, literally: a = conv(x; W0), b = conv(a; W1), d = a at (0,0) + b at (1,1),
    // out = d + conv(d; W2 ⊙ M) with the full 3×3 masked kernel (taps up, down, left, right).

    /// The full masked 3×3 kernel [C, C, 3, 3] from the four taps w2 [4, C, C].
    public static func maskedKernel(_ w2: RefTensor) -> RefTensor {
        let c = w2.shape[1]
        var k = RefTensor(zeros: [c, c, 3, 3])
        let taps = [(0, 1), (2, 1), (1, 0), (1, 2)]  // up, down, left, right
        for (t, (ky, kx)) in taps.enumerated() {
            for o in 0..<c { for i in 0..<c { k.data[k.at(o, i, ky, kx)] = w2.data[(t * c + o) * c + i] } }
        }
        return k
    }

    public static func pixelDCL(_ x: RefTensor, w0: RefTensor, w1: RefTensor, w2: RefTensor) -> RefTensor {
        let a = conv(x, w0, padding: 1), b = conv(a, w1, padding: 1)
        let d = dilate(a, phase: 0, 0) + dilate(b, phase: 1, 1)
        return d + conv(d, maskedKernel(w2), padding: 1)
    }

    /// Gradients of `pixelDCL`: (dx, dw0, dw1, dw2), by the chain rule through the literal form.
    public static func pixelDCLBackward(_ x: RefTensor, w0: RefTensor, w1: RefTensor, w2: RefTensor, _ dy: RefTensor)
        -> (dx: RefTensor, dw0: RefTensor, dw1: RefTensor, dw2: RefTensor) {
        let a = conv(x, w0, padding: 1), b = conv(a, w1, padding: 1)
        let d = dilate(a, phase: 0, 0) + dilate(b, phase: 1, 1)
        let masked = convBackward(d, maskedKernel(w2), dy, padding: 1)
        let dd = dy + masked.dx
        let c = w2.shape[1]
        var dw2 = RefTensor(zeros: w2.shape)
        for (t, (ky, kx)) in [(0, 1), (2, 1), (1, 0), (1, 2)].enumerated() {
            for o in 0..<c { for i in 0..<c { dw2.data[(t * c + o) * c + i] = masked.dw.data[masked.dw.at(o, i, ky, kx)] } }
        }
        let db = phase(dd, 1, 1)
        let c1 = convBackward(a, w1, db, padding: 1)
        let da = phase(dd, 0, 0) + c1.dx
        let c0 = convBackward(x, w0, da, padding: 1)
        return (c0.dx, c0.dw, c1.dw, dw2)
    }

    // MARK: iPixelDCL: c1 = conv(x), c2 = conv([x, c1]), [c4, c5] = conv([x, c1, c2]);
    // out (0,0) = c1, (1,1) = c2, (1,0) = c4, (0,1) = c5.

    public static func iPixelDCL(_ x: RefTensor, w1: RefTensor, w2: RefTensor, w3: RefTensor) -> RefTensor {
        let cout = w1.shape[0]
        let c1 = conv(x, w1, padding: 1)
        let x1 = concat(x, c1)
        let c2 = conv(x1, w2, padding: 1)
        let c3 = conv(concat(x1, c2), w3, padding: 1)
        let c4 = channels(c3, from: 0, count: cout), c5 = channels(c3, from: cout, count: cout)
        return dilate(c1, phase: 0, 0) + dilate(c2, phase: 1, 1) + dilate(c4, phase: 1, 0) + dilate(c5, phase: 0, 1)
    }

    public static func iPixelDCLBackward(_ x: RefTensor, w1: RefTensor, w2: RefTensor, w3: RefTensor, _ dy: RefTensor)
        -> (dx: RefTensor, dw1: RefTensor, dw2: RefTensor, dw3: RefTensor) {
        let cin = x.shape[1], cout = w1.shape[0]
        let c1 = conv(x, w1, padding: 1)
        let x1 = concat(x, c1)
        let c2 = conv(x1, w2, padding: 1)
        let x2 = concat(x1, c2)
        let dc3 = concat(phase(dy, 1, 0), phase(dy, 0, 1))
        let g3 = convBackward(x2, w3, dc3, padding: 1)
        let dc2 = phase(dy, 1, 1) + channels(g3.dx, from: cin + cout, count: cout)
        let g2 = convBackward(x1, w2, dc2, padding: 1)
        let dx1 = channels(g3.dx, from: 0, count: cin + cout) + g2.dx
        let dc1 = phase(dy, 0, 0) + channels(dx1, from: cin, count: cout)
        let g1 = convBackward(x, w1, dc1, padding: 1)
        return (channels(dx1, from: 0, count: cin) + g1.dx, g1.dw, g2.dw, g3.dw)
    }

    // MARK: resize-conv: conv(upsample(x); W), 3×3 pad 1

    public static func resizeConv(_ x: RefTensor, _ w: RefTensor) -> RefTensor {
        conv(upsample(x), w, padding: 1)
    }

    public static func resizeConvBackward(_ x: RefTensor, _ w: RefTensor, _ dy: RefTensor) -> (dx: RefTensor, dw: RefTensor) {
        let g = convBackward(upsample(x), w, dy, padding: 1)
        return (sumPool(g.dx), g.dw)
    }
}

extension Reference {
    /// A tensor of standard normal values from a fixed seed.
    public static func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed, stream: 3)
        let t = Tensor(shape: shape)
        rng.fillNormal(t)
        return t
    }

    /// Σ a ⊙ b in Double.
    public static func dot(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.count == b.count, "dot: \(a.shape) vs \(b.shape)")
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
        return s
    }
}
