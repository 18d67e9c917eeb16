using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using PapaActors.Models.Data;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>
/// `papa bench` without a subcommand: every benchmark in one go, one table, and the same figures in bench.json.
/// Each ratio is measured side by side in this process (both sides of a repeat back to back, alternating which
/// goes first) and repeated; the table gives the median with min and max, since a 2-core machine is noisy.
/// Peak RSS and the finish time come from a resnet20 run in a child process, so nothing else here inflates them.
/// </summary>
internal static class BenchSuite
{
    /// <summary>One measured figure: every repeat's value, and what it should be.</summary>
    private sealed record Figure(string Name, string Unit, IReadOnlyList<double> Values, string Goal, Func<double, bool>? Meets, string Meaning)
    {
        public double Median => Benchmarks.Median(Values);
    }

    private sealed record Scale(int Repeats, int ThroughputSteps, int PushTrainImages, int ClusterTrainImages, int TransferRepeats,
        int ResNetTrainImages, int ResNetTestImages, int ResNetEpochs, TimeSpan ChildTimeout);

    private static readonly Scale Full = new(3, 150, 60_000, 12_000, 20, 10_000, 10_000, 3, TimeSpan.FromMinutes(20));
    private static readonly Scale Quick = new(3, 30, 8_000, 4_000, 5, 2_000, 2_000, 1, TimeSpan.FromMinutes(5));

    public static async Task<int> RunAsync(bool quick, string jsonPath)
    {
        var scale = quick ? Quick : Full;
        NLogSetup.Configure(null, verbose: false);
        var clock = Stopwatch.StartNew();
        var figures = new List<Figure>();
        figures.Add(await PopulationVersusPlainLoop(scale));
        figures.AddRange(await TwoMembersVersusOne(scale));
        figures.AddRange(await PushOverhead(scale));
        figures.Add(await ClusterVersusLocal(scale, population: 4, pushDelay: 0));
        figures.Add(await ClusterVersusLocal(scale, population: 8, pushDelay: 0));
        figures.Add(await ClusterVersusLocal(scale, population: 4, pushDelay: 5));
        figures.AddRange(MixingTraffic());
        figures.AddRange(await TransferRates(scale));
        figures.Add(CheckpointWrite(scale));
        figures.AddRange(await ResNetRun(scale));

        var machine = Machine();
        Print(figures, machine, quick, clock.Elapsed);
        await File.WriteAllTextAsync(jsonPath, Json(figures, machine, quick, clock.Elapsed).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.MarkupLineInterpolated($"written to {jsonPath}");
        return ExitCodes.Success;
    }

    private static async Task<Figure> PopulationVersusPlainLoop(Scale scale)
    {
        var ratios = new List<double>();
        for (var r = 0; r < scale.Repeats; r++)
        {
            var (sequential, population) = await Benchmarks.MeasureThroughputAsync(null, [], scale.ThroughputSteps);
            ratios.Add(population.SamplesPerSecond / sequential.SamplesPerSecond);
        }
        return new Figure("population / plain loop", "ratio", ratios, ">= 0.97", v => v >= 0.97,
            "samples/s of 4 cnn members as actors (method none, 1 torch thread each) over the same members trained one after another with every core");
    }

    /// <summary>Samples/s of 2 members (a core each) over 1 member with one core, and over 1 member with every core.</summary>
    private static async Task<IReadOnlyList<Figure>> TwoMembersVersusOne(Scale scale)
    {
        var common = new[] { "method=none", "epochs=1", $"train-limit={scale.PushTrainImages / 2}", "test-limit=500", "batchnorm.reset-batches=1" };
        using var data = DefaultRunData(common);
        string[][] setups = [["population=2"], ["population=1", "torch-threads=1"], ["population=1"]];
        var (perCore, perMachine) = (new List<double>(), new List<double>());
        for (var r = 0; r < scale.Repeats; r++)
        {
            var rates = new double[setups.Length];
            foreach (var s in InTurn(r, setups.Length))
            {
                var (results, _) = await Benchmarks.RunLocalAsync(RunConfig.Load(LocalRun.DefaultConfig, [.. common, .. setups[s]]), data);
                rates[s] = results.TrainingSamples / results.TrainingSeconds;
            }
            perCore.Add(rates[0] / rates[1]);
            perMachine.Add(rates[0] / rates[2]);
        }
        return
        [
            new Figure($"p = 2 vs p = 1, a core each", "ratio", perCore, ">= 1.8", v => v >= 1.8,
                "samples/s of 2 cnn members (1 torch thread each) over 1 member with 1 torch thread: how the population scales over cores"),
            new Figure($"p = 2 vs p = 1 with {Environment.ProcessorCount} threads", "ratio", perMachine, "", null,
                "the same over 1 member whose torch threads use every core (libtorch's own parallelism)"),
        ];
    }

    private static async Task<IReadOnlyList<Figure>> PushOverhead(Scale scale)
    {
        var common = new[] { "epochs=1", $"train-limit={scale.PushTrainImages}", "test-limit=500", "batchnorm.reset-batches=1" };
        using var data = DefaultRunData(common);
        string[] methods = ["none", "papa"];
        var (overheads, waiting, averaging) = (new List<double>(), new List<double>(), new List<double>());
        for (var r = 0; r < scale.Repeats; r++)
        {
            var results = new RunResults[methods.Length];
            foreach (var m in InTurn(r, methods.Length))
                (results[m], _) = await Benchmarks.RunLocalAsync(RunConfig.Load(LocalRun.DefaultConfig, [.. common, $"method={methods[m]}"]), data);
            var (none, papa) = (results[0], results[1]);
            overheads.Add((papa.TrainingSeconds / none.TrainingSeconds - 1) * 100);
            waiting.Add(papa.Phases.WaitingSeconds / papa.TrainingSeconds * 100);
            averaging.Add(papa.Phases.AveragingSeconds / papa.TrainingSeconds * 100);
        }
        return
        [
            new Figure("PAPA push overhead vs none", "%", overheads, "<= 3", v => v <= 3,
                "extra training time of the default run's PAPA (push every 10 steps) over method none, same steps"),
            new Figure("  of which members waiting", "% of training", waiting, "", null,
                "a member's mean idle time between rounds (the barrier); idle while the other members use the cores costs nothing"),
            new Figure("  of which averaging", "% of training", averaging, "", null, "the Averager computing and sending the mean"),
        ];
    }

    private static async Task<Figure> ClusterVersusLocal(Scale scale, int population, int pushDelay)
    {
        string[] overrides = ["epochs=1", $"train-limit={scale.ClusterTrainImages}", "test-limit=500", "batchnorm.reset-batches=1",
            $"population={population}", $"push-delay-steps={pushDelay}"];
        var run = RunConfig.Load(LocalRun.DefaultConfig, overrides);
        using var data = DefaultRunData(overrides);
        var ratios = new List<double>();
        for (var r = 0; r < scale.Repeats; r++)
        {
            var (local, clustered) = await Benchmarks.MeasureClusterAsync(run, data);
            ratios.Add(clustered.TrainingSeconds / local.TrainingSeconds);
        }
        return new Figure($"cluster / local, {population} members{(pushDelay > 0 ? $", push-delay-steps {pushDelay}" : "")}", "ratio", ratios,
            pushDelay == 0 ? "<= 1.10" : "", pushDelay == 0 ? v => v <= 1.10 : null,
            $"training time of the default run's PAPA as an averager node and 2 member nodes ({population / 2} members each) on loopback over one ActorSystem");
    }

    private static IEnumerable<Figure> MixingTraffic() =>
        new[] { 4, 8 }.Select(population =>
        {
            var (perMember, perNode) = Benchmarks.MixingTraffic(population, nodes: 2);
            return new Figure($"traffic per PAPA round, {population} members", "MB", [perNode / 1e6], "", null,
                $"bytes of one round's messages between the averager and 2 member nodes (cnn); {perMember / 1e6:0.00} MB when every member sent and got its own weights");
        });

    /// <summary>Weight snapshots on the stream connection, repeated.</summary>
    private static async Task<IReadOnlyList<Figure>> TransferRates(Scale scale)
    {
        var runs = new List<IReadOnlyList<Benchmarks.Transfer>>();
        for (var r = 0; r < scale.Repeats; r++)
            runs.Add(await Benchmarks.MeasureTransferAsync([], scale.TransferRepeats));
        // The stream path was built for vgg11-sized snapshots: 500 MB/s on loopback, from serializing to handling.
        static bool Goal(Benchmarks.Transfer t) => t.Model == "vgg11";
        return runs[0].Select((t, i) => new Figure($"transfer {t.Model} ({t.Megabytes:0.0} MB)", "MB/s", runs.Select(run => run[i].MegabytesPerSecond).ToList(),
            Goal(t) ? ">= 500" : "", Goal(t) ? v => v >= 500 : null,
            "a weight snapshot sent between two ActorSystems on loopback on the stream connection (announced over Akka), read, checked and handled")).ToList();
    }

    private static Figure CheckpointWrite(Scale scale)
    {
        var cost = Benchmarks.MeasureCheckpoint("cnn", new ImageShape(1, 28, 28), 4, scale.Repeats);
        return new Figure($"checkpoint write ({cost.Bytes / 1e6:0.0} MB)", "ms", cost.WriteMilliseconds, "", null,
            "the default run's checkpoint (4 cnn members with momentum) written, fsynced and renamed");
    }

    /// <summary>The resnet20 run of docs/performance.md on random CIFAR-format files, as a child `papa run`.</summary>
    private static async Task<IReadOnlyList<Figure>> ResNetRun(Scale scale)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"papa-bench-resnet20-{Guid.NewGuid():N}");
        try
        {
            var data = Path.Combine(folder, "cifar");
            CifarFiles.WriteRandom(data, scale.ResNetTrainImages, scale.ResNetTestImages, seed: 1);
            var run = Path.Combine(folder, "run");
            var config = Path.Combine(AppContext.BaseDirectory, "hocon", "paper", "cifar10-resnet20-papa-all-variations.conf");
            var overrides = ResNetOverrides(data, scale.ResNetEpochs);
            await RunChildAsync(["run", "--config", config, .. overrides.SelectMany(o => new[] { "--set", o }), "--out", run], scale.ChildTimeout);
            var results = ResultsFile.ReadCompleted(run);
            var settings = RunConfig.Load(config, overrides).Settings;
            var what = $"{settings.Training.Model}, {settings.Population} members, {settings.Epochs} epoch(s) of " +
                $"{Math.Round(scale.ResNetTrainImages * (1 - settings.Dataset.HeldOutFraction))} images, {scale.ResNetTestImages} test images";
            return
            [
                new Figure("peak RSS", "GB", [results.PeakRssBytes / 1e9], "<= 1.5", v => v <= 1.5, what),
                new Figure("finish", "s", [results.Phases.FinishingSeconds], "<= 30", v => v <= 30,
                    "final evaluation of every member, ensemble, average and greedy soups (BatchNorm re-estimated), same run"),
                new Figure("resnet20 training", "samples/s", [results.SamplesPerSecond], "", null, "same run"),
            ];
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The setups of one repeat in turn, first to last on even repeats and last to first on odd ones, so neither side always goes first.</summary>
    private static IEnumerable<int> InTurn(int repeat, int setups) =>
        repeat % 2 == 0 ? Enumerable.Range(0, setups) : Enumerable.Range(0, setups).Reverse();

    /// <summary>The dataset of the default run with <paramref name="overrides"/> (its limits), loaded once for a figure's repeats.</summary>
    private static DataSplits DefaultRunData(IReadOnlyList<string> overrides) =>
        DataLoading.Load(RunConfig.Load(LocalRun.DefaultConfig, overrides).Settings.Dataset);

    /// <summary>
    /// The overrides of hocon/paper/cifar10-resnet20-papa-all-variations.conf for the measured run (docs/performance.md gives the
    /// same command): batch 64 and BatchNorm re-estimated for soups, as the figures were first measured.
    /// </summary>
    private static string[] ResNetOverrides(string dataFolder, int epochs) =>
        [$"data-dir={dataFolder}", $"epochs={epochs}", "method=papa-all", "every-epochs=1", "repair=off", "batch-size=64", "batchnorm.soup=reset"];

    private static async Task RunChildAsync(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        // `dotnet papa.dll ...` or the apphost `papa ...`: start this program the way it was started.
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(typeof(BenchSuite).Assembly.Location);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"papa {string.Join(' ', arguments)} did not finish within {timeout}");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"papa {string.Join(' ', arguments)} exited with {process.ExitCode}: {await errors}{await output}");
    }

    private static JsonObject Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return new JsonObject
        {
            ["cores"] = Environment.ProcessorCount,
            ["cpu"] = cpu ?? "unknown",
            ["memory_gb"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9, 1),
            ["torch_threads_per_member"] = TorchRuntime.ThreadsFor(0, 4),
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["dotnet"] = Environment.Version.ToString(),
        };
    }

    private static void Print(IReadOnlyList<Figure> figures, JsonObject machine, bool quick, TimeSpan elapsed)
    {
        var table = new Table().AddColumn("figure").AddColumn(new TableColumn("median").RightAligned()).AddColumn(new TableColumn("min").RightAligned())
            .AddColumn(new TableColumn("max").RightAligned()).AddColumn("unit").AddColumn("goal").AddColumn("what it measures");
        foreach (var f in figures)
        {
            var goal = f.Meets is null ? f.Goal : $"{f.Goal} {(f.Meets(f.Median) ? "[green]met[/]" : "[red]not met[/]")}";
            table.AddRow(Markup.Escape(f.Name), $"{f.Median:0.00}", $"{f.Values.Min():0.00}", $"{f.Values.Max():0.00}", Markup.Escape(f.Unit), goal, Markup.Escape(f.Meaning));
        }
        AnsiConsole.MarkupLineInterpolated($"{(quick ? "papa bench --quick" : "papa bench")}: {machine["cores"]} cores, {machine["cpu"]}, {machine["memory_gb"]} GB, {elapsed.TotalMinutes:0.0} min");
        AnsiConsole.Write(table);
    }

    private static JsonObject Json(IReadOnlyList<Figure> figures, JsonObject machine, bool quick, TimeSpan elapsed) => new()
    {
        ["quick"] = quick,
        ["machine"] = machine,
        ["minutes"] = elapsed.TotalMinutes,
        ["figures"] = new JsonArray(figures.Select(f => (JsonNode)new JsonObject
        {
            ["name"] = f.Name.Trim(),
            ["unit"] = f.Unit,
            ["median"] = f.Median,
            ["min"] = f.Values.Min(),
            ["max"] = f.Values.Max(),
            ["values"] = new JsonArray(f.Values.Select(v => (JsonNode)v).ToArray()),
            ["goal"] = f.Goal,
            ["meets_goal"] = f.Meets?.Invoke(f.Median),
            ["meaning"] = f.Meaning,
        }).ToArray()),
    };
}
