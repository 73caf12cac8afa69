// SPDX-License-Identifier: Apache-2.0
import Compute
import Primitives
import Testing

@Suite("Declared signatures (libffi)")
struct ForeignSignatureTests {
    @Test("signatures parse into argument and return kinds")
    func parse() throws {
        let sum = try ForeignSignature(parsing: "inos_template_sum(buffer, length) -> i64")
        #expect(sum.name == "inos_template_sum" && sum.arguments == [.buffer, .length] && sum.returns == .i64)
        let none = try ForeignSignature(parsing: "tick() -> void")
        #expect(none.arguments.isEmpty && none.returns == .void)
    }

    @Test("wrong declarations are refused with the reason", arguments: [
        ("sum(buffer, length)", "is not NAME(type"),
        ("sum(buffer, text) -> i64", "unknown argument type \"text\""),
        ("sum(buffer) -> buffer", "unknown return type"),
        ("sum(length, buffer) -> i64", "\"length\" must follow a \"buffer\""),
        ("bad name(i64) -> i64", "is not a C function name"),
    ])
    func refused(text: String, reason: String) {
        let error = #expect(throws: InosError.self) { _ = try ForeignSignature(parsing: text) }
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }
}
