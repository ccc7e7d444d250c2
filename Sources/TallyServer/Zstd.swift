import Foundation

/// zstd decoding for request bodies (`Content-Encoding: zstd`, as the LangSmith SDK sends its multipart bodies),
/// through the system's `libzstd.so.1` loaded at run time. Debian's dpkg depends on that library, so it is on every
/// machine Tally runs on, and building Tally needs no zstd headers (`swift run` stays one command). When the library
/// cannot be loaded, `isAvailable` is false and `/api/langsmith/info` does not offer zstd, so no client sends it.
///
/// Decoding is streaming (the SDK writes one frame without a content size) and stops at `maxSize` bytes.
enum Zstd {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `ZSTD_inBuffer` / `ZSTD_outBuffer`: a pointer, its size and a position, laid out as in C.
    private struct InBuffer {
        var src: UnsafeRawPointer?
        var size: Int
        var pos: Int
    }

    private struct OutBuffer {
        var dst: UnsafeMutableRawPointer?
        var size: Int
        var pos: Int
    }

    private typealias CreateDStream = @convention(c) () -> OpaquePointer?
    private typealias FreeDStream = @convention(c) (OpaquePointer?) -> Int
    private typealias DecompressStream =
        @convention(c) (
            OpaquePointer?, UnsafeMutableRawPointer, UnsafeMutableRawPointer
        ) -> Int
    private typealias IsError = @convention(c) (Int) -> UInt32
    private typealias GetErrorName = @convention(c) (Int) -> UnsafePointer<CChar>?

    private struct Library: @unchecked Sendable {  // function pointers of a library never unloaded
        let create: CreateDStream
        let free: FreeDStream
        let decompress: DecompressStream
        let isError: IsError
        let errorName: GetErrorName
    }

    private static let library: Library? = {
        guard let handle = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func symbol<T>(_ name: String, _: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let create = symbol("ZSTD_createDStream", CreateDStream.self),
            let free = symbol("ZSTD_freeDStream", FreeDStream.self),
            let decompress = symbol("ZSTD_decompressStream", DecompressStream.self),
            let isError = symbol("ZSTD_isError", IsError.self),
            let errorName = symbol("ZSTD_getErrorName", GetErrorName.self)
        else { return nil }
        return Library(create: create, free: free, decompress: decompress, isError: isError, errorName: errorName)
    }()

    static var isAvailable: Bool { library != nil }

    /// The decoded bytes of one or more complete frames. Throws `Failure` for a damaged or truncated stream;
    /// returns nil when the output would exceed `maxSize` bytes.
    static func decode(_ data: Data, maxSize: Int) throws -> Data? {
        guard let lib = library else { throw Failure(description: "zstd is not available on this machine") }
        guard let stream = lib.create() else { throw Failure(description: "zstd: out of memory") }
        defer { _ = lib.free(stream) }
        var output = Data()
        let chunk = 128 * 1024
        var scratch = [UInt8](repeating: 0, count: chunk)
        var lastResult = 0
        var overflow = false
        try data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            var input = InBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var produced = 0
            repeat {
                produced = try scratch.withUnsafeMutableBytes { target -> Int in
                    var out = OutBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let result = withUnsafeMutablePointer(to: &out) { o in
                        withUnsafeMutablePointer(to: &input) { i in lib.decompress(stream, o, i) }
                    }
                    if lib.isError(result) != 0 {
                        let name = lib.errorName(result).map { String(cString: $0) } ?? "unknown error"
                        throw Failure(description: "zstd: \(name)")
                    }
                    lastResult = result
                    return out.pos
                }
                guard output.count + produced <= maxSize else {
                    overflow = true
                    return
                }
                output.append(contentsOf: scratch[0..<produced])
                // Input left, or a full output chunk (the decoder may hold more): go on.
            } while input.pos < input.size || produced == chunk
        }
        if overflow { return nil }
        // 0: the last frame is complete; anything else: the stream stopped inside a frame.
        guard lastResult == 0 else { throw Failure(description: "zstd: the stream ends inside a frame") }
        return output
    }
}
