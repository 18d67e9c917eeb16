using System.Collections.Immutable;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Replay;
using PapaActors.Actors.Run;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Weights;

namespace PapaActors.Tests.Support;

/// <summary>
/// A <see cref="PopulationRun{TPeer}"/> in a scripted world, without actors: members ("member-i"), node reducers
/// ("node-k") and the recorder answer every command as the real ones do, with <see cref="TracerWeights"/>, and a timer
/// goes off only when nothing else is left to deliver. Inputs wait in one queue per sender and each sender's are
/// delivered in order, the senders interleaved as <c>order</c> picks (Akka keeps only each sender's order).
/// </summary>
public sealed class RunWorld
{
    public const string Recorder = "recorder";
    /// <summary>The sender of inputs that are not messages (soups, members that stop, replacements after them).</summary>
    public const string Outside = "outside";

    private readonly Dictionary<string, Queue<RunInput>> _outboxes = [];
    private readonly SortedDictionary<RunTimer, int> _timers = [];
    private readonly Dictionary<string, NodeRound> _nodes = [];
    /// <summary>The step each peer's weights are at: what its states say, so a checkpoint of the wrong moment shows.</summary>
    private readonly Dictionary<string, long> _steps = [];
    private readonly Random? _order;
    private readonly Func<int, int> _nodeOf;
    private Checkpoint? _written;
    private int _replacements;

    /// <param name="nodeOf">Which node runs member i (default: all on node 0).</param>
    /// <param name="order">Picks which sender's next input is delivered; null: the first sender by name.</param>
    public RunWorld(PapaSettings settings, long stepsPerEpoch, Func<int, int>? nodeOf = null, Random? order = null)
    {
        Settings = settings;
        Plan = SchedulePlan.For(settings, stepsPerEpoch);
        _nodeOf = nodeOf ?? (_ => 0);
        _order = order;
        Members = Enumerable.Range(0, settings.Population).Select(i => $"member-{i}").ToArray();
        Run = new PopulationRun<string>(settings, Plan, [0, 1], new RunEnvironment<string>(peer => peer, Time, () => 1 << 20, FirstAttempt: 100, "akka://papa@host:1"));
        foreach (var command in Run.Start())
            React(command);
    }

    public PapaSettings Settings { get; }
    public SchedulePlan Plan { get; }
    public PopulationRun<string> Run { get; }
    public ManualTime Time { get; } = new();
    /// <summary>Every command the run gave, in order.</summary>
    public List<RunCommand> Commands { get; } = [];
    /// <summary>Every event the run told its listener, in order.</summary>
    public List<IRunEvent> Events { get; } = [];
    /// <summary>The peer that runs each member index now.</summary>
    public string[] Members { get; }
    /// <summary>The loss member i reports for round r (default 1); NaN makes it diverge.</summary>
    public Func<int, int, double> Loss { get; set; } = (_, _) => 1.0;

    public int Population => Members.Length;

    public string NodeOf(int member) => $"node-{_nodeOf(member)}";

    /// <summary>The step members are at on the boundary before <paramref name="round"/> (the plan's length: its end).</summary>
    public long StepAt(int round) => round < Plan.Rounds.Count ? Plan.Rounds[round].FirstStep : Plan.Rounds[^1].EndStep;

    /// <summary>Queues an input from <paramref name="sender"/>, after the others it sent.</summary>
    public void Deliver(string sender, RunInput input)
    {
        if (!_outboxes.TryGetValue(sender, out var outbox))
            _outboxes[sender] = outbox = new Queue<RunInput>();
        outbox.Enqueue(input);
    }

    public void Send(string sender, object message) => Deliver(sender, new Received<string>(sender, message));

    /// <summary>Every member registers from its node.</summary>
    public RunWorld RegisterAll()
    {
        for (var i = 0; i < Population; i++)
            Register(i, Members[i]);
        return this;
    }

    public void Register(int member, string peer) =>
        Deliver(peer, new Registration<string>(member, peer, NodeOfPeer(peer), TracerWeights.Layout(Population).Fingerprint));

    /// <summary>A member fails and its supervisor restarts it: it says so, then registers again (fresh) with the same reference.</summary>
    public void RestartMember(int member)
    {
        Send(Members[member], new MemberFailed(member, "scripted failure", Restarting: true));
        Register(member, Members[member]);
    }

    /// <summary>A member's node is lost and another node runs it as <c>member-i-r{n}</c>, once the loss is known.</summary>
    public void ReplaceMember(int member)
    {
        var old = Members[member];
        Members[member] = $"member-{member}-r{++_replacements}";
        Deliver(Outside, new PeerStopped<string>(old, Replaceable: true, NodeUnreachable: true));
        Deliver(Outside, new Registration<string>(member, Members[member], $"node-r{_replacements}", TracerWeights.Layout(Population).Fingerprint));
    }

    /// <summary>Drops the next input of a member or node (a message lost on the network); false when none is waiting.</summary>
    public bool LoseNextInput(Random random)
    {
        var waiting = _outboxes.Where(o => o.Value.Count > 0 && (o.Key.StartsWith("member-") || o.Key.StartsWith("node-"))).Select(o => o.Key).Order().ToList();
        if (waiting.Count == 0)
            return false;
        _outboxes[waiting[random.Next(waiting.Count)]].Dequeue();
        return true;
    }

    /// <summary>Drops the next input <paramref name="sender"/> would deliver.</summary>
    public void Lose(string sender) => _outboxes[sender].Dequeue();

    /// <summary>Delivers everything <paramref name="sender"/> has waiting, now.</summary>
    public void DeliverAllFrom(string sender)
    {
        while (_outboxes.TryGetValue(sender, out var outbox) && outbox.Count > 0)
            Handle(outbox.Dequeue());
    }

    /// <summary>Handles an input (or a message from <paramref name="sender"/>) now, before anything waiting.</summary>
    public void HandleNow(string sender, object message) => Handle(message as RunInput ?? new Received<string>(sender, message));

    /// <summary>Delivers one input, or fires a timer when none is waiting; false when there is neither.</summary>
    public bool Step()
    {
        var waiting = _outboxes.Where(o => o.Value.Count > 0).Select(o => o.Key).Order().ToList();
        if (waiting.Count > 0)
        {
            var sender = _order is null ? waiting[0] : waiting[_order.Next(waiting.Count)];
            Handle(_outboxes[sender].Dequeue());
            return true;
        }
        if (_timers.Count == 0)
            return false;
        var (timer, round) = _timers.First();
        _timers.Remove(timer);
        Time.Advance(timer == RunTimer.Round ? Settings.RoundTimeout : Settings.Faults.ReplacementTimeout);
        Handle(new TimedOut(timer, round));
        return true;
    }

    /// <summary>Steps until the run is over; fails when it is stuck (nothing to deliver, no timer) or takes too long.</summary>
    public RunWorld RunToEnd(int maxSteps = 20_000)
    {
        for (var steps = 0; Run.Phase != RunPhase.Stopped; steps++)
        {
            if (steps == maxSteps)
                throw new InvalidOperationException($"the run did not end within {maxSteps} steps (phase {Run.Phase}, round {Run.Round})");
            if (!Step())
                throw new InvalidOperationException($"the run is stuck: nothing to deliver and no timer, in phase {Run.Phase}, round {Run.Round}");
        }
        return this;
    }

    public IEnumerable<T> Sent<T>() => Commands.Select(c => c switch { Send<string> s => s.Message, Transfer<string> t => t.Message, _ => null }).OfType<T>();

    public T Event<T>() where T : IRunEvent => Events.OfType<T>().Single();

    private void Handle(RunInput input)
    {
        var commands = Run.Handle(input);
        Commands.AddRange(commands);
        foreach (var command in commands)
            React(command);
    }

    /// <summary>What the members, nodes, recorder, soups and timers do with a command.</summary>
    private void React(RunCommand command)
    {
        switch (command)
        {
            case Send<string> { Message: Train train } send:
                OnTrain(send.To, train);
                break;
            case Send<string> { Message: CombineRound combine } send:
                NodeAt(send.To).Asked = combine;
                Answer(send.To);
                break;
            case Send<string> { Message: CaptureState capture } send when IndexOf(send.To) is { } member:
                Send(send.To, new StateCaptured(capture.Round, TracerWeights.State(member, Population) with { Step = _steps.GetValueOrDefault(send.To) }));
                break;
            case Send<string> { Message: Finish } send when IndexOf(send.To) is { } member:
                Send(send.To, new MemberFinal(member, TracerWeights.For(member, Population), 0.8, 0.5, [1, 0, 0, 1], TracerWeights.Statistics(member, Population)));
                break;
            case Transfer<string> { Message: RestoreState restore } transfer when IndexOf(transfer.To) is { } member:
                _steps[transfer.To] = restore.State?.Step ?? 0;
                Send(transfer.To, new StateRestored(member, restore.Round));
                break;
            case Notify { Event: var e }:
                OnEvent(e);
                break;
            case StartTimer start:
                _timers[start.Timer] = start.Round;
                break;
            case CancelTimer cancel:
                _timers.Remove(cancel.Timer);
                break;
            case CancelAllTimers:
                _timers.Clear();
                break;
            case StartSoups<string> soups:
                var mean = PartialSum.Of(soups.Finals.Select(f => f.Weights).ToList()).Mean();
                var members = soups.Finals.Select(f => f.Member).ToList();
                Deliver(Outside, new SoupsDone(new SoupActor.SoupsReady(0.9, new SoupResult("average", 0.85, 0.5, members, mean),
                    new SoupResult("greedy", 0.86, 0.5, members, mean))));
                break;
        }
    }

    private void OnEvent(IRunEvent e)
    {
        Events.Add(e);
        switch (e)
        {
            case CheckpointDue due:
                _written = due.Checkpoint;
                Send(Recorder, new CheckpointWritten(due.Checkpoint.Round, $"checkpoints/round-{due.Checkpoint.Round}", 0, 0));
                break;
            case RollBack back:
                Send(Recorder, new RollbackReady(back.Round is null ? null : _written));
                break;
        }
    }

    /// <summary>A member trains: a report without weights goes to the run, one with a snapshot to its node's reducer.</summary>
    private void OnTrain(string peer, Train train)
    {
        if (IndexOf(peer) is not { } member)
            return;
        var loss = Loss(member, train.Round);
        _steps[peer] = Plan.Rounds[train.Round].EndStep;
        var report = new Trained(member, train.Round, Plan.Rounds[train.Round].EndStep, loss, 0.1, train.Steps * 8L, 0.01,
            train.EvaluateHeldOut ? 0.5 : null, train.SendSnapshot ? TracerWeights.For(member, Population) : null,
            train.MeasureRepairStatistics ? TracerWeights.Statistics(member, Population) : null, Attempt: train.Attempt);
        if (report.Snapshot is null)
        {
            Send(peer, report);
            return;
        }
        var node = NodeOfPeer(peer);
        NodeAt(node).Reports.Add(report);
        Answer(node);
    }

    /// <summary>A node reducer answers once it was asked and has every asked member's report of that attempt and round.</summary>
    private void Answer(string node)
    {
        var round = NodeAt(node);
        if (round.Asked is not { } asked)
            return;
        var reports = round.Reports.Where(r => r.Attempt == asked.Attempt && r.Round == asked.Round && asked.Members.Contains(r.Member))
            .DistinctBy(r => r.Member).OrderBy(r => r.Member).ToList();
        if (reports.Count < asked.Members.Length)
            return;
        var snapshots = reports.Where(r => !r.Diverged).ToDictionary(r => r.Member, r => r.Snapshot!);
        var sum = asked.Sum && snapshots.Count > 0 ? PartialSum.Of(snapshots.Values.ToList()) : null;
        var children = asked.UploadChildren.Where(p => snapshots.ContainsKey(p.First) && snapshots.ContainsKey(p.Second))
            .ToDictionary(p => p, p => WeightMath.Child(snapshots[p.First], snapshots[p.Second]));
        _nodes.Remove(node);
        Send(node, new NodeTrained(asked.Attempt, asked.Round, [.. reports.Select(r => r with { Snapshot = null })], sum,
            asked.UploadSnapshots.Where(snapshots.ContainsKey).ToDictionary(m => m, m => snapshots[m]).ToImmutableDictionary(),
            children.ToImmutableDictionary()));
    }

    private NodeRound NodeAt(string node) => _nodes.TryGetValue(node, out var round) ? round : _nodes[node] = new NodeRound();

    private string NodeOfPeer(string peer)
    {
        var replacement = peer.LastIndexOf("-r", StringComparison.Ordinal);
        return replacement > "member".Length ? $"node-r{peer[(replacement + 2)..]}" : NodeOf(IndexOf(peer)!.Value);
    }

    /// <summary>The index a peer runs now (null: a peer that was replaced).</summary>
    private int? IndexOf(string peer) => Array.IndexOf(Members, peer) is var i and >= 0 ? i : null;

    private sealed class NodeRound
    {
        public CombineRound? Asked { get; set; }
        public List<Trained> Reports { get; } = [];
    }
}

/// <summary>A clock that moves only when told to.</summary>
public sealed class ManualTime : TimeProvider
{
    private long _ticks;

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(_ticks);

    public override long GetTimestamp() => _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => _ticks += by.Ticks;
}
