using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using PapaActors.Actors;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Cluster;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Tls;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Actors.Transfer;
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
        var (sequential, population) = await MeasureThroughputAsync(configFile, overrides, steps);
        var table = new Table().AddColumn("training").AddColumn(new TableColumn("samples/s").RightAligned()).AddColumn("setup");
        table.AddRow("members one after another, plain loop", $"{sequential.SamplesPerSecond:0}", $"{Environment.ProcessorCount} torch threads, {sequential.Seconds:0.0} s");
        table.AddRow("population of actors (method none)", $"{population.SamplesPerSecond:0}", $"{population.Threads} torch thread(s) per member, {population.Seconds:0.0} s");
        table.AddRow("[bold]ratio population / sequential[/]", $"[bold]{population.SamplesPerSecond / sequential.SamplesPerSecond:0.00}[/]", "");
        AnsiConsole.Write(table);
        return ExitCodes.Success;
    }

    /// <summary>Samples/s of one way of training, the seconds it took, and libtorch's threads (per member for a population).</summary>
    public sealed record Throughput(double SamplesPerSecond, double Seconds, int Threads);

    public static async Task<(Throughput Sequential, Throughput Population)> MeasureThroughputAsync(string? configFile, IReadOnlyList<string> overrides, int steps)
    {
        var probe = RunConfig.Load(configFile ?? LocalRun.DefaultConfig, overrides).Settings;
        // One epoch of exactly `steps` steps: the training split is trimmed to steps * batch images.
        var trainImages = (long)Math.Ceiling(steps * probe.Training.BatchSize / (1 - probe.Dataset.HeldOutFraction)) + 1;
        var run = RunConfig.Load(configFile ?? LocalRun.DefaultConfig,
            [.. overrides, "method=none", "epochs=1", $"train-limit={trainImages}", "test-limit=1000", "batchnorm.reset-batches=1"]);
        var settings = run.Settings;
        NLogSetup.Configure(null, verbose: false);
        using var data = DataLoading.Load(settings.Dataset);
        var stepsPerMember = MemberBatches.StepsIn(data.Train.Count, settings.Training.BatchSize);
        AnsiConsole.MarkupLineInterpolated($"throughput: {settings.Population} x {settings.Training.Model}, batch {settings.Training.BatchSize}, {stepsPerMember} steps per member, {Environment.ProcessorCount} cores");

        TorchRuntime.Configure(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < settings.Population; i++)
        {
            using var member = new MemberModel(i, settings.Training, data, CPU);
            member.Train((int)stepsPerMember);
        }
        var sequentialSeconds = clock.Elapsed.TotalSeconds;
        var samples = settings.Population * stepsPerMember * settings.Training.BatchSize;

        var (results, threads) = await RunLocalAsync(run, data);
        return (new Throughput(samples / sequentialSeconds, sequentialSeconds, Environment.ProcessorCount),
            new Throughput(results.TrainingSamples / results.TrainingSeconds, results.TrainingSeconds, threads));
    }

    /// <summary>A whole run in one ActorSystem (torch threads as `papa run` sets them), in a temporary folder.</summary>
    public static async Task<(RunResults Results, int TorchThreads)> RunLocalAsync(RunConfig run, DataSplits data)
    {
        var settings = run.Settings;
        var threads = TorchRuntime.ThreadsFor(settings.TorchThreads, settings.Population);
        TorchRuntime.Configure(threads);
        var folder = Path.Combine(Path.GetTempPath(), $"papa-bench-{Guid.NewGuid():N}");
        try
        {
            using var system = new PapaSystemSetup(run.Config).Create("bench");
            return (Completed(await LocalPopulation.RunAsync(system, run, data, folder, CommandLines.Resume(folder))), threads);
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// REPAIR on the case it was made for: two members trained independently (different initialisations, no
    /// mixing), then their 50/50 average as is (BatchNorm buffers averaged), with BatchNorm re-estimated, and with
    /// REPAIR (which re-estimates BatchNorm after it), all on the test set.
    /// </summary>
    public static Task<int> RepairAsync(string? configFile, IReadOnlyList<string> overrides)
    {
        var settings = RunConfig.Load(configFile ?? LocalRun.DefaultConfig, [.. overrides, "method=none", "population=2", "repair=on"]).Settings;
        NLogSetup.Configure(null, verbose: false);
        using var data = DataLoading.Load(settings.Dataset);
        TorchRuntime.Configure(Environment.ProcessorCount);
        AnsiConsole.MarkupLineInterpolated($"2 x {settings.Training.Model} on {settings.Dataset.Name}, {settings.Epochs} epoch(s) each, trained independently");

        using var first = new MemberModel(0, settings.Training, data, CPU);
        using var second = new MemberModel(1, settings.Training, data, CPU);
        foreach (var member in new[] { first, second })
            member.Train((int)(settings.Epochs * member.StepsPerEpoch));
        var (a, b) = (first.Capture(), second.Capture());
        double Test(MemberModel member) => member.Evaluate(DataSplit.Test, keepLogits: false).Accuracy;
        double TestOf(WeightSnapshot weights, bool recomputeBatchNorm)
        {
            var result = first.EvaluateWeights(weights, recomputeBatchNorm, onHeldOut: false, testSlice: (0, 1), returnWeights: false);
            return (double)result.TestCorrect / result.TestCount;
        }

        var table = new Table().AddColumn("model").AddColumn(new TableColumn("test accuracy").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        table.AddRow("parent 0", $"{Test(first) * 100:0.00}%", "");
        table.AddRow("parent 1", $"{Test(second) * 100:0.00}%", "");
        var average = WeightMath.Interpolate(a, b, 0.5);
        table.AddRow("50/50 average, BatchNorm buffers averaged", $"{TestOf(average, recomputeBatchNorm: false) * 100:0.00}%", "");
        var clock = Stopwatch.StartNew();
        var reset = TestOf(average, recomputeBatchNorm: true);
        table.AddRow("50/50 average, BatchNorm re-estimated", $"{reset * 100:0.00}%", $"{clock.Elapsed.TotalSeconds:0.00}");
        clock.Restart();
        const int round = 0;
        var targets = ActivationStatistics.WeightedSum([first.MeasureRepairStatistics(round), second.MeasureRepairStatistics(round)], [0.5, 0.5]);
        first.Mix(b, keep: 0.5, targets, round);
        var repairSeconds = clock.Elapsed.TotalSeconds;
        table.AddRow($"[bold]50/50 average with REPAIR[/] ({settings.Training.Repair.Batches} batches)", $"[bold]{Test(first) * 100:0.00}%[/]", $"{repairSeconds:0.00}");
        AnsiConsole.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }

    /// <summary>Prints <see cref="MeasureTransferAsync"/>; with <paramref name="tls"/>, both systems speak mutual TLS.</summary>
    public static async Task<int> TransferAsync(IReadOnlyList<string> overrides, int repeats, bool tls)
    {
        NLogSetup.Configure(null, verbose: false);
        using var certificates = new ThrowawayCertificates(tls);
        overrides = [.. overrides, .. certificates.Settings];
        var table = new Table().AddColumn("snapshot").AddColumn(new TableColumn("size").RightAligned()).AddColumn(new TableColumn("MB/s").RightAligned())
            .AddColumn(new TableColumn("ms per transfer").RightAligned());
        foreach (var transfer in await MeasureTransferAsync(overrides, repeats))
            table.AddRow(transfer.Model, $"{transfer.Megabytes:0.0} MB", $"{transfer.MegabytesPerSecond:0}", $"{transfer.Milliseconds:0.0}");
        AnsiConsole.Write(table);
        return ExitCodes.Success;
    }

    public sealed record Transfer(string Model, double Megabytes, double MegabytesPerSecond, double Milliseconds);

    /// <summary>
    /// Weight transfer over loopback on the stream connection: a resnet20 and a vgg11 snapshot (CIFAR shapes, full
    /// width) sent <paramref name="repeats"/> times as <see cref="Mix"/> messages from one ActorSystem to another, one
    /// after the other; each includes serialization, the announcement over Akka, the frame on the stream connection,
    /// checksum and deserialization, and the ack.
    /// </summary>
    public static async Task<IReadOnlyList<Transfer>> MeasureTransferAsync(IReadOnlyList<string> overrides, int repeats)
    {
        TorchRuntime.Configure(Environment.ProcessorCount);
        var snapshots = new[] { "resnet20", "vgg11" }.Select(name =>
        {
            using var model = ModelZoo.Create(name, new ImageShape(3, 32, 32), 10, 1.0, initSeed: 1);
            return (Name: name, Snapshot: new ModelState(model).Capture());
        }).ToList();
        // The cluster transport settings (frame and buffer sizes), as plain remoting between two systems.
        var remote = PapaSystemSetup.RemoteNode(PapaConfig.Load(null, overrides), NodeEndpoint.Loopback);
        using var sender = remote.Create("sender");
        using var receiver = remote.Create("receiver");
        var echoAddress = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
        receiver.ActorOf(Props.Create(() => new Echo()), "echo");
        var echo = await sender.ActorSelection(new RootActorPath(echoAddress) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(10));
        var transfers = new List<Transfer>();
        foreach (var (name, snapshot) in snapshots)
        {
            var megabytes = snapshot.Values.Length * 4 / 1e6;
            await TransferAll(sender, echo, snapshot, 2); // warm-up
            var clock = Stopwatch.StartNew();
            await TransferAll(sender, echo, snapshot, repeats);
            var seconds = clock.Elapsed.TotalSeconds;
            transfers.Add(new Transfer(name, megabytes, megabytes * repeats / seconds, seconds * 1000 / repeats));
        }
        return transfers;
    }

    /// <summary>Checkpoint size and the median costs of <see cref="MeasureCheckpoint"/> for the default run's model and two CIFAR models.</summary>
    public static Task<int> CheckpointAsync(int population, int repeats)
    {
        NLogSetup.Configure(null, verbose: false);
        var table = new Table().AddColumn("model").AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn($"checkpoint ({population} members)").RightAligned()).AddColumn(new TableColumn("write ms").RightAligned())
            .AddColumn(new TableColumn("find + verify ms").RightAligned()).AddColumn(new TableColumn("load ms").RightAligned());
        foreach (var (name, shape) in new[] { ("cnn", new ImageShape(1, 28, 28)), ("resnet20", new ImageShape(3, 32, 32)), ("vgg16", new ImageShape(3, 32, 32)) })
        {
            var cost = MeasureCheckpoint(name, shape, population, repeats);
            table.AddRow(name, $"{cost.Parameters:N0}", $"{cost.Bytes / 1e6:0.0} MB", $"{Median(cost.WriteMilliseconds):0}", $"{Median(cost.FindMilliseconds):0}",
                $"{Median(cost.LoadMilliseconds):0}");
        }
        AnsiConsole.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }

    public sealed record CheckpointCost(long Parameters, long Bytes, IReadOnlyList<double> WriteMilliseconds, IReadOnlyList<double> FindMilliseconds, IReadOnlyList<double> LoadMilliseconds);

    /// <summary>
    /// A checkpoint of <paramref name="population"/> members of <paramref name="model"/> with SGD momentum state (one
    /// buffer per parameter, as after the first step), written, found and verified (every file hashed), and loaded,
    /// <paramref name="repeats"/> times.
    /// </summary>
    public static CheckpointCost MeasureCheckpoint(string model, ImageShape shape, int population, int repeats)
    {
        TorchRuntime.Configure(Environment.ProcessorCount);
        var identity = RunConfig.Load(null, []).Identity;
        WeightSnapshot weights;
        using (var module = ModelZoo.Create(model, shape, 10, 1.0, initSeed: 1))
            weights = new ModelState(module).Capture();
        var momentum = MomentumLike(weights);
        var checkpoint = new Checkpoint(1, 0, 0, 0, 0, Enumerable.Range(0, population).Select(i => new MemberState(i, 1000, weights, momentum)).ToList());
        var folder = Path.Combine(Path.GetTempPath(), $"papa-bench-checkpoint-{Guid.NewGuid():N}");
        try
        {
            var store = new CheckpointStore(folder);
            var (writes, finds, loads) = (new List<double>(), new List<double>(), new List<double>());
            long bytes = 0;
            for (var r = 1; r <= repeats; r++)
            {
                var written = store.Write(checkpoint with { Round = r }, identity);
                (writes, bytes) = ([.. writes, written.ElapsedMilliseconds], written.Bytes);
                var clock = Stopwatch.StartNew();
                var latest = store.FindLatestValid().Latest!;
                finds.Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                store.Load(latest, identity);
                loads.Add(clock.Elapsed.TotalMilliseconds);
                store.Prune(2);
            }
            return new CheckpointCost(weights.Layout.Entries.Where(e => e.Kind == WeightKind.Parameter).Sum(e => e.Length), bytes, writes, finds, loads);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static WeightSnapshot MomentumLike(WeightSnapshot weights)
    {
        var parameters = weights.Layout.Entries.Select((e, i) => (Entry: e, Offset: weights.Layout.OffsetOf(i))).Where(x => x.Entry.Kind == WeightKind.Parameter).ToList();
        var values = parameters.SelectMany(p => weights.Values.AsSpan((int)p.Offset, (int)p.Entry.Length).ToArray()).ToArray();
        return WeightSnapshot.FromOwned(new WeightLayout(parameters.Select(p => new WeightEntry(p.Entry.Name + ".momentum_buffer", p.Entry.Shape, WeightKind.Buffer)).ToList()), values);
    }

    public static double Median(IReadOnlyList<double> values) => values.Order().ElementAt(values.Count / 2);

    private static Task TransferAll(ActorSystem system, IActorRef echo, WeightSnapshot snapshot, int repeats)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(Props.Create(() => new Driver(echo, snapshot, repeats, done)));
        return done.Task;
    }

    /// <summary>Sends one snapshot at a time and the next when the previous is acknowledged; a lost transfer fails the measurement.</summary>
    private sealed class Driver : ReceiveActor
    {
        public Driver(IActorRef echo, WeightSnapshot snapshot, int repeats, TaskCompletionSource done)
        {
            var sent = 0;
            void Next() => BulkTransport.For(Context.System).Send(echo, new Mix(sent++, snapshot, 0, null), Self);
            Receive<Akka.Actor.Status.Success>(_ =>
            {
                if (sent == repeats)
                {
                    done.TrySetResult();
                    Context.Stop(Self);
                }
                else
                {
                    Next();
                }
            });
            Receive<Akka.Actor.Status.Failure>(f =>
            {
                done.TrySetException(f.Cause);
                Context.Stop(Self);
            });
            Next();
        }
    }

    private sealed class Echo : BulkReceivingActor
    {
        public Echo()
        {
            Receive<Mix>(m => Sender.Tell(new Akka.Actor.Status.Success(m.Round)));
            Receive<TransferFailed>(f => Sender.Tell(new Akka.Actor.Status.Failure(new InvalidOperationException($"transfer failed: {f.Reason}"))));
        }
    }

    /// <summary>
    /// The cost of running PAPA (a push every 10 steps) across a cluster: the same run in one ActorSystem and
    /// across three ActorSystems on loopback (an averager node, two member nodes); training seconds of both.
    /// </summary>
    /// <param name="tls">the cluster's nodes speak mutual TLS (the local run has no network)</param>
    public static async Task<int> ClusterOverheadAsync(string? configFile, IReadOnlyList<string> overrides, bool tls)
    {
        using var certificates = new ThrowawayCertificates(tls);
        var run = RunConfig.Load(configFile ?? LocalRun.DefaultConfig, ["epochs=1", "train-limit=12000", .. overrides, .. certificates.Settings]);
        var settings = run.Settings;
        NLogSetup.Configure(null, verbose: false);
        using var data = DataLoading.Load(settings.Dataset);
        var (local, clustered) = await MeasureClusterAsync(run, data);
        var rounds = SchedulePlanRounds(settings, data);
        var table = new Table().AddColumn("run").AddColumn(new TableColumn("training s").RightAligned()).AddColumn(new TableColumn("samples/s").RightAligned());
        table.AddRow("one ActorSystem", $"{local.TrainingSeconds:0.00}", $"{local.TrainingSamples / local.TrainingSeconds:0}");
        table.AddRow("cluster: averager + 2 member nodes", $"{clustered.TrainingSeconds:0.00}", $"{clustered.TrainingSamples / clustered.TrainingSeconds:0}");
        table.AddRow("[bold]ratio cluster / local[/]", $"[bold]{clustered.TrainingSeconds / local.TrainingSeconds:0.000}[/]",
            $"{(clustered.TrainingSeconds - local.TrainingSeconds) * 1000 / rounds:0.0} ms per round ({rounds} rounds)");
        AnsiConsole.MarkupLineInterpolated($"{settings.Method.Name()}: {settings.Population} x {settings.Training.Model}, push every {settings.Mixing.EmaEverySteps} steps");
        AnsiConsole.Write(table);
        if (settings.Training.Model == "cnn")
        {
            var (perMember, perNode) = MixingTraffic(settings.Population, nodes: 2);
            AnsiConsole.MarkupLineInterpolated($"traffic per PAPA round: {perNode / 1e6:0.00} MB (per member, as before the node reducers: {perMember / 1e6:0.00} MB)");
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// The bytes of one PAPA round's messages between the averager and <paramref name="nodes"/> member nodes of the
    /// default run's cnn, as PapaSerializer writes them: per node now (Train to each member, CombineRound, one
    /// NodeTrained with the node's exact sum, one NodeMix with the mean), and as it was per member (Train, Trained
    /// with a snapshot, Mix with the mean). Akka's envelopes and stream frame headers (under 1 %) are left out.
    /// </summary>
    public static (long PerMember, long PerNode) MixingTraffic(int population, int nodes)
    {
        using var system = new PapaSystemSetup(PapaConfig.Load(null, [])).Create("traffic");
        long Bytes(object message) => system.Serialization.FindSerializerFor(message).ToBinary(message).LongLength;
        var snapshots = Enumerable.Range(0, population).Select(i =>
        {
            using var model = ModelZoo.Create("cnn", new ImageShape(1, 28, 28), 10, 1.0, initSeed: i + 1);
            return new ModelState(model).Capture();
        }).ToList();
        var mean = PartialSum.Of(snapshots).Mean();
        var train = new Train(1, 10, SendSnapshot: true, EvaluateHeldOut: false, Attempt: 1);
        Trained Report(int i, WeightSnapshot? snapshot) => new(i, 1, 20, 0.5, 0.05, 1280, 0.5, null, snapshot, Attempt: 1);
        var perMember = Enumerable.Range(0, population).Sum(i => Bytes(train) + Bytes(Report(i, snapshots[i])) + Bytes(new Mix(1, mean, 0.9, null, Attempt: 1)));
        var perNode = Enumerable.Range(0, nodes).Sum(n =>
        {
            var members = Enumerable.Range(0, population).Where(i => i % nodes == n).ToImmutableArray();
            return members.Length * Bytes(train)
                + Bytes(new CombineRound(1, 1, members, Sum: true, [], [], []))
                + Bytes(new NodeTrained(1, 1, [.. members.Select(i => Report(i, null))], PartialSum.Of(members.Select(i => snapshots[i]).ToList()),
                    ImmutableDictionary<int, WeightSnapshot>.Empty, ImmutableDictionary<ParentPair, WeightSnapshot>.Empty))
                + Bytes(new NodeMix(1, 1, mean, [.. members.Select(i => new MemberMix(i, 0.9, null, null))], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty));
        });
        return (perMember, perNode);
    }

    /// <summary>The same run in one ActorSystem and as an averager node plus two member nodes in this process (loopback).</summary>
    public static async Task<(RunResults Local, RunResults Clustered)> MeasureClusterAsync(RunConfig run, DataSplits data)
    {
        var settings = run.Settings;
        var (local, threads) = await RunLocalAsync(run, data);
        var half = settings.Population / 2;
        IReadOnlyList<IReadOnlyList<int>> groups = [Enumerable.Range(0, half).ToList(), Enumerable.Range(half, settings.Population - half).ToList()];
        var folder = Path.Combine(Path.GetTempPath(), $"papa-bench-{Guid.NewGuid():N}");
        try
        {
            TorchRuntime.Configure(threads);
            var (outcome, _) = await ClusterNodes.RunInProcessAsync(new PapaSystemSetup(run.Config), data, folder, CommandLines.ResumeAverager(folder), groups,
                TimeSpan.FromHours(1));
            return (local, Completed(outcome));
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>With <c>enabled</c>, a CA and one certificate for every node of a benchmark, in a temporary folder deleted afterwards.</summary>
    private sealed class ThrowawayCertificates : IDisposable
    {
        private readonly string _folder = Path.Combine(Path.GetTempPath(), $"papa-bench-certificates-{Guid.NewGuid():N}");

        public ThrowawayCertificates(bool enabled) =>
            Settings = enabled ? ClusterCertificates.LoopbackNodeSettings(_folder, "node") : [];

        /// <summary>The `papa.cluster.tls` overrides, none without TLS.</summary>
        public string[] Settings { get; }

        public void Dispose()
        {
            if (Directory.Exists(_folder))
                Directory.Delete(_folder, recursive: true);
        }
    }

    private static int SchedulePlanRounds(PapaSettings settings, DataSplits data) =>
        Actors.Schedule.SchedulePlan.For(settings, data).Rounds.Count;

    private static RunResults Completed(IRunEvent outcome) =>
        outcome is RunCompleted completed ? completed.Results : throw new InvalidOperationException(((RunFailed)outcome).Reason);
}
