using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Runs a <see cref="SchedulePlan"/>: waits until every member has registered, then for each round sends
/// <see cref="Train"/>, waits for every <see cref="Trained"/>, applies the round's mix (averaging in member
/// order, so the result does not depend on arrival order) and reports the round to its listener. After the
/// last round it collects final snapshots and hands them to a <see cref="SoupActor"/>.
/// Phases: waiting for members -> training -> finishing -> souping -> done (or failed).
/// </summary>
public sealed class AveragerActor : BulkReceivingActor, IWithTimers
{
    private const string RoundTimer = "round-timeout";

    private readonly PapaSettings _settings;
    private readonly SchedulePlan _plan;
    private readonly int[] _testLabels;
    private readonly IActorRef _listener;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef?[] _members;
    private readonly Trained?[] _reports;
    private readonly MemberFinal?[] _finals;
    private readonly Stopwatch _trainingClock = new();
    private string? _layoutFingerprint;
    private int _round;
    private long _samples;

    public AveragerActor(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener)
    {
        _settings = settings;
        _plan = plan;
        _testLabels = testLabels;
        _listener = listener;
        _members = new IActorRef?[settings.Population];
        _reports = new Trained?[settings.Population];
        _finals = new MemberFinal?[settings.Population];
        WaitingForMembers();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener) =>
        Akka.Actor.Props.Create(() => new AveragerActor(settings, plan, testLabels, listener));

    private int Population => _members.Length;

    private void WaitingForMembers()
    {
        Receive<RegisterMember>(Register);
        ReceiveFailures();
    }

    private void Training()
    {
        Receive<Trained>(OnTrained);
        Receive<RoundTimedOut>(t => t.Round == _round, t => Fail(
            $"round {t.Round} timed out after {_settings.RoundTimeout}: no answer from member(s) {string.Join(", ", Silent(_reports))}"));
        RejectLateRegistrations();
        ReceiveFailures();
    }

    private void Finishing()
    {
        Receive<MemberFinal>(OnFinal);
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail(
            $"no final report within {_settings.RoundTimeout} from member(s) {string.Join(", ", Silent(_finals))}"));
        RejectLateRegistrations();
        ReceiveFailures();
    }

    private void Souping()
    {
        Receive<SoupActor.SoupsReady>(OnSoupsReady);
        RejectLateRegistrations();
        ReceiveFailures();
    }

    private void Stopped()
    {
        ReceiveAny(message => _log.Debug("run is over; ignoring {0}", message.GetType().Name));
    }

    private void Register(RegisterMember registration)
    {
        var (index, member) = (registration.Index, registration.Member);
        string? refusal = null;
        if (index < 0 || index >= Population)
            refusal = $"member index {index} is outside the population 0..{Population - 1}";
        else if (_members[index] is { } existing && !existing.Equals(member))
            refusal = $"member index {index} is already registered by {existing.Path}";
        else if (_layoutFingerprint is not null && registration.LayoutFingerprint != _layoutFingerprint)
            refusal = $"member {index} has weight layout {registration.LayoutFingerprint}, the population has {_layoutFingerprint} (different model or config?)";
        if (refusal is not null)
        {
            _log.Warning("refusing registration from {0}: {1}", member.Path, refusal);
            member.Tell(new MemberRejected(index, refusal));
            return;
        }

        _layoutFingerprint ??= registration.LayoutFingerprint;
        _members[index] = member;
        Context.Watch(member);
        member.Tell(new MemberAccepted(index));
        _log.Info("member {0} registered from {1} ({2}/{3})", index, member.Path, _members.Count(m => m is not null), Population);
        if (_members.All(m => m is not null))
        {
            _trainingClock.Start();
            Become(Training);
            StartRound(0);
            // After the round's timer is set: whoever waits for this event may then move virtual time.
            _listener.Tell(new RunStarted(_settings, _plan, _members.Select(m => m!.Path.ToString()).ToList()));
        }
    }

    private void RejectLateRegistrations() =>
        Receive<RegisterMember>(r =>
        {
            if (r.Index >= 0 && r.Index < Population && r.Member.Equals(_members[r.Index]))
                return;
            var reason = r.Index >= 0 && r.Index < Population
                ? $"member index {r.Index} is already registered by {_members[r.Index]!.Path} and the run has started"
                : $"member index {r.Index} is outside the population 0..{Population - 1}";
            _log.Warning("refusing registration from {0}: {1}", r.Member.Path, reason);
            r.Member.Tell(new MemberRejected(r.Index, reason));
        });

    private void ReceiveFailures()
    {
        Receive<MemberFailed>(f =>
        {
            // A member refused at registration (say, a duplicate index on another node) must not end the run.
            var slot = f.Member >= 0 && f.Member < Population ? _members[f.Member] : null;
            if (slot is null || slot.Equals(Sender))
                Fail($"member {f.Member} failed: {f.Reason}");
            else
                _log.Warning("ignoring a failure report for member {0} from {1}, which is not that member", f.Member, Sender.Path);
        });
        Receive<Terminated>(t =>
        {
            var index = Array.FindIndex(_members, m => m is not null && m.Equals(t.ActorRef));
            if (index >= 0)
                Fail($"member {index} stopped unexpectedly ({t.ActorRef.Path}{(t.AddressTerminated ? ", its node is unreachable" : "")})");
        });
        Receive<TransferFailed>(f => Fail($"a transfer from {f.From} was lost or corrupted: {f.Reason}"));
    }

    private void StartRound(int round)
    {
        _round = round;
        Array.Clear(_reports);
        var plan = _plan.Rounds[round];
        var mixes = plan.Mix is not NoMix;
        var train = new Train(round, plan.Steps, SendSnapshot: mixes, EvaluateHeldOut: plan.EndsEpoch,
            MeasureRepairStatistics: mixes && _settings.Training.Repair.Enabled);
        StartTimeout(round);
        foreach (var member in _members)
            member!.Tell(train);
    }

    private void OnTrained(Trained report)
    {
        if (report.Round != _round || report.Member < 0 || report.Member >= Population)
        {
            _log.Warning("ignoring a report for round {0} from member {1} during round {2}", report.Round, report.Member, _round);
            return;
        }
        _reports[report.Member] = report;
        if (_reports.Any(r => r is null))
            return;

        Timers.Cancel(RoundTimer);
        var plan = _plan.Rounds[_round];
        var reports = _reports.Select(r => r!).ToList();
        _samples += reports.Sum(r => r.Samples);
        ApplyMix(plan, reports);
        _listener.Tell(new RoundCompleted(plan, reports.Select(r => r with { Snapshot = null }).ToList()));
        if (_round + 1 < _plan.Rounds.Count)
            StartRound(_round + 1);
        else
            StartFinishing();
    }

    /// <summary>
    /// Sends every member its mix. With REPAIR on, each member also gets the parents' statistics combined with
    /// the shares each member has in its new weights (keep for itself plus (1 - keep)/p each for a push, 1/p
    /// each for the mean, 1/2 each for a child's parents).
    /// </summary>
    private void ApplyMix(RoundPlan plan, IReadOnlyList<Trained> reports)
    {
        if (plan.Mix is NoMix)
            return;
        var snapshots = reports.Select(r => r.Snapshot ?? throw new InvalidOperationException($"member {r.Member} sent no snapshot for round {r.Round}")).ToList();
        var statistics = _settings.Training.Repair.Enabled
            ? reports.Select(r => r.RepairStatistics ?? throw new InvalidOperationException($"member {r.Member} sent no REPAIR statistics for round {r.Round}")).ToList()
            : null;
        var mean = plan.Mix is PushTowardMean or ReplaceWithMean ? WeightMath.Average(snapshots) : null;
        var children = new Dictionary<(int, int), WeightSnapshot>();
        WeightSnapshot Child(ParentPair pair)
        {
            var key = (Math.Min(pair.First, pair.Second), Math.Max(pair.First, pair.Second));
            if (!children.TryGetValue(key, out var child))
                children[key] = child = WeightMath.Interpolate(snapshots[key.Item1], snapshots[key.Item2], 0.5);
            return child;
        }

        var transport = BulkTransport.For(Context.System);
        for (var j = 0; j < Population; j++)
        {
            var shares = new double[Population];
            var (weights, keep, parents) = plan.Mix switch
            {
                PushTowardMean push => (mean!, push.Keep, (ParentPair?)null),
                ReplaceWithChildren c => (Child(c.Parents[j]), 0.0, c.Parents[j]),
                _ => (mean!, 0.0, null),
            };
            if (parents is { } pair)
            {
                shares[pair.First] += 0.5;
                shares[pair.Second] += 0.5;
            }
            else
            {
                for (var i = 0; i < Population; i++)
                    shares[i] = (1 - keep) / Population + (i == j ? keep : 0);
            }
            var targets = statistics is null ? null : ActivationStatistics.WeightedSum(statistics, shares);
            transport.Send(_members[j]!, new Mix(plan.Round, weights, keep, parents, targets), Self);
        }
    }

    private void StartFinishing()
    {
        _trainingClock.Stop();
        Become(Finishing);
        _round = _plan.Rounds.Count;
        StartTimeout(_round);
        foreach (var member in _members)
            member!.Tell(new Finish(_round));
    }

    private void OnFinal(MemberFinal final)
    {
        _finals[final.Member] = final;
        if (_finals.Any(f => f is null))
            return;
        Timers.Cancel(RoundTimer);
        Become(Souping);
        Context.ActorOf(SoupActor.Props(_finals.Select(f => f!).ToList(), _members[0]!, _settings.SoupRecomputesBatchNorm, _testLabels), "soups");
    }

    private void OnSoupsReady(SoupActor.SoupsReady soups)
    {
        var members = _finals.Select(f => new MemberResult(f!.Member, f.TestAccuracy, f.HeldOutAccuracy, f.Weights)).ToList();
        var results = new RunResults(members, soups.EnsembleTestAccuracy, soups.AverageSoup, soups.GreedySoup, _samples, _trainingClock.Elapsed.TotalSeconds);
        _log.Info("run complete: ensemble {0:F4}, average soup {1:F4}, greedy soup {2:F4}",
            results.EnsembleTestAccuracy, results.AverageSoup.TestAccuracy, results.GreedySoup.TestAccuracy);
        _listener.Tell(new RunCompleted(results));
        EndRun(new RunEnded(Completed: true, $"average soup {results.AverageSoup.TestAccuracy:P2}, greedy soup {results.GreedySoup.TestAccuracy:P2}"));
    }

    private void StartTimeout(int round)
    {
        if (_settings.RoundTimeout > TimeSpan.Zero)
            Timers.StartSingleTimer(RoundTimer, new RoundTimedOut(round), _settings.RoundTimeout);
    }

    private static IEnumerable<int> Silent<T>(T?[] answers) where T : class =>
        answers.Select((a, i) => (a, i)).Where(x => x.a is null).Select(x => x.i);

    private void Fail(string reason)
    {
        _log.Error("run failed: {0}", reason);
        Timers.CancelAll();
        _listener.Tell(new RunFailed(reason));
        EndRun(new RunEnded(Completed: false, reason));
    }

    private void EndRun(RunEnded ended)
    {
        foreach (var member in _members.OfType<IActorRef>())
            member.Tell(ended);
        Become(Stopped);
    }

    private sealed record RoundTimedOut(int Round) : INoSerializationVerificationNeeded;
}
