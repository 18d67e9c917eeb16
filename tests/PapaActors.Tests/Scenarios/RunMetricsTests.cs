using System.Globalization;
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
/// papa.metrics on real tiny runs: held-out accuracy just before and after each mix, and the members' feature similarity
/// per epoch, in metrics.csv; measured without changing a single bit of the run.
/// </summary>
[Trait("Category", "Slow")]
public sealed class RunMetricsTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private const int StepsPerEpoch = 12; // TinyConfig: 360 training images, batches of 30

    private async Task<(IRunEvent Outcome, PapaSettings Settings)> Run(string folder, params string[] overrides)
    {
        TorchRuntime.Configure(1);
        var run = TestSettings.TinyRun(["epochs=3", .. overrides]);
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var outcome = await LocalPopulation.RunAsync(Sys, run, data, folder, CommandLines.Resume(folder)).WaitAsync(Timeouts.Run);
        return (outcome, run.Settings);
    }

    private sealed record Row(int Member, int Round, string HeldOut, string Before, string After, string CkaMean, string CkaMin);

    private static List<Row> Rows(string folder)
    {
        var lines = File.ReadAllLines(Path.Combine(folder, RunRecorder.MetricsFile));
        var column = lines[0].Split(',').Select((name, i) => (name, i)).ToDictionary(c => c.name, c => c.i);
        return lines.Skip(1).Select(l => l.Split(',')).Select(f => new Row(int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture),
            f[column["held_out_accuracy"]], f[column["held_out_before_mix"]], f[column["held_out_after_mix"]], f[column["feature_cka_mean"]],
            f[column["feature_cka_min"]])).ToList();
    }

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    [Fact]
    public async Task APapaAllRunRecordsEachMembersAccuracyAroundEveryMergeAndTheFeatureSimilarityOfEveryEpoch()
    {
        using var folder = new TempFolder();
        var (outcome, settings) = await Run(folder.Path, "method=papa-all");

        Assert.IsType<RunCompleted>(outcome);
        Assert.EndsWith(",averaging_seconds,held_out_before_mix,held_out_after_mix,feature_cka_mean,feature_cka_min", File.ReadLines(folder.File(RunRecorder.MetricsFile)).First());
        var plan = SchedulePlan.For(settings, StepsPerEpoch);
        var merges = plan.Rounds.Where(r => r.Mix is ReplaceWithMean).Select(r => r.Round).ToList();
        Assert.Equal(2, merges.Count); // after epochs 1 and 2; never after the last step
        var rows = Rows(folder.Path);
        Assert.Equal(3 * plan.Rounds.Count, rows.Count);
        Assert.All(rows.Where(r => !merges.Contains(r.Round)), r => Assert.Equal(("", ""), (r.Before, r.After)));
        foreach (var merge in rows.Where(r => merges.Contains(r.Round)).GroupBy(r => r.Round))
        {
            // The merges fall on epoch ends: "before" is the accuracy the member reported for the epoch, on the same weights.
            Assert.All(merge, r => Assert.Equal(r.HeldOut, r.Before));
            // Every member is replaced by the same REPAIRed mean: one accuracy after.
            Assert.Single(merge.Select(r => r.After).Distinct());
            Assert.All(merge, r => Assert.InRange(Number(r.After), 0.0, 1.0));
        }

        var epochEnds = plan.Rounds.Where(r => r.EndsEpoch).Select(r => r.Round).ToHashSet();
        Assert.All(rows.Where(r => !epochEnds.Contains(r.Round)), r => Assert.Equal(("", ""), (r.CkaMean, r.CkaMin)));
        foreach (var epoch in rows.Where(r => epochEnds.Contains(r.Round)).GroupBy(r => r.Round))
        {
            var (mean, min) = (Number(epoch.First().CkaMean), Number(epoch.First().CkaMin));
            Assert.All(epoch, r => Assert.Equal((epoch.First().CkaMean, epoch.First().CkaMin), (r.CkaMean, r.CkaMin))); // one value a round
            Assert.InRange(min, 0.0, mean);
            Assert.InRange(mean, min, 1.0 + 1e-9);
        }
    }

    [Fact]
    public async Task MergingAPopulationOfOneGainsExactlyNothing()
    {
        using var folder = new TempFolder();
        // The mean of one member is that member, bit for bit; REPAIR and a BatchNorm reset (off here) would re-estimate it.
        var (outcome, _) = await Run(folder.Path, "method=papa-all", "population=1", "repair=off", "batchnorm.mix=average");

        Assert.IsType<RunCompleted>(outcome);
        var measured = Rows(folder.Path).Where(r => r.Before.Length > 0).ToList();
        Assert.Equal(2, measured.Count);
        Assert.All(measured, r => Assert.Equal(r.Before, r.After));
        Assert.All(Rows(folder.Path), r => Assert.Equal(("", ""), (r.CkaMean, r.CkaMin))); // no pair to compare
    }

    [Theory]
    [InlineData("method=papa-all")] // REPAIR and its BatchNorm re-estimation between the two measurements
    [InlineData("method=papa", "metrics.mix-gain=on", "metrics.mix-gain-every=2", "push-delay-steps=1")] // pushes applied late
    public async Task MeasuringChangesNoBitOfTheRun(params string[] overrides)
    {
        using var measured = new TempFolder();
        using var plain = new TempFolder();
        await Run(measured.Path, [.. overrides, "save-members=on"]);
        await Run(plain.Path, [.. overrides, "save-members=on", "metrics.mix-gain=off", "metrics.feature-similarity=off"]);

        Assert.Contains(Rows(measured.Path), r => r.Before.Length > 0);
        Assert.Contains(Rows(measured.Path), r => r.CkaMean.Length > 0);
        Assert.All(Rows(plain.Path), r => Assert.Equal("", r.Before + r.After + r.CkaMean + r.CkaMin));
        foreach (var file in new[] { "soup-average.safetensors", "soup-greedy.safetensors", "member-0.safetensors", "member-1.safetensors", "member-2.safetensors", ScheduleJournal.FileName })
            Assert.True(File.ReadAllBytes(measured.File(file)).SequenceEqual(File.ReadAllBytes(plain.File(file))), $"{file} differs with the metrics on");
        static IEnumerable<string> Losses(string folder) => RunFolders.MetricsWithoutTiming(folder).Skip(1).Select(l => string.Join(',', l.Split(',')[..7]));
        Assert.Equal(Losses(plain.Path), Losses(measured.Path));
    }

    [Fact]
    public async Task ARollbackToACheckpointRightAfterAMergeWritesTheSameMeasurementsAsAnUninterruptedRun()
    {
        using var clean = new TempFolder();
        using var faulty = new TempFolder();
        // Merges and checkpoints both fall on epoch ends: the checkpoint of step 24 is taken right after a measured merge.
        string[] run = ["method=papa-all", "checkpoint.every-epochs=1"];
        Assert.IsType<RunCompleted>((await Run(clean.Path, run)).Outcome);

        var (outcome, _) = await Run(faulty.Path, [.. run, "fault-injection.throw-member=1", "fault-injection.throw-at-step=30", "fault-injection.throw-times=1"]);

        Assert.IsType<RunCompleted>(outcome);
        Assert.Contains("member-lost", File.ReadAllText(faulty.File(RunRecorder.FaultsFile)));
        Assert.Equal(6, Rows(clean.Path).Count(r => r.After.Length > 0));
        Assert.Equal(RunFolders.MetricsWithoutTiming(clean.Path), RunFolders.MetricsWithoutTiming(faulty.Path));
    }
}
