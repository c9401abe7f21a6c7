import Foundation

/// The shared secret, found as Erlang finds its cookie: the flag, then `TODO_COOKIE`, then
/// `~/.todo.cookie`, which is created with random content and mode 0400 when missing.
public enum Cookie {
    public static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let flag, !flag.isEmpty { return flag }
        if let fromEnvironment = environment["TODO_COOKIE"], !fromEnvironment.isEmpty { return fromEnvironment }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return try fromFile(URL(fileURLWithPath: home).appendingPathComponent(".todo.cookie").path)
    }

    static func fromFile(_ path: String) throws -> String {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let cookie = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !cookie.isEmpty { return cookie }
        }
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var generator = SystemRandomNumberGenerator()
        let cookie = String((0..<20).map { _ in letters[Int.random(in: 0..<letters.count, using: &generator)] })
        guard FileManager.default.createFile(atPath: path, contents: Data(cookie.utf8), attributes: [.posixPermissions: 0o400]) else {
            throw CookieError.cannotCreate(path)
        }
        return cookie
    }
}

public enum CookieError: Error, CustomStringConvertible {
    case cannotCreate(String)

    public var description: String {
        switch self {
        case .cannotCreate(let path): "cannot create the cookie file \(path)"
        }
    }
}
