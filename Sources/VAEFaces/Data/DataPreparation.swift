import Foundation
import NeuralCore
import TensorIO

/// What `prepare` did, as `vae-faces prepare --json` prints it.
public struct PrepareSummary: Codable, Sendable {
    public struct SplitCounts: Codable, Sendable, Equatable {
        public var train = 0, val = 0, test = 0
        public subscript(split: Split) -> Int {
            get { split == .train ? train : split == .val ? val : test }
            set {
                switch split {
                case .train: train = newValue
                case .val: val = newValue
                case .test: test = newValue
                }
            }
        }
    }
    public struct Skip: Codable, Sendable, Equatable {
        public var file: String
        public var reason: String
    }
    /// Images in the cache.
    public var images: Int
    public var splits: SplitCounts
    /// Files left out, by name (relative to the image folder), with the reason.
    public var skipped: [Skip]
    /// Wall-clock time of the whole preparation.
    public var seconds: Double
    /// Absolute path of the cache file written.
    public var cache: String
}

/// Reports from a preparation, delivered on the calling thread.
public enum PrepareEvent: Sendable {
    /// `done` of `total` files handled so far (`skipped` of them left out).
    case progress(done: Int, total: Int, skipped: Int, seconds: Double)
    /// A file left out, and why.
    case skipped(file: String, reason: String)
    /// Something worth telling a person (a stale cache being rebuilt, …).
    case note(String)
}

/// From a data folder to a prepared cache: finding the folder, preparing, opening.
public enum DataPreparation {
    /// The environment variable naming the data folder when `--data` is not given.
    public static let environmentVariable = "VAE_FACES_DATA"

    /// The data folder: `option` (from `--data`), else `$VAE_FACES_DATA`, as an absolute path;
    /// with neither, an error that says how to get CelebA.
    public static func resolveDataFolder(_ option: String?,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let option, !option.isEmpty { return DataFolder.absolutePath(option) }
        if let value = environment[environmentVariable], !value.isEmpty { return DataFolder.absolutePath(value) }
        throw noDataFolder
    }

    static var noDataFolder: VAEFacesError {
        VAEFacesError("no data folder: pass --data DIR or set \(environmentVariable)=DIR, where DIR holds CelebA "
            + "(img_align_celeba/ and list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html; "
            + "see \"Getting CelebA\" in the README) or any folder of JPEG/PNG face images")
    }

    /// Folder of default caches: `$XDG_CACHE_HOME/vae-faces` when that variable is set, else
    /// `~/.cache/vae-faces`.
    public static func defaultCacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/vae-faces" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/vae-faces"
    }

    /// The default cache of a data folder: `<cache folder>/<folder name>-<hash>.vfcache`, the hash
    /// being FNV-1a-64 of the folder's absolute path, so each folder has its own cache and the
    /// data folder itself may be read-only.
    public static func defaultCachePath(dataFolder: String) -> String {
        let root = DataFolder.absolutePath(dataFolder)
        let name = (root as NSString).lastPathComponent.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return defaultCacheFolder() + "/\(String(name.prefix(40)))-\(hex(StableHash.fnv1a64(root.utf8))).vfcache"
    }

    /// Decodes every image of `dataFolder` once, in parallel, and writes the cache (atomically:
    /// the file appears complete or not at all). `cachePath` nil: the default cache.
    /// `threads` nil: `Threading.workers`. `limit` keeps the first `limit` images by name.
    /// Refuses to overwrite an existing file that is not a vae-faces cache.
    public static func prepare(dataFolder: String, cachePath: String? = nil, threads: Int? = nil, limit: Int? = nil,
                               progress: (PrepareEvent) -> Void = { _ in }) throws -> PrepareSummary {
        let folder = try DataFolder.scan(dataFolder, limit: limit)
        let path = cachePath.map(DataFolder.absolutePath) ?? defaultCachePath(dataFolder: folder.root)
        return try prepare(folder, path: path, threads: threads, progress: progress)
    }

    /// The cache for `dataFolder`, prepared first if needed — what training calls.
    ///
    /// - Default cache (`cachePath` nil): missing, stale (the folder's files changed), damaged or
    ///   of another format version → rebuilt, with a `.note` saying why.
    /// - Explicit `cachePath`: missing → prepared there; stale, damaged, other version or a
    ///   foreign file → refused with an error saying why and how to rebuild. An explicit cache
    ///   may be shared or kept on purpose, so it is never overwritten behind the user's back.
    /// - `dataFolder` nil: opens `cachePath` as it is, without a staleness check.
    ///
    /// The images of the splits `inMemory` are held in memory, the others read from the file
    /// when needed (`PreparedCache.open`).
    public static func openOrPrepare(dataFolder: String?, cachePath: String? = nil, threads: Int? = nil,
                                     inMemory: Set<Split> = Set(Split.allCases),
                                     progress: (PrepareEvent) -> Void = { _ in }) throws -> PreparedCache {
        guard let dataFolder else {
            guard let cachePath else { throw noDataFolder }
            return try PreparedCache.open(path: DataFolder.absolutePath(cachePath), inMemory: inMemory)
        }
        let folder = try DataFolder.scan(dataFolder)
        let path = cachePath.map(DataFolder.absolutePath) ?? defaultCachePath(dataFolder: folder.root)
        return try openOrPrepare(folder, path: path, rebuildWhenInvalid: cachePath == nil, threads: threads, inMemory: inMemory,
                                 progress: progress)
    }

    static func openOrPrepare(_ folder: DataFolder, path: String, rebuildWhenInvalid: Bool, threads: Int?,
                              inMemory: Set<Split> = Set(Split.allCases), progress: (PrepareEvent) -> Void) throws -> PreparedCache {
        let rebuildHint = "rebuild it with `vae-faces prepare --data \(folder.root) --cache \(path)`, or delete it"
        if FileManager.default.fileExists(atPath: path) {
            let problem: String
            do {
                let cache = try PreparedCache.open(path: path, inMemory: inMemory)
                if cache.signature == folder.signature { return cache }
                problem = "is stale: it was prepared from \(cache.dataFolder) (\(cache.count) images) and "
                    + (cache.dataFolder == folder.root ? "the folder's files have changed since (now \(folder.images.count) image files)"
                                                       : "not from \(folder.root)")
            } catch let error as FileError {
                problem = error.problem
            }
            guard rebuildWhenInvalid else { throw FileError(file: path, "\(problem); \(rebuildHint)") }
            progress(.note("\(path): \(problem); rebuilding it"))
        } else {
            progress(.note("preparing \(folder.root) into \(path) (once; later runs reuse it)"))
        }
        _ = try prepare(folder, path: path, threads: threads, progress: progress)
        return try PreparedCache.open(path: path, inMemory: inMemory)
    }

    /// The first 64 images in file-name order as an 8×8 grid (fewer if the cache is smaller).
    public static func previewGrid(_ cache: PreparedCache, count: Int = 64, columns: Int = 8) -> Image8 {
        Grid.make(tiles: (0..<min(count, cache.count)).map(cache.image8), columns: columns)
    }

    // MARK: The preparation itself

    static func prepare(_ folder: DataFolder, path: String, threads: Int?,
                        progress: (PrepareEvent) -> Void) throws -> PrepareSummary {
        let start = DispatchTime.now()
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

        if FileManager.default.fileExists(atPath: path), !PreparedCache.hasMagic(path: path),
           let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0 {
            throw FileError(file: path, "exists and is not a vae-faces cache; refusing to overwrite it (choose another --cache)")
        }
        let names = folder.images.map(\.name)
        let annotations = folder.kind == .celebA ? try CelebAAnnotations.read(folder, names: Set(names)) : CelebAAnnotations()
        let attributeCount = annotations.attributeNames.count
        guard attributeCount <= 255 else {
            throw FileError(file: folder.root + "/" + DataFolder.attributeName, "\(attributeCount) attributes; at most 255 are supported")
        }

        let workers = max(1, threads ?? Threading.workers)
        let contexts = try (0..<workers).map { _ in try PreparationWorker(kind: folder.kind) }
        let roundSize = 256 * workers
        let imageBytes = PreparedCache.imageBytes
        let total = names.count

        var keptNames = [String](), keptSplits = [Split](), keptAttributes = [Int8]()
        var skipped = [PrepareSummary.Skip]()
        var counts = PrepareSummary.SplitCounts()
        var checksum = XXH64()

        try AtomicWrite.write(to: path) { handle in
            try handle.write(contentsOf: Data(count: PreparedCache.headerSize))      // header goes in last
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: roundSize * imageBytes)
            defer { buffer.deallocate() }
            var reasons = [String?](repeating: nil, count: roundSize)
            for lo in stride(from: 0, to: total, by: roundSize) {
                let n = min(total, lo + roundSize) - lo
                // Decode this round in parallel: worker w takes a contiguous slice and its own
                // decoder and scratch buffers; outputs and reasons go to disjoint slots.
                reasons.withUnsafeMutableBufferPointer { r in
                    let out = UnsafeSendable((buffer, r.baseAddress!))
                    parallelFor(workers) { w in
                        let worker = contexts[w]
                        for k in (n * w / workers)..<(n * (w + 1) / workers) {
                            out.value.1[k] = worker.prepare(folder.path(of: names[lo + k]), into: out.value.0 + k * imageBytes)
                        }
                    }
                }
                // Append the images that worked, in file-name order.
                var k = 0
                while k < n {
                    if let reason = reasons[k] {
                        skipped.append(.init(file: names[lo + k], reason: reason))
                        progress(.skipped(file: names[lo + k], reason: reason))
                        k += 1
                        continue
                    }
                    var end = k
                    while end < n && reasons[end] == nil {
                        let name = names[lo + end]
                        let split = annotations.splits[name] ?? Split.byHash(of: name)
                        keptNames.append(name)
                        keptSplits.append(split)
                        counts[split] += 1
                        if attributeCount > 0 {
                            keptAttributes += annotations.attributes[name] ?? [Int8](repeating: 0, count: attributeCount)
                        }
                        end += 1
                    }
                    let run = UnsafeRawBufferPointer(start: buffer + k * imageBytes, count: (end - k) * imageBytes)
                    checksum.update(run)
                    try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: run.baseAddress!),
                                                      count: run.count, deallocator: .none))
                    k = end
                }
                progress(.progress(done: lo + n, total: total, skipped: skipped.count, seconds: elapsed()))
            }
            guard !keptNames.isEmpty else {
                let first = skipped.first.map { " (\($0.file): \($0.reason))" } ?? ""
                throw FileError(file: folder.imageFolder, "none of the \(total) image files could be used\(first)")
            }
            let metadata = PreparedCache.metadata(dataFolder: folder.root, attributeNames: annotations.attributeNames,
                                                  names: keptNames, splits: keptSplits, attributes: keptAttributes)
            metadata.withUnsafeBytes { checksum.update($0) }
            try handle.write(contentsOf: Data(metadata))
            let header = PreparedCache.header(count: keptNames.count, kind: folder.kind, attributeCount: attributeCount,
                                              signature: folder.signature, checksum: checksum.finalize())
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: Data(header))
        }
        return PrepareSummary(images: keptNames.count, splits: counts, skipped: skipped, seconds: elapsed(), cache: path)
    }
}

/// One thread's tools for preparing images: a TurboJPEG decoder, a file buffer, the resize
/// scratch space and the resizers met so far, all reused image after image.
final class PreparationWorker {
    let kind: DataFolder.Kind
    let decoder: JPEGDecoder
    private var file = [UInt8]()
    private var rgb = [UInt8]()
    private var scratch = [Int64]()
    private var resizers = [Int: AreaResizer]()
    /// Largest file read (a JPEG face is ~10 KB; anything this big is not one).
    static let maxFileBytes = 256 << 20

    init(kind: DataFolder.Kind) throws {
        self.kind = kind
        decoder = try JPEGDecoder()
    }

    /// Reads, decodes, crops and resizes the image at `path` into 64·64·3 bytes at `output`.
    /// Returns nil on success, else the reason the file is skipped.
    func prepare(_ path: String, into output: UnsafeMutablePointer<UInt8>) -> String? {
        if let problem = read(path) { return problem }
        if let problem = decode(path) { return problem }
        if decodedFromPNG {
            return rgb.withUnsafeBufferPointer {
                cropAndResize($0.baseAddress!, width: pngSize.0, height: pngSize.1, into: output)
            }
        }
        return decoder.pixels.withUnsafeBufferPointer {
            cropAndResize($0.baseAddress!, width: decoder.width, height: decoder.height, into: output)
        }
    }

    /// Crops the decoded width×height RGB image to its face square and area-resizes it to 64×64.
    private func cropAndResize(_ pixels: UnsafePointer<UInt8>, width: Int, height: Int,
                               into output: UnsafeMutablePointer<UInt8>) -> String? {
        if kind == .celebA && (width != FaceCrop.celebAWidth || height != FaceCrop.celebAHeight) {
            return "\(width)×\(height), but CelebA's aligned images are \(FaceCrop.celebAWidth)×\(FaceCrop.celebAHeight)"
        }
        let crop: FaceCrop
        switch FaceCrop.forImage(width: width, height: height) {
        case .success(let c): crop = c
        case .failure(let refusal): return refusal.reason
        }
        let resizer = resizers[crop.size] ?? AreaResizer(sourceWidth: crop.size, sourceHeight: crop.size,
                                                         outputWidth: VAEConfiguration.imageSize, outputHeight: VAEConfiguration.imageSize)
        resizers[crop.size] = resizer
        if scratch.count * 8 < resizer.scratchBytes { scratch = [Int64](repeating: 0, count: resizer.scratchBytes / 8 + 1) }
        scratch.withUnsafeMutableBufferPointer { s in
            resizer.resize(pixels + (crop.y * width + crop.x) * 3, sourceRowBytes: width * 3, into: output, scratch: UnsafeMutableRawPointer(s.baseAddress!))
        }
        return nil
    }

    private var fileCount = 0
    private var decodedFromPNG = false
    private var pngSize = (0, 0)

    /// Reads the whole file into `file[0..<fileCount]`.
    private func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "cannot open: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
        let size = Int(st.st_size)
        guard size > 0 else { return "empty file (0 bytes)" }
        guard size <= PreparationWorker.maxFileBytes else { return "file of \(size) bytes is too large for a face image" }
        if file.count < size { file = [UInt8](repeating: 0, count: max(size, 64 << 10)) }
        var got = 0
        let failure: String? = file.withUnsafeMutableBytes { buf in
            while got < size {
                let r = Foundation.read(fd, buf.baseAddress! + got, size - got)
                if r < 0 {
                    if errno == EINTR { continue }
                    return "cannot read: \(String(cString: strerror(errno)))"
                }
                if r == 0 { return "file shrank while being read (\(got) of \(size) bytes)" }
                got += r
            }
            return nil
        }
        fileCount = got
        return failure
    }

    /// Decodes `file[0..<fileCount]` by its content: JPEG with TurboJPEG, PNG with libpng.
    private func decode(_ path: String) -> String? {
        let count = fileCount
        return file.withUnsafeBytes { all -> String? in
            let bytes = UnsafeRawBufferPointer(rebasing: all[0..<count])
            if JPEGDecoder.looksLikeJPEG(bytes) {
                decodedFromPNG = false
                return decoder.decode(bytes)
            }
            if bytes.count >= 8, bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
                do {
                    let image = Image8(try PNG.readRGB(data: Data(bytes), source: path))
                    rgb = image.pixels
                    pngSize = (image.width, image.height)
                    decodedFromPNG = true
                    return nil
                } catch let error as FileError {
                    return error.problem
                } catch {
                    return "\(error)"
                }
            }
            return "not a JPEG or PNG image (the file starts with neither signature)"
        }
    }
}
