using Akka.Actor;
using Akka.TestKit;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;

namespace PapaActors.Testing;

/// <summary>
/// The real <see cref="AveragerActor"/> with TestProbes in place of members: no model, no data, no training.
/// The test plays the members (answering Train with chosen losses and <see cref="TracerWeights"/>) and observes
/// every message the Averager sends, in order. The listener probe sees the run events (RunStarted,
/// RoundCompleted, RunCompleted, RunFailed).
/// </summary>
public sealed class AveragerHarness
{
    public AveragerHarness(TestKitBase kit, PapaSettings settings, long stepsPerEpoch, int[]? testLabels = null)
    {
        Settings = settings;
        Plan = SchedulePlan.For(settings, stepsPerEpoch);
        Listener = kit.CreateTestProbe("listener");
        Members = Enumerable.Range(0, settings.Population).Select(i => kit.CreateTestProbe($"member-{i}")).ToList();
        Averager = kit.Sys.ActorOf(AveragerActor.Props(settings, Plan, testLabels ?? [0, 1], Listener.Ref), "averager");
    }

    public PapaSettings Settings { get; }
    public SchedulePlan Plan { get; }
    public IActorRef Averager { get; }
    public TestProbe Listener { get; }
    public IReadOnlyList<TestProbe> Members { get; }
    public int Population => Members.Count;

    /// <summary>Every probe registers (in member order) and is accepted; returns the RunStarted event.</summary>
    public RunStarted RegisterAll()
    {
        for (var i = 0; i < Population; i++)
        {
            Averager.Tell(new RegisterMember(i, Members[i].Ref, TracerWeights.Layout(Population).Fingerprint), Members[i].Ref);
            Members[i].ExpectMsg<MemberAccepted>(a => a.Index == i);
        }
        return Listener.ExpectMsg<RunStarted>();
    }

    /// <summary>
    /// Plays one round: every member expects its Train and answers it (loss = <paramref name="loss"/>(member),
    /// tracer weights when a snapshot is asked for), then every Mix sent is collected in member order.
    /// </summary>
    public RoundOutcome PlayRound(Func<int, double>? loss = null)
    {
        var trains = Members.Select(m => m.ExpectMsg<Train>()).ToList();
        for (var i = 0; i < Population; i++)
        {
            var train = trains[i];
            var snapshot = train.SendSnapshot ? TracerWeights.For(i, Population) : null;
            double? heldOut = train.EvaluateHeldOut ? 0.5 + i / 100.0 : null;
            Averager.Tell(new Trained(i, train.Round, Plan.Rounds[train.Round].EndStep, loss?.Invoke(i) ?? 1.0, 0.1, train.Steps * 8L, 0.01, heldOut, snapshot), Members[i].Ref);
        }
        var completed = Listener.ExpectMsg<RoundCompleted>();
        var mixes = completed.Plan.Mix is NoMix ? [] : Members.Select(m => m.ExpectMsg<Mix>()).ToList();
        return new RoundOutcome(trains, mixes, completed);
    }

    /// <summary>Plays every remaining round of the plan.</summary>
    public IReadOnlyList<RoundOutcome> PlayAllRounds(Func<int, double>? loss = null) =>
        Enumerable.Range(0, Plan.Rounds.Count).Select(_ => PlayRound(loss)).ToList();

    /// <summary>
    /// Answers Finish with each member's tracer weights and <paramref name="heldOutAccuracy"/>(member), then the
    /// soup evaluations the evaluator (member 0) is asked for, scoring each soup by <paramref name="soupHeldOut"/>
    /// of its member shares: the average soup, the greedy soup's first member, each further candidate, and the
    /// final greedy soup (population + 2 requests). Returns the requests and the completed run.
    /// </summary>
    public (IReadOnlyList<EvaluateWeights> Requests, RunCompleted Completed) Finish(
        Func<int, double> heldOutAccuracy, Func<IReadOnlyList<double>, double> soupHeldOut)
    {
        for (var i = 0; i < Population; i++)
        {
            Members[i].ExpectMsg<Finish>();
            Averager.Tell(new MemberFinal(i, TracerWeights.For(i, Population), 0.8, heldOutAccuracy(i), [1, 0, 0, 1]), Members[i].Ref);
        }
        var requests = new List<EvaluateWeights>();
        for (var k = 0; k < Population + 2; k++)
        {
            var request = Members[0].ExpectMsg<EvaluateWeights>();
            requests.Add(request);
            var score = soupHeldOut(TracerWeights.Shares(request.Weights));
            Members[0].Reply(new WeightsEvaluated(request.RequestId, score, request.OnTest ? score : null, request.ReturnWeights ? request.Weights : null));
        }
        return (requests, Listener.ExpectMsg<RunCompleted>());
    }
}

/// <summary>What one round looked like from the members' side.</summary>
public sealed record RoundOutcome(IReadOnlyList<Train> Trains, IReadOnlyList<Mix> Mixes, RoundCompleted Completed);
