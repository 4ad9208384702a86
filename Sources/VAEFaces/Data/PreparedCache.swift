import Foundation
import TensorIO

/// The prepared data set: every image of a data folder decoded, cropped and area-resized once,
/// in one file that training and evaluation read.
///
/// File layout (version 1, little-endian):
///
///     offset  size  field
///          0     8  magic  89 'V' 'F' 'C' 0D 0A 1A 0A
///          8     4  version (1)
///         12     4  header size (64) = offset of the first image
///         16     4  count N
///         20     2  image side (64)            22  2  channels (3)
///         24     1  folder kind (1 CelebA root, 2 generic folder)
///         25     1  attributes per image A (40 with list_attr_celeba.txt, else 0)
///         26     2  CelebA source width (178)   28  2  source height (218)
///         30     2  crop x (19)   32  2  crop y (39)   34  2  crop side (140)
///         36     4  reserved (0)
///         40     8  metadata offset = 64 + N·12288
///         48     8  signature of the data folder listing (names, sizes, mtimes; `DataFolder`)
///         56     8  checksum: XXH64 (seed 0) of every byte from offset 64 to the end
///         64        N images, 64·64·3 bytes each, HWC RGB, in file-name order
///     metadata      data folder path (u32 length + UTF-8)
///                   A attribute names (u16 length + UTF-8 each)
///                   N file names relative to the image folder (u16 length + UTF-8 each)
///                   N split codes (u8: 0 train, 1 val, 2 test)
///                   N·A attribute values (i8: −1, 1; 0 when the image has no row)
///                   end of file
///
/// Images come first so that preparation streams them to disk as they are decoded; the header
/// is written last. Opening reads every byte and validates magic, version, sizes and the
/// checksum, so a truncated, corrupt or foreign file is refused with a message, never read as faces.
///
/// Where the images are after `open`: those of the splits in `splitsInMemory` (all by default)
/// are copied into memory of the cache's own, the others stay in the file and are read when a
/// batch needs them (`image(_:readingInto:)`). Training keeps only the val split in memory and
/// reads train batches from the file: 12 KiB per image less, about 200 MB for the shipped subset.
///
/// Why copies and reads rather than a mapping of the file: a mapped file that another program
/// truncates or rewrites in place while a run reads it (`cp`, `truncate`, a tool opening it with
/// O_TRUNC) kills the reader with SIGBUS at the first page past the new end, and no check before
/// touching a page can close that race. A copy is immune: a run goes on with the data it
/// validated. A read cannot crash either: the cache keeps the file open (a cache that `prepare`
/// replaced, by renaming a new file over it, is still the old file to this descriptor), and each
/// image read from it is checked against the XXH64 its bytes had when the file was validated, so
/// a file cut or rewritten since gives an error naming it, never other faces.
public final class PreparedCache: @unchecked Sendable {
    // Immutable after `open`: every property is a `let`, the memory is read-only and reads from
    // the file use pread (no shared file offset), so one cache can be shared by any number of threads.

    public static let magic: [UInt8] = [0x89, 0x56, 0x46, 0x43, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let version: UInt32 = 1
    public static let headerSize = 64
    /// Bytes per image: 64·64·3.
    public static let imageBytes = VAEConfiguration.imageSize * VAEConfiguration.imageSize * VAEConfiguration.imageChannels

    public let path: String
    public let count: Int
    public let kind: DataFolder.Kind
    /// The data folder it was prepared from (absolute path).
    public let dataFolder: String
    /// `DataFolder.signature` of the folder when it was prepared.
    public let signature: UInt64
    public let attributeNames: [String]
    /// The splits whose images are held in memory; the others' are read from the file.
    public let splitsInMemory: Set<Split>
    private let names: [String]
    private let splitCodes: [Split]
    private let splitIndices: [Split: [Int]]
    /// The images held in memory, back to back in index order: image i at `memorySlot[i]` · 12288
    /// bytes, or only in the file when its slot is −1.
    private let memory: Region
    private let memorySlot: [Int]
    /// The attribute values, A bytes per image.
    private let attributeValues: Region
    /// The cache file, kept open for the images not in memory (−1 when all are).
    private let file: Int32
    /// XXH64 of every image's bytes as validated by `open` (empty when all are in memory).
    private let imageHashes: [UInt64]

    private init(path: String, tables: Tables, splitsInMemory: Set<Split>, memory: Region, memorySlot: [Int],
                 attributeValues: Region, file: Int32, imageHashes: [UInt64]) {
        self.path = path
        self.count = tables.count
        self.kind = tables.kind
        self.dataFolder = tables.dataFolder
        self.signature = tables.signature
        self.attributeNames = tables.attributeNames
        self.splitsInMemory = splitsInMemory
        self.names = tables.names
        self.splitCodes = tables.splits
        var indices = [Split: [Int]]()
        for s in Split.allCases { indices[s] = [] }
        for (i, s) in tables.splits.enumerated() { indices[s]!.append(i) }
        self.splitIndices = indices
        self.memory = memory
        self.memorySlot = memorySlot
        self.attributeValues = attributeValues
        self.file = file
        self.imageHashes = imageHashes
    }

    deinit { if file >= 0 { close(file) } }

    /// File name of image i, relative to the image folder (e.g. "000001.jpg").
    public func fileName(_ i: Int) -> String { names[i] }

    public func split(_ i: Int) -> Split { splitCodes[i] }

    /// The images of a split, in file-name order.
    public func indices(in split: Split) -> [Int] { splitIndices[split]! }

    /// Whether image i is held in memory (else `image(i)` is not available: it is read from the file).
    public func isInMemory(_ i: Int) -> Bool { memorySlot[i] >= 0 }

    /// Image i, held in memory (its split is in `splitsInMemory`): 64·64·3 bytes, HWC RGB, valid
    /// while the cache is alive.
    public func image(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        precondition(i >= 0 && i < count, "PreparedCache.image: index \(i) out of 0..<\(count)")
        precondition(memorySlot[i] >= 0, "PreparedCache.image: image \(i) is of the \(splitCodes[i].rawValue) split, which this cache reads from the file (image(_:readingInto:))")
        return UnsafeBufferPointer(start: (memory.pointer! + memorySlot[i] * PreparedCache.imageBytes)
            .assumingMemoryBound(to: UInt8.self), count: PreparedCache.imageBytes)
    }

    /// Image i wherever it is: in memory, or read from the file into `buffer` (room for
    /// `imageBytes`) and checked against the bytes `open` validated. Throws a `FileError` naming
    /// the file when it was cut short or rewritten since, or cannot be read.
    public func image(_ i: Int, readingInto buffer: UnsafeMutableRawPointer) throws -> UnsafeBufferPointer<UInt8> {
        precondition(i >= 0 && i < count, "PreparedCache.image: index \(i) out of 0..<\(count)")
        if memorySlot[i] >= 0 { return image(i) }
        try PreparedCache.readImage(i, from: file, expecting: imageHashes[i], into: buffer, path: path, name: names[i])
        return UnsafeBufferPointer(start: buffer.assumingMemoryBound(to: UInt8.self), count: PreparedCache.imageBytes)
    }

    /// Image i as an `Image8` (a copy); held in memory.
    public func image8(_ i: Int) -> Image8 {
        Image8(width: VAEConfiguration.imageSize, height: VAEConfiguration.imageSize, pixels: Array(image(i)))
    }

    /// Image i's attribute values, in the order of `attributeNames` (−1 or 1, 0 when the
    /// attribute file has no row for it); empty when the data folder had no attribute file.
    public func attributes(_ i: Int) -> UnsafeBufferPointer<Int8> {
        precondition(i >= 0 && i < count, "PreparedCache.attributes: index \(i) out of 0..<\(count)")
        let a = attributeNames.count
        guard a > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: (attributeValues.pointer! + i * a).assumingMemoryBound(to: Int8.self), count: a)
    }

    /// Whether the file at `path` starts with the cache magic (a vae-faces cache of any version,
    /// possibly damaged), as opposed to a foreign file that must not be overwritten.
    public static func hasMagic(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: magic.count)) ?? Data()
        return head.elementsEqual(magic)
    }

    /// Reads a cache file, validates it, and keeps the images of `inMemory` in memory (the others
    /// are read from the file when needed). Errors name the file and the problem (missing,
    /// foreign, other version, truncated, corrupt).
    ///
    /// Every byte is read once, in chunks, for the checksum; with every split in memory straight
    /// into the cache's memory. Otherwise each image's XXH64 is noted for the reads to come, and
    /// the images of `inMemory` are read again (checked against it) into memory.
    public static func open(path: String, inMemory: Set<Split> = Set(Split.allCases)) throws -> PreparedCache {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileError(file: path, errno == ENOENT ? "no such cache file" : "cannot open: \(String(cString: strerror(errno)))")
        }
        var keepsFile = false
        defer { if !keepsFile { close(fd) } }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= headerSize else {
            throw FileError(file: path, size >= magic.count && hasMagic(path: path)
                ? "truncated vae-faces cache (\(size) bytes)" : "not a vae-faces prepared cache (\(size) bytes)")
        }
        func readAll(_ buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
            let got = try read(fd, into: buffer, count: count, at: offset, path: path)
            guard got == count else {
                throw FileError(file: path, "truncated vae-faces cache: it ended after \(offset + got) of \(size) bytes while being read")
            }
        }
        var headerBytes = [UInt8](repeating: 0, count: headerSize)
        try headerBytes.withUnsafeMutableBytes { try readAll($0.baseAddress!, count: headerSize, at: 0) }
        let header = try headerBytes.withUnsafeBytes { try Header(parsing: $0, fileSize: size, path: path) }

        let everySplit = inMemory.isSuperset(of: Split.allCases)
        let all = try Region(size: everySplit ? header.count * imageBytes : 0, path: path)
        var checksum = XXH64()
        var hashes = [UInt64]()
        let chunkImages = 256
        let chunk = everySplit ? nil : UnsafeMutableRawPointer.allocate(byteCount: chunkImages * imageBytes, alignment: 64)
        defer { chunk?.deallocate() }
        for first in stride(from: 0, to: header.count, by: chunkImages) {
            let n = min(chunkImages, header.count - first)
            let target = chunk ?? all.pointer! + first * imageBytes
            try readAll(target, count: n * imageBytes, at: headerSize + first * imageBytes)
            checksum.update(UnsafeRawBufferPointer(start: target, count: n * imageBytes))
            if !everySplit {
                for k in 0..<n { hashes.append(XXH64.hash(UnsafeRawBufferPointer(start: target + k * imageBytes, count: imageBytes))) }
            }
        }
        var metadata = [UInt8](repeating: 0, count: size - header.metadataOffset)
        try metadata.withUnsafeMutableBytes { if $0.count > 0 { try readAll($0.baseAddress!, count: $0.count, at: header.metadataOffset) } }
        metadata.withUnsafeBytes { checksum.update($0) }
        try checkChecksum(checksum.finalize(), header, path: path)
        let tables = try metadata.withUnsafeBytes { try Tables(parsing: $0, header: header, path: path) }
        let attributes = try Region(size: tables.count * tables.attributeNames.count, path: path)
        if attributes.size > 0 {
            metadata.withUnsafeBytes { attributes.pointer!.copyMemory(from: $0.baseAddress! + $0.count - attributes.size, byteCount: attributes.size) }
        }
        attributes.seal()

        guard !everySplit else {
            all.seal()
            return PreparedCache(path: path, tables: tables, splitsInMemory: Set(Split.allCases), memory: all,
                                 memorySlot: Array(0..<tables.count), attributeValues: attributes, file: -1, imageHashes: [])
        }
        var slots = [Int](repeating: -1, count: tables.count), held = 0
        for (i, split) in tables.splits.enumerated() where inMemory.contains(split) {
            slots[i] = held
            held += 1
        }
        let memory = try Region(size: held * imageBytes, path: path)
        for (i, slot) in slots.enumerated() where slot >= 0 {
            try readImage(i, from: fd, expecting: hashes[i], into: memory.pointer! + slot * imageBytes, path: path, name: tables.names[i])
        }
        memory.seal()
        keepsFile = true
        return PreparedCache(path: path, tables: tables, splitsInMemory: inMemory, memory: memory, memorySlot: slots,
                             attributeValues: attributes, file: fd, imageHashes: hashes)
    }

    /// Checks a whole cache file held in memory as `open` checks one on disk — header, checksum,
    /// metadata tables — and throws what `open` would (the fuzz target's entry point).
    public static func validate(_ bytes: UnsafeRawBufferPointer, source path: String) throws {
        guard bytes.count >= headerSize else { throw FileError(file: path, "not a vae-faces prepared cache (\(bytes.count) bytes)") }
        let header = try Header(parsing: UnsafeRawBufferPointer(rebasing: bytes[..<headerSize]), fileSize: bytes.count, path: path)
        try checkChecksum(XXH64.hash(UnsafeRawBufferPointer(rebasing: bytes[headerSize...])), header, path: path)
        _ = try Tables(parsing: UnsafeRawBufferPointer(rebasing: bytes[header.metadataOffset...]), header: header, path: path)
    }

    /// Throws unless `actual`, the XXH64 of everything after the header, is the header's.
    private static func checkChecksum(_ actual: UInt64, _ header: Header, path: String) throws {
        guard actual == header.checksum else {
            throw FileError(file: path, "corrupt vae-faces cache: checksum mismatch (stored \(hex(header.checksum)), computed \(hex(actual))): the file is damaged or truncated")
        }
    }

    /// Reads up to `count` bytes at `offset` of the file `fd` into `buffer` (pread, retried until
    /// done); returns how many it got, fewer only at the end of the file.
    private static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int, path: String) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, min(count - done, 1 << 30), off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError(file: path, "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads image i (file name `name`) from the cache file `fd` into `buffer` and checks it
    /// against `hash`, its XXH64 when the file was validated.
    private static func readImage(_ i: Int, from fd: Int32, expecting hash: UInt64, into buffer: UnsafeMutableRawPointer,
                                  path: String, name: String) throws {
        let changed = "the cache file changed after it was opened (rebuild it with `vae-faces prepare`, then resume the run)"
        guard try read(fd, into: buffer, count: imageBytes, at: headerSize + i * imageBytes, path: path) == imageBytes else {
            throw FileError(file: path, "\(changed): it now ends before image \(i) (\(name))")
        }
        guard XXH64.hash(UnsafeRawBufferPointer(start: buffer, count: imageBytes)) == hash else {
            throw FileError(file: path, "\(changed): image \(i) (\(name)) no longer holds the bytes validated then")
        }
    }

    /// Memory of a cache's own, read-only once filled (`seal`): an anonymous mapping, given back
    /// whole when the cache goes.
    private final class Region {
        let pointer: UnsafeMutableRawPointer?
        let size: Int

        init(size: Int, path: String) throws {
            self.size = size
            guard size > 0 else { pointer = nil; return }
            guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  mapping != UnsafeMutableRawPointer(bitPattern: -1) else {
                throw FileError(file: path, "cannot allocate \(size) bytes for the cache: \(String(cString: strerror(errno)))")
            }
            pointer = mapping
        }

        func seal() { if let pointer { mprotect(pointer, size, PROT_READ) } }

        deinit { if let pointer { munmap(pointer, size) } }
    }

    /// The fixed 64-byte header, checked against the file's size (so the images and the metadata
    /// lie within the file).
    struct Header {
        let count: Int
        let kind: DataFolder.Kind
        let attributeCount: Int
        let metadataOffset: Int
        let signature: UInt64
        let checksum: UInt64

        init(parsing bytes: UnsafeRawBufferPointer, fileSize size: Int, path: String) throws {
            let base = bytes.baseAddress!
            guard (0..<magic.count).allSatisfy({ base.load(fromByteOffset: $0, as: UInt8.self) == magic[$0] }) else {
                throw FileError(file: path, "not a vae-faces prepared cache (unknown file header)")
            }
            var reader = ByteReader(path: path, base: base, size: bytes.count)
            reader.offset = magic.count
            let version = try reader.u32()
            guard version == PreparedCache.version else {
                throw FileError(file: path, "cache format version \(version), this build reads version \(PreparedCache.version)")
            }
            let header = Int(try reader.u32())
            count = Int(try reader.u32())
            let side = Int(try reader.u16()), channels = Int(try reader.u16())
            let kindCode = try reader.u8()
            attributeCount = Int(try reader.u8())
            let crop = (try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16())
            _ = try reader.u32()
            let metadataOffset = try reader.u64()
            signature = try reader.u64()
            checksum = try reader.u64()
            guard header == headerSize, side == VAEConfiguration.imageSize, channels == VAEConfiguration.imageChannels,
                  crop == (UInt16(FaceCrop.celebAWidth), UInt16(FaceCrop.celebAHeight), UInt16(FaceCrop.celebA.x),
                           UInt16(FaceCrop.celebA.y), UInt16(FaceCrop.celebA.size)),
                  let kind = DataFolder.Kind(rawValue: kindCode) else {
                throw FileError(file: path, "corrupt vae-faces cache: unexpected header fields (header \(header), image \(side)×\(side)×\(channels), kind \(kindCode))")
            }
            self.kind = kind
            guard metadataOffset == UInt64(headerSize + count * imageBytes), metadataOffset <= UInt64(size) else {
                throw FileError(file: path, "truncated or corrupt vae-faces cache: \(size) bytes, but its header lists \(count) images")
            }
            self.metadataOffset = Int(metadataOffset)
        }
    }

    /// What a cache file's metadata says, once validated: everything but the images.
    struct Tables {
        let count: Int
        let kind: DataFolder.Kind
        let dataFolder: String
        let signature: UInt64
        let attributeNames: [String]
        let names: [String]
        let splits: [Split]

        /// Parses the metadata block `bytes` (from the metadata offset to the end of the file).
        init(parsing bytes: UnsafeRawBufferPointer, header: Header, path: String) throws {
            func corrupt(_ what: String) -> FileError { FileError(file: path, "corrupt vae-faces cache: \(what)") }
            var reader = ByteReader(path: path, base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, size: bytes.count)
            count = header.count
            kind = header.kind
            signature = header.signature
            dataFolder = try reader.string(lengthBytes: 4)
            var attributeNames = [String]()
            for _ in 0..<header.attributeCount { attributeNames.append(try reader.string(lengthBytes: 2)) }
            self.attributeNames = attributeNames
            var names = [String]()
            names.reserveCapacity(count)
            for _ in 0..<count { names.append(try reader.string(lengthBytes: 2)) }
            self.names = names
            var splits = [Split]()
            splits.reserveCapacity(count)
            for i in 0..<count {
                guard let s = Split(code: try reader.u8()) else { throw corrupt("bad split code for image \(i)") }
                splits.append(s)
            }
            self.splits = splits
            guard bytes.count - reader.offset == count * header.attributeCount else {
                throw corrupt("\(bytes.count - reader.offset) bytes of attributes for \(count) images × \(header.attributeCount)")
            }
        }
    }

    // MARK: Writing (used by DataPreparation)

    /// The fixed 64-byte header.
    static func header(count: Int, kind: DataFolder.Kind, attributeCount: Int, signature: UInt64, checksum: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(magic)
        w.u32(version)
        w.u32(UInt32(headerSize))
        w.u32(UInt32(count))
        w.u16(UInt16(VAEConfiguration.imageSize)); w.u16(UInt16(VAEConfiguration.imageChannels))
        w.u8(kind.rawValue); w.u8(UInt8(attributeCount))
        w.u16(UInt16(FaceCrop.celebAWidth)); w.u16(UInt16(FaceCrop.celebAHeight))
        w.u16(UInt16(FaceCrop.celebA.x)); w.u16(UInt16(FaceCrop.celebA.y)); w.u16(UInt16(FaceCrop.celebA.size))
        w.u32(0)
        w.u64(UInt64(headerSize + count * imageBytes))
        w.u64(signature)
        w.u64(checksum)
        precondition(w.data.count == headerSize)
        return w.data
    }

    /// The metadata block that follows the images.
    static func metadata(dataFolder: String, attributeNames: [String], names: [String], splits: [Split], attributes: [Int8]) -> [UInt8] {
        var w = ByteWriter()
        w.string(dataFolder, lengthBytes: 4)
        for n in attributeNames { w.string(n, lengthBytes: 2) }
        for n in names { w.string(n, lengthBytes: 2) }
        w.bytes(splits.map(\.code))
        w.bytes(attributes.map { UInt8(bitPattern: $0) })
        return w.data
    }
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// Little-endian reads with bounds checks (a damaged file throws, never reads out of bounds).
struct ByteReader {
    /// The file the bytes come from, named in errors.
    let path: String
    let base: UnsafeRawPointer
    let size: Int
    var offset = 0

    mutating func take(_ n: Int) throws -> UnsafeRawPointer {
        guard n >= 0, offset + n <= size else { throw FileError(file: path, "corrupt vae-faces cache: metadata runs past the end of the file") }
        defer { offset += n }
        return base + offset
    }
    mutating func u8() throws -> UInt8 { try take(1).load(as: UInt8.self) }
    mutating func u16() throws -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func string(lengthBytes: Int) throws -> String {
        let n = lengthBytes == 2 ? Int(try u16()) : Int(try u32())
        let p = try take(n)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }
}

struct ByteWriter {
    var data = [UInt8]()
    mutating func bytes(_ b: [UInt8]) { data += b }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func string(_ s: String, lengthBytes: Int) {
        let utf8 = Array(s.utf8)
        if lengthBytes == 2 { u16(UInt16(utf8.count)) } else { u32(UInt32(utf8.count)) }
        data += utf8
    }
}
