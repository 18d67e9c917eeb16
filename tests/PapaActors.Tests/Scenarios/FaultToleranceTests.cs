using System.Text.Json.Nodes;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Host;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Scenarios;

/// <summary>
/// Real populations (tiny models, synthetic data, every message serialized) meeting real faults: a member
/// that throws, a population that diverges. Rollback must leave no trace in the result.
/// </summary>
[Trait("Category", "Slow")]
public sealed class FaultToleranceTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private async Task<IRunEvent> Run(string folder, params string[] overrides)
    {
        TorchRuntime.Configure(1);
        var run = TestSettings.TinyRun(["method=papa", "epochs=3", "checkpoint.every-epochs=1", .. overrides]);
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        return await LocalPopulation.RunAsync(Sys, run, data, folder, CommandLines.Resume(folder)).WaitAsync(Patience);
    }

    [Theory]
    [InlineData(5)]  // before the first checkpoint: everyone starts afresh
    [InlineData(30)] // after two checkpoints: everyone goes back to the last one
    public async Task AMemberThatThrowsOnceIsRolledBackAndTheRunEndsBitIdenticalToOneWithoutTheFault(long step)
    {
        using var clean = new TempFolder();
        using var faulty = new TempFolder();
        Assert.IsType<RunCompleted>(await Run(clean.Path));

        var outcome = await Run(faulty.Path, "fault-injection.throw-member=1", $"fault-injection.throw-at-step={step}", "fault-injection.throw-times=1");

        Assert.IsType<RunCompleted>(outcome);
        AssertSameResults(clean.Path, faulty.Path);
        var fault = JsonNode.Parse(File.ReadAllLines(faulty.File(RunRecorder.FaultsFile)).Single())!;
        Assert.Equal("member-lost", (string)fault["kind"]!);
        Assert.Equal(1, (int)fault["member"]!);
        Assert.Contains("injected fault: member 1", (string)fault["detail"]!);
    }

    [Fact]
    public async Task TheMemberNamedInTheThrowFileThrowsOnceAndTheRunEndsBitIdentical()
    {
        using var clean = new TempFolder();
        using var faulty = new TempFolder();
        Assert.IsType<RunCompleted>(await Run(clean.Path));
        var trigger = faulty.File("throw-now");
        File.WriteAllText(trigger, "1\n");

        Assert.IsType<RunCompleted>(await Run(faulty.File("run"), $"fault-injection.throw-file={trigger}"));

        Assert.False(File.Exists(trigger));
        AssertSameResults(clean.Path, faulty.File("run"));
        var fault = JsonNode.Parse(File.ReadAllLines(faulty.File("run/" + RunRecorder.FaultsFile)).Single())!;
        Assert.Equal(1, (int)fault["member"]!);
        Assert.Contains($"injected fault: member 1 found its index in {trigger}", (string)fault["detail"]!);
    }

    [Fact]
    public async Task AMemberThatThrowsEveryTimeFailsTheRunAfterMaxRestartsNamingItAndTheCause()
    {
        using var folder = new TempFolder();

        var outcome = await Run(folder.Path, "fault-injection.throw-member=2", "fault-injection.throw-at-step=20", "fault-injection.throw-times=-1", "max-restarts=2");

        var failed = Assert.IsType<RunFailed>(outcome);
        Assert.StartsWith("member 2 failed: InjectedFaultException: injected fault: member 2 at step 20", failed.Reason);
        Assert.EndsWith("(after 2 rollback(s) for it since the last checkpoint, max-restarts = 2)", failed.Reason);
        Assert.Equal(2, File.ReadAllLines(folder.File(RunRecorder.FaultsFile)).Length);
        Assert.Equal("failed", (string)JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!["status"]!);
    }

    [Fact]
    public async Task ALearningRateThatMakesMembersDivergeEndsTheRunAsDivergedWithoutWritingASoup()
    {
        using var folder = new TempFolder();

        var outcome = await Run(folder.Path, "optimizer.lr=100");

        var failed = Assert.IsType<RunFailed>(outcome);
        Assert.Equal(RunStatus.Diverged, failed.Status);
        Assert.Matches(@"^member \d diverged by step \d+: ", failed.Reason);
        var results = JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!;
        Assert.Equal("diverged", (string)results["status"]!);
        Assert.False(File.Exists(folder.File("soup-average.safetensors")));
    }

    [Fact]
    public async Task WithResetADivergedMemberIsReplacedByTheMeanOfTheFiniteOnesJournaledAndTheSoupsAreFinite()
    {
        using var folder = new TempFolder();

        var outcome = await Run(folder.Path, "on-divergence=reset", "fault-injection.diverge-member=1", "fault-injection.diverge-at-step=14");

        var results = Assert.IsType<RunCompleted>(outcome).Results;
        Assert.All(results.AverageSoup.Weights.Values.Concat(results.GreedySoup.Weights.Values), v => Assert.True(float.IsFinite(v)));
        var reset = Assert.Single(ScheduleJournal.Read(folder.File(ScheduleJournal.FileName)).Resets);
        Assert.Equal([1], reset.Members);
        Assert.True(reset.Round > 0);
    }

    [Fact]
    public async Task WithFailADivergedMemberEndsTheRunNamingItAndTheStep()
    {
        using var folder = new TempFolder();

        var outcome = await Run(folder.Path, "fault-injection.diverge-member=2", "fault-injection.diverge-at-step=14");

        var failed = Assert.IsType<RunFailed>(outcome);
        Assert.Equal(RunStatus.Diverged, failed.Status);
        Assert.StartsWith("member 2 diverged by step ", failed.Reason);
        Assert.Contains("on-divergence = fail", failed.Reason);
    }

    [Fact]
    public async Task ACheckpointThatCannotBeWrittenStopsTheRunWithTheErrorAndLeavesThePreviousOneIntact()
    {
        using var folder = new TempFolder();
        // The second checkpoint (round 12, step 24) cannot be written: a file stands where its folder goes.
        Directory.CreateDirectory(folder.File("checkpoints"));
        File.WriteAllText(folder.File("checkpoints/round-000012.partial"), "in the way");

        var outcome = await Run(folder.Path);

        var failed = Assert.IsType<RunFailed>(outcome);
        Assert.StartsWith("could not write the checkpoint of round 12: ", failed.Reason);
        var results = JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!;
        Assert.Equal(("failed", 6), ((string)results["status"]!, (int)results["checkpoint_round"]!));
        Assert.True(File.Exists(folder.File("checkpoints/round-000006/manifest.json")));
    }

    private static void AssertSameResults(string clean, string faulty)
    {
        foreach (var file in new[] { "soup-average.safetensors", "soup-greedy.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(clean, file)), File.ReadAllBytes(Path.Combine(faulty, file)));
        Assert.Equal(File.ReadAllText(Path.Combine(clean, ScheduleJournal.FileName)), File.ReadAllText(Path.Combine(faulty, ScheduleJournal.FileName)));
    }
}
