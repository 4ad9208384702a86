import Foundation
import TensorIO

/// Which part of the data an image belongs to.
public enum Split: String, Codable, CaseIterable, Sendable {
    case train, val, test

    /// The code of CelebA's `list_eval_partition.txt` and of the cache file: 0, 1, 2.
    public var code: UInt8 {
        switch self {
        case .train: 0
        case .val: 1
        case .test: 2
        }
    }

    public init?(code: UInt8) {
        switch code {
        case 0: self = .train
        case 1: self = .val
        case 2: self = .test
        default: return nil
        }
    }

    /// The split of an image with no official partition: 90 % train, 5 % val, 5 % test by a
    /// stable hash of its file name (relative to the image folder, UTF-8):
    /// h = fmix64(FNV-1a-64(name)); h mod 100 < 90 → train, < 95 → val, else test.
    public static func byHash(of name: String) -> Split {
        let bucket = StableHash.fmix64(StableHash.fnv1a64(name.utf8)) % 100
        return bucket < 90 ? .train : bucket < 95 ? .val : .test
    }
}

/// A data folder as found on disk: its kind, its image files (sorted by name) and its
/// annotation files.
///
/// - **CelebA root**: a folder holding `img_align_celeba/` (its `.jpg` files are the images)
///   and optionally `list_eval_partition.txt` and `list_attr_celeba.txt`.
/// - **Generic**: any other folder; its images are the `.jpg`, `.jpeg` and `.png` files in it
///   and in its sub-folders (names relative to it, hidden files and folders skipped).
/// File types are decided by content when decoding; the extension only selects candidates.
public struct DataFolder: Sendable {
    public enum Kind: UInt8, Codable, Sendable {
        case celebA = 1, generic = 2
        public var name: String { self == .celebA ? "CelebA" : "image folder" }
    }

    /// One file: its name relative to `imageFolder`, size and modification time (ns).
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var size: Int64
        public var modified: Int64
    }

    /// Absolute path of the data folder.
    public let root: String
    public let kind: Kind
    /// Where the image names are relative to: root/img_align_celeba or root.
    public let imageFolder: String
    /// The images, sorted by the UTF-8 bytes of their names.
    public let images: [Entry]
    /// The official partition and attribute files (CelebA roots only), when present.
    public let partitionFile: Entry?
    public let attributeFile: Entry?

    public static let celebAImages = "img_align_celeba"
    public static let partitionName = "list_eval_partition.txt"
    public static let attributeName = "list_attr_celeba.txt"
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Lists the folder. `limit` keeps only the first `limit` images by name (tests, quick runs).
    /// Throws a one-line error for a missing folder, a file, an unreadable or empty folder.
    public static func scan(_ path: String, limit: Int? = nil) throws -> DataFolder {
        let root = absolutePath(path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isFolder) else {
            throw FileError(file: root, "no such folder")
        }
        guard isFolder.boolValue else { throw FileError(file: root, "is a file, not a data folder") }

        let celebAFolder = root + "/" + celebAImages
        var celebAIsFolder: ObjCBool = false
        let kind: Kind = FileManager.default.fileExists(atPath: celebAFolder, isDirectory: &celebAIsFolder)
            && celebAIsFolder.boolValue ? .celebA : .generic
        let imageFolder = kind == .celebA ? celebAFolder : root

        var images = [Entry]()
        try list(imageFolder, prefix: "", recursive: kind == .generic, into: &images)
        images.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        if let limit, limit < images.count { images.removeSubrange(limit...) }
        guard !images.isEmpty else {
            throw FileError(file: imageFolder, kind == .celebA
                ? "no .jpg images in CelebA's image folder"
                : "no images (.jpg, .jpeg or .png files) in this folder or below it")
        }
        let annotations = kind == .celebA
        return DataFolder(root: root, kind: kind, imageFolder: imageFolder, images: images,
                          partitionFile: annotations ? entry(root, partitionName) : nil,
                          attributeFile: annotations ? entry(root, attributeName) : nil)
    }

    /// The path made absolute (relative to the working directory, `~` expanded) and standardised.
    public static func absolutePath(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        let standard = URL(fileURLWithPath: absolute).standardizedFileURL.path
        return standard.count > 1 && standard.hasSuffix("/") ? String(standard.dropLast()) : standard
    }

    /// Full path of image `name`.
    public func path(of name: String) -> String { imageFolder + "/" + name }

    /// A fingerprint of the listing: kind, every image's name, size and modification time, the
    /// annotation files' sizes and times. A cache built from a folder with another fingerprint
    /// is stale.
    public var signature: UInt64 {
        var h = XXH64(seed: 0x5646_4C49_5354_0001)
        func add(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { h.update($0) } }
        add(Int64(kind.rawValue))
        add(Int64(images.count))
        for e in images {
            h.update(Array(e.name.utf8) + [0])
            add(e.size)
            add(e.modified)
        }
        for file in [partitionFile, attributeFile] {
            add(file == nil ? -1 : file!.size)
            add(file?.modified ?? -1)
        }
        return h.finalize()
    }

    private static func entry(_ folder: String, _ name: String) -> Entry? {
        var st = stat()
        guard stat(folder + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Entry(name: name, size: Int64(st.st_size), modified: modificationTime(st))
    }

    private static func modificationTime(_ st: stat) -> Int64 {
        Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// Appends the image files of `folder` (names prefixed with `prefix`), descending into
    /// sub-folders when `recursive`.
    private static func list(_ folder: String, prefix: String, recursive: Bool, into entries: inout [Entry]) throws {
        guard let dir = opendir(folder) else {
            throw FileError(file: folder, "cannot list the folder: \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var subfolders = [String]()
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }             // ".", "..", hidden files and folders
            let full = folder + "/" + name
            var st = stat()
            guard stat(full, &st) == 0 else { continue }   // vanished or a broken link: not an image
            let type = st.st_mode & S_IFMT
            if type == S_IFDIR {
                if recursive { subfolders.append(name) }
            } else if type == S_IFREG {
                let ext = (name as NSString).pathExtension.lowercased()
                if imageExtensions.contains(ext) {
                    entries.append(Entry(name: prefix + name, size: Int64(st.st_size), modified: modificationTime(st)))
                }
            }
        }
        for sub in subfolders {
            try list(folder + "/" + sub, prefix: prefix + sub + "/", recursive: true, into: &entries)
        }
    }
}

/// CelebA's annotation files read for a set of image names.
public struct CelebAAnnotations: Sendable {
    /// Official split of each listed name (from list_eval_partition.txt).
    public var splits: [String: Split] = [:]
    /// The 40 attribute names, in file order, and each listed name's values (−1 or 1).
    public var attributeNames: [String] = []
    public var attributes: [String: [Int8]] = [:]

    /// No splits and no attributes (a folder without annotation files).
    public init() {}

    /// Reads the partition and attribute files of `folder` (either may be absent), keeping only
    /// the rows of `names`. Both files have CRLF line endings and cover all 202,599 CelebA images.
    public static func read(_ folder: DataFolder, names: Set<String>) throws -> CelebAAnnotations {
        var result = CelebAAnnotations()
        if folder.partitionFile != nil {
            let path = folder.root + "/" + DataFolder.partitionName
            try result.readPartition(FileRead.contents(of: path), source: path, names: names)
        }
        if folder.attributeFile != nil {
            let path = folder.root + "/" + DataFolder.attributeName
            try result.readAttributes(FileRead.contents(of: path), source: path, names: names)
        }
        return result
    }

    /// Reads the bytes of `list_eval_partition.txt` ("NAME.jpg 0|1|2" per line) into `splits`,
    /// keeping only the rows of `names`; `source` names the file in errors.
    public mutating func readPartition(_ data: Data, source path: String, names: Set<String>) throws {
        try Self.forEachLine(data) { number, line in
            let fields = Self.fields(line)
            guard !fields.isEmpty else { return }
            guard fields.count == 2, let code = UInt8(fields[1]), let split = Split(code: code) else {
                throw FileError(file: path, "line \(number): expected \"NAME.jpg 0|1|2\", found \"\(fields.joined(separator: " "))\"")
            }
            if names.contains(fields[0]) { splits[fields[0]] = split }
        }
    }

    /// Reads the bytes of `list_attr_celeba.txt` (the image count, the attribute names, then
    /// "NAME.jpg" and one value of -1 or 1 per attribute on each line) into `attributeNames` and
    /// `attributes`, keeping only the rows of `names`; `source` names the file in errors.
    public mutating func readAttributes(_ data: Data, source path: String, names: Set<String>) throws {
        try Self.forEachLine(data) { number, line in
            switch number {
            case 1:
                let fields = Self.fields(line)
                guard fields.count == 1, Int(fields[0]) != nil else {
                    throw FileError(file: path, "line 1: expected the image count")
                }
            case 2:
                let fields = Self.fields(line)
                guard !fields.isEmpty else { throw FileError(file: path, "line 2: expected the attribute names") }
                attributeNames = fields
            default:
                // Split a row into fields only when its image is one of ours (202,599 rows).
                guard let name = Self.fields(line, limit: 1).first, names.contains(name) else { return }
                let fields = Self.fields(line)
                let values = fields.dropFirst().compactMap { Int8($0) }
                guard fields.count == attributeNames.count + 1, values.count == attributeNames.count,
                      values.allSatisfy({ $0 == -1 || $0 == 1 || $0 == 0 }) else {
                    throw FileError(file: path, "line \(number): expected \"NAME.jpg\" and \(attributeNames.count) values of -1 or 1")
                }
                attributes[name] = values
            }
        }
    }

    /// Calls `body(lineNumber, line)` for each line (LF or CRLF; the line without its LF).
    private static func forEachLine(_ data: Data, _ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var number = 0
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                number += 1
                try body(number, UnsafeBufferPointer(rebasing: bytes[start..<end]))
                start = end + 1
            }
        }
    }

    /// The whitespace-separated fields of a line (spaces, tabs, CR), at most `limit`.
    private static func fields(_ line: UnsafeBufferPointer<UInt8>, limit: Int = .max) -> [String] {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
        var fields = [String]()
        var i = 0
        while i < line.count && fields.count < limit {
            while i < line.count && isSpace(line[i]) { i += 1 }
            let f = i
            while i < line.count && !isSpace(line[i]) { i += 1 }
            if i > f { fields.append(String(decoding: UnsafeBufferPointer(rebasing: line[f..<i]), as: UTF8.self)) }
        }
        return fields
    }
}
