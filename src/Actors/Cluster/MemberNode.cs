using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Cluster;

/// <summary>
/// The members of one `member` node. It asks the Averager (through the singleton proxy) for the run
/// configuration, so every node trains exactly the run the averager node was given; then it loads the data
/// here, starts its MemberActors on this node's devices, and reports to its observer once they have all
/// stopped (the run ended, or they failed).
/// </summary>
public sealed class MemberNode : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan AskAgain = TimeSpan.FromSeconds(5);
    private readonly IReadOnlyList<int> _indices;
    private readonly IReadOnlyList<string>? _devices;
    private readonly IActorRef _averager;
    private readonly IActorRef _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<string> _failures = [];
    private DataSplits? _data;
    private RunEnded? _ended;
    private int _running;

    public MemberNode(IReadOnlyList<int> indices, IReadOnlyList<string>? devices, IActorRef averager, IActorRef observer)
    {
        _indices = indices;
        _devices = devices;
        _averager = averager;
        _observer = observer;
        Receive<AskForConfig>(_ => _averager.Tell(new RequestRunConfig(Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString())));
        Receive<RunConfigText>(OnConfig);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IReadOnlyList<int> indices, IReadOnlyList<string>? devices, IActorRef averager, IActorRef observer) =>
        Akka.Actor.Props.Create(() => new MemberNode(indices, devices, averager, observer));

    protected override void PreStart() => Timers.StartPeriodicTimer("ask", AskForConfig.Instance, TimeSpan.Zero, AskAgain);

    protected override SupervisorStrategy SupervisorStrategy() =>
        MemberSupervision.Strategy(e => _failures.Add(e is ActorInitializationException { InnerException: { } inner } ? inner.Message : e.Message));

    private void OnConfig(RunConfigText text)
    {
        Timers.Cancel("ask");
        try
        {
            StartMembers(PapaSettings.FromConfig(ConfigurationFactory.ParseString(text.Hocon)));
        }
        catch (Exception e) when (e is ConfigException or DatasetFormatException or ArgumentException or IOException)
        {
            // Without members this node has nothing to do: report why instead of restarting into the same error.
            Finish($"cannot start members {string.Join(", ", _indices)}: {e.Message}");
        }
    }

    private void StartMembers(PapaSettings settings)
    {
        var outside = _indices.Where(i => i < 0 || i >= settings.Population).ToList();
        if (outside.Count > 0)
            throw new ConfigException($"member index(es) {string.Join(", ", outside)} outside the population 0..{settings.Population - 1}");
        var devices = _devices is { Count: > 0 } ? _devices : settings.Devices;
        TorchRuntime.Configure(settings.TorchThreads > 0 ? settings.TorchThreads : TorchRuntime.ThreadsPerProcess(_indices.Count));
        _data = DatasetLoader.Load(settings.Dataset);
        for (var k = 0; k < _indices.Count; k++)
        {
            var member = Context.ActorOf(MemberActor.Props(_indices[k], settings.Training, _data, devices[k % devices.Count], _averager, settings.Faults.Injection), $"member-{_indices[k]}");
            Context.Watch(member);
            _running++;
        }
        _log.Info("started members {0} on {1}", string.Join(", ", _indices), string.Join(", ", devices));
        Become(Running);
    }

    private void Running()
    {
        Receive<RunEnded>(e => _ended = e);
        Receive<Terminated>(_ =>
        {
            if (--_running == 0)
                Finish(null);
        });
        Receive<RunConfigText>(_ => { });
    }

    private void Finish(string? problem)
    {
        var failures = problem is null ? _failures : [.. _failures, problem];
        _observer.Tell(new MemberNodeFinished(_ended?.Completed == true && failures.Count == 0, _ended?.Summary, failures));
        Become(() => ReceiveAny(_ => { }));
    }

    protected override void PostStop() => _data?.Dispose();

    private sealed class AskForConfig : INoSerializationVerificationNeeded
    {
        public static readonly AskForConfig Instance = new();
    }
}

/// <summary>All members of a node have stopped: whether the run completed, its summary, and local failures.</summary>
public sealed record MemberNodeFinished(bool Completed, string? Summary, IReadOnlyList<string> Failures) : INoSerializationVerificationNeeded;
