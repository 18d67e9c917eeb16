using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Security;

namespace PapaActors.Actors.Cluster;

/// <summary>
/// The cluster singleton on the `averager` role: hands the run configuration to member nodes, and runs the
/// <see cref="AveragerActor"/> and the <see cref="RunRecorder"/> on its node. Members reach it through a
/// ClusterSingletonProxy; it forwards their registrations and failure reports to the Averager with the
/// member as sender, so from there on members and Averager talk directly.
/// It is the run's gate: a node of another protocol version is refused, and with a run secret a node gets the
/// configuration, and a member its registration, only with a proof of the secret over a fresh nonce; other
/// messages are taken only from nodes that proved it, and a cluster member that has not proved it within
/// `papa.cluster.prove-within` is downed.
/// A coordinator that stops or restarts ends the run as failed (the run folder keeps its checkpoints, and
/// `papa node --role averager --resume` continues it): it never starts the run again with empty state.
/// </summary>
public sealed class RunCoordinator : ReceiveActor, IWithTimers
{
    // Bounds what strangers asking for challenges can make this actor hold.
    private const int MaxOpenChallenges = 1024;
    private readonly IActorRef _observer;
    private readonly IActorRef _averager;
    private readonly string _runConfigText;
    private readonly RunSecret? _secret;
    private readonly TimeSpan _proveWithin;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    /// <summary>Nonces handed out and not yet answered, and until when an answer is taken.</summary>
    private readonly Dictionary<string, DateTime> _challenges = [];
    /// <summary>Nodes that proved the secret (every node when there is none).</summary>
    private readonly HashSet<Address> _proven = [];
    private string? _stopCause;

    /// <param name="resumeCommand">What continues the run should it end unfinished (see <see cref="RunRecorder"/>).</param>
    public RunCoordinator(RunConfig run, SchedulePlan plan, int[] testLabels, string folder, string resumeCommand, IActorRef observer, RunStart start,
        RunSecret? secret = null)
    {
        _observer = observer;
        _runConfigText = run.Text;
        _secret = secret;
        _proveWithin = run.Settings.Secret.ProveWithin;
        _strangers = new StrangerLog(_log);
        var recorder = Context.ActorOf(RunRecorder.Props(folder, run, observer, resumeCommand, start.Resuming, start.Checkpoint), "recorder");
        _averager = Context.ActorOf(AveragerActor.Props(run.Settings, plan, testLabels, recorder, start.Checkpoint), "averager");
        Context.Watch(_averager);
        Receive<RequestRunConfig>(OnConfigRequest);
        Receive<RegisterMember>(OnRegistration);
        Receive<RequestMissingMembers>(FromProvenNode, _averager.Forward);
        Receive<MemberFailed>(FromProvenNode, _averager.Forward);
        Receive<Interrupt>(_averager.Forward); // no wire format (no codec, JSON refused): only this process can send it
        Receive<ClusterEvent.MemberUp>(up => !up.Member.Address.Equals(Akka.Cluster.Cluster.Get(Context.System).SelfAddress),
            up => Timers.StartSingleTimer(up.Member.Address, new ProofDue(up.Member.Address), _proveWithin));
        Receive<ClusterEvent.MemberUp>(_ => { }); // this node
        Receive<ProofDue>(due => DownUnproven(due.Node));
        Receive<Terminated>(t => t.ActorRef.Equals(_averager), _ => observer.Tell(new RunFailed($"the averager stopped: {_stopCause ?? "unknown cause"}")));
        ReceiveAny(m => _strangers.Drop(m, Sender));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(RunConfig run, SchedulePlan plan, int[] testLabels, string folder, string resumeCommand, IActorRef observer, RunStart start,
        RunSecret? secret = null) =>
        Akka.Actor.Props.Create(() => new RunCoordinator(run, plan, testLabels, folder, resumeCommand, observer, start, secret));

    protected override void PreStart()
    {
        if (_secret is not null)
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberUp));
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        MemberSupervision.Strategy(cause => _stopCause = cause);

    protected override void PostRestart(Exception reason)
    {
        _observer.Tell(new RunFailed($"the run coordinator failed ({reason.GetType().Name}: {reason.Message}); resume the run from its last checkpoint"));
        Context.Stop(Self);
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void OnConfigRequest(RequestRunConfig request)
    {
        if (Refusal(request.ProtocolVersion, request.Proof, RunSecret.ConfigRequest(request)) is { } refusal)
        {
            _log.Warning("refusing the run configuration to {0}: {1}", request.Node, refusal);
            Sender.Tell(new RunConfigRefused(refusal));
            return;
        }
        if (_secret is not null && request.Proof is null)
        {
            Challenge(request);
            return;
        }
        _proven.Add(Sender.Path.Address);
        Sender.Tell(new RunConfigText(_runConfigText));
    }

    private void OnRegistration(RegisterMember registration)
    {
        if (Refusal(registration.ProtocolVersion, registration.Proof, RunSecret.Registration(registration)) is { } refusal)
        {
            _log.Warning("refusing registration of member {0} from {1}: {2}", registration.Index, Sender.Path, refusal);
            Sender.Tell(new MemberRejected(registration.Index, refusal));
        }
        else if (_secret is not null && registration.Proof is null)
            Challenge(registration);
        else
            _averager.Forward(registration);
    }

    /// <summary>Why a request is refused: another protocol version, or a proof that is not of this run's secret and an open nonce.</summary>
    private string? Refusal(int version, SecretProof? proof, string request)
    {
        if (version != WireProtocol.Version)
            return $"the node speaks protocol version {version}, this run's averager version {WireProtocol.Version}: run the same build of papa on every node";
        if (proof is null)
            return null;
        if (_secret is null)
            return "the node proves a run secret, but this run has none: set the same papa.cluster.secret-file (or PAPA_CLUSTER_SECRET) on every node, or none";
        var open = _challenges.Remove(proof.Nonce, out var until) && until > DateTime.UtcNow;
        return open && _secret.Verifies(proof, request) ? null : "wrong run secret (or a stale proof): the node's papa.cluster.secret-file (or PAPA_CLUSTER_SECRET) must hold the averager's secret";
    }

    private void Challenge(object request)
    {
        var now = DateTime.UtcNow;
        foreach (var stale in _challenges.Where(c => c.Value <= now).Select(c => c.Key).ToList())
            _challenges.Remove(stale);
        if (_challenges.Count >= MaxOpenChallenges)
        {
            _strangers.Drop(request, Sender); // too many open challenges
            return;
        }
        var nonce = RunSecret.NewNonce();
        _challenges[nonce] = now + _proveWithin;
        Sender.Tell(new SecretChallenge(nonce));
    }

    private bool FromProvenNode(object message)
    {
        if (_secret is null || _proven.Contains(Sender.Path.Address) || TrustedSenders.IsOfThisNode(Context.System, Sender))
            return true;
        _strangers.Drop(message, Sender);
        return false;
    }

    /// <summary>A stranger must not sit in the cluster: it would see every node and take part in its gossip.</summary>
    private void DownUnproven(Address node)
    {
        if (_proven.Contains(node))
            return;
        _log.Warning("downing {0}: it did not prove the run secret within {1} (papa.cluster.prove-within)", node, _proveWithin);
        Akka.Cluster.Cluster.Get(Context.System).Down(node);
    }

    private sealed record ProofDue(Address Node) : INoSerializationVerificationNeeded;
}
