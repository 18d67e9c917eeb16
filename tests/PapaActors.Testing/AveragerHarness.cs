using Akka.Actor;
using Akka.TestKit;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Replay;
using PapaActors.Actors.Schedule;

namespace PapaActors.Testing;

/// <summary>
/// The real <see cref="AveragerActor"/> with TestProbes in place of members: no model, no data, no training.
/// The test plays the members (answering Train with chosen losses and <see cref="TracerWeights"/>) and observes
/// every message the Averager sends, in order. The members share one real <see cref="NodeReducer"/>, as in a
/// local run: snapshots go to it, and mixes come from it. The listener probe sees the run events (RunStarted,
/// RoundCompleted, RunCompleted, RunFailed). Configure the TestKit with <see cref="PapaTestKitConfig"/> for
/// serialized messages and virtual time.
/// </summary>
public sealed class AveragerHarness
{
    /// <summary>How long to wait for a message the Averager must send: long enough for a busy machine, never reached by a passing test.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static int _instances;
    private readonly TestKitBase _kit;
    private readonly IReadOnlyList<List<object>> _heldBack;

    /// <summary>A harness for the run settings the TestKit's ActorSystem was configured with.</summary>
    public AveragerHarness(TestKitBase kit, long stepsPerEpoch) : this(kit, PapaTestKitConfig.Settings(kit.Sys), stepsPerEpoch)
    {
    }

    public AveragerHarness(TestKitBase kit, PapaSettings settings, long stepsPerEpoch)
    {
        _kit = kit;
        var instance = Interlocked.Increment(ref _instances);
        Settings = settings;
        Plan = SchedulePlan.For(settings, stepsPerEpoch);
        Listener = kit.CreateTestProbe($"listener-{instance}");
        Members = Enumerable.Range(0, settings.Population).Select(i => kit.CreateTestProbe($"member-{i}-{instance}")).ToList();
        _heldBack = Members.Select(_ => new List<object>()).ToList();
        Averager = kit.Sys.ActorOf(AveragerActor.Props(settings, Plan, [0, 1], Listener.Ref), $"averager-{instance}");
        Reducer = kit.Sys.ActorOf(NodeReducer.Props(), $"reducer-{instance}");
    }

    public IActorRef Reducer { get; }

    public PapaSettings Settings { get; }
    public SchedulePlan Plan { get; }
    public IActorRef Averager { get; }
    public TestProbe Listener { get; }
    public IReadOnlyList<TestProbe> Members { get; }
    public int Population => Members.Count;

    /// <summary>Moves virtual time forward (the TestKit must use <see cref="PapaTestKitConfig"/>).</summary>
    public void AdvanceTime(TimeSpan by) =>
        (_kit.Sys.Scheduler as TestScheduler ?? throw new InvalidOperationException(
            "the ActorSystem does not run on virtual time: configure the TestKit with PapaTestKitConfig.For(...)")).Advance(by);

    /// <summary>Every Mix of the rounds played, in order: round, receiving member, keep, parents, shares.</summary>
    public static IReadOnlyList<ObservedMix> MixesOf(IEnumerable<RoundOutcome> rounds) =>
        rounds.SelectMany(r => r.Mixes.Select((m, member) => new ObservedMix(m.Round, member, m.Keep, m.Parents, TracerWeights.Shares(m.Weights)))).ToList();

    /// <summary>Every probe registers (in member order) and is accepted; returns the RunStarted event.</summary>
    public RunStarted RegisterAll()
    {
        for (var i = 0; i < Population; i++)
        {
            Averager.Tell(new RegisterMember(i, Members[i].Ref, TracerWeights.Layout(Population).Fingerprint, Reducer), Members[i].Ref);
            Members[i].ExpectMsg<MemberAccepted>(a => a.Index == i);
        }
        return Listener.ExpectMsg<RunStarted>();
    }

    /// <summary>
    /// Plays one round: every member expects its Train and answers it (loss = <paramref name="loss"/>(member),
    /// tracer weights and statistics when asked for), then every Mix sent is collected in member order.
    /// </summary>
    public RoundOutcome PlayRound(Func<int, double>? loss = null)
    {
        var trains = Enumerable.Range(0, Population).Select(ExpectTrain).ToList();
        for (var i = 0; i < Population; i++)
        {
            var train = trains[i];
            var snapshot = train.SendSnapshot ? TracerWeights.For(i, Population) : null;
            double? heldOut = train.EvaluateHeldOut ? 0.5 + i / 100.0 : null;
            var statistics = train.MeasureRepairStatistics ? TracerWeights.Statistics(i, Population) : null;
            Report(i, new Trained(i, train.Round, Plan.Rounds[train.Round].EndStep, loss?.Invoke(i) ?? 1.0, 0.1, train.Steps * 8L, 0.01,
                heldOut, snapshot, statistics, Attempt: train.Attempt));
        }
        var completed = ExpectRunEvent<RoundCompleted>();
        var mixes = completed.Plan.Mix is NoMix ? [] : Enumerable.Range(0, Population).Select(ExpectMix).ToList();
        return new RoundOutcome(trains, mixes, completed);
    }

    /// <summary>
    /// Member <paramref name="member"/>'s next Mix. It comes by way of the reducer, so what the Averager sent straight
    /// to the member afterwards (the next Train, CaptureState) may come first: that is held back for later, as a real
    /// member holds it until its mix.
    /// </summary>
    public Mix ExpectMix(int member)
    {
        var later = new List<object>();
        while (true)
        {
            var message = Members[member].ReceiveOne(Patience) ?? throw new TimeoutException($"member {member} got no Mix within {Patience.TotalSeconds} s");
            if (message is Mix mix)
            {
                _heldBack[member].InsertRange(0, later);
                return mix;
            }
            later.Add(message);
        }
    }

    /// <summary>The member's next message: one held back while it waited for a mix, or a new one.</summary>
    public object NextMessage(int member)
    {
        if (_heldBack[member].Count > 0)
        {
            var held = _heldBack[member][0];
            _heldBack[member].RemoveAt(0);
            return held;
        }
        return Members[member].ReceiveOne(Patience) ?? throw new TimeoutException($"member {member} got no message within {Patience.TotalSeconds} s");
    }

    /// <summary>Sends a member's report as the member would: with a snapshot to the reducer, without one to the Averager.</summary>
    public void Report(int member, Trained report) => (report.Snapshot is null ? Averager : Reducer).Tell(report, Members[member].Ref);

    /// <summary>
    /// Member <paramref name="member"/>'s next Train; a checkpoint's CaptureState before it is answered with the
    /// member's tracer state, as a real member would.
    /// </summary>
    public Train ExpectTrain(int member)
    {
        while (true)
        {
            switch (NextMessage(member))
            {
                case Train train:
                    return train;
                case CaptureState capture:
                    Averager.Tell(new StateCaptured(capture.Round, TracerWeights.State(member, Population)), Members[member].Ref);
                    break;
                case var message:
                    throw new InvalidOperationException($"member {member} expected Train, got {message.GetType().Name}");
            }
        }
    }

    /// <summary>
    /// The listener's next event of type <typeparamref name="T"/>; checkpoints due before it are answered as the
    /// run recorder would (written), so the Averager knows of them.
    /// </summary>
    public T ExpectRunEvent<T>() where T : IRunEvent
    {
        while (true)
        {
            var message = Listener.ReceiveOne(Patience) ?? throw new TimeoutException($"the listener got no {typeof(T).Name} within {Patience.TotalSeconds} s");
            switch (message)
            {
                case T expected:
                    return expected;
                case CheckpointDue due:
                    Averager.Tell(new CheckpointWritten(due.Checkpoint.Round, $"checkpoints/round-{due.Checkpoint.Round}", 0, 0), Listener.Ref);
                    break;
                default:
                    throw new InvalidOperationException($"the listener expected {typeof(T).Name}, got {message}");
            }
        }
    }

    /// <summary>Plays every remaining round of the plan.</summary>
    public IReadOnlyList<RoundOutcome> PlayAllRounds(Func<int, double>? loss = null) =>
        Enumerable.Range(0, Plan.Rounds.Count).Select(_ => PlayRound(loss)).ToList();

    /// <summary>
    /// Answers Finish with each member's tracer weights and <paramref name="heldOutAccuracy"/>(member), then every
    /// soup evaluation any member is asked for, in the order they arrive, scoring each soup by
    /// <paramref name="soupHeldOut"/> of its member shares (on the held-out split, and as that share of 1000
    /// images on a test slice). Returns the requests with the member that got each, and the completed run.
    /// </summary>
    public (IReadOnlyList<(int Member, EvaluateWeights Request)> Requests, RunCompleted Completed) Finish(
        Func<int, double> heldOutAccuracy, Func<IReadOnlyList<double>, double> soupHeldOut) =>
        Finish(heldOutAccuracy, (shares, _) => soupHeldOut(shares));

    /// <summary>
    /// As <see cref="Finish(Func{int, double}, Func{IReadOnlyList{double}, double})"/>, with a held-out score that also
    /// depends on whether the soup is to be REPAIRed (its request carries REPAIR targets; repair-soup).
    /// </summary>
    public (IReadOnlyList<(int Member, EvaluateWeights Request)> Requests, RunCompleted Completed) Finish(
        Func<int, double> heldOutAccuracy, Func<IReadOnlyList<double>, bool, double> soupHeldOut)
    {
        for (var i = 0; i < Population; i++)
        {
            var finish = NextMessage(i);
            if (finish is not PapaActors.Actors.Messages.Finish)
                throw new InvalidOperationException($"member {i} expected Finish, got {finish.GetType().Name}");
            Averager.Tell(new MemberFinal(i, TracerWeights.For(i, Population), 0.8, heldOutAccuracy(i), [1, 0, 0, 1], TracerWeights.Statistics(i, Population)),
                Members[i].Ref);
        }
        var requests = new List<(int, EvaluateWeights)>();
        var deadline = DateTime.UtcNow + Patience;
        while (!Listener.HasMessages)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the run did not complete within {Patience.TotalSeconds} s of the final reports ({requests.Count} soup evaluations answered)");
            var answered = false;
            for (var i = 0; i < Population; i++)
            {
                while (Members[i].HasMessages)
                {
                    // The run's end reaches the members as the listener gets RunCompleted, so it may come before the loop ends.
                    var message = Members[i].ReceiveOne(Patience)!;
                    if (message is not EvaluateWeights request)
                    {
                        _heldBack[i].Add(message);
                        continue;
                    }
                    requests.Add((i, request));
                    var score = soupHeldOut(TracerWeights.Shares(request.Weights), request.RepairTargets is not null);
                    var (correct, count) = request.Test is null ? (0L, 0L) : ((long)Math.Round(score * 1000), 1000L);
                    Members[i].Reply(new WeightsEvaluated(request.RequestId, request.OnHeldOut ? score : null, correct, count, request.ReturnWeights ? request.Weights : null));
                    answered = true;
                }
            }
            if (!answered)
                Thread.Sleep(5);
        }
        return (requests, ExpectRunEvent<RunCompleted>());
    }
}

/// <summary>A Mix as the member it was sent to received it; <paramref name="Shares"/> are each member's part in the weights.</summary>
public sealed record ObservedMix(int Round, int Member, double Keep, ParentPair? Parents, IReadOnlyList<double> Shares)
{
    public bool Equals(ObservedMix? other) =>
        other is not null && (Round, Member, Keep, Parents) == (other.Round, other.Member, other.Keep, other.Parents) && Shares.SequenceEqual(other.Shares);

    public override int GetHashCode() => HashCode.Combine(Round, Member, Keep, Parents);

    public override string ToString() =>
        $"round {Round} -> member {Member}: keep {Keep}{(Parents is { } p ? $", parents {p}" : "")}, shares [{string.Join(", ", Shares)}]";
}

/// <summary>What one round looked like from the members' side.</summary>
public sealed record RoundOutcome(IReadOnlyList<Train> Trains, IReadOnlyList<Mix> Mixes, RoundCompleted Completed);
