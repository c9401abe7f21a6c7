@testable import Cluster
import Foundation
import Synchronization
import Testing

@Suite struct CookieTests {
    func freshHome() throws -> String {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("cookie-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return home
    }

    @Test func aMissingFileIsMadePrivateAndKept() throws {
        let home = try freshHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let first = try Cookie.resolve(flag: nil, environment: ["HOME": home])
        #expect(first.count == 20)
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(home)/.todo.cookie")
        #expect((attributes[.posixPermissions] as? Int) == 0o400)
        #expect(try Cookie.resolve(flag: nil, environment: ["HOME": home]) == first)
        // Nothing of the making is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: home) == [".todo.cookie"])
    }

    @Test func processesMakingTheFileAtOnceAllGetTheSameCookie() throws {
        let home = try freshHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let found = Mutex<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let cookie = try? Cookie.resolve(flag: nil, environment: ["HOME": home]) { found.withLock { _ = $0.insert(cookie) } }
        }
        #expect(found.withLock { $0.count } == 1)
    }

    @Test func aFileOthersMayReadIsRefusedWithTheFix() throws {
        let home = try freshHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let path = "\(home)/.todo.cookie"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("SECRET".utf8), attributes: [.posixPermissions: 0o644]))
        let error = #expect(throws: CookieError.self) { try Cookie.resolve(flag: nil, environment: ["HOME": home]) }
        #expect(error?.description == "the cookie file \(path) must be accessible by its owner only (its mode is 644): run chmod 400 \(path)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(try Cookie.resolve(flag: nil, environment: ["HOME": home]) == "SECRET")
    }

    @Test func anEmptyFileIsAnErrorNotAnOverwrite() throws {
        let home = try freshHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let path = "\(home)/.todo.cookie"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o400]))
        #expect(throws: CookieError.self) { try Cookie.resolve(flag: nil, environment: ["HOME": home]) }
    }

    @Test func aDirectoryOrADeviceIsNotACookieFile() throws {
        let home = try freshHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let path = "\(home)/.todo.cookie"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let directory = #expect(throws: CookieError.self) { try Cookie.resolve(flag: nil, environment: ["HOME": home]) }
        #expect(directory?.description == "cannot read the cookie file \(path): it is not a file")
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        let device = #expect(throws: CookieError.self) { try Cookie.resolve(flag: nil, environment: ["HOME": home]) }
        #expect(device?.description == "cannot read the cookie file \(path): it is not a file")
    }

    @Test func theFlagComesFirstThenTheEnvironment() throws {
        #expect(try Cookie.resolve(flag: "flag", environment: ["TODO_COOKIE": "env", "HOME": "/nonexistent"]) == "flag")
        #expect(try Cookie.resolve(flag: nil, environment: ["TODO_COOKIE": "env", "HOME": "/nonexistent"]) == "env")
    }

    @Test func everyNodeOfACookieDerivesTheSameKeysAndAnotherCookieOthers() throws {
        let one = try ClusterKeys.derive(cookie: "one")
        #expect(try ClusterKeys.derive(cookie: "one") == one)
        #expect(try ClusterKeys.derive(cookie: "two") != one)
        #expect(one.publicKey.count == 40 && one.secretKey.count == 40 && one.publicKeyBytes.count == 32)
    }

    @Test func theZAPHandlerAdmitsOnlyTheClustersKey() throws {
        let key = try ClusterKeys.derive(cookie: "one").publicKeyBytes
        let other = try ClusterKeys.derive(cookie: "two").publicKeyBytes
        func request(_ mechanism: String, _ credentials: [[UInt8]]) -> [[UInt8]] {
            [Array("1.0".utf8), [7], Array(ZAPHandler.domain.utf8), Array("127.0.0.1".utf8), [], Array(mechanism.utf8)] + credentials
        }
        let admitted = ZAPHandler.answer(request("CURVE", [key]), allowedKey: key)
        #expect(admitted.admitted && admitted.reply[2] == Array("200".utf8) && admitted.reply[1] == [7])
        #expect(!ZAPHandler.answer(request("CURVE", [other]), allowedKey: key).admitted)
        #expect(!ZAPHandler.answer(request("NULL", []), allowedKey: key).admitted)
        #expect(!ZAPHandler.answer([[1, 2]], allowedKey: key).admitted)
    }
}
