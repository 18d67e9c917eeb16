using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Security;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Runs a <see cref="SchedulePlan"/>: waits until every member has registered, then for each round sends
/// <see cref="Train"/>, waits for every <see cref="Trained"/>, applies the round's mix and reports the round to
/// its listener. A mixing round goes through the members' <see cref="NodeReducer"/>s: each node sends one exact
/// sum of its members' weights (or, for PAPA-2, the parents and children that cross nodes) and gets one
/// <see cref="NodeMix"/> back, so the mean is the same bits for any assignment of members to nodes. After the
/// last round it collects final snapshots and hands them to a <see cref="SoupActor"/>.
/// <para>
/// Faults: at checkpoint boundaries it collects every member's state and has the listener (the recorder)
/// write it. A member that fails (or whose node is lost) sends the whole population back to the last
/// checkpoint, or to the start, and the rounds since are played again; since every round is a pure function
/// of the state before it, the run ends bit-identical to one without the fault. A diverged member is never
/// mixed in: the run fails, or the member is reset to the mean of the finite ones (a journaled decision).
/// </para>
/// Phases: waiting for members -> training (-> resetting) -> finishing -> souping -> done, with rolling back
/// and interrupting entered from any of them.
/// </summary>
public sealed class AveragerActor : BulkReceivingActor, IWithTimers
{
    private const string RoundTimer = "round-timeout";
    private const string ReplacementTimer = "replacement-timeout";
    private static readonly WeightSnapshot FreshOptimizer = new(new WeightLayout([]), []);
    /// <summary>How long indices offered to a member node stay reserved for it, so two spare nodes never get the same.</summary>
    private static readonly TimeSpan OfferHold = TimeSpan.FromMinutes(1);

    private readonly PapaSettings _settings;
    private readonly SchedulePlan _plan;
    private readonly int[] _testLabels;
    private readonly IActorRef _listener;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    private readonly IActorRef?[] _members;
    private readonly IActorRef?[] _reducers;
    /// <summary>This round's <see cref="CombineRound"/> for each node reducer: what its report must hold.</summary>
    private readonly Dictionary<IActorRef, CombineRound> _asked = [];
    private readonly Trained?[] _reports;
    /// <summary>This round's answers of the node reducers.</summary>
    private readonly Dictionary<IActorRef, NodeTrained> _nodeReports = [];
    private readonly MemberFinal?[] _finals;
    private readonly MemberState?[] _captured;
    private readonly bool[] _restored;
    private readonly int[] _restartsSinceCheckpoint;
    private readonly Dictionary<int, (string Node, DateTime Until)> _offers = [];
    private readonly Stopwatch _trainingClock = new();
    private readonly Stopwatch _finishingClock = new();
    private double _averagingSeconds;
    private double _waitingSeconds;
    private readonly long _checkpointEverySteps;
    /// <summary>The rounds whose mix the members measure (papa.metrics.mix-gain): every mix-gain-every-th mix of the plan.</summary>
    private readonly IReadOnlySet<int> _mixGainRounds;
    private bool _started;
    /// <summary>Changes with every restore, so late reports and mixes of an abandoned attempt are never taken for the replay's.</summary>
    private long _attempt = Random.Shared.NextInt64(1, long.MaxValue / 2);
    private Checkpoint? _rollbackTarget;
    private Checkpoint? _restoring;
    private string? _layoutFingerprint;
    private int _round;
    private long _samples;
    private double _secondsBefore;
    private int? _lastCheckpoint;
    /// <summary>The latest round in which a member was lost: only a checkpoint past it is progress past the fault.</summary>
    private int _lastFaultRound = -1;
    private int? _capturing;
    private long _samplesAtCapture;
    private double _secondsAtCapture;
    private bool _rollingBack;
    private RunEnded? _ended;
    private string? _interruptReason;
    private string? _soupFailure;
    private IActorRef? _soups;

    public AveragerActor(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener, Checkpoint? resumeFrom = null)
    {
        _settings = settings;
        _plan = plan;
        _testLabels = testLabels;
        _listener = listener;
        _rollbackTarget = resumeFrom;
        _lastCheckpoint = resumeFrom?.Round;
        _members = new IActorRef?[settings.Population];
        _reducers = new IActorRef?[settings.Population];
        _reports = new Trained?[settings.Population];
        _finals = new MemberFinal?[settings.Population];
        _captured = new MemberState?[settings.Population];
        _restored = new bool[settings.Population];
        _restartsSinceCheckpoint = new int[settings.Population];
        _checkpointEverySteps = (long)Math.Round(settings.Faults.CheckpointEveryEpochs * plan.StepsPerEpoch);
        _mixGainRounds = settings.Metrics.MixGain
            ? plan.Rounds.Where(r => r.Mix is not NoMix).Where((_, k) => (k + 1) % settings.Metrics.MixGainEvery == 0).Select(r => r.Round).ToHashSet()
            : new HashSet<int>();
        _strangers = new StrangerLog(_log);
        WaitingForMembers();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener, Checkpoint? resumeFrom = null) =>
        Akka.Actor.Props.Create(() => new AveragerActor(settings, plan, testLabels, listener, resumeFrom)).WithDispatcher(ComputeDispatcher.Id);

    private int Population => _members.Length;

    /// <summary>A bug or a malformed message must end the run with its cause, never leave it waiting.</summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _log.Error(e, "the averager failed on {0}", message.GetType().Name);
            Fail($"the averager failed on {message.GetType().Name}: {e.GetType().Name}: {e.Message}");
            return true;
        }
    }

    /// <summary>The soup actor's failure ends the run (it is watched); it is never restarted with lost progress.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _soupFailure = e is ActorInitializationException { InnerException: { } inner } ? inner.Message : $"{e.GetType().Name}: {e.Message}";
        return Directive.Stop;
    });

    // ---- Phases

    private void WaitingForMembers()
    {
        Receive<RegisterMember>(Register);
        Receive<Interrupt>(i => EndInterrupted(i.Reason));
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void Training()
    {
        Receive<Trained>(OnTrained);
        Receive<NodeTrained>(OnNodeTrained);
        Receive<StateCaptured>(s => s.Round == _capturing, OnCheckpointState);
        Receive<StateRestored>(_ => { }); // a diverged member acknowledging its reset
        Receive<RoundTimedOut>(t => t.Round == _round, t => Fail(
            $"round {t.Round} timed out after {_settings.RoundTimeout}: no answer from member(s) {string.Join(", ", Silent(_reports))}"
            + (_plan.Rounds[t.Round].Mix is NoMix ? "" : " (in a mixing round a node answers for all its members at once)")));
        Receive<Interrupt>(i => _interruptReason ??= i.Reason);
        ReceiveMixGains();
        ReceiveRegistrationsWhileRunning();
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    /// <summary>
    /// A diverged member is reset to the mean of the finite members, whose weights this round did not bring here
    /// (no mix, or PAPA-2's parents and children): their states are collected, and a PAPA-2 mix is formed here.
    /// </summary>
    private void CollectingForReset(IReadOnlyList<Trained> reports, IReadOnlyList<int> diverged)
    {
        Receive<StateCaptured>(s => s.Round == _round && s.State.Member >= 0 && s.State.Member < Population && Sender.Equals(_members[s.State.Member]), s =>
        {
            _captured[s.State.Member] = s.State;
            var finite = Enumerable.Range(0, Population).Where(i => !diverged.Contains(i)).ToList();
            if (finite.All(i => _captured[i] is not null))
            {
                Become(Training);
                var weights = finite.ToDictionary(i => i, i => _captured[i]!.Weights);
                Array.Clear(_captured);
                var mean = PartialSum.Of(weights.Values.ToList()).Mean();
                foreach (var d in diverged)
                    weights[d] = mean;
                CompleteRound(ResetDiverged(reports, diverged, mean), new MixInputs(mean, weights, new Dictionary<ParentPair, WeightSnapshot>(), FormedHere: true));
            }
        });
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail($"no state from the finite members within {_settings.RoundTimeout} to reset member(s) {string.Join(", ", diverged)}"));
        Receive<Interrupt>(i => _interruptReason ??= i.Reason);
        ReceiveMixGains();
        ReceiveRegistrationsWhileRunning();
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void Interrupting()
    {
        Receive<StateCaptured>(s => s.Round == _capturing, OnCheckpointState);
        Receive<CheckpointWritten>(w => w.Round == _round, w =>
        {
            OnCheckpointWritten(w.Round);
            EndInterrupted(_interruptReason!);
        });
        Receive<CheckpointFailed>(f => Fail($"could not write the checkpoint of round {f.Round}: {f.Reason}"));
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail($"no state from member(s) {string.Join(", ", Silent(_captured))} within {_settings.RoundTimeout} for the checkpoint"));
        Receive<Interrupt>(_ => { });
        ReceiveMixGains();
        ReceiveRegistrationsWhileRunning();
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void RollingBack()
    {
        Receive<RollbackReady>(OnRollbackReady);
        Receive<StateRestored>(r => _restoring is not null && r.Round == _restoring.Round && r.Member >= 0 && r.Member < Population
            && Sender.Equals(_members[r.Member]), OnStateRestored);
        Receive<RegisterMember>(Register);
        Receive<ReplacementTimedOut>(_ => Fail(
            $"no node replaced member(s) {string.Join(", ", Silent(_members))} within {_settings.Faults.ReplacementTimeout}"));
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail(
            $"member(s) {string.Join(", ", Enumerable.Range(0, Population).Where(i => !_restored[i]))} did not restore the checkpoint within {_settings.RoundTimeout}"));
        Receive<Interrupt>(i => EndInterrupted(i.Reason));
        // Answers to what was asked before the fault are stale: drop them.
        Receive<Trained>(_ => { });
        Receive<NodeTrained>(_ => { });
        Receive<StateCaptured>(_ => { });
        Receive<MemberFinal>(_ => { });
        Receive<WeightsEvaluated>(_ => { });
        Receive<MixEvaluated>(_ => { });
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void Finishing()
    {
        Receive<MemberFinal>(OnFinal);
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail(
            $"no final report within {_settings.RoundTimeout} from member(s) {string.Join(", ", Silent(_finals))}"));
        Receive<Interrupt>(i => EndInterrupted(i.Reason));
        ReceiveMixGains();
        ReceiveRegistrationsWhileRunning();
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void Souping()
    {
        Receive<SoupActor.SoupsReady>(OnSoupsReady);
        Receive<Terminated>(t => t.ActorRef.Equals(_soups), _ => Fail($"the soup actor failed: {_soupFailure ?? "it stopped"}"));
        Receive<RoundTimedOut>(t => t.Round == _round, _ => Fail($"the soups were not ready within {_settings.RoundTimeout}"));
        Receive<Interrupt>(i => EndInterrupted(i.Reason));
        ReceiveRegistrationsWhileRunning();
        ReceiveMemberNodes();
        ReceiveFailures();
    }

    private void Stopped()
    {
        Receive<RequestMissingMembers>(_ => Sender.Tell(_ended)); // a spare node learns that the run is over
        ReceiveAny(message => _log.Debug("run is over; ignoring {0}", message.GetType().Name));
    }

    // ---- Registration

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
        var isNew = _members[index] is null;
        _members[index] = member;
        _reducers[index] = registration.Reducer;
        _offers.Remove(index); // taken: a later replacement of this member must not wait for the offer to expire
        Context.Watch(member);
        member.Tell(new MemberAccepted(index));
        if (isNew)
            _log.Info("member {0} registered from {1} ({2}/{3})", index, member.Path, _members.Count(m => m is not null), Population);
        if (_members.Any(m => m is null))
            return;
        Timers.Cancel(ReplacementTimer);
        if (!_started)
        {
            // The population is complete for the first time: the run starts, or resumes from its checkpoint.
            _started = true;
            _trainingClock.Start();
            _secondsBefore = _rollbackTarget?.TrainingSeconds ?? 0;
            if (_rollbackTarget is { } checkpoint)
                BeginRestore(checkpoint);
            else
            {
                Become(Training);
                StartRound(0);
            }
            // After the round's timer is set: whoever waits for this event may then move virtual time.
            _listener.Tell(new RunStarted(_settings, _plan, _members.Select(m => m!.Path.ToString()).ToList()));
        }
        else if (_rollbackTarget is { } target && _restoring is null)
        {
            BeginRestore(target); // a replacement completed the population during a rollback
        }
    }

    /// <summary>A restarted member registers again with the same reference; anyone else is refused.</summary>
    private void ReceiveRegistrationsWhileRunning() =>
        Receive<RegisterMember>(r =>
        {
            if (r.Index >= 0 && r.Index < Population && r.Member.Equals(_members[r.Index]))
            {
                _reducers[r.Index] = r.Reducer;
                r.Member.Tell(new MemberAccepted(r.Index));
                return;
            }
            var reason = r.Index >= 0 && r.Index < Population
                ? $"member index {r.Index} is already registered by {_members[r.Index]?.Path.ToString() ?? "a member that was lost"} and the run has started"
                : $"member index {r.Index} is outside the population 0..{Population - 1}";
            _log.Warning("refusing registration from {0}: {1}", r.Member.Path, reason);
            r.Member.Tell(new MemberRejected(r.Index, reason));
        });

    /// <summary>
    /// A member node asks which indices it may run (a replacement waits until its members' node was downed;
    /// `--members auto` takes whatever is missing). An offer is held for that node a while.
    /// </summary>
    private void ReceiveMemberNodes() =>
        Receive<RequestMissingMembers>(request =>
        {
            var now = DateTime.UtcNow;
            bool Free(int i) => _members[i] is null && !(_offers.TryGetValue(i, out var offer) && offer.Node != request.Node && offer.Until > now);
            var offered = request.Wanted is { } wanted
                ? wanted.All(i => i >= 0 && i < Population && Free(i)) ? wanted : []
                : Enumerable.Range(0, Population).Where(Free).ToImmutableArray();
            foreach (var index in offered)
                _offers[index] = (request.Node, now + OfferHold);
            Sender.Tell(new MissingMembers(offered));
        });

    /// <summary>
    /// A member's accuracies before and after a measured mix go straight to the listener: they arrive during the next
    /// round (or before a checkpoint's state), and training never waits for them.
    /// </summary>
    private void ReceiveMixGains() =>
        Receive<MixEvaluated>(m =>
        {
            if (m.Member < 0 || m.Member >= Population || !Sender.Equals(_members[m.Member]))
                _strangers.Drop(m, Sender);
            else if (m.Attempt != _attempt || !_mixGainRounds.Contains(m.Round))
                _log.Debug("ignoring a mix measurement of round {0} from member {1}: of an abandoned attempt, or of a mix not measured", m.Round, m.Member);
            else if (!IsAccuracy(m.HeldOutBefore) || !IsAccuracy(m.HeldOutAfter))
                OnMemberLost(m.Member, $"it measured held-out accuracies of {m.HeldOutBefore} and {m.HeldOutAfter} around the mix of round {m.Round}, outside [0, 1]", recoverable: true);
            else
                _listener.Tell(new MixGainMeasured(m.Round, m.Member, m.HeldOutBefore, m.HeldOutAfter));
        });

    // ---- Failures

    private void ReceiveFailures()
    {
        Receive<MemberFailed>(f =>
        {
            // A member refused at registration (say, a duplicate index on another node) must not end the run.
            var slot = f.Member >= 0 && f.Member < Population ? _members[f.Member] : null;
            if (slot is null || slot.Equals(Sender))
                OnMemberLost(f.Member, f.Reason, recoverable: f.Restarting);
            else
                _strangers.Drop(f, Sender);
        });
        Receive<Terminated>(t =>
        {
            var index = Array.FindIndex(_members, m => m is not null && m.Equals(t.ActorRef));
            if (index < 0)
                return;
            _members[index] = null;
            // A member of another node can be replaced by a node, whether its node was lost or stopped it (a node that
            // was downed and restarts its ActorSystem stops its members normally); one that stopped here cannot come back.
            var replaceable = t.AddressTerminated || t.ActorRef.Path.Address.HasGlobalScope;
            if (!_started && replaceable)
            {
                _log.Warning("member {0} of another node was lost before the run started; waiting for a node to run it", index);
                return;
            }
            OnMemberLost(index, $"stopped unexpectedly ({t.ActorRef.Path}{(t.AddressTerminated ? ", its node is unreachable" : "")})",
                recoverable: replaceable);
        });
        Receive<TransferFailed>(f => OnTransferFailed(f));
        Receive<CheckpointWritten>(w => OnCheckpointWritten(w.Round));
        Receive<CheckpointFailed>(f => Fail($"could not write the checkpoint of round {f.Round}: {f.Reason}"));
    }

    private void OnTransferFailed(TransferFailed failure)
    {
        var index = Array.FindIndex(_members, m => m is not null && m.Path.ToString() == failure.From);
        if (index >= 0)
            OnMemberLost(index, $"a transfer from it was lost or corrupted: {failure.Reason}", recoverable: true);
        else
            Fail($"a transfer from {failure.From} was lost or corrupted: {failure.Reason}");
    }

    /// <summary>
    /// A newer rollback target. When it was taken after the last fault, the run got past that fault: a member that
    /// fails again is a new fault, not the same one replayed. A checkpoint captured before the fault but written
    /// after it (writes run beside training) is not such progress, so the budget does not depend on write timing.
    /// </summary>
    private void OnCheckpointWritten(int round)
    {
        if (round <= (_lastCheckpoint ?? -1))
            return;
        _lastCheckpoint = round;
        if (round > _lastFaultRound)
            Array.Clear(_restartsSinceCheckpoint);
    }

    /// <summary>
    /// Rolls the population back to the last checkpoint, or fails the run when the policy or the restart budget
    /// says so. The budget is per member and since the last checkpoint: a member that fails deterministically
    /// fails in every replay, while unrelated faults over a long run never add up.
    /// </summary>
    private void OnMemberLost(int member, string reason, bool recoverable)
    {
        if (!recoverable || !_settings.Faults.RollbackOnMemberLoss || !_started)
        {
            Fail($"member {member} failed: {reason}");
            return;
        }
        _lastFaultRound = Math.Max(_lastFaultRound, _round);
        var restarts = _restartsSinceCheckpoint[member];
        if (restarts >= _settings.Faults.MaxRestarts)
        {
            Fail($"member {member} failed: {reason} (after {restarts} rollback(s) for it since the last checkpoint, max-restarts = {_settings.Faults.MaxRestarts})");
            return;
        }
        _restartsSinceCheckpoint[member] = ++restarts;
        var target = _lastCheckpoint is { } round ? $"the checkpoint of round {round}" : "the start";
        _log.Warning("member {0} failed in round {1}: {2}; rolling back to {3} (rollback {4} of at most {5} for it)",
            member, _round, reason, target, restarts, _settings.Faults.MaxRestarts);
        _listener.Tell(new FaultRecorded("member-lost", member, _round, $"{reason}; rolling back to {target} ({restarts}/{_settings.Faults.MaxRestarts})"));
        if (_rollingBack)
            RestoreAgain();
        else
            StartRollback($"member {member} failed: {reason}");
    }

    // ---- Rounds

    private void StartRound(int round)
    {
        _round = round;
        Array.Clear(_reports);
        _nodeReports.Clear();
        var plan = _plan.Rounds[round];
        var mixes = plan.Mix is not NoMix;
        // Without a held-out split the per-epoch accuracy would be a pass over the whole training set: skipped.
        var train = new Train(round, plan.Steps - AheadAfter(round - 1), SendSnapshot: mixes, EvaluateHeldOut: plan.EndsEpoch && _settings.Dataset.HeldOutFraction > 0,
            MeasureRepairStatistics: mixes && _settings.Training.Repair.Enabled, Attempt: _attempt, AheadSteps: AheadAfter(round),
            FeatureImages: plan.EndsEpoch && _settings.Metrics.FeatureSimilarity && Population > 1 ? _settings.Metrics.FeatureImages : 0);
        StartTimeout(round);
        foreach (var member in _members)
            member!.Tell(train);
        _asked.Clear();
        if (mixes)
        {
            foreach (var combine in CombineRounds(plan))
            {
                _asked[combine.Reducer] = combine.Message;
                combine.Reducer.Tell(combine.Message);
            }
        }
    }

    /// <summary>
    /// What each node reducer sends up this round: the sum of its members (PAPA, PAPA-all); for PAPA-2 the children
    /// whose parents are both on it, formed there (sent up only when a member elsewhere needs one), and the parents of
    /// children whose parents are on two nodes.
    /// </summary>
    private IEnumerable<(IActorRef Reducer, CombineRound Message)> CombineRounds(RoundPlan plan)
    {
        var pairs = plan.Mix is ReplaceWithChildren c ? c.Parents.Select((p, j) => (Pair: p.Sorted, Child: j)).ToList() : [];
        foreach (var reducer in _reducers.Distinct())
        {
            var members = Enumerable.Range(0, Population).Where(i => reducer!.Equals(_reducers[i])).ToImmutableArray();
            var form = pairs.Select(p => p.Pair).Distinct().Where(p => FormedOn(p, reducer!)).ToImmutableArray();
            var upload = pairs.Where(p => FormedOn(p.Pair, reducer!) && !reducer!.Equals(_reducers[p.Child])).Select(p => p.Pair).Distinct().ToImmutableArray();
            var parents = pairs.Select(p => p.Pair).Where(p => !_reducers[p.First]!.Equals(_reducers[p.Second]))
                .SelectMany(p => new[] { p.First, p.Second }).Where(m => reducer!.Equals(_reducers[m])).Distinct().Order().ToImmutableArray();
            yield return (reducer!, new CombineRound(_attempt, plan.Round, members, plan.Mix is PushTowardMean or ReplaceWithMean, parents, form, upload));
        }
    }

    /// <summary>Steps of the next round members train before they apply this round's push (papa.push-delay-steps).</summary>
    private int AheadAfter(int round) =>
        round >= 0 && round + 1 < _plan.Rounds.Count && _plan.Rounds[round].Mix is PushTowardMean
            ? Math.Min(_settings.Mixing.PushDelaySteps, _plan.Rounds[round + 1].Steps)
            : 0;

    private bool FormedOn(ParentPair pair, IActorRef reducer) => reducer.Equals(_reducers[pair.First]) && reducer.Equals(_reducers[pair.Second]);

    /// <summary>A member's report of a round without a mix; a mixing round's reports come through its node's reducer.</summary>
    private void OnTrained(Trained report)
    {
        if (report.Member < 0 || report.Member >= Population || !Sender.Equals(_members[report.Member]))
        {
            _strangers.Drop(report, Sender);
            return;
        }
        if (report.Round != _round || _plan.Rounds[_round].Mix is not NoMix)
        {
            _log.Warning("ignoring a report for round {0} from member {1} ({2}) during round {3}", report.Round, report.Member, Sender.Path, _round);
            return;
        }
        if (Implausible(report) is { } problem)
        {
            OnMemberLost(report.Member, problem, recoverable: true);
            return;
        }
        _reports[report.Member] = report;
        if (_reports.All(r => r is not null))
            OnRoundReported();
    }

    private void OnNodeTrained(NodeTrained node)
    {
        if (!_reducers.Contains(Sender) || node.Reports.Any(r => r.Member < 0 || r.Member >= Population || !Sender.Equals(_reducers[r.Member])))
        {
            _strangers.Drop(node, Sender);
            return;
        }
        if (node.Attempt != _attempt || node.Round != _round)
        {
            _log.Warning("ignoring a node report for round {0} from {1} during round {2}", node.Round, Sender.Path, _round);
            return;
        }
        if (node.Reports.Select(r => (r.Member, Problem: Implausible(r))).FirstOrDefault(r => r.Problem is not null) is { Problem: { } problem } bad)
        {
            OnMemberLost(bad.Member, problem, recoverable: true);
            return;
        }
        var missing = node.Reports.FirstOrDefault(r => _settings.Training.Repair.Enabled && r.RepairStatistics is null);
        if (missing is not null)
        {
            OnMemberLost(missing.Member, $"it sent no REPAIR statistics for round {node.Round}", recoverable: true);
            return;
        }
        if (Incomplete(node) is { } gap)
        {
            OnMemberLost(Enumerable.Range(0, Population).First(i => Sender.Equals(_reducers[i])), $"its node's report for round {node.Round} {gap}", recoverable: true);
            return;
        }
        var layouts = new[] { node.Sum?.Layout }.Concat(node.Snapshots.Values.Concat(node.Children.Values).Select(s => s.Layout)).OfType<WeightLayout>();
        if (layouts.FirstOrDefault(l => l.Fingerprint != _layoutFingerprint) is { } alien && !node.Reports.IsEmpty)
        {
            OnMemberLost(node.Reports[0].Member, $"its node sent weights of layout {alien.Fingerprint}, the population has {_layoutFingerprint}", recoverable: true);
            return;
        }
        _nodeReports[Sender] = node;
        foreach (var report in node.Reports)
            _reports[report.Member] = report;
        if (_reports.All(r => r is not null))
            OnRoundReported();
    }

    /// <summary>What a node's report lacks of what this round's <see cref="CombineRound"/> asked it for (the mix needs all of it).</summary>
    private string? Incomplete(NodeTrained node)
    {
        if (!_asked.TryGetValue(Sender, out var asked))
            return "was not asked for";
        if (!asked.Members.Order().SequenceEqual(node.Reports.Select(r => r.Member).Order()))
            return $"covers members {string.Join(", ", node.Reports.Select(r => r.Member))}, not {string.Join(", ", asked.Members)}";
        if (node.Reports.Any(r => r.Diverged))
            return null; // a diverged member's weights are left out, and the round resets it from the others
        if (asked.Sum && node.Sum is null)
            return "has no sum";
        var snapshots = asked.UploadSnapshots.Where(m => !node.Snapshots.ContainsKey(m)).ToList();
        var children = asked.UploadChildren.Where(p => !node.Children.ContainsKey(p)).ToList();
        return snapshots.Count + children.Count == 0 ? null
            : $"lacks the snapshots of member(s) {string.Join(", ", snapshots)} and the children of {string.Join(", ", children)}";
    }

    /// <summary>
    /// Numbers from the network that no member can report (a loss may be NaN: that is a divergence, handled as one).
    /// Such a report is the member's failure, named, never an exception in the averager.
    /// </summary>
    private static string? Implausible(Trained r) =>
        r.HeldOutAccuracy is { } accuracy && !IsAccuracy(accuracy) ? $"it reported a held-out accuracy of {accuracy}, outside [0, 1]"
        : r.Step < 0 || r.Samples < 0 ? $"it reported step {r.Step} and {r.Samples} samples"
        : new[] { r.Seconds, r.WaitSeconds, r.MixSeconds }.Any(t => !(t >= 0 && double.IsFinite(t))) ? $"it reported times of {r.Seconds}, {r.WaitSeconds} and {r.MixSeconds} s"
        : !double.IsFinite(r.LearningRate) ? $"it reported a learning rate of {r.LearningRate}"
        : null;

    /// <summary>In [0, 1], or NaN: not measured (an empty held-out split).</summary>
    private static bool IsAccuracy(double accuracy) => double.IsNaN(accuracy) || accuracy is >= 0 and <= 1;

    private void OnRoundReported()
    {
        Timers.Cancel(RoundTimer);
        var plan = _plan.Rounds[_round];
        var reports = _reports.Select(r => r!).ToList();
        var diverged = reports.Where(r => r.Diverged).Select(r => r.Member).ToList();
        var sums = _nodeReports.Values.Select(n => n.Sum).OfType<PartialSum>().ToList();
        var mean = sums.Count > 0 ? PartialSum.Combine(sums).Mean() : null;
        var inputs = new MixInputs(mean, _nodeReports.Values.SelectMany(n => n.Snapshots).ToDictionary(),
            _nodeReports.Values.SelectMany(n => n.Children).ToDictionary(), FormedHere: false);
        if (diverged.Count == 0)
            CompleteRound(reports, inputs);
        else if (!_settings.Faults.ResetOnDivergence || diverged.Count == Population)
            FailDiverged(reports, diverged);
        else if (plan.Mix is PushTowardMean or ReplaceWithMean)
            CompleteRound(ResetDiverged(reports, diverged, mean!), inputs); // the node sums leave diverged members out
        else
        {
            // The finite members' weights are needed for their mean; this round did not bring them here.
            Become(() => CollectingForReset(reports, diverged));
            StartTimeout(_round);
            foreach (var i in Enumerable.Range(0, Population).Where(i => !diverged.Contains(i)))
                _members[i]!.Tell(new CaptureState(_round));
        }
    }

    private void FailDiverged(IReadOnlyList<Trained> reports, IReadOnlyList<int> diverged)
    {
        var first = reports[diverged[0]];
        var what = double.IsFinite(first.Loss) ? $"its weights are not finite (loss {first.Loss})" : $"loss {first.Loss}";
        var others = diverged.Count > 1 ? $" (also member(s) {string.Join(", ", diverged.Skip(1))})" : "";
        var policy = diverged.Count == Population ? "every member diverged" : "on-divergence = fail";
        Fail($"member {first.Member} diverged by step {first.Step}: {what}{others}; {policy}", RunStatus.Diverged);
    }

    /// <summary>
    /// Replaces each diverged member by <paramref name="mean"/>, the mean of the finite ones, with a fresh optimizer
    /// (in this attempt: the member still waits for its mix), and returns the reports as the mix must see them: the
    /// reset members carrying the finite members' mean REPAIR statistics.
    /// </summary>
    private IReadOnlyList<Trained> ResetDiverged(IReadOnlyList<Trained> reports, IReadOnlyList<int> diverged, WeightSnapshot mean)
    {
        var finite = reports.Where(r => !diverged.Contains(r.Member)).ToList();
        var statistics = finite.All(r => r.RepairStatistics is not null)
            ? ActivationStatistics.WeightedSum(finite.Select(r => r.RepairStatistics!).ToList(), finite.Select(_ => 1.0 / finite.Count).ToList())
            : null;
        var transport = BulkTransport.For(Context.System);
        foreach (var d in diverged)
            transport.Send(_members[d]!, new RestoreState(_round, new MemberState(d, reports[d].Step, mean, FreshOptimizer), _attempt), Self);
        var reason = string.Join("; ", diverged.Select(d => $"member {d} at step {reports[d].Step}, loss {reports[d].Loss}"));
        _log.Warning("round {0}: reset diverged member(s) to the mean of the finite ones: {1}", _round, reason);
        _listener.Tell(new MembersReset(_round, diverged, reason));
        return reports.Select(r => diverged.Contains(r.Member) ? r with { RepairStatistics = statistics } : r).ToList();
    }

    private void CompleteRound(IReadOnlyList<Trained> reports, MixInputs inputs)
    {
        var plan = _plan.Rounds[_round];
        _samples += reports.Sum(r => r.Samples);
        var averaging = plan.Mix is NoMix ? 0 : ApplyMix(plan, reports, inputs);
        _averagingSeconds += averaging;
        _waitingSeconds += reports.Average(r => r.WaitSeconds);
        _listener.Tell(new RoundCompleted(plan, reports.Select(r => r with { Snapshot = null, Features = null }).ToList(), averaging, FeatureSimilarityOf(reports),
            AwaitsMixGain: _mixGainRounds.Contains(plan.Round)));
        var next = _round + 1;
        if (_interruptReason is not null)
        {
            _round = next;
            Become(Interrupting);
            StartTimeout(next);
            Capture(next);
            return;
        }
        if (next == _plan.Rounds.Count)
        {
            StartFinishing();
            return;
        }
        // Members answer in order: Mix, then their state for the checkpoint, then they train on.
        if (CheckpointDueBefore(next))
            Capture(next);
        StartRound(next);
    }

    /// <summary>
    /// Linear CKA over every pair of finite members' penultimate features; null when they were not asked for, or when
    /// they are not all of the same images (a member that sent others is not one the Averager trusts to compare).
    /// </summary>
    private PopulationSimilarity? FeatureSimilarityOf(IReadOnlyList<Trained> reports)
    {
        var features = reports.Where(r => !r.Diverged).Select(r => r.Features).ToList();
        if (features.Count < 2 || features.Any(f => f is null))
            return null;
        if (features.Any(f => f!.Rows != features[0]!.Rows))
        {
            _log.Warning("round {0}: the members' features are of {1} images: not compared", _round, string.Join(", ", features.Select(f => f!.Rows)));
            return null;
        }
        return FeatureSimilarity.Pairwise(features!);
    }

    private bool CheckpointDueBefore(int round) =>
        _checkpointEverySteps > 0 && round > 0
        && _plan.Rounds[round].FirstStep / _checkpointEverySteps > _plan.Rounds[round - 1].FirstStep / _checkpointEverySteps;

    /// <summary>
    /// Sends every node its members' mixes in one <see cref="NodeMix"/>. With REPAIR on, each member also gets the
    /// parents' statistics combined with the shares each member has in its new weights (keep for itself plus
    /// (1 - keep)/p each for a push, 1/p each for the mean, 1/2 each for a child's parents). Returns the seconds it took.
    /// </summary>
    private double ApplyMix(RoundPlan plan, IReadOnlyList<Trained> reports, MixInputs inputs)
    {
        var clock = Stopwatch.StartNew();
        var statistics = _settings.Training.Repair.Enabled ? reports.Select(r => r.RepairStatistics!).ToList() : null;
        var children = new Dictionary<ParentPair, WeightSnapshot>(inputs.Children);
        WeightSnapshot Child(ParentPair pair) =>
            children.TryGetValue(pair, out var child) ? child : children[pair] = WeightMath.Child(inputs.Snapshots[pair.First], inputs.Snapshots[pair.Second]);

        MemberMix MixFor(int j)
        {
            var (keep, parents) = plan.Mix switch
            {
                PushTowardMean push => (push.Keep, (ParentPair?)null),
                ReplaceWithChildren c => (0.0, c.Parents[j]),
                _ => (0.0, null),
            };
            var shares = new double[Population];
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
            return new MemberMix(j, keep, parents, statistics is null ? null : ActivationStatistics.WeightedSum(statistics, shares));
        }

        var transport = BulkTransport.For(Context.System);
        foreach (var reducer in _reducers.Distinct())
        {
            var members = Enumerable.Range(0, Population).Where(i => reducer!.Equals(_reducers[i])).Select(MixFor).ToImmutableArray();
            // The children this node did not form itself.
            var sent = members.Select(m => m.Parents?.Sorted).OfType<ParentPair>().Distinct()
                .Where(pair => inputs.FormedHere || !FormedOn(pair, reducer!)).ToImmutableDictionary(pair => pair, Child);
            transport.Send(reducer!, new NodeMix(_attempt, plan.Round, plan.Mix is ReplaceWithChildren ? null : inputs.Mean, members, sent,
                MeasureGain: _mixGainRounds.Contains(plan.Round)), Self);
        }
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// What a round's mix is made of: the mean of the finite members (from the node sums), the members' snapshots and
    /// the children the nodes sent up; <paramref name="FormedHere"/>: every child is formed here (after a reset).
    /// </summary>
    private sealed record MixInputs(WeightSnapshot? Mean, IReadOnlyDictionary<int, WeightSnapshot> Snapshots,
        IReadOnlyDictionary<ParentPair, WeightSnapshot> Children, bool FormedHere);

    // ---- Checkpoints

    /// <summary>Asks every member for its state at the boundary before <paramref name="round"/>; members keep training meanwhile.</summary>
    private void Capture(int round)
    {
        _capturing = round;
        _samplesAtCapture = _samples;
        _secondsAtCapture = TrainingSeconds;
        Array.Clear(_captured);
        foreach (var member in _members)
            member!.Tell(new CaptureState(round));
    }

    private void OnCheckpointState(StateCaptured captured)
    {
        var member = captured.State.Member;
        if (member < 0 || member >= Population || !Sender.Equals(_members[member]))
        {
            _strangers.Drop(captured, Sender);
            return;
        }
        _captured[member] = captured.State;
        if (_captured.Any(s => s is null))
            return;
        _listener.Tell(new CheckpointDue(new Checkpoint(captured.Round, _samplesAtCapture, _secondsAtCapture, 0, 0, _captured.Select(s => s!).ToList())));
        Array.Clear(_captured);
        _capturing = null;
    }

    private double TrainingSeconds => _secondsBefore + _trainingClock.Elapsed.TotalSeconds;

    // ---- Rollback

    private void StartRollback(string cause)
    {
        Timers.Cancel(RoundTimer);
        if (_soups is not null)
        {
            Context.Unwatch(_soups);
            Context.Stop(_soups);
            _soups = null;
        }
        Array.Clear(_reports);
        _nodeReports.Clear();
        Array.Clear(_finals);
        Array.Clear(_captured);
        _capturing = null;
        _rollbackTarget = null;
        _restoring = null;
        _rollingBack = true;
        Become(RollingBack);
        if (_members.Any(m => m is null))
            AwaitReplacements();
        _listener.Tell(new RollBack(_lastCheckpoint, cause));
    }

    /// <summary>
    /// Another member was lost while the population was going back: its replacement (or its restarted actor)
    /// needs the checkpoint too, so the restore starts over once every index has a member. Members that restore
    /// twice answer twice; that is harmless, because each handles its RestoreStates before the next Train.
    /// </summary>
    private void RestoreAgain()
    {
        if (_restoring is not null)
        {
            _rollbackTarget = _restoring;
            _restoring = null;
            Timers.Cancel(RoundTimer);
        }
        if (_members.Any(m => m is null))
            AwaitReplacements();
        else if (_rollbackTarget is { } target)
            BeginRestore(target);
        // else the recorder has not answered yet: OnRollbackReady restores everyone
    }

    private void AwaitReplacements()
    {
        var missing = Silent(_members).ToList();
        _log.Warning("waiting up to {0} for a node to replace member(s) {1}", _settings.Faults.ReplacementTimeout, string.Join(", ", missing));
        _listener.Tell(new FaultRecorded("awaiting-replacement", missing[0], _round,
            $"start a node for member(s) {string.Join(",", missing)}: papa node --role member --seed-node {((ExtendedActorSystem)Context.System).Provider.DefaultAddress} --members {string.Join(",", missing)} (or --members auto)"));
        if (!Timers.IsTimerActive(ReplacementTimer))
            Timers.StartSingleTimer(ReplacementTimer, ReplacementTimedOut.Instance, _settings.Faults.ReplacementTimeout);
    }

    private void OnRollbackReady(RollbackReady ready)
    {
        if (ready.Problem is not null)
        {
            Fail($"cannot roll back: {ready.Problem}");
            return;
        }
        // A member state per index; without a checkpoint, members start afresh (RestoreState without a state).
        _rollbackTarget = ready.Checkpoint ?? new Checkpoint(0, 0, 0, 0, 0, []);
        if (_members.All(m => m is not null))
            BeginRestore(_rollbackTarget);
    }

    private void BeginRestore(Checkpoint checkpoint)
    {
        _restoring = checkpoint;
        _rollbackTarget = null;
        _rollingBack = true;
        Become(RollingBack);
        _round = checkpoint.Round;
        _attempt++;
        Array.Clear(_restored);
        StartTimeout(_round);
        var transport = BulkTransport.For(Context.System);
        for (var i = 0; i < Population; i++)
        {
            var state = checkpoint.Members.Count == 0 ? null : checkpoint.Members[i];
            transport.Send(_members[i]!, new RestoreState(checkpoint.Round, state, _attempt), Self);
        }
    }

    private void OnStateRestored(StateRestored restored)
    {
        _restored[restored.Member] = true;
        if (_restored.Any(r => !r))
            return;
        Timers.Cancel(RoundTimer);
        var checkpoint = _restoring!;
        _restoring = null;
        _rollingBack = false;
        _samples = checkpoint.Samples;
        _trainingClock.Start();
        _log.Info("every member is back at round {0}; training goes on", checkpoint.Round);
        if (checkpoint.Round >= _plan.Rounds.Count)
        {
            StartFinishing();
            return;
        }
        Become(Training);
        StartRound(checkpoint.Round);
    }

    // ---- The end

    private void StartFinishing()
    {
        _trainingClock.Stop();
        _finishingClock.Restart();
        Become(Finishing);
        _round = _plan.Rounds.Count;
        Array.Clear(_finals);
        StartTimeout(_round);
        foreach (var member in _members)
            member!.Tell(new Finish(_round));
    }

    private void OnFinal(MemberFinal final)
    {
        var index = final.Member;
        if (index < 0 || index >= Population || !Sender.Equals(_members[index]))
        {
            _strangers.Drop(final, Sender);
            return;
        }
        var problem = final.Weights.Layout.Fingerprint != _layoutFingerprint ? $"its final weights have layout {final.Weights.Layout.Fingerprint}, the population {_layoutFingerprint}"
            : _testLabels.Length == 0 || final.TestLogits.Length == 0 || final.TestLogits.Length % _testLabels.Length != 0
                ? $"it sent {final.TestLogits.Length} test logits for {_testLabels.Length} test images"
            : !(final.TestAccuracy is >= 0 and <= 1 && IsAccuracy(final.HeldOutAccuracy))
                ? $"it reported accuracies {final.TestAccuracy} (test) and {final.HeldOutAccuracy} (held-out), outside [0, 1]"
            : null;
        if (problem is not null)
        {
            OnMemberLost(index, problem, recoverable: true);
            return;
        }
        if (!AllFinite(final.Weights.Values))
        {
            Fail($"member {index} diverged: its final weights are not finite", RunStatus.Diverged);
            return;
        }
        _finals[index] = final;
        if (_finals.Any(f => f is null))
            return;
        Timers.Cancel(RoundTimer);
        Become(Souping);
        StartTimeout(_round);
        _soups = Context.ActorOf(SoupActor.Props(_finals.Select(f => f!).ToList(), _members.Select(m => m!).ToList(), _settings.SoupRecomputesBatchNorm,
            _settings.Training.Repair.Soups, _testLabels, _settings.AlignSoups ? _settings.Training.Model : null), "soups");
        Context.Watch(_soups);
    }

    private void OnSoupsReady(SoupActor.SoupsReady soups)
    {
        Timers.Cancel(RoundTimer);
        Context.Unwatch(_soups!);
        if (!AllFinite(soups.AverageSoup.Weights.Values) || !AllFinite(soups.GreedySoup.Weights.Values))
        {
            Fail("a soup's weights are not finite; no soup is written", RunStatus.Diverged);
            return;
        }
        var members = _finals.Select(f => new MemberResult(f!.Member, f.TestAccuracy, f.HeldOutAccuracy, f.Weights)).ToList();
        var phases = new RunPhases(_averagingSeconds, _waitingSeconds, _finishingClock.Elapsed.TotalSeconds, Process.GetCurrentProcess().PeakWorkingSet64);
        var results = new RunResults(members, soups.EnsembleTestAccuracy, soups.AverageSoup, soups.GreedySoup, _samples, TrainingSeconds, phases);
        _log.Info("run complete: ensemble {0:F4}, average soup {1:F4}, greedy soup {2:F4}",
            results.EnsembleTestAccuracy, results.AverageSoup.TestAccuracy, results.GreedySoup.TestAccuracy);
        _listener.Tell(new RunCompleted(results));
        EndRun(new RunEnded(Completed: true, $"average soup {results.AverageSoup.TestAccuracy:P2}, greedy soup {results.GreedySoup.TestAccuracy:P2}"));
    }

    private static bool AllFinite(ImmutableArray<float> values) => values.All(float.IsFinite);

    private void StartTimeout(int round) => Timers.StartSingleTimer(RoundTimer, new RoundTimedOut(round), _settings.RoundTimeout);

    private static IEnumerable<int> Silent<T>(T?[] answers) where T : class =>
        answers.Select((a, i) => (a, i)).Where(x => x.a is null).Select(x => x.i);

    private void Fail(string reason, string status = RunStatus.Failed)
    {
        _log.Error("run {0}: {1}", status, reason);
        Timers.CancelAll();
        _listener.Tell(new RunFailed(reason, status));
        EndRun(new RunEnded(Completed: false, reason));
    }

    private void EndInterrupted(string reason)
    {
        _log.Warning("run interrupted ({0}); last checkpoint: {1}", reason, _lastCheckpoint?.ToString() ?? "none");
        Timers.CancelAll();
        _listener.Tell(new RunInterrupted(_lastCheckpoint, reason));
        EndRun(new RunEnded(Completed: false, $"interrupted: {reason}"));
    }

    private void EndRun(RunEnded ended)
    {
        _ended = ended;
        foreach (var member in _members.OfType<IActorRef>())
            member.Tell(ended);
        Become(Stopped);
    }

    private sealed record RoundTimedOut(int Round) : INoSerializationVerificationNeeded;

    private sealed record ReplacementTimedOut : INoSerializationVerificationNeeded
    {
        public static readonly ReplacementTimedOut Instance = new();
    }
}
