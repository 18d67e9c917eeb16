using System.Globalization;
using System.Text.Json.Nodes;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Host;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Weights;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Scenarios;

/// <summary>Whole populations training for real (tiny models, small data), with every message serialized.</summary>
[Trait("Category", "Slow")]
public sealed class EndToEndTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private static readonly string[] FashionSlice =
    [
        "dataset=fashion-mnist", "data-dir=/usr/share/datasets/fashion-mnist", "train-limit=3000", "test-limit=300",
        "batch-size=50", "population=3", "epochs=2", "ema-every-steps=5", "rho=0.9", "sync-every-steps=10",
    ];

    private async Task<(IRunEvent Outcome, PapaSettings Settings)> Run(string folder, params string[] overrides)
    {
        TorchRuntime.Configure(1);
        var run = TestSettings.TinyRun(overrides);
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var outcome = await LocalPopulation.RunAsync(Sys, run, data, folder, CommandLines.Resume(folder)).WaitAsync(Timeouts.Run);
        return (outcome, run.Settings);
    }

    [Fact]
    public async Task APapaRunOnFashionMnistLeavesACompleteRunFolder()
    {
        using var folder = new TempFolder();
        var (outcome, settings) = await Run(folder.Path, FashionSlice);

        var results = Assert.IsType<RunCompleted>(outcome).Results;
        Assert.True(results.AverageSoup.TestAccuracy > 0.5, $"average soup {results.AverageSoup.TestAccuracy}, members {string.Join(", ", results.Members.Select(m => m.TestAccuracy))}");
        Assert.Equal(3, results.Members.Count);

        var json = JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!;
        Assert.Equal("completed", (string)json["status"]!);
        Assert.Equal("papa", (string)json["method"]!);
        Assert.Equal(3, json["members"]!.AsArray().Count);
        Assert.Equal(results.AverageSoup.TestAccuracy, (double)json["average_soup"]!["test_accuracy"]!);
        Assert.Equal(results.GreedySoup.MembersUsed, json["greedy_soup"]!["members_used"]!.AsArray().Select(n => (int)n!));
        Assert.True((double)json["samples_per_second"]! > 0);
        foreach (var key in new[] { "mean_member_test_accuracy", "ensemble", "wall_seconds", "epochs", "population" })
            Assert.NotNull(json[key]);
        // Phases: averaging and waiting happen within training; the peak RSS is this process's, data and models included.
        var phases = json["phases"]!;
        var training = (double)phases["training_seconds"]!;
        Assert.InRange((double)phases["averaging_seconds"]!, 1e-6, training);
        Assert.InRange((double)phases["waiting_seconds"]!, 1e-6, training);
        Assert.True((double)phases["finishing_seconds"]! > 0);
        Assert.InRange((long)json["peak_rss_bytes"]!, 100_000_000L, 64_000_000_000L);

        var journal = ScheduleJournal.Read(folder.File(ScheduleJournal.FileName));
        var plan = SchedulePlan.For(settings, stepsPerEpoch: 54);
        Assert.Equal(plan.Rounds, journal.Rounds);
        Assert.True(journal.Ended);

        var metrics = File.ReadAllLines(folder.File("metrics.csv"));
        Assert.Equal("member,round,epoch,step,train_loss,learning_rate,held_out_accuracy,samples_per_second,wait_seconds,mix_seconds,averaging_seconds,"
            + "held_out_before_mix,held_out_after_mix,feature_cka_mean,feature_cka_min", metrics[0]);
        var mixingRounds = plan.Rounds.Where(r => r.Mix is not NoMix).Select(r => r.Round.ToString()).ToHashSet();
        var rows = metrics.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.All(rows.Where(r => mixingRounds.Contains(r[1])), r => Assert.True(double.Parse(r[10], CultureInfo.InvariantCulture) > 0));
        Assert.All(rows.Where(r => !mixingRounds.Contains(r[1])), r => Assert.Equal("0", r[10]));
        Assert.Equal(3 * plan.Rounds.Count, metrics.Length - 1);
        Assert.Equal(3 * 2, metrics.Skip(1).Count(l => l.Split(',')[6].Length > 0)); // held-out accuracy at each epoch end

        using var model = ModelZoo.Create(settings.Training.Model, new ImageShape(1, 28, 28), 10, settings.Training.ModelWidth, 0);
        var layout = new ModelState(model).Layout;
        Assert.Equal<float>(results.AverageSoup.Weights.Values, SafetensorsFile.Load(folder.File("soup-average.safetensors"), layout).Values);
        Assert.Equal<float>(results.GreedySoup.Weights.Values, SafetensorsFile.Load(folder.File("soup-greedy.safetensors"), layout).Values);
        Assert.Equal(settings, PapaSettings.FromConfig(ConfigurationFactory.ParseString(File.ReadAllText(folder.File("config.conf")))) with { Devices = settings.Devices });
    }

    [Fact]
    public async Task TheSameConfigAndSeedGiveBitIdenticalResultsAndSoups()
    {
        using var first = new TempFolder();
        using var second = new TempFolder();
        await Run(first.Path, "method=papa-2", "every-epochs=0.5");
        await Run(second.Path, "method=papa-2", "every-epochs=0.5");

        Assert.Equal(Accuracies(first.File("results.json")), Accuracies(second.File("results.json")));
        Assert.Equal(File.ReadAllBytes(first.File("soup-average.safetensors")), File.ReadAllBytes(second.File("soup-average.safetensors")));
        Assert.Equal(File.ReadAllBytes(first.File("soup-greedy.safetensors")), File.ReadAllBytes(second.File("soup-greedy.safetensors")));
        Assert.Equal(File.ReadAllText(first.File(ScheduleJournal.FileName)), File.ReadAllText(second.File(ScheduleJournal.FileName)));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("papa-all")]
    [InlineData("papa-2")]
    public async Task EveryMethodCompletesAndSavesMembersWhenAsked(string method)
    {
        using var folder = new TempFolder();
        var (outcome, _) = await Run(folder.Path, $"method={method}", "epochs=1", "every-epochs=0.5", "save-members=on");

        Assert.IsType<RunCompleted>(outcome);
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(File.Exists(folder.File($"member-{i}.safetensors"))));
    }

    [Fact]
    public async Task WithoutAHeldOutSplitSoupsAreChosenOnTheTrainingSetAndRepairedWhenAsked()
    {
        using var folder = new TempFolder();
        var (outcome, _) = await Run(folder.Path, "method=none", "epochs=1", "held-out-fraction=0", "repair-soup=on", "repair-batches=2");

        var results = Assert.IsType<RunCompleted>(outcome).Results;
        // Training accuracies, as the reference scores its soups with val_perc = 0 (NaN before: no held-out images).
        Assert.All(results.Members, m => Assert.InRange(m.HeldOutAccuracy, 0.0, 1.0));
        Assert.InRange(results.AverageSoup.HeldOutAccuracy, 0.0, 1.0);
        Assert.InRange(results.GreedySoup.HeldOutAccuracy, 0.0, 1.0);
        // The repaired average soup is not the plain mean of the members.
        var mean = WeightMath.Average(results.Members.Select(m => m.Weights).ToList());
        Assert.NotEqual<float>(mean.Values, results.AverageSoup.Weights.Values);
        var json = JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!;
        Assert.Equal((false, true, "none"), ((bool)json["repair"]!, (bool)json["repair_soup"]!, (string)json["align"]!));
        var metrics = File.ReadAllLines(folder.File("metrics.csv")).Skip(1).Select(l => l.Split(',')[6]);
        Assert.All(metrics, heldOut => Assert.Equal("", heldOut)); // no per-epoch pass over the whole training set
    }

    [Fact]
    public async Task AMemberThatCannotStartFailsTheRunByNameAndKeepsTheFolder()
    {
        using var folder = new TempFolder();
        var (outcome, _) = await Run(folder.Path, "devices=[cpu, \"cuda:0\"]");

        var failure = Assert.IsType<RunFailed>(outcome);
        Assert.Contains("member 1 failed: ArgumentException: device 'cuda:0' asked for, but CUDA is not available", failure.Reason);
        Assert.True(File.Exists(folder.File("config.conf")));
        var json = JsonNode.Parse(File.ReadAllText(folder.File("results.json")))!;
        Assert.Equal("failed", (string)json["status"]!);
        Assert.Contains("member 1 failed", (string)json["reason"]!);
    }

    private static string Accuracies(string resultsFile)
    {
        var json = JsonNode.Parse(File.ReadAllText(resultsFile))!;
        return string.Join(";", json["members"]!.AsArray().Select(m => (double)m!["test_accuracy"]!)
            .Append((double)json["ensemble"]!["test_accuracy"]!)
            .Append((double)json["average_soup"]!["test_accuracy"]!)
            .Append((double)json["greedy_soup"]!["test_accuracy"]!));
    }
}
