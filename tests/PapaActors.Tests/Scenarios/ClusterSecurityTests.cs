using System.Collections.Immutable;
using System.Collections.Concurrent;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using PapaActors.Actors.Security;
using PapaActors.Actors;
using PapaActors.Actors.Cluster;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Host;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using ClusterExtension = Akka.Cluster.Cluster;

namespace PapaActors.Tests.Scenarios;

/// <summary>
/// Strangers on the network against a real cluster on 127.0.0.1 (Akka.Remote, every message serialized): nodes
/// without the run secret, a foreign actor system that sends members, reducer and averager forged messages, and a
/// node of another protocol version. The run they try to disturb ends with the local run's bits.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClusterSecurityTests : IDisposable
{
    private const string Secret = "a run secret of the tests, 0123456789abcdef";
    private readonly List<ActorSystem> _systems = [];
    private readonly TempFolder _folder = new();

    public void Dispose()
    {
        Task.WhenAll(_systems.Select(s => s.Terminate())).Wait(TimeSpan.FromSeconds(30));
        _folder.Dispose();
    }

    /// <summary>Every message serialized, also between local actors; warnings and errors on the console.</summary>
    private static PapaSystemSetup Quiet(Config run) => new(run) { SerializeEveryMessage = true, Logging = SystemLogging.QuietConsole };

    private ActorSystem Node(Config runConfig, string role)
    {
        var system = (Quiet(runConfig) with { Remote = NodeEndpoint.Loopback, ClusterRole = role }).Create(ClusterNodes.SystemName);
        _systems.Add(system);
        return system;
    }

    /// <summary>An actor system that is not in the cluster, but reaches its nodes over Akka.Remote with our serializer.</summary>
    private ActorSystem Foreign(Config runConfig)
    {
        var system = (Quiet(runConfig) with { Remote = NodeEndpoint.Loopback }).Create("stranger");
        _systems.Add(system);
        return system;
    }

    private (ActorSystem System, Task<MemberNodeFinished> Finished) MemberNode(Config config, Address seed, IReadOnlyList<int> indices, RunSecret? secret,
        Action<IMemberNodeEvent>? onEvent = null)
    {
        var node = Node(config, ClusterNodes.MemberRole);
        ClusterExtension.Get(node).Join(seed);
        return (node, ClusterNodes.StartMembers(node, indices, devices: null, secret, onEvent));
    }

    private (ActorSystem System, Address Address, Task<IRunEvent> Outcome) Averager(RunConfig run, DataSplits data, string folder)
    {
        var system = Node(run.Config, ClusterNodes.AveragerRole);
        var address = ClusterExtension.Get(system).SelfAddress;
        ClusterExtension.Get(system).Join(address);
        return (system, address, ClusterNodes.StartAverager(system, run, data, folder, CommandLines.ResumeAverager(folder)));
    }

    private async Task<RunResults> RunLocally(RunConfig run, DataSplits data)
    {
        var system = Quiet(run.Config).Create("local");
        _systems.Add(system);
        var folder = _folder.File("local");
        var outcome = await LocalPopulation.RunAsync(system, run, data, folder, CommandLines.Resume(folder)).WaitAsync(Timeouts.Run);
        return Assert.IsType<RunCompleted>(outcome).Results;
    }

    private static void AssertSameBits(RunResults expected, RunResults actual)
    {
        for (var i = 0; i < expected.Members.Count; i++)
            Assert.Equal<float>(expected.Members[i].Weights.Values, actual.Members[i].Weights.Values);
        Assert.Equal<float>(expected.AverageSoup.Weights.Values, actual.AverageSoup.Weights.Values);
        Assert.Equal<float>(expected.GreedySoup.Weights.Values, actual.GreedySoup.Weights.Values);
    }

    [Fact]
    public async Task NodesWithoutTheSecretOrWithAWrongOneAreRefusedAndDownedAndTheRunEndsWithTheLocalRunsBitsAndNoTraceOfTheSecret()
    {
        TorchRuntime.Configure(1);
        var secretFile = _folder.File("secret");
        File.WriteAllText(secretFile, Secret + "\n");
        var wrongFile = _folder.File("wrong-secret");
        File.WriteAllText(wrongFile, "another secret of sixteen bytes or more");
        var run = TestSettings.TinyRun($"cluster.secret-file={secretFile}", "cluster.prove-within=5s");
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var local = await RunLocally(run, data);

        var (_, address, outcome) = Averager(run, data, _folder.File("run"));
        var (strangerWithout, withoutSecret) = MemberNode(TestSettings.TinyConfig(), address, [0], secret: null);
        var (strangerWrong, withWrongSecret) = MemberNode(run.Config, address, [1], RunSecret.Load(wrongFile));
        Assert.Equal(["the averager requires the run secret: give this node the run's papa.cluster.secret-file (or PAPA_CLUSTER_SECRET)"],
            (await withoutSecret.WaitAsync(Timeouts.Run)).Failures);
        Assert.Contains("the averager refused this node: wrong run secret", Assert.Single((await withWrongSecret.WaitAsync(Timeouts.Run)).Failures));
        var (_, members) = MemberNode(run.Config, address, [0, 1, 2], RunSecret.Load(secretFile));

        AssertSameBits(local, Assert.IsType<RunCompleted>(await outcome.WaitAsync(Timeouts.Run)).Results);
        Assert.True((await members.WaitAsync(Timeouts.Run)).Completed);
        // The refused nodes stayed in the cluster without proving the secret: they were downed.
        await Task.WhenAll(new[] { strangerWithout, strangerWrong }.Select(Removed)).WaitAsync(Timeouts.Run);
        var secret = Encoding.UTF8.GetBytes(Secret);
        Assert.All(Directory.GetFiles(_folder.File("run"), "*", SearchOption.AllDirectories),
            file => Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(secret) < 0, $"{file} holds the run secret"));
    }

    [Fact]
    public async Task ForgedMixesTrainsAndReportsFromAForeignActorSystemAreDroppedAndTheRunEndsWithTheLocalRunsBits()
    {
        TorchRuntime.Configure(1);
        var run = TestSettings.TinyRun();
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var local = await RunLocally(run, data);
        WeightSnapshot poison;
        using (var model = new MemberModel(0, run.Settings.Training, data, Devices.Resolve("cpu")))
            poison = new WeightSnapshot(model.Layout, Enumerable.Repeat(float.NaN, (int)model.Layout.TotalLength).ToImmutableArray());

        var (averagerNode, address, outcome) = Averager(run, data, _folder.File("run"));
        var started = new TaskCompletionSource();
        var (memberNode, members) = MemberNode(run.Config, address, [0, 1, 2], secret: null, e =>
        {
            if (e is MembersStarted)
                started.TrySetResult();
        });
        var drops = new ConcurrentBag<string>();
        foreach (var system in new[] { averagerNode, memberNode })
            system.EventStream.Subscribe(system.ActorOf(Props.Create(() => new DropCollector(drops))), typeof(Warning));
        await started.Task.WaitAsync(Timeouts.Run);

        // Each kind of message from its own actor of the foreign system; the mixes three times each.
        var stranger = Foreign(run.Config);
        IActorRef Sender() => stranger.ActorOf(Props.Create(() => new Silent()));
        var (mixer, trainer, ender, reducerSteerer, reporter) = (Sender(), Sender(), Sender(), Sender(), Sender());
        var nodeAddress = ClusterExtension.Get(memberNode).SelfAddress;
        for (var i = 0; i < 3; i++)
        {
            var member = stranger.ActorSelection($"{nodeAddress}/user/members/member-{i}");
            for (var copy = 0; copy < 3; copy++)
                member.Tell(new Mix(0, poison, 0, null), mixer);
            member.Tell(new Train(0, 5, SendSnapshot: false, EvaluateHeldOut: false), trainer);
            member.Tell(new RunEnded(false, "forged"), ender);
        }
        // Sent without a sender, a message from the network comes from the receiver's deadLetters, a local address. (To the
        // resolved reference: a selection would take the calling thread's actor, here the TestKit's, as the sender.)
        var firstMember = await stranger.ActorSelection($"{nodeAddress}/user/members/member-0").ResolveOne(Timeouts.Run);
        firstMember.Tell(new RunEnded(false, "forged without a sender"), ActorRefs.NoSender);
        var reducer = stranger.ActorSelection($"{nodeAddress}/user/members/reducer");
        reducer.Tell(new CombineRound(0, 0, [0, 1, 2], Sum: true, [], [], []), reducerSteerer);
        reducer.Tell(new NodeMix(0, 0, poison, [new MemberMix(0, 0, null, null)], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty), reducerSteerer);
        stranger.ActorSelection($"{address}/user/averager/coordinator/averager").Tell(new Trained(0, 0, 1, 0.1, 0.1, 30, 0.1, null, null), reporter);

        AssertSameBits(local, Assert.IsType<RunCompleted>(await outcome.WaitAsync(Timeouts.Run)).Results);
        Assert.True((await members.WaitAsync(Timeouts.Run)).Completed);
        int Drops(string message, IActorRef from, string at) =>
            drops.Count(d => d.Contains(at) && d.Contains($"dropping {message} from ") && d.Contains($"{from.Path.ToStringWithoutAddress()}, which"));
        for (var i = 0; i < 3; i++)
            Assert.Equal((1, 1, 1), (Drops("Mix", mixer, $"member-{i}"), Drops("Train", trainer, $"member-{i}"), Drops("RunEnded", ender, $"member-{i}")));
        // Logged once per sender: the reducer's NodeMix came from the actor that sent it a CombineRound first.
        Assert.Equal((1, 0, 1), (Drops("CombineRound", reducerSteerer, "reducer"), Drops("NodeMix", reducerSteerer, "reducer"), Drops("Trained", reporter, "averager")));
        Assert.True(drops.Any(d => d.Contains("member-0") && d.Contains("dropping RunEnded from akka://papa/deadLetters")), string.Join("\n", drops));
    }

    [Fact]
    public async Task ANodeOfAnotherProtocolVersionIsRefusedNamingBothVersionsAndAProofOfTheSecretAnswersOneChallengeOnly()
    {
        var secretFile = _folder.File("secret");
        File.WriteAllText(secretFile, Secret);
        var run = TestSettings.TinyRun($"cluster.secret-file={secretFile}");
        using var data = DatasetLoader.Load(run.Settings.Dataset);
        var (_, address, _) = Averager(run, data, _folder.File("run"));
        var coordinator = await Reach(Foreign(run.Config), $"{address}/user/averager/coordinator");
        Task<object> Ask(object message) => coordinator.Ask<object>(message, Timeouts.Run);
        const int other = WireProtocol.Version + 1;
        var versions = $"the node speaks protocol version {other}, this run's averager version {WireProtocol.Version}: run the same build of papa on every node";

        Assert.Equal(new RunConfigRefused(versions), await Ask(new RequestRunConfig("node", other)));
        Assert.Equal(new MemberRejected(-1, versions), await Ask(new RegisterMember(0, ActorRefs.Nobody, "layout", ActorRefs.Nobody, other)));

        var request = new RequestRunConfig("node");
        var challenge = Assert.IsType<SecretChallenge>(await Ask(request));
        var proof = RunSecret.Load(secretFile)!.Prove(challenge.Nonce, RunSecret.ConfigRequest(request));
        Assert.Equal(run.Text, Assert.IsType<RunConfigText>(await Ask(request with { Proof = proof })).Hocon);
        Assert.Contains("wrong run secret (or a stale proof)", Assert.IsType<RunConfigRefused>(await Ask(request with { Proof = proof })).Reason);
        var forged = new SecretProof(Assert.IsType<SecretChallenge>(await Ask(request)).Nonce, proof.Mac);
        Assert.Contains("wrong run secret", Assert.IsType<RunConfigRefused>(await Ask(request with { Proof = forged })).Reason);
    }

    private static Task Removed(ActorSystem node)
    {
        var removed = new TaskCompletionSource();
        ClusterExtension.Get(node).RegisterOnMemberRemoved(removed.SetResult);
        return removed.Task;
    }

    /// <summary>The actor at <paramref name="path"/>, once it exists (the singleton starts a moment after its node is up).</summary>
    private static async Task<IActorRef> Reach(ActorSystem from, string path)
    {
        var deadline = DateTime.UtcNow + Timeouts.Run;
        while (true)
        {
            var identity = await from.ActorSelection(path).Ask<ActorIdentity>(new Identify(null), Timeouts.Run);
            if (identity.Subject is { } found)
                return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no actor at {path} within {Timeouts.Run}");
            await Task.Delay(100);
        }
    }

    private sealed class Silent : ReceiveActor
    {
        public Silent() => ReceiveAny(_ => { });
    }

    /// <summary>Collects the text of warnings that say a message was dropped.</summary>
    private sealed class DropCollector : ReceiveActor
    {
        public DropCollector(ConcurrentBag<string> drops) =>
            Receive<Warning>(w => $"{w.Message}".StartsWith("dropping", StringComparison.Ordinal), w => drops.Add($"{w.LogSource}: {w.Message}"));
    }
}
