import Foundation

/// The shared secret, found as Erlang finds its cookie: the flag, then `TODO_COOKIE`, then
/// `~/.todo.cookie`, which is created with random content and mode 0400 when missing. As
/// Erlang does, a cookie file that other users may read is refused.
public enum Cookie {
    public static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let flag, !flag.isEmpty { return flag }
        if let fromEnvironment = environment["TODO_COOKIE"], !fromEnvironment.isEmpty { return fromEnvironment }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return try fromFile(URL(fileURLWithPath: home).appendingPathComponent(".todo.cookie").path)
    }

    /// The cookie in the file at `path`, which is made first if missing.
    static func fromFile(_ path: String) throws -> String {
        if !FileManager.default.fileExists(atPath: path) { try create(path) }
        var status = stat()
        guard stat(path, &status) == 0 else { throw CookieError.unreadable(path, String(cString: strerror(errno))) }
        // A directory would be refused for its mode, which is not what is wrong; a private
        // FIFO would be waited on, and a private device perhaps read without end.
        guard status.st_mode & S_IFMT == S_IFREG else { throw CookieError.unreadable(path, "it is not a file") }
        guard status.st_mode & 0o077 == 0 else { throw CookieError.tooOpen(path, mode: status.st_mode & 0o777) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CookieError.unreadable(path, "not readable text") }
        let cookie = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !cookie.isEmpty else { throw CookieError.empty(path) }
        return cookie
    }

    /// Writes a random cookie to a private file beside `path` and links it into place, so no
    /// one ever sees the file partly written or with a wider mode; if another process made
    /// the file first, its cookie stands.
    private static func create(_ path: String) throws {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        var generator = SystemRandomNumberGenerator()
        let cookie = (0..<20).map { _ in letters[Int.random(in: 0..<letters.count, using: &generator)] }
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: .min ... .max, using: &generator))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        guard descriptor >= 0 else { throw CookieError.cannotCreate(path, String(cString: strerror(errno))) }
        defer { unlink(temporary) }
        let written = cookie.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == cookie.count, synced else { throw CookieError.cannotCreate(path, "cannot write it") }
        guard link(temporary, path) == 0 || errno == EEXIST else { throw CookieError.cannotCreate(path, String(cString: strerror(errno))) }
    }
}

public enum CookieError: Error, CustomStringConvertible {
    case cannotCreate(String, String)
    case unreadable(String, String)
    case tooOpen(String, mode: mode_t)
    case empty(String)

    public var description: String {
        switch self {
        case .cannotCreate(let path, let why): "cannot create the cookie file \(path): \(why)"
        case .unreadable(let path, let why): "cannot read the cookie file \(path): \(why)"
        case .tooOpen(let path, let mode):
            "the cookie file \(path) must be accessible by its owner only (its mode is \(String(mode, radix: 8))): run chmod 400 \(path)"
        case .empty(let path): "the cookie file \(path) is empty"
        }
    }
}
