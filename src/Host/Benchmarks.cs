using System.Diagnostics;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace PapaActors.Host;

/// <summary>`papa bench ...`: measurements that print figures (never timed tests).</summary>
internal static class Benchmarks
{
    /// <summary>
    /// Population throughput: p members trained one after another in a plain loop (libtorch using every core)
    /// against the same p members as a `none` population of actors (one pinned thread each). Both count only
    /// training steps: the same steps, batches and models.
    /// </summary>
    public static async Task<int> ThroughputAsync(string? configFile, IReadOnlyList<string> overrides, int steps)
    {
        var baseConfig = PapaConfig.Load(configFile ?? LocalRun.DefaultConfig, overrides);
        var probe = PapaSettings.FromConfig(baseConfig);
        // One epoch of exactly `steps` steps: the training split is trimmed to steps * batch images.
        var trainImages = (long)Math.Ceiling(steps * probe.Training.BatchSize / (1 - probe.Dataset.HeldOutFraction)) + 1;
        var config = PapaConfig.Load(configFile ?? LocalRun.DefaultConfig,
            [.. overrides, "method=none", "epochs=1", $"train-limit={trainImages}", "test-limit=1000", "batchnorm.reset-batches=1"]);
        var settings = PapaSettings.FromConfig(config);
        NLogSetup.Configure(null, verbose: false);
        using var data = DataLoading.Load(settings.Dataset);
        var stepsPerMember = MemberBatches.StepsIn(data.Train.Count, settings.Training.BatchSize);
        AnsiConsole.MarkupLineInterpolated($"{settings.Population} x {settings.Training.Model}, batch {settings.Training.BatchSize}, {stepsPerMember} steps per member, {Environment.ProcessorCount} cores");

        TorchRuntime.Configure(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < settings.Population; i++)
        {
            using var member = new MemberModel(i, settings.Training, data, CPU);
            member.Train((int)stepsPerMember);
        }
        var sequentialSeconds = clock.Elapsed.TotalSeconds;
        var samples = settings.Population * stepsPerMember * settings.Training.BatchSize;

        var threads = settings.TorchThreads > 0 ? settings.TorchThreads : TorchRuntime.ThreadsPerProcess(settings.Population);
        TorchRuntime.Configure(threads);
        var folder = Path.Combine(Path.GetTempPath(), $"papa-bench-{Guid.NewGuid():N}");
        RunResults results;
        using (var system = PapaActorSystem.Create("bench", config))
        {
            var outcome = await LocalPopulation.RunAsync(system, settings, PapaConfig.Render(config), data, folder);
            results = outcome is RunCompleted completed ? completed.Results : throw new InvalidOperationException(((RunFailed)outcome).Reason);
        }
        Directory.Delete(folder, recursive: true);

        var sequential = samples / sequentialSeconds;
        var population = results.TrainingSamples / results.TrainingSeconds;
        var table = new Table().AddColumn("training").AddColumn(new TableColumn("samples/s").RightAligned()).AddColumn("setup");
        table.AddRow("members one after another, plain loop", $"{sequential:0}", $"{Environment.ProcessorCount} torch threads, {sequentialSeconds:0.0} s");
        table.AddRow("population of actors (method none)", $"{population:0}", $"{threads} torch thread(s) per member, {results.TrainingSeconds:0.0} s");
        table.AddRow("[bold]ratio population / sequential[/]", $"[bold]{population / sequential:0.00}[/]", "");
        AnsiConsole.Write(table);
        return ExitCodes.Success;
    }
}
