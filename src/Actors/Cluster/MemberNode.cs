using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Security;
using PapaActors.Models;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Cluster;

/// <summary>
/// The members of one `member` node. It asks the Averager (through the singleton proxy) for the run
/// configuration, so every node trains exactly the run the averager node was given; then which member indices
/// it may run: its own once no other node runs them (a replacement waits until the lost node was downed), or
/// with `--members auto` whatever is missing. Then it loads the data, starts its MemberActors on this node's
/// devices, and tells its observer when they have started and when they have all stopped (the run ended, or
/// they failed), or that the averager's node left the cluster before the run ended. With a run secret it proves
/// it when challenged; a refusal (another protocol version, a wrong or missing secret) ends the node with its reason.
/// </summary>
public sealed class MemberNode : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan AskForConfigAgain = TimeSpan.FromSeconds(5);
    // Short: a replacement should train again soon after the lost node is downed.
    private static readonly TimeSpan AskForIndicesAgain = TimeSpan.FromSeconds(1);
    private readonly IReadOnlyList<int>? _wanted;
    private readonly IReadOnlyList<string>? _devices;
    private readonly IActorRef _averager;
    private readonly IActorRef _observer;
    private readonly RunSecret? _secret;
    private readonly string _node;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    private readonly List<string> _failures = [];
    private DataSplits? _data;
    private RunEnded? _ended;
    private int _running;

    /// <param name="wanted">The member indices to run, or null for whatever is missing (`--members auto`).</param>
    public MemberNode(IReadOnlyList<int>? wanted, IReadOnlyList<string>? devices, IActorRef averager, IActorRef observer, RunSecret? secret = null)
    {
        _wanted = wanted;
        _devices = devices;
        _averager = averager;
        _observer = observer;
        _secret = secret;
        _node = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();
        _strangers = new StrangerLog(_log);
        DropStrangers();
        Receive<AskForConfig>(_ => _averager.Tell(new RequestRunConfig(_node)));
        Receive<SecretChallenge>(OnChallenge);
        Receive<RunConfigRefused>(r => Finish($"the averager refused this node: {r.Reason}"));
        Receive<RunConfigText>(OnConfig);
        ReceiveAveragerLeaving();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IReadOnlyList<int>? wanted, IReadOnlyList<string>? devices, IActorRef averager, IActorRef observer, RunSecret? secret = null) =>
        Akka.Actor.Props.Create(() => new MemberNode(wanted, devices, averager, observer, secret)).WithDispatcher(ComputeDispatcher.Id); // it loads the dataset in a receive

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("ask", AskForConfig.Instance, TimeSpan.Zero, AskForConfigAgain);
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        MemberSupervision.Strategy(_failures.Add);

    private void OnChallenge(SecretChallenge challenge)
    {
        if (_secret is null)
        {
            Finish("the averager requires the run secret: give this node the run's papa.cluster.secret-file (or PAPA_CLUSTER_SECRET)");
            return;
        }
        var request = new RequestRunConfig(_node);
        _averager.Tell(request with { Proof = _secret.Prove(challenge.Nonce, RunSecret.ConfigRequest(request)) });
    }

    private void OnConfig(RunConfigText text)
    {
        Timers.Cancel("ask");
        PapaSettings settings;
        try
        {
            settings = PapaSettings.FromConfig(ConfigurationFactory.ParseString(text.Hocon));
            var outside = (_wanted ?? []).Where(i => i >= settings.Population).ToList();
            if (outside.Count > 0)
                throw new ConfigException($"member index(es) {string.Join(", ", outside)} outside the population 0..{settings.Population - 1}");
        }
        catch (ConfigException e)
        {
            // Without members this node has nothing to do: report why instead of asking again forever.
            Finish($"cannot start members: {e.Message}");
            return;
        }
        Become(() => AwaitingIndices(settings));
        Timers.StartPeriodicTimer("ask", AskForIndices.Instance, TimeSpan.Zero, AskForIndicesAgain);
    }

    private void AwaitingIndices(PapaSettings settings)
    {
        var standingBy = false;
        DropStrangers();
        Receive<AskForIndices>(_ => _averager.Tell(new RequestMissingMembers(_node, _wanted?.ToImmutableArray())));
        Receive<MissingMembers>(m => m.Indices.IsEmpty && !standingBy, _ =>
        {
            standingBy = true;
            _observer.Tell(new MemberNodeNotice(_wanted is null
                ? "no member index is missing: this node stands by until one is"
                : $"member(s) {string.Join(", ", _wanted)} are run by another node: this node stands by until that node is lost"));
        });
        Receive<MissingMembers>(m => !m.Indices.IsEmpty, m =>
        {
            Timers.Cancel("ask");
            try
            {
                StartMembers(settings, m.Indices);
            }
            catch (Exception e) when (e is ConfigException or DatasetFormatException or ArgumentException or IOException)
            {
                Finish($"cannot start members {string.Join(", ", m.Indices)}: {e.Message}");
            }
        });
        Receive<MissingMembers>(_ => { });
        Receive<RunEnded>(e =>
        {
            _ended = e;
            Finish(null);
        });
        Receive<RunConfigText>(_ => { });
        Receive<SecretChallenge>(_ => { }); // for a request sent again before the config came
        ReceiveAveragerLeaving();
    }

    private void StartMembers(PapaSettings settings, IReadOnlyList<int> indices)
    {
        var devices = _devices is { Count: > 0 } ? _devices : settings.Devices;
        TorchRuntime.Configure(TorchRuntime.ThreadsFor(settings.TorchThreads, indices.Count));
        _data = DatasetLoader.Load(settings.Dataset);
        var reducer = Context.ActorOf(NodeReducer.Props(), "reducer");
        for (var k = 0; k < indices.Count; k++)
        {
            var member = Context.ActorOf(MemberActor.Props(indices[k], settings.Training, _data, devices[k % devices.Count], _averager, reducer, settings.Faults.Injection, _secret), $"member-{indices[k]}");
            Context.Watch(member);
            _running++;
        }
        _log.Info("started members {0} on {1}", string.Join(", ", indices), string.Join(", ", devices));
        _observer.Tell(new MembersStarted(indices, settings.Faults.ReplacementTimeout));
        Become(Running);
    }

    private void Running()
    {
        DropStrangers();
        Receive<RunEnded>(e => _ended = e);
        Receive<Terminated>(_ =>
        {
            if (--_running == 0)
                Finish(null);
        });
        Receive<RunConfigText>(_ => { });
        Receive<MissingMembers>(_ => { });
        ReceiveAveragerLeaving();
    }

    /// <summary>First in every behaviour: the run's answers count only from the averager's node (and this node's members).</summary>
    private void DropStrangers() =>
        Receive<IPapaMessage>(_ => !TrustedSenders.MaySteer(Context.System, Sender), m => _strangers.Drop(m, Sender));

    /// <summary>The averager's node left the cluster (or was downed) before the run ended: the host rejoins or gives up.</summary>
    private void ReceiveAveragerLeaving()
    {
        Receive<ClusterEvent.MemberRemoved>(r => r.Member.HasRole(ClusterNodes.AveragerRole) && _ended is null,
            r => Finish($"the averager node {r.Member.Address} left the cluster before the run ended", averagerLost: true));
        Receive<ClusterEvent.MemberRemoved>(_ => { });
    }

    private void Finish(string? problem, bool averagerLost = false)
    {
        Timers.CancelAll();
        var failures = problem is null ? _failures : [.. _failures, problem];
        _observer.Tell(new MemberNodeFinished(_ended?.Completed == true && failures.Count == 0, _ended?.Summary, failures, averagerLost));
        Become(() => ReceiveAny(_ => { }));
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        _data?.Dispose();
    }

    private sealed class AskForConfig : INoSerializationVerificationNeeded
    {
        public static readonly AskForConfig Instance = new();
    }

    private sealed class AskForIndices : INoSerializationVerificationNeeded
    {
        public static readonly AskForIndices Instance = new();
    }
}

/// <summary>What a member node tells its host.</summary>
public interface IMemberNodeEvent : INoSerializationVerificationNeeded;

/// <summary>A line for the node's console.</summary>
public sealed record MemberNodeNotice(string Text) : IMemberNodeEvent;

/// <summary>The node runs these members; <paramref name="ReplacementTimeout"/> is how long the run waits for a lost node.</summary>
public sealed record MembersStarted(IReadOnlyList<int> Indices, TimeSpan ReplacementTimeout) : IMemberNodeEvent;

/// <summary>
/// All members of a node have stopped, or it never got any: whether the run completed, its summary, local
/// failures, and whether the averager's node was lost before the run ended (the node may rejoin).
/// </summary>
public sealed record MemberNodeFinished(bool Completed, string? Summary, IReadOnlyList<string> Failures, bool AveragerLost = false) : IMemberNodeEvent;
