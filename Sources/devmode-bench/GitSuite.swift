import DevModeSpawn
import Foundation

extension Target {
    /// devmode's `file/write` + `vcs/commit` at least this many times faster than `git add` + `git commit`.
    static let commitSpeedup = 5.0
    /// devmode's `vcs/log` (limit 500) at most this many times git's `git log -500`.
    static let logRatio = 2.0
}

/// devmode's version control against the git CLI: write and commit one file, and a page of the log
/// of a long history. devmode runs in local mode over stdio, on projects made with `project/create`;
/// git runs as processes (posix_spawn, waitpid), as a tool that shells out to git would run it.
struct GitSuite {
    let plan: Plan
    /// Write-and-commit repetitions per side (after a warm-up).
    let repeats: Int
    /// Files in the commit benchmark's repository.
    let files: Int
    /// Commits in the log benchmark's repository.
    let commits: Int
    /// `vcs/log` / `git log` samples per side (after a warm-up).
    let logRuns: Int
    let logLimit = 500

    struct Result {
        var git: String = ""
        var devmodeCommit: [UInt64] = []
        var devmodeWrite: [UInt64] = []
        var devmodeCommitOnly: [UInt64] = []
        var gitCommit: [UInt64] = []
        var gitAdd: [UInt64] = []
        var gitCommitOnly: [UInt64] = []
        /// The same with `-c core.fsync=all`: git made as durable as devmode (which fsyncs every
        /// object, ref, index, file and audit row); git 2.39 fsyncs only packs by default.
        var gitCommitFsync: [UInt64] = []
        var trackedFiles = 0
        var importNanoseconds: UInt64 = 0
        var historyCommits = 0
        var devmodeLog: [UInt64] = []
        var devmodeLogBytes = 0
        var gitLog: [UInt64] = []
        var gitLogInProcess: [UInt64] = []
        var gitLogFull: [UInt64] = []
        var gitLogFullInProcess: [UInt64] = []
        /// `vcs/log` limit 1 and `git log -1`: the fixed cost of a walk, whatever the page size.
        var devmodeLogOne: [UInt64] = []
        var gitLogOne: [UInt64] = []
        var sameCommits: Bool?
        var failures: [String] = []
        var skipped: String?
    }

    /// git's environment: no user or system configuration, a fixed identity.
    var gitEnvironment: [String: String] {
        var environment = plan.environment
        environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_AUTHOR_NAME"] = "Bench"
        environment["GIT_AUTHOR_EMAIL"] = "bench@example.com"
        environment["GIT_COMMITTER_NAME"] = "Bench"
        environment["GIT_COMMITTER_EMAIL"] = "bench@example.com"
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["LC_ALL"] = "C"
        return environment
    }

    func run(watchdog: Watchdog, progress: (String) -> Void) -> Result {
        var result = Result()
        guard let git = Spawn.which("git") else {
            result.skipped = "no git on PATH"
            return result
        }
        result.git = git
        if let version = try? Spawn.run(git, ["--version"], environment: gitEnvironment) {
            result.git = "\(git) (\(version.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))"
        }
        let server: ServerProcess
        do {
            server = try ServerProcess.launch(
                devmode: plan.devmode, transport: .stdio, workDirectory: plan.workDirectory,
                environment: plan.environment, serial: 0, name: "git")
        } catch {
            result.failures.append("launch: \(error)")
            return result
        }
        var session = BenchSession(server: server, watchdog: watchdog)
        var context = Context(git: git, environment: gitEnvironment, dataDirectory: plan.environment["DEVMODE_DATA_DIR"]!)
        do {
            watchdog.watch(server.pid)
            _ = try session.initialize(id: Plan.initializeID, token: nil)
            let workspaces = try session.request(id: context.nextID(), method: "workspace/list")
            guard let workspace = ((workspaces as? [String: Any])?["workspaces"] as? [[String: Any]])?.first?["id"] as? String
            else { throw BenchError("workspace/list returned no workspace") }
            context.workspace = workspace

            try commitBenchmark(&session, &context, &result, watchdog: watchdog, progress: progress)
            try logBenchmark(&session, &context, &result, watchdog: watchdog, progress: progress)
            _ = try session.stop(shutdownID: Plan.shutdownID)
            watchdog.unwatch()
        } catch {
            watchdog.unwatch()
            server.kill()
            result.failures.append("\(error)\n--- server log (tail) ---\n\(server.logTail())")
            progress("  git: FAILED: \(error)")
        }
        return result
    }

    struct Context {
        let git: String
        let environment: [String: String]
        let dataDirectory: String
        var workspace = ""
        var id = 100

        mutating func nextID() -> Int {
            id += 1
            return id
        }

        /// Runs git; a failure throws with its output.
        func git(_ arguments: [String], stdin: [UInt8]? = nil) throws -> Spawn.Outcome {
            let outcome = try Spawn.run(git, arguments, environment: environment, stdin: stdin)
            guard outcome.status == 0 else {
                throw BenchError("git \(arguments.joined(separator: " ")) failed (\(outcome.status)): \(outcome.stderrText.prefix(500))")
            }
            return outcome
        }
    }

    /// Creates a hosted project through devmode; returns its id and folder.
    private func createProject(
        _ session: inout BenchSession, _ context: inout Context, name: String, files: [[String: String]]?
    ) throws -> (id: String, folder: String) {
        var params: [String: Any] = ["workspaceId": context.workspace, "name": name]
        if let files { params["files"] = files }
        let created = try session.request(id: context.nextID(), method: "project/create", params: params)
        guard let id = (created as? [String: Any])?["id"] as? String else { throw BenchError("project/create returned no id") }
        let folder = "\(context.dataDirectory)/projects/\(id)"
        guard FileManager.default.fileExists(atPath: folder + "/.git") else {
            throw BenchError("project/create made no repository at \(folder)")
        }
        return (id, folder)
    }

    // MARK: (a) write and commit one file

    private func commitBenchmark(
        _ session: inout BenchSession, _ context: inout Context, _ result: inout Result, watchdog: Watchdog,
        progress: (String) -> Void
    ) throws {
        let initial = (0..<files).map { index -> [String: String] in
            [
                "path": "src/module-\(index / 10)/file-\(index).swift",
                "content": "// file \(index)\nlet value\(index) = \(index)\n" + String(repeating: "// padding line\n", count: 20),
            ]
        }
        let (project, folder) = try createProject(&session, &context, name: "bench-commit", files: initial)
        // git's side: a clone of the same repository (same files, same history).
        let clone = plan.workDirectory + "/git-clone"
        _ = try context.git(["clone", "-q", folder, clone])
        let tracked = try context.git(["-C", clone, "ls-files"]).stdoutText.split(separator: "\n").count
        let trackedDevmode = try context.git(["-C", folder, "ls-files"]).stdoutText.split(separator: "\n").count
        guard tracked == trackedDevmode else {
            throw BenchError("the clone tracks \(tracked) files, devmode's project \(trackedDevmode)")
        }
        result.trackedFiles = tracked
        progress("  commit: project \(project) with \(tracked) tracked files; git side: a clone of it at \(clone)")

        let path = "bench.txt"
        func devmodeRound(_ index: Int) throws -> (UInt64, UInt64) {
            watchdog.tick()
            let write = try session.call(
                id: context.nextID(), method: "file/write",
                params: ["projectId": project, "path": path, "content": "iteration \(index)\n"])
            _ = try write.reply.result("file/write")
            let commit = try session.call(
                id: context.nextID(), method: "vcs/commit",
                params: ["projectId": project, "message": "bench \(index)", "paths": [path]])
            _ = try commit.reply.result("vcs/commit")
            return (write.nanoseconds, commit.nanoseconds)
        }
        let file = URL(fileURLWithPath: clone + "/" + path)
        func gitRound(_ index: Int, fsyncAll: Bool = false) throws -> (UInt64, UInt64, UInt64) {
            watchdog.tick()
            let options = fsyncAll ? ["-c", "core.fsync=all", "-c", "core.fsyncMethod=fsync"] : []
            let started = monotonicNanoseconds()
            try Data("iteration \(index)\(fsyncAll ? " (fsync)" : "")\n".utf8).write(to: file)
            let add = try context.git(options + ["-C", clone, "add", path])
            let commit = try context.git(options + ["-C", clone, "commit", "-q", "-m", "bench \(index)"])
            return (monotonicNanoseconds() - started, add.nanoseconds, commit.nanoseconds)
        }
        for index in 0..<3 {
            _ = try devmodeRound(-1 - index)
            _ = try gitRound(-1 - index)
            _ = try gitRound(-1 - index, fsyncAll: true)
        }
        // Alternating, so that both sides see the same machine.
        for index in 0..<repeats {
            let (write, commit) = try devmodeRound(index)
            result.devmodeWrite.append(write)
            result.devmodeCommitOnly.append(commit)
            result.devmodeCommit.append(write + commit)
            let (total, add, gitCommit) = try gitRound(index)
            result.gitCommit.append(total)
            result.gitAdd.append(add)
            result.gitCommitOnly.append(gitCommit)
            result.gitCommitFsync.append(try gitRound(index, fsyncAll: true).0)
        }
        // Both histories grew by the same commits.
        let devmodeCount = Int(
            try context.git(["-C", folder, "rev-list", "--count", "HEAD"]).stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let gitCount = Int(
            try context.git(["-C", clone, "rev-list", "--count", "HEAD"]).stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // The clone got two commits per round (plain and fsync'd), devmode's project one.
        guard gitCount - devmodeCount == repeats + 3 else {
            throw BenchError("devmode's project has \(devmodeCount) commits, the clone \(gitCount)")
        }
        progress(
            "  commit: \(repeats) rounds each: devmode median \(Format.ms2(Stats.median(result.devmodeCommit))) ms, "
                + "git median \(Format.ms2(Stats.median(result.gitCommit))) ms, "
                + "git with core.fsync=all \(Format.ms2(Stats.median(result.gitCommitFsync))) ms")
    }

    // MARK: (b) a page of a long log

    private func logBenchmark(
        _ session: inout BenchSession, _ context: inout Context, _ result: inout Result, watchdog: Watchdog,
        progress: (String) -> Void
    ) throws {
        let (project, folder) = try createProject(&session, &context, name: "bench-history", files: nil)
        let base = try context.git(["-C", folder, "rev-parse", "HEAD"]).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let branch = try context.git(["-C", folder, "symbolic-ref", "HEAD"]).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Times after the first commit's, so that the history's newest commit is its tip (as it is
        // in a history made of real commits).
        let baseTime = Int(
            try context.git(["-C", folder, "log", "-1", "--format=%ct"]).stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1_700_000_000
        let stream = Self.fastImportStream(branch: branch, base: base, baseTime: baseTime, commits: commits)
        // The server idles meanwhile: not watched, however long the import takes.
        watchdog.unwatch()
        let started = monotonicNanoseconds()
        _ = try context.git(["-C", folder, "fast-import", "--quiet"], stdin: stream)
        // The working tree and index follow the new HEAD, as after any other commit.
        _ = try context.git(["-C", folder, "reset", "-q", "--hard"])
        result.importNanoseconds = monotonicNanoseconds() - started
        watchdog.watch(session.server.pid)
        let head = try context.git(["-C", folder, "rev-parse", "HEAD"]).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
        result.historyCommits = Int(
            try context.git(["-C", folder, "rev-list", "--count", "HEAD"]).stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        progress(
            "  log: project \(project): \(result.historyCommits) commits (\(commits) from git fast-import "
                + "in \(Format.ms(result.importNanoseconds)) ms, with reset --hard)")

        func devmodeLog(limit: Int = logLimit) throws -> (UInt64, [String], Int) {
            watchdog.tick()
            let call = try session.call(
                id: context.nextID(), method: "vcs/log", params: ["projectId": project, "limit": limit])
            let value = try call.reply.result("vcs/log")
            let ids = ((value as? [String: Any])?["commits"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            return (call.nanoseconds, ids, call.reply.text.utf8.count)
        }
        let limit = logLimit
        let hashFormat = ["-C", folder, "log", "-\(limit)", "--format=%H"]
        // About what devmode returns per commit: ids, parents, people, times, the message.
        let fullFormat = ["-C", folder, "log", "-\(limit)", "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%B%x00"]
        var traced = context.environment
        traced["GIT_TRACE_PERFORMANCE"] = "2"
        func gitLog(_ arguments: [String]) throws -> Spawn.Outcome {
            watchdog.tick()
            return try context.git(arguments)
        }
        func gitLogInProcess(_ arguments: [String]) throws -> UInt64 {
            watchdog.tick()
            let outcome = try Spawn.run(context.git, arguments, environment: traced)
            guard outcome.status == 0, let seconds = Self.tracedSeconds(outcome.stderrText) else {
                throw BenchError("git log with GIT_TRACE_PERFORMANCE: status \(outcome.status), \(outcome.stderrText.prefix(300))")
            }
            return UInt64(seconds * 1e9)
        }

        // Warm-up (and the check that both sides list the same commits).
        let (_, ids, bytes) = try devmodeLog()
        _ = try devmodeLog()
        let gitIDs = try gitLog(hashFormat).stdoutText.split(separator: "\n").map(String.init)
        _ = try gitLog(fullFormat)
        result.devmodeLogBytes = bytes
        result.sameCommits = ids == gitIDs && ids.count == limit && ids.first == head
        if result.sameCommits != true {
            result.failures.append(
                "vcs/log returned \(ids.count) commits (first \(ids.first ?? "none")), git log \(gitIDs.count) "
                    + "(first \(gitIDs.first ?? "none")); HEAD is \(head)")
        }

        for _ in 0..<logRuns {
            result.devmodeLog.append(try devmodeLog().0)
            result.gitLog.append(try gitLog(hashFormat).nanoseconds)
            result.gitLogInProcess.append(try gitLogInProcess(hashFormat))
            result.gitLogFull.append(try gitLog(fullFormat).nanoseconds)
            result.gitLogFullInProcess.append(try gitLogInProcess(fullFormat))
            result.devmodeLogOne.append(try devmodeLog(limit: 1).0)
            result.gitLogOne.append(try gitLog(["-C", folder, "log", "-1", "--format=%H"]).nanoseconds)
        }
        progress(
            "  log: \(logRuns) runs each: vcs/log median \(Format.ms2(Stats.median(result.devmodeLog))) ms, "
                + "git log -\(limit) --format=%H median \(Format.ms2(Stats.median(result.gitLog))) ms "
                + "(inside git \(Format.ms2(Stats.median(result.gitLogInProcess))) ms)")
    }

    /// `GIT_TRACE_PERFORMANCE`'s line for the whole command: "performance: 0.001234000 s: git command: …".
    static func tracedSeconds(_ stderr: String) -> Double? {
        for line in stderr.split(separator: "\n") where line.contains("s: git command:") {
            guard let range = line.range(of: "performance: ") else { continue }
            let rest = line[range.upperBound...]
            if let number = rest.split(separator: " ").first, let seconds = Double(number) { return seconds }
        }
        return nil
    }

    /// `commits` linear commits on `branch`, the first on top of `base`: each changes one of 50
    /// files (a new line), author and committer times one second apart after `baseTime`.
    static func fastImportStream(branch: String, base: String, baseTime: Int, commits: Int) -> [UInt8] {
        var stream: [UInt8] = []
        stream.reserveCapacity(commits * 400)
        var contents = [String](repeating: "", count: 50)
        func append(_ text: String) { stream.append(contentsOf: text.utf8) }
        for index in 1...commits {
            let time = baseTime + index
            let file = index % 50
            contents[file] += "change \(index)\n"
            // Keep each file short: a rolling window of its last lines.
            if contents[file].utf8.count > 2_000 { contents[file] = "change \(index)\n" }
            let message = "Change \(index): update file-\(file).txt\n\nGenerated by devmode-bench for the log benchmark.\n"
            append("commit \(branch)\n")
            append("mark :\(index)\n")
            append("author Bench Author <author@example.com> \(time) +0000\n")
            append("committer Bench Committer <committer@example.com> \(time) +0000\n")
            append("data \(message.utf8.count)\n\(message)")
            if index == 1 { append("from \(base)\n") }
            let body = contents[file]
            append("M 100644 inline history/file-\(file).txt\ndata \(body.utf8.count)\n\(body)\n")
        }
        append("done\n")
        return stream
    }

    // MARK: Report

    func table(_ result: Result) -> String {
        if let skipped = result.skipped { return "git: skipped: \(skipped)" }
        var lines: [String] = []
        if !result.devmodeCommit.isEmpty {
            var table = Table(columns: ["devmode", "git CLI", "git ÷ devmode"])
            let devmode = Stats.median(result.devmodeCommit)
            let git = Stats.median(result.gitCommit)
            let speedup = Double(git) / Double(devmode)
            table.add(
                "write + commit 1 file, median (ms)", "≥ 5× faster",
                [Format.ms2(devmode), Format.ms2(git), Table.cell(String(format: "%.1f×", speedup), speedup >= Target.commitSpeedup)])
            table.add(
                "write + commit 1 file, p90 (ms)", "",
                [
                    Format.ms2(Stats.percentile(result.devmodeCommit, 0.9)), Format.ms2(Stats.percentile(result.gitCommit, 0.9)),
                    String(
                        format: "%.1f×",
                        Double(Stats.percentile(result.gitCommit, 0.9)) / Double(Stats.percentile(result.devmodeCommit, 0.9))),
                ])
            table.add(
                "  of which file/write | write the file (ms)", "",
                [Format.ms2(Stats.median(result.devmodeWrite)), "(in total)", ""])
            table.add(
                "  of which vcs/commit | git add (ms)", "",
                [Format.ms2(Stats.median(result.devmodeCommitOnly)), Format.ms2(Stats.median(result.gitAdd)), ""])
            table.add("  | git commit -q (ms)", "", ["", Format.ms2(Stats.median(result.gitCommitOnly)), ""])
            let durable = Stats.median(result.gitCommitFsync)
            table.add(
                "git add + commit with core.fsync=all, median (ms)", "",
                ["", Format.ms2(durable), String(format: "%.1f×", Double(durable) / Double(devmode))])
            table.add("repetitions each / tracked files", "", ["\(result.devmodeCommit.count) / \(result.trackedFiles)", "\(result.gitCommit.count) / \(result.trackedFiles)", ""])
            lines.append(table.render())
        }
        if !result.devmodeLog.isEmpty {
            var table = Table(columns: ["devmode", "git CLI", "devmode ÷ git"])
            let devmode = Stats.median(result.devmodeLog)
            let git = Stats.median(result.gitLog)
            let ratio = Double(devmode) / Double(git)
            table.add(
                "vcs/log limit \(logLimit) | git log -\(logLimit) --format=%H, median (ms)", "≤ 2× git",
                [Format.ms2(devmode), Format.ms2(git), Table.cell(String(format: "%.2f×", ratio), ratio <= Target.logRatio)])
            table.add(
                "  p90 (ms)", "",
                [Format.ms2(Stats.percentile(result.devmodeLog, 0.9)), Format.ms2(Stats.percentile(result.gitLog, 0.9)), ""])
            let inside = Stats.median(result.gitLogInProcess)
            table.add(
                "  git's own time (GIT_TRACE_PERFORMANCE), median (ms)", "",
                ["", Format.ms2(inside), String(format: "%.2f×", Double(devmode) / Double(inside))])
            let full = Stats.median(result.gitLogFull)
            table.add(
                "git log -\(logLimit) with every field devmode returns (ms)", "",
                ["", Format.ms2(full), String(format: "%.2f×", Double(devmode) / Double(full))])
            table.add(
                "  git's own time (GIT_TRACE_PERFORMANCE), median (ms)", "",
                ["", Format.ms2(Stats.median(result.gitLogFullInProcess)),
                 String(format: "%.2f×", Double(devmode) / Double(Stats.median(result.gitLogFullInProcess)))])
            table.add(
                "vcs/log limit 1 | git log -1 --format=%H, median (ms)", "",
                [
                    Format.ms2(Stats.median(result.devmodeLogOne)), Format.ms2(Stats.median(result.gitLogOne)),
                    String(format: "%.2f×", Double(Stats.median(result.devmodeLogOne)) / Double(Stats.median(result.gitLogOne))),
                ])
            table.add("vcs/log reply size (KB)", "", [String(format: "%.1f", Double(result.devmodeLogBytes) / 1024), "", ""])
            table.add(
                "same \(logLimit) commits, same order", "yes",
                [Table.cell(result.sameCommits == true ? "yes" : "NO", result.sameCommits == true), "", ""])
            table.add("history / runs each", "", ["\(result.historyCommits) commits / \(result.devmodeLog.count)", "", ""])
            lines.append("")
            lines.append(table.render())
        }
        lines.append("git: \(result.git); environment GIT_CONFIG_GLOBAL=/dev/null, GIT_CONFIG_NOSYSTEM=1; timed from posix_spawn to waitpid")
        return lines.joined(separator: "\n")
    }

    struct Figures: Encodable {
        var git: String
        var trackedFiles: Int
        var commitRepetitions: Int
        var devmodeWriteCommitMillisecondsMedian: Double?
        var devmodeWriteCommitMillisecondsP90: Double?
        var devmodeFileWriteMillisecondsMedian: Double?
        var devmodeVCSCommitMillisecondsMedian: Double?
        var gitAddCommitMillisecondsMedian: Double?
        var gitAddCommitMillisecondsP90: Double?
        var gitAddMillisecondsMedian: Double?
        var gitCommitMillisecondsMedian: Double?
        var gitAddCommitFsyncAllMillisecondsMedian: Double?
        var commitSpeedup: Double?
        var historyCommits: Int
        var fastImportMilliseconds: Double
        var logLimit: Int
        var logRuns: Int
        var devmodeLogMillisecondsMedian: Double?
        var devmodeLogMillisecondsP90: Double?
        var devmodeLogReplyBytes: Int
        var gitLogMillisecondsMedian: Double?
        var gitLogMillisecondsP90: Double?
        var gitLogInProcessMillisecondsMedian: Double?
        var gitLogAllFieldsMillisecondsMedian: Double?
        var gitLogAllFieldsInProcessMillisecondsMedian: Double?
        var devmodeLogLimit1MillisecondsMedian: Double?
        var gitLogLimit1MillisecondsMedian: Double?
        var logRatio: Double?
        var sameCommits: Bool?
        var pass: [String: Bool]
        var failures: [String]
        var skipped: String?
    }

    func figures(_ result: Result) -> Figures {
        func ms(_ values: [UInt64], _ fraction: Double = 0.5) -> Double? {
            values.isEmpty ? nil : Double(Stats.percentile(values, fraction)) / 1e6
        }
        let speedup = ms(result.gitCommit).flatMap { git in ms(result.devmodeCommit).map { git / $0 } }
        let ratio = ms(result.devmodeLog).flatMap { devmode in ms(result.gitLog).map { devmode / $0 } }
        var pass: [String: Bool] = [:]
        if let speedup { pass["commitSpeedup"] = speedup >= Target.commitSpeedup }
        if let ratio { pass["logRatio"] = ratio <= Target.logRatio }
        if let same = result.sameCommits { pass["sameCommits"] = same }
        return Figures(
            git: result.git, trackedFiles: result.trackedFiles, commitRepetitions: result.devmodeCommit.count,
            devmodeWriteCommitMillisecondsMedian: ms(result.devmodeCommit),
            devmodeWriteCommitMillisecondsP90: ms(result.devmodeCommit, 0.9),
            devmodeFileWriteMillisecondsMedian: ms(result.devmodeWrite),
            devmodeVCSCommitMillisecondsMedian: ms(result.devmodeCommitOnly),
            gitAddCommitMillisecondsMedian: ms(result.gitCommit), gitAddCommitMillisecondsP90: ms(result.gitCommit, 0.9),
            gitAddMillisecondsMedian: ms(result.gitAdd), gitCommitMillisecondsMedian: ms(result.gitCommitOnly),
            gitAddCommitFsyncAllMillisecondsMedian: ms(result.gitCommitFsync),
            commitSpeedup: speedup, historyCommits: result.historyCommits,
            fastImportMilliseconds: Double(result.importNanoseconds) / 1e6, logLimit: logLimit, logRuns: logRuns,
            devmodeLogMillisecondsMedian: ms(result.devmodeLog), devmodeLogMillisecondsP90: ms(result.devmodeLog, 0.9),
            devmodeLogReplyBytes: result.devmodeLogBytes, gitLogMillisecondsMedian: ms(result.gitLog),
            gitLogMillisecondsP90: ms(result.gitLog, 0.9), gitLogInProcessMillisecondsMedian: ms(result.gitLogInProcess),
            gitLogAllFieldsMillisecondsMedian: ms(result.gitLogFull),
            gitLogAllFieldsInProcessMillisecondsMedian: ms(result.gitLogFullInProcess),
            devmodeLogLimit1MillisecondsMedian: ms(result.devmodeLogOne), gitLogLimit1MillisecondsMedian: ms(result.gitLogOne),
            logRatio: ratio,
            sameCommits: result.sameCommits, pass: pass, failures: result.failures, skipped: result.skipped)
    }
}
