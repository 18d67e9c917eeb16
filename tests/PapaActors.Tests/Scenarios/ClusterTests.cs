using Akka.Actor;
using Akka.Configuration;
using PapaActors.Actors;
using PapaActors.Actors.Cluster;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Tls;
using PapaActors.Host;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Tests.Support;
using ClusterExtension = Akka.Cluster.Cluster;

namespace PapaActors.Tests.Scenarios;

/// <summary>
/// Three ActorSystems in this process on 127.0.0.1 (random ports) joined into a real Akka.Cluster: the
/// averager node and two member nodes of two members each, every message serialized and sent over
/// Akka.Remote. The same config run locally in one ActorSystem must give bit-identical weights.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClusterTests : IDisposable
{
    private const string Tls = "cluster.tls.enabled=on";
    private readonly List<ActorSystem> _systems = [];
    private readonly TempFolder _folder = new();

    public void Dispose()
    {
        Task.WhenAll(_systems.Select(s => s.Terminate())).Wait(TimeSpan.FromSeconds(30));
        _folder.Dispose();
    }

    private ActorSystem Node(Config runConfig, string role, string name)
    {
        var system = (Quiet(runConfig) with { Remote = NodeEndpoint.Loopback, ClusterRole = role }).Create(ClusterNodes.SystemName);
        _systems.Add(system);
        return system;
    }

    /// <summary>Every message serialized, also between local actors; warnings and errors on the console.</summary>
    private static PapaSystemSetup Quiet(Config run) => new(run) { SerializeEveryMessage = true, Logging = SystemLogging.QuietConsole };

    private async Task<RunResults> RunLocally(RunConfig run, DataSplits data)
    {
        var system = Quiet(run.Config).Create("local");
        _systems.Add(system);
        var folder = _folder.File("local");
        var outcome = await LocalPopulation.RunAsync(system, run, data, folder, CommandLines.Resume(folder)).WaitAsync(Timeouts.Run);
        return Assert.IsType<RunCompleted>(outcome).Results;
    }

    /// <summary>
    /// Every layout of members on nodes gives the local run's bits: each node sends the exact sum of its members, so the
    /// grouping never changes a mean, and a PAPA-2 child is the same bits wherever its parents meet.
    /// </summary>
    [Theory]
    [InlineData("method=papa", "transfer.stream-above=4KiB")] // pushes and means cross on the stream connections
    [InlineData("method=papa", "push-delay-steps=2")] // members train on while their pushes travel
    [InlineData("method=papa-2", "transfer.stream-above=4KiB")] // weights cross on the stream connections
    [InlineData("method=papa-2", "pairing=reference")] // a child formed where both parents are, for a member on another node
    [InlineData("method=papa-all", "variations.mixup=[0.0, 1.0]", "variations.random-erasing=[0.0, 0.5]")]
    [InlineData("method=papa-2", "transfer.stream-above=4KiB", Tls)] // Akka.Remote and the stream connections speak mutual TLS
    public async Task AClusteredRunIsBitIdenticalToTheLocalRunForEveryLayoutOfMembersOnNodes(params string[] overrides)
    {
        TorchRuntime.Configure(1);
        // Every node shows the same certificate of the CA: which node holds which certificate does not matter to the run.
        string[] tls = overrides.Contains(Tls) ? ClusterCertificates.LoopbackNodeSettings(_folder.File("certificates"), "node") : [];
        var run = TestSettings.TinyRun([.. overrides, .. tls, "repair=on", "population=4", "every-epochs=0.5", "ema-every-steps=3"]);
        using var data = DatasetLoader.Load(run.Settings.Dataset);

        var local = await RunLocally(run, data);
        int[][][] layouts = [[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[0], [1, 2, 3]]];
        // TLS changes the transport under every layout alike: one layout shows it.
        foreach (var layout in overrides.Contains(Tls) ? layouts[..1] : layouts)
        {
            var name = string.Join("-", layout.Select(node => string.Join("", node)));
            var folder = _folder.File(name);
            var (outcome, nodes) = await ClusterNodes.RunInProcessAsync(Quiet(run.Config), data, folder, CommandLines.ResumeAverager(folder), layout, TimeSpan.FromMinutes(3));
            var clustered = Assert.IsType<RunCompleted>(outcome).Results;

            for (var i = 0; i < 4; i++)
            {
                Assert.Equal<float>(local.Members[i].Weights.Values, clustered.Members[i].Weights.Values);
                Assert.Equal(local.Members[i].TestAccuracy, clustered.Members[i].TestAccuracy);
            }
            Assert.Equal<float>(local.AverageSoup.Weights.Values, clustered.AverageSoup.Weights.Values);
            Assert.Equal<float>(local.GreedySoup.Weights.Values, clustered.GreedySoup.Weights.Values);
            Assert.Equal(local.GreedySoup.MembersUsed, clustered.GreedySoup.MembersUsed);
            Assert.Equal(local.EnsembleTestAccuracy, clustered.EnsembleTestAccuracy);
            Assert.All(nodes, n => Assert.True(n.Completed, string.Join("; ", n.Failures)));
            Assert.Equal(File.ReadAllText(_folder.File("local/schedule.jsonl")), File.ReadAllText(_folder.File($"{name}/schedule.jsonl")));
            // The same losses, accuracies around the mixes and feature similarities, measured on other nodes and sent over.
            Assert.Equal(RunFolders.MetricsWithoutTiming(_folder.File("local")), RunFolders.MetricsWithoutTiming(_folder.File(name)));
        }
    }

    [Fact]
    public async Task ANodeForIndicesThatRunElsewhereStandsByWhileTheRunGoesOnAndLateNodesAreFine()
    {
        TorchRuntime.Configure(1);
        var run = TestSettings.TinyRun("population=4", "epochs=3");
        var config = run.Config;
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var averagerNode = Node(config, ClusterNodes.AveragerRole, "averager");
        var address = ClusterExtension.Get(averagerNode).SelfAddress;
        ClusterExtension.Get(averagerNode).Join(address);
        var started = new TaskCompletionSource();
        var observer = averagerNode.ActorOf(Props.Create(() => new OnRunStarted(started)));
        var folder = _folder.File("run");
        var outcome = ClusterNodes.StartAverager(averagerNode, run, data, folder, CommandLines.ResumeAverager(folder), observer);

        Task<MemberNodeFinished> StartNode(IReadOnlyList<int> indices, Action<IMemberNodeEvent>? onEvent = null)
        {
            var node = Node(config, ClusterNodes.MemberRole, "member");
            ClusterExtension.Get(node).Join(address);
            return ClusterNodes.StartMembers(node, indices, devices: null, secret: null, onEvent);
        }
        var firstStarted = new TaskCompletionSource();
        var first = StartNode([0, 1], e => { if (e is MembersStarted) firstStarted.TrySetResult(); });
        // The second node joins once the first runs its members: the Averager waits for it.
        await firstStarted.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var second = StartNode([2, 3]);
        await started.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var standingBy = new TaskCompletionSource<string>();
        var startedOnTheDuplicate = false;
        var duplicate = StartNode([1], e =>
        {
            if (e is MemberNodeNotice notice)
                standingBy.TrySetResult(notice.Text);
            startedOnTheDuplicate |= e is MembersStarted;
        });

        Assert.Equal("member(s) 1 are run by another node: this node stands by until that node is lost", await standingBy.Task.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.IsType<RunCompleted>(await outcome.WaitAsync(TimeSpan.FromMinutes(3)));
        Assert.True((await first.WaitAsync(TimeSpan.FromMinutes(1))).Completed);
        Assert.True((await second.WaitAsync(TimeSpan.FromMinutes(1))).Completed);
        // The standby learns that the run is over when it next asks, and never ran a member.
        var spare = await duplicate.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal((true, false), (spare.Completed, startedOnTheDuplicate));
    }

    private sealed class OnRunStarted : ReceiveActor
    {
        public OnRunStarted(TaskCompletionSource started)
        {
            Receive<RunStarted>(_ => started.TrySetResult());
            ReceiveAny(_ => { });
        }
    }
}
