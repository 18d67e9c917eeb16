using System.Text.Json.Nodes;
using PapaActors.Actors.Configuration;
using PapaActors.Tests.Support;
using static PapaActors.Tests.Support.RunFolders;

namespace PapaActors.Tests.Scenarios;

/// <summary>The 2x2 grid swept once: its folder and output, shared by the tests that only read it or skip all of it.</summary>
public sealed class SweptGrid : IDisposable
{
    private readonly TempFolder _temp = new();

    public SweptGrid()
    {
        var config = SweepProcessTests.ConfigFile(_temp.File("tiny.conf"));
        Sweep = PapaProcess.Run(["sweep", "--config", config, .. SweepProcessTests.GridArguments, "--out", _temp.File("grid")]);
    }

    public string Folder => _temp.Path;

    public Cli.Result Sweep { get; }

    public void Dispose() => _temp.Dispose();
}

/// <summary>`papa sweep` as a child process over tiny synthetic runs: the grid, skipping, resuming, refusing a changed folder.</summary>
[Trait("Category", "Slow")]
public sealed class SweepProcessTests(SweptGrid swept) : IClassFixture<SweptGrid>, IDisposable
{
    internal static readonly string[] GridArguments = ["--seeds", "1", "--set", "method=none,papa", "--set", "repair=off,on"];

    private static readonly string[] GridFolders =
        ["method=none_repair=off_seed=1", "method=none_repair=on_seed=1", "method=papa_repair=off_seed=1", "method=papa_repair=on_seed=1"];

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>The tiny synthetic run of the tests (2 epochs of 12 steps, 3 members) plus overrides, as a config file.</summary>
    internal static string ConfigFile(string path, params string[] overrides)
    {
        File.WriteAllText(path, TestSettings.TinyRun(overrides).Text);
        return path;
    }

    /// <summary>The `papa compare` table the sweep ends with: from its summary line to the table's bottom edge.</summary>
    private static string FinalTable(string output)
    {
        var lines = output.Split('\n').SkipWhile(l => !l.StartsWith("sweep: ", StringComparison.Ordinal)).Skip(1).ToList();
        return string.Join('\n', lines.TakeWhile(l => !l.StartsWith('└')).Append(lines.First(l => l.StartsWith('└'))));
    }

    private static Dictionary<string, (byte[] Bytes, DateTime Written)> Results(string sweep, IEnumerable<string> folders) =>
        folders.ToDictionary(f => f, f =>
        {
            var file = Path.Combine(sweep, f, "results.json");
            return (File.ReadAllBytes(file), File.GetLastWriteTimeUtc(file));
        });

    [Fact]
    public void A2x2GridRunsFourFoldersNamedByTheirSettingsAndEndsWithTheCompareTableOfTheGroups()
    {
        var (folder, sweep) = (swept.Folder, swept.Sweep);
        var grid = Path.Combine(folder, "grid");

        Assert.True(sweep.ExitCode == 0, sweep.Output);
        for (var i = 0; i < GridFolders.Length; i++)
        {
            Assert.Contains($"[{i + 1}/4] {GridFolders[i]}: starting", sweep.Output);
            Assert.Equal("completed", (string)JsonNode.Parse(File.ReadAllText(Path.Combine(grid, GridFolders[i], "results.json")))!["status"]!);
        }
        Assert.Equal(GridFolders.Append("compare.md").Append("compare.png").Order(), Directory.GetFileSystemEntries(grid).Select(Path.GetFileName).Order());
        Assert.Contains("epoch 2/2 step 24/24", sweep.Output); // the runs' own progress lines
        Assert.Contains("(grid eta ", sweep.Output);
        var table = FinalTable(sweep.Output);
        var markdown = File.ReadAllText(Path.Combine(grid, "compare.md"));
        foreach (var group in new[] { "method = none, repair = off", "method = none, repair = on", "method = papa, repair = off", "method = papa, repair = on" })
        {
            Assert.Contains(group, table);
            Assert.Contains($"| {group} | 1 | 1 |", markdown);
        }
    }

    [Fact]
    public void ASecondSweepWithTheSameArgumentsStartsNothingLeavesTheResultsUntouchedAndPrintsTheSameTable()
    {
        var (folder, first) = (swept.Folder, swept.Sweep);
        var grid = Path.Combine(folder, "grid");
        Assert.True(first.ExitCode == 0, first.Output);
        var before = Results(grid, GridFolders);

        var second = PapaProcess.Run(["sweep", "--config", Path.Combine(folder, "tiny.conf"), .. GridArguments, "--out", grid]);

        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("4 skipped, 0 resumed, 0 started, 0 failed", second.Output);
        Assert.DoesNotContain("starting", second.Output);
        Assert.DoesNotContain("resuming", second.Output);
        var after = Results(grid, GridFolders);
        foreach (var run in GridFolders)
            Assert.True(before[run].Bytes.SequenceEqual(after[run].Bytes) && before[run].Written == after[run].Written, $"{run}/results.json was written again");
        Assert.Equal(FinalTable(first.Output), FinalTable(second.Output));
    }

    [Fact]
    public void ACompletedFolderWithOtherResultChangingSettingsIsRefusedNamingTheKeyAndOperationalOnesAreNot()
    {
        var (folder, first) = (swept.Folder, swept.Sweep);
        var grid = Path.Combine(folder, "grid");
        Assert.True(first.ExitCode == 0, first.Output);
        var before = Results(grid, GridFolders);

        var otherPopulation = Cli.RunInProcess(["sweep", "--config", ConfigFile(_temp.File("population.conf"), "population=2"), .. GridArguments, "--out", grid]);
        Cli.AssertRejected(otherPopulation, $"{Path.Combine(grid, GridFolders[0])} holds a completed run with papa.population = 3, but this sweep sets papa.population = 2");

        // A round timeout or checkpoint interval does not change what a run computes (a resume accepts them too).
        var otherTimeout = Cli.RunInProcess(["sweep", "--config", ConfigFile(_temp.File("timeout.conf"), "round-timeout=20m", "checkpoint.every-epochs=0.5"), .. GridArguments, "--out", grid]);
        Assert.True(otherTimeout.ExitCode == 0, otherTimeout.Output);
        Assert.Contains("4 skipped, 0 resumed, 0 started, 0 failed", otherTimeout.Output);

        var after = Results(grid, GridFolders);
        Assert.All(GridFolders, run => Assert.Equal(before[run].Bytes, after[run].Bytes));
    }

    /// <summary>
    /// The first sweep's config makes member 0 throw in epoch 3 with on-member-loss = fail, so the 3-epoch run fails
    /// there, after its checkpoint of epoch 2, every time (no signal, no timing); the 2-epoch run never reaches that
    /// step. The second sweep, without the fault (an operational setting), resumes it.
    /// </summary>
    [Fact]
    public void ASweepResumesAFailedRunBitIdenticalToAnUninterruptedOneAndDoesNotRedoFinishedRuns()
    {
        var sweep = _temp.File("sweep");
        var faulty = ConfigFile(_temp.File("faulty.conf"), "on-member-loss=fail", "fault-injection.throw-member=0", "fault-injection.throw-at-step=30");
        var healthy = ConfigFile(_temp.File("healthy.conf"));
        string[] grid = ["--seeds", "1", "--set", "epochs=2,3", "--out", sweep];

        var first = PapaProcess.Run(["sweep", "--config", faulty, .. grid]);
        Assert.True(first.ExitCode == 1, first.Output);
        Assert.Contains("failed: epochs=3_seed=1; run the same papa sweep command again to resume them", first.Output);
        var failed = JsonNode.Parse(File.ReadAllText(Path.Combine(sweep, "epochs=3_seed=1", "results.json")))!;
        Assert.Equal("failed", (string)failed["status"]!);
        Assert.Contains("injected fault: member 0 at step 30", (string)failed["reason"]!);
        var finished = Results(sweep, ["epochs=2_seed=1"]);

        var second = PapaProcess.Run(["sweep", "--config", healthy, .. grid]);

        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("[1/2] epochs=2_seed=1: completed earlier, skipped", second.Output);
        Assert.Contains("[2/2] epochs=3_seed=1: resuming", second.Output);
        var round = System.Text.RegularExpressions.Regex.Match(second.Output, @"from the checkpoint of round (\d+)");
        Assert.True(round.Success && int.Parse(round.Groups[1].Value) > 0, second.Output);
        Assert.Contains("1 skipped, 1 resumed, 0 started, 0 failed", second.Output);
        var unchanged = Results(sweep, ["epochs=2_seed=1"])["epochs=2_seed=1"];
        Assert.True(finished["epochs=2_seed=1"].Bytes.SequenceEqual(unchanged.Bytes) && finished["epochs=2_seed=1"].Written == unchanged.Written);

        var reference = _temp.File("reference");
        var uninterrupted = PapaProcess.Run("run", "--config", healthy, "--set", "epochs=3", "--set", "seed=1", "--out", reference);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Output);
        AssertSameRun(reference, Path.Combine(sweep, "epochs=3_seed=1"));
    }
}
