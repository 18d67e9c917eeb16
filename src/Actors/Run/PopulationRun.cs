using Akka.Event;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Run;

/// <summary>What a run needs from outside that is not a message: names for peers, time, memory, and where it runs.</summary>
/// <param name="Describe">A peer's name in logs and errors (an actor's path).</param>
/// <param name="FirstAttempt">The first attempt's number; random, so that an attempt of another averager is never taken for this one's.</param>
/// <param name="SeedNode">The address member nodes join to replace a lost member.</param>
public sealed record RunEnvironment<TPeer>(Func<TPeer, string> Describe, TimeProvider Time, Func<long> PeakMemoryBytes, long FirstAttempt, string SeedNode);

/// <summary>
/// Every decision of a run, as a synchronous state machine: <see cref="Handle"/> takes an input (a member's or node's
/// message with its sender, a timeout, a member that stopped, the recorder's answers) and returns the commands to
/// carry out, in order. It runs a <see cref="SchedulePlan"/>: waits until every member has registered, then for each
/// round has every member train, collects the reports (a mixing round's through the node reducers, each sending one
/// exact sum of its members' weights, or PAPA-2's parents and children that cross nodes), sends each node its
/// members' mixes, and after the last round collects the members' finals and has the soups made.
/// <para>
/// Faults: at checkpoint boundaries it collects every member's state for the recorder to write. A member that fails
/// (or whose node is lost) sends the whole population back to the last checkpoint, or to the start, and the rounds
/// since are played again; since every round is a pure function of the state before it, the run ends bit-identical
/// to one without the fault. A diverged member is never mixed in: the run fails, or the member is reset to the mean
/// of the finite ones (a journaled decision).
/// </para>
/// Phases: waiting for members -> training (-> collecting for a reset) -> finishing -> souping -> stopped, with
/// rolling back and interrupting entered from any of them. <typeparamref name="TPeer"/> is an actor reference in
/// the Averager, anything with equality in a test.
/// </summary>
public sealed class PopulationRun<TPeer> where TPeer : class
{
    private static readonly WeightSnapshot FreshOptimizer = new(new WeightLayout([]), []);

    private readonly PapaSettings _settings;
    private readonly SchedulePlan _plan;
    private readonly int[] _testLabels;
    private readonly RunEnvironment<TPeer> _env;
    private readonly MemberTable<TPeer> _members;
    /// <summary>This round's <see cref="CombineRound"/> for each node reducer: what its report must hold.</summary>
    private readonly Dictionary<TPeer, CombineRound> _asked = [];
    private readonly Trained?[] _reports;
    /// <summary>This round's answers of the node reducers.</summary>
    private readonly Dictionary<TPeer, NodeTrained> _nodeReports = [];
    private readonly MemberFinal?[] _finals;
    private readonly CheckpointCapture _checkpoint;
    private readonly bool[] _restored;
    private readonly RestartBudget _budget;
    private readonly PhaseClock _trainingClock;
    private readonly PhaseClock _finishingClock;
    private readonly long _checkpointEverySteps;
    /// <summary>The rounds whose mix the members measure (papa.metrics.mix-gain): every mix-gain-every-th mix of the plan.</summary>
    private readonly IReadOnlySet<int> _mixGainRounds;
    private List<RunCommand> _commands = [];
    private double _averagingSeconds;
    private double _waitingSeconds;
    private bool _started;
    /// <summary>Changes with every restore, so late reports and mixes of an abandoned attempt are never taken for the replay's.</summary>
    private long _attempt;
    private Checkpoint? _rollbackTarget;
    private Checkpoint? _restoring;
    private int _round;
    private long _samples;
    private double _secondsBefore;
    private DivergedReset? _reset;
    private bool _awaitingReplacement;
    private RunEnded? _ended;
    private string? _interruptReason;

    public PopulationRun(PapaSettings settings, SchedulePlan plan, int[] testLabels, RunEnvironment<TPeer> environment, Checkpoint? resumeFrom = null)
    {
        _settings = settings;
        _plan = plan;
        _testLabels = testLabels;
        _env = environment;
        _attempt = environment.FirstAttempt;
        _rollbackTarget = resumeFrom;
        _members = new MemberTable<TPeer>(settings.Population, environment.Describe);
        _reports = new Trained?[settings.Population];
        _finals = new MemberFinal?[settings.Population];
        _checkpoint = new CheckpointCapture(settings.Population);
        _restored = new bool[settings.Population];
        _budget = new RestartBudget(settings.Population, settings.Faults.MaxRestarts, resumeFrom?.Round);
        _trainingClock = new PhaseClock(environment.Time);
        _finishingClock = new PhaseClock(environment.Time);
        _checkpointEverySteps = (long)Math.Round(settings.Faults.CheckpointEveryEpochs * plan.StepsPerEpoch);
        _mixGainRounds = settings.Metrics.MixGain
            ? plan.Rounds.Where(r => r.Mix is not NoMix).Where((_, k) => (k + 1) % settings.Metrics.MixGainEvery == 0).Select(r => r.Round).ToHashSet()
            : new HashSet<int>();
    }

    public RunPhase Phase { get; private set; } = RunPhase.WaitingForMembers;

    /// <summary>The round being trained (or restored, or the plan's length once the members finish).</summary>
    public int Round => _round;

    private int Population => _members.Population;

    /// <summary>The commands before any input: every member must register within papa.faults.replacement-timeout.</summary>
    public IReadOnlyList<RunCommand> Start()
    {
        _awaitingReplacement = true;
        return [new StartTimer(RunTimer.Replacement, 0, _settings.Faults.ReplacementTimeout)];
    }

    /// <summary>Takes one input; returns what to do, in order. A bug or a malformed message ends the run with its cause, never leaves it waiting.</summary>
    public IReadOnlyList<RunCommand> Handle(RunInput input)
    {
        _commands = [];
        try
        {
            Dispatch(input);
        }
        catch (Exception e)
        {
            Log(LogLevel.ErrorLevel, $"the averager failed on {NameOf(input)}: {e}");
            Fail($"the averager failed on {NameOf(input)}: {e.GetType().Name}: {e.Message}");
        }
        return _commands;
    }

    // ---- Phases: which input each phase takes

    private void Dispatch(RunInput input)
    {
        if (input is CommandFailed failed)
        {
            Fail(failed.Reason);
            return;
        }
        if (Phase == RunPhase.Stopped)
        {
            if (input is Received<TPeer> { Message: RequestMissingMembers } request)
                Send(request.From, _ended!); // a spare node learns that the run is over
            else
                Log(LogLevel.DebugLevel, $"run is over; ignoring {NameOf(input)}");
            return;
        }
        if (input is Received<TPeer> received ? !OnMessage(received.From, received.Message) : !OnEvent(input))
            Log(LogLevel.DebugLevel, $"{Phase}: not taking {NameOf(input)}");
    }

    private bool OnEvent(RunInput input)
    {
        switch (input)
        {
            case Registration<TPeer> registration when Phase is RunPhase.WaitingForMembers or RunPhase.RollingBack:
                Register(registration);
                return true;
            case Registration<TPeer> registration:
                RegisterWhileRunning(registration);
                return true;
            case PeerStopped<TPeer> stopped:
                OnPeerStopped(stopped);
                return true;
            case TimedOut { Timer: RunTimer.Round } timeout when timeout.Round == _round:
                OnRoundTimedOut();
                return true;
            case TimedOut { Timer: RunTimer.Replacement } when Phase == RunPhase.WaitingForMembers:
                Fail($"member(s) {string.Join(", ", _members.Missing)} did not register within {_settings.Faults.ReplacementTimeout} (papa.replacement-timeout)");
                return true;
            case TimedOut { Timer: RunTimer.Replacement } when Phase == RunPhase.RollingBack:
                Fail($"no node replaced member(s) {string.Join(", ", _members.Missing)} within {_settings.Faults.ReplacementTimeout}");
                return true;
            case SoupsDone done when Phase == RunPhase.Souping:
                OnSoupsReady(done.Soups);
                return true;
            case SoupsFailed soups when Phase == RunPhase.Souping:
                Fail($"the soup actor failed: {soups.Reason}");
                return true;
            default:
                return false;
        }
    }

    private void OnRoundTimedOut()
    {
        switch (Phase)
        {
            case RunPhase.Training:
                Fail($"round {_round} timed out after {_settings.RoundTimeout}: no answer from member(s) {string.Join(", ", Missing(_reports))}"
                    + (_plan.Rounds[_round].Mix is NoMix ? "" : " (in a mixing round a node answers for all its members at once)"));
                break;
            case RunPhase.CollectingForReset:
                Fail($"no state from the finite members within {_settings.RoundTimeout} to reset member(s) {string.Join(", ", _reset!.Diverged)}");
                break;
            case RunPhase.Interrupting:
                Fail($"no state from member(s) {string.Join(", ", _checkpoint.Missing)} within {_settings.RoundTimeout} for the checkpoint");
                break;
            case RunPhase.RollingBack:
                Fail($"member(s) {string.Join(", ", Enumerable.Range(0, Population).Where(i => !_restored[i]))} did not restore the checkpoint within {_settings.RoundTimeout}");
                break;
            case RunPhase.Finishing:
                Fail($"no final report within {_settings.RoundTimeout} from member(s) {string.Join(", ", Missing(_finals))}");
                break;
            case RunPhase.Souping:
                Fail($"the soups were not ready within {_settings.RoundTimeout}");
                break;
        }
    }

    private bool OnMessage(TPeer from, object message)
    {
        switch (Phase, message)
        {
            case (_, RequestMissingMembers request):
                Offer(from, request);
                return true;
            case (_, MemberFailed failure):
                OnMemberFailed(from, failure);
                return true;
            case (_, TransferFailed failure):
                OnTransferFailed(failure);
                return true;
            case (RunPhase.Interrupting, CheckpointWritten written) when written.Round == _round:
                _budget.CheckpointWritten(written.Round);
                EndInterrupted(_interruptReason!);
                return true;
            case (_, CheckpointWritten written):
                _budget.CheckpointWritten(written.Round);
                return true;
            case (_, CheckpointFailed failure):
                Fail($"could not write the checkpoint of round {failure.Round}: {failure.Reason}");
                return true;
            case (RunPhase.Training or RunPhase.CollectingForReset, Interrupt interrupt):
                _interruptReason ??= interrupt.Reason;
                return true;
            case (RunPhase.Interrupting, Interrupt):
                return true;
            case (_, Interrupt interrupt):
                EndInterrupted(interrupt.Reason);
                return true;
            case (RunPhase.RollingBack, RollbackReady ready):
                OnRollbackReady(ready);
                return true;
            case (RunPhase.RollingBack, StateRestored restored) when _restoring is not null && restored.Round == _restoring.Round && IsMember(restored.Member, from):
                OnStateRestored(restored);
                return true;
            case (RunPhase.RollingBack, Trained or NodeTrained or StateCaptured or MemberFinal or WeightsEvaluated or MixEvaluated):
                return true; // answers to what was asked before the fault are stale
            case (RunPhase.Training, Trained report):
                OnTrained(from, report);
                return true;
            case (RunPhase.Training, NodeTrained node):
                OnNodeTrained(from, node);
                return true;
            case (RunPhase.CollectingForReset, StateCaptured captured) when _reset!.Awaits(captured) && IsMember(captured.State.Member, from):
                OnResetState(captured);
                return true;
            case (RunPhase.Training or RunPhase.Interrupting or RunPhase.CollectingForReset, StateCaptured captured) when _checkpoint.Awaits(captured):
                OnCheckpointState(from, captured);
                return true;
            case (RunPhase.Training, StateRestored):
                return true; // a diverged member acknowledging its reset
            case (RunPhase.Finishing, MemberFinal final):
                OnFinal(from, final);
                return true;
            case (not RunPhase.WaitingForMembers and not RunPhase.Souping, MixEvaluated gain):
                OnMixGain(from, gain);
                return true;
            default:
                return false;
        }
    }

    // ---- Registration

    private void Register(Registration<TPeer> registration)
    {
        var (index, member) = (registration.Index, registration.Member);
        if (_members.Refusal(registration) is { } refusal)
        {
            Log(LogLevel.WarningLevel, $"refusing registration from {_env.Describe(member)}: {refusal}");
            Send(member, new MemberRejected(index, refusal));
            return;
        }
        var isNew = _members.Take(registration);
        _commands.Add(new Watch<TPeer>(member));
        Send(member, new MemberAccepted(index));
        if (isNew)
            Log(LogLevel.InfoLevel, $"member {index} registered from {_env.Describe(member)} ({Population - _members.Missing.Count()}/{Population})");
        if (!_members.IsComplete)
            return;
        _commands.Add(new CancelTimer(RunTimer.Replacement));
        _awaitingReplacement = false;
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
                Phase = RunPhase.Training;
                StartRound(0);
            }
            // After the round's timer is set: whoever waits for this event may then move virtual time.
            _commands.Add(new Notify(new RunStarted(_settings, _plan, _members.All.Select(_env.Describe).ToList())));
        }
        else if (_rollbackTarget is { } target && _restoring is null)
        {
            BeginRestore(target); // a replacement completed the population during a rollback
        }
    }

    /// <summary>A restarted member registers again with the same reference; anyone else is refused.</summary>
    private void RegisterWhileRunning(Registration<TPeer> registration)
    {
        if (_members.RegisterAgain(registration) is { } reason)
        {
            Log(LogLevel.WarningLevel, $"refusing registration from {_env.Describe(registration.Member)}: {reason}");
            Send(registration.Member, new MemberRejected(registration.Index, reason));
        }
        else
            Send(registration.Member, new MemberAccepted(registration.Index));
    }

    /// <summary>
    /// A member node asks which indices it may run (a replacement waits until its members' node was downed;
    /// `--members auto` takes whatever is missing). An offer is held for that node a while.
    /// </summary>
    private void Offer(TPeer from, RequestMissingMembers request) => Send(from, new MissingMembers(_members.Offer(request, _env.Time.GetUtcNow())));

    /// <summary>
    /// A member's accuracies before and after a measured mix go straight to the listener: they arrive during the next
    /// round (or before a checkpoint's state), and training never waits for them.
    /// </summary>
    private void OnMixGain(TPeer from, MixEvaluated gain)
    {
        if (!IsMember(gain.Member, from))
            Drop(gain, from);
        else if (gain.Attempt != _attempt || !_mixGainRounds.Contains(gain.Round))
            Log(LogLevel.DebugLevel, $"ignoring a mix measurement of round {gain.Round} from member {gain.Member}: of an abandoned attempt, or of a mix not measured");
        else if (!ReportChecks.IsAccuracy(gain.HeldOutBefore) || !ReportChecks.IsAccuracy(gain.HeldOutAfter))
            OnMemberLost(gain.Member, $"it measured held-out accuracies of {gain.HeldOutBefore} and {gain.HeldOutAfter} around the mix of round {gain.Round}, outside [0, 1]", recoverable: true);
        else
            _commands.Add(new Notify(new MixGainMeasured(gain.Round, gain.Member, gain.HeldOutBefore, gain.HeldOutAfter)));
    }

    // ---- Failures

    private void OnMemberFailed(TPeer from, MemberFailed failure)
    {
        // A member refused at registration (say, a duplicate index on another node) must not end the run.
        var slot = failure.Member >= 0 && failure.Member < Population ? _members[failure.Member] : null;
        if (slot is null || slot.Equals(from))
            OnMemberLost(failure.Member, failure.Reason, recoverable: failure.Restarting);
        else
            Drop(failure, from);
    }

    private void OnPeerStopped(PeerStopped<TPeer> stopped)
    {
        var index = _members.IndexOf(stopped.Peer.Equals);
        if (index < 0)
            return;
        _members.Remove(index);
        // A member of another node can be replaced by a node, whether its node was lost or stopped it (a node that
        // was downed and restarts its ActorSystem stops its members normally); one that stopped here cannot come back.
        if (!_started && stopped.Replaceable)
        {
            Log(LogLevel.WarningLevel, $"member {index} of another node was lost before the run started; waiting for a node to run it");
            return;
        }
        OnMemberLost(index, $"stopped unexpectedly ({_env.Describe(stopped.Peer)}{(stopped.NodeUnreachable ? ", its node is unreachable" : "")})",
            recoverable: stopped.Replaceable);
    }

    private void OnTransferFailed(TransferFailed failure)
    {
        var index = _members.IndexOf(m => _env.Describe(m) == failure.From);
        if (index >= 0)
            OnMemberLost(index, $"a transfer from it was lost or corrupted: {failure.Reason}", recoverable: true);
        else
            Fail($"a transfer from {failure.From} was lost or corrupted: {failure.Reason}");
    }

    /// <summary>Rolls the population back to the last checkpoint, or fails the run when the policy or the <see cref="RestartBudget"/> says so.</summary>
    private void OnMemberLost(int member, string reason, bool recoverable)
    {
        if (!recoverable || !_settings.Faults.RollbackOnMemberLoss || !_started)
        {
            Fail($"member {member} failed: {reason}");
            return;
        }
        if (!_budget.TryTake(member, _round, out var restarts))
        {
            Fail($"member {member} failed: {reason} (after {restarts} rollback(s) for it since the last checkpoint, max-restarts = {_settings.Faults.MaxRestarts})");
            return;
        }
        var target = _budget.LastCheckpoint is { } round ? $"the checkpoint of round {round}" : "the start";
        Log(LogLevel.WarningLevel, $"member {member} failed in round {_round}: {reason}; rolling back to {target} (rollback {restarts} of at most {_settings.Faults.MaxRestarts} for it)");
        _commands.Add(new Notify(new FaultRecorded("member-lost", member, _round, $"{reason}; rolling back to {target} ({restarts}/{_settings.Faults.MaxRestarts})")));
        if (Phase == RunPhase.RollingBack)
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
        foreach (var member in _members.All)
            Send(member, train);
        _asked.Clear();
        if (mixes)
        {
            foreach (var (reducer, combine) in NodeMixing.CombineRounds(_members, plan, _attempt))
            {
                _asked[reducer] = combine;
                Send(reducer, combine);
            }
        }
    }

    /// <summary>Steps of the next round members train before they apply this round's push (papa.push-delay-steps).</summary>
    private int AheadAfter(int round) =>
        round >= 0 && round + 1 < _plan.Rounds.Count && _plan.Rounds[round].Mix is PushTowardMean
            ? Math.Min(_settings.Mixing.PushDelaySteps, _plan.Rounds[round + 1].Steps)
            : 0;

    /// <summary>A member's report of a round without a mix; a mixing round's reports come through its node's reducer.</summary>
    private void OnTrained(TPeer from, Trained report)
    {
        if (!IsMember(report.Member, from))
        {
            Drop(report, from);
            return;
        }
        if (report.Round != _round || _plan.Rounds[_round].Mix is not NoMix)
        {
            Log(LogLevel.WarningLevel, $"ignoring a report for round {report.Round} from member {report.Member} ({_env.Describe(from)}) during round {_round}");
            return;
        }
        if (ReportChecks.Implausible(report) is { } problem)
        {
            OnMemberLost(report.Member, problem, recoverable: true);
            return;
        }
        _reports[report.Member] = report;
        if (_reports.All(r => r is not null))
            OnRoundReported();
    }

    private void OnNodeTrained(TPeer from, NodeTrained node)
    {
        if (!_members.IsReducer(from) || node.Reports.Any(r => r.Member < 0 || r.Member >= Population || !from.Equals(_members.ReducerOf(r.Member))))
        {
            Drop(node, from);
            return;
        }
        if (node.Attempt != _attempt || node.Round != _round)
        {
            Log(LogLevel.WarningLevel, $"ignoring a node report for round {node.Round} from {_env.Describe(from)} during round {_round}");
            return;
        }
        if (node.Reports.Select(r => (r.Member, Problem: ReportChecks.Implausible(r))).FirstOrDefault(r => r.Problem is not null) is { Problem: { } problem } bad)
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
        if (ReportChecks.Incomplete(_asked.GetValueOrDefault(from), node) is { } gap)
        {
            OnMemberLost(_members.MembersOn(from).First(), $"its node's report for round {node.Round} {gap}", recoverable: true);
            return;
        }
        var layouts = new[] { node.Sum?.Layout }.Concat(node.Snapshots.Values.Concat(node.Children.Values).Select(s => s.Layout)).OfType<WeightLayout>();
        if (layouts.FirstOrDefault(l => l.Fingerprint != _members.LayoutFingerprint) is { } alien && !node.Reports.IsEmpty)
        {
            OnMemberLost(node.Reports[0].Member, $"its node sent weights of layout {alien.Fingerprint}, the population has {_members.LayoutFingerprint}", recoverable: true);
            return;
        }
        _nodeReports[from] = node;
        foreach (var report in node.Reports)
            _reports[report.Member] = report;
        if (_reports.All(r => r is not null))
            OnRoundReported();
    }

    private void OnRoundReported()
    {
        _commands.Add(new CancelTimer(RunTimer.Round));
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
            Phase = RunPhase.CollectingForReset;
            _reset = new DivergedReset(_round, reports, diverged);
            StartTimeout(_round);
            foreach (var i in _reset.Finite)
                Send(_members[i]!, new CaptureState(_round));
        }
    }

    /// <summary>
    /// A diverged member is reset to the mean of the finite members, whose weights this round did not bring here
    /// (no mix, or PAPA-2's parents and children): their states are collected, and a PAPA-2 mix is formed here.
    /// </summary>
    private void OnResetState(StateCaptured captured)
    {
        var reset = _reset!;
        if (reset.Add(captured.State.Member, captured.State.Weights) is not { } collected)
            return;
        Phase = RunPhase.Training;
        _reset = null;
        var weights = reset.Finite.ToDictionary(i => i, i => collected[i]); // in member order, whatever the arrival order
        var mean = PartialSum.Of(weights.Values.ToList()).Mean();
        foreach (var d in reset.Diverged)
            weights[d] = mean;
        CompleteRound(ResetDiverged(reset.Reports, reset.Diverged, mean), new MixInputs(mean, weights, new Dictionary<ParentPair, WeightSnapshot>(), FormedHere: true));
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
        foreach (var d in diverged)
            _commands.Add(new Transfer<TPeer>(_members[d]!, new RestoreState(_round, new MemberState(d, reports[d].Step, mean, FreshOptimizer), _attempt)));
        var reason = string.Join("; ", diverged.Select(d => $"member {d} at step {reports[d].Step}, loss {reports[d].Loss}"));
        Log(LogLevel.WarningLevel, $"round {_round}: reset diverged member(s) to the mean of the finite ones: {reason}");
        _commands.Add(new Notify(new MembersReset(_round, diverged, reason)));
        return reports.Select(r => diverged.Contains(r.Member) ? r with { RepairStatistics = statistics } : r).ToList();
    }

    private void CompleteRound(IReadOnlyList<Trained> reports, MixInputs inputs)
    {
        var plan = _plan.Rounds[_round];
        _samples += reports.Sum(r => r.Samples);
        var averaging = plan.Mix is NoMix ? 0 : ApplyMix(plan, reports, inputs);
        _averagingSeconds += averaging;
        _waitingSeconds += reports.Average(r => r.WaitSeconds);
        _commands.Add(new Notify(new RoundCompleted(plan, reports.Select(r => r with { Snapshot = null, Features = null }).ToList(), averaging, FeatureSimilarityOf(reports),
            AwaitsMixGain: _mixGainRounds.Contains(plan.Round))));
        var next = _round + 1;
        if (_interruptReason is not null)
        {
            _round = next;
            Phase = RunPhase.Interrupting;
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
            Log(LogLevel.WarningLevel, $"round {_round}: the members' features are of {string.Join(", ", features.Select(f => f!.Rows))} images: not compared");
            return null;
        }
        return FeatureSimilarity.Pairwise(features!);
    }

    private bool CheckpointDueBefore(int round) =>
        _checkpointEverySteps > 0 && round > 0
        && _plan.Rounds[round].FirstStep / _checkpointEverySteps > _plan.Rounds[round - 1].FirstStep / _checkpointEverySteps;

    /// <summary>Sends every node its members' mixes (<see cref="NodeMixing.NodeMixes"/>); returns the seconds it took.</summary>
    private double ApplyMix(RoundPlan plan, IReadOnlyList<Trained> reports, MixInputs inputs)
    {
        var start = _env.Time.GetTimestamp();
        var statistics = _settings.Training.Repair.Enabled ? reports.Select(r => r.RepairStatistics!).ToList() : null;
        foreach (var (reducer, mix) in NodeMixing.NodeMixes(_members, plan, statistics, inputs, _attempt, _mixGainRounds.Contains(plan.Round)))
            _commands.Add(new Transfer<TPeer>(reducer, mix));
        return _env.Time.GetElapsedTime(start).TotalSeconds;
    }

    // ---- Checkpoints

    /// <summary>Asks every member for its state at the boundary before <paramref name="round"/>; members keep training meanwhile.</summary>
    private void Capture(int round)
    {
        _checkpoint.Begin(round, _samples, TrainingSeconds);
        foreach (var member in _members.All)
            Send(member, new CaptureState(round));
    }

    private void OnCheckpointState(TPeer from, StateCaptured captured)
    {
        var member = captured.State.Member;
        if (!IsMember(member, from))
        {
            Drop(captured, from);
            return;
        }
        if (_checkpoint.Add(captured.State) is { } checkpoint)
            _commands.Add(new Notify(new CheckpointDue(checkpoint)));
    }

    private double TrainingSeconds => _secondsBefore + _trainingClock.Elapsed.TotalSeconds;

    // ---- Rollback

    private void StartRollback(string cause)
    {
        _commands.Add(new CancelTimer(RunTimer.Round));
        if (Phase == RunPhase.Souping)
            _commands.Add(new StopSoups());
        Array.Clear(_reports);
        _nodeReports.Clear();
        Array.Clear(_finals);
        _checkpoint.Abandon();
        _reset = null;
        _rollbackTarget = null;
        _restoring = null;
        Phase = RunPhase.RollingBack;
        if (!_members.IsComplete)
            AwaitReplacements();
        _commands.Add(new Notify(new RollBack(_budget.LastCheckpoint, cause)));
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
            _commands.Add(new CancelTimer(RunTimer.Round));
        }
        if (!_members.IsComplete)
            AwaitReplacements();
        else if (_rollbackTarget is { } target)
            BeginRestore(target);
        // else the recorder has not answered yet: OnRollbackReady restores everyone
    }

    private void AwaitReplacements()
    {
        var missing = _members.Missing.ToList();
        Log(LogLevel.WarningLevel, $"waiting up to {_settings.Faults.ReplacementTimeout} for a node to replace member(s) {string.Join(", ", missing)}");
        _commands.Add(new Notify(new FaultRecorded("awaiting-replacement", missing[0], _round, $"no node runs member(s) {string.Join(",", missing)}",
            new ReplacementWanted(_env.SeedNode, missing))));
        if (!_awaitingReplacement)
        {
            _awaitingReplacement = true;
            _commands.Add(new StartTimer(RunTimer.Replacement, _round, _settings.Faults.ReplacementTimeout));
        }
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
        if (_members.IsComplete)
            BeginRestore(_rollbackTarget);
    }

    private void BeginRestore(Checkpoint checkpoint)
    {
        _restoring = checkpoint;
        _rollbackTarget = null;
        Phase = RunPhase.RollingBack;
        _round = checkpoint.Round;
        _attempt++;
        Array.Clear(_restored);
        StartTimeout(_round);
        for (var i = 0; i < Population; i++)
        {
            var state = checkpoint.Members.Count == 0 ? null : checkpoint.Members[i];
            _commands.Add(new Transfer<TPeer>(_members[i]!, new RestoreState(checkpoint.Round, state, _attempt)));
        }
    }

    private void OnStateRestored(StateRestored restored)
    {
        _restored[restored.Member] = true;
        if (_restored.Any(r => !r))
            return;
        _commands.Add(new CancelTimer(RunTimer.Round));
        var checkpoint = _restoring!;
        _restoring = null;
        _samples = checkpoint.Samples;
        _trainingClock.Start();
        Log(LogLevel.InfoLevel, $"every member is back at round {checkpoint.Round}; training goes on");
        if (checkpoint.Round >= _plan.Rounds.Count)
        {
            StartFinishing();
            return;
        }
        Phase = RunPhase.Training;
        StartRound(checkpoint.Round);
    }

    // ---- The end

    private void StartFinishing()
    {
        _trainingClock.Stop();
        _finishingClock.Restart();
        Phase = RunPhase.Finishing;
        _round = _plan.Rounds.Count;
        Array.Clear(_finals);
        StartTimeout(_round);
        foreach (var member in _members.All)
            Send(member, new Finish(_round));
    }

    private void OnFinal(TPeer from, MemberFinal final)
    {
        var index = final.Member;
        if (!IsMember(index, from))
        {
            Drop(final, from);
            return;
        }
        if (ReportChecks.FinalProblem(final, _members.LayoutFingerprint!, _testLabels.Length) is { } problem)
        {
            OnMemberLost(index, problem, recoverable: true);
            return;
        }
        if (!ReportChecks.AllFinite(final.Weights))
        {
            Fail($"member {index} diverged: its final weights are not finite", RunStatus.Diverged);
            return;
        }
        _finals[index] = final;
        if (_finals.Any(f => f is null))
            return;
        _commands.Add(new CancelTimer(RunTimer.Round));
        Phase = RunPhase.Souping;
        StartTimeout(_round);
        _commands.Add(new StartSoups<TPeer>(_finals.Select(f => f!).ToList(), _members.All.ToList()));
    }

    private void OnSoupsReady(SoupActor.SoupsReady soups)
    {
        _commands.Add(new CancelTimer(RunTimer.Round));
        _commands.Add(new StopSoups());
        if (!ReportChecks.AllFinite(soups.AverageSoup.Weights) || !ReportChecks.AllFinite(soups.GreedySoup.Weights))
        {
            Fail("a soup's weights are not finite; no soup is written", RunStatus.Diverged);
            return;
        }
        var members = _finals.Select(f => new MemberResult(f!.Member, f.TestAccuracy, f.HeldOutAccuracy, f.Weights)).ToList();
        var phases = new RunPhases(_averagingSeconds, _waitingSeconds, _finishingClock.Elapsed.TotalSeconds, _env.PeakMemoryBytes());
        var results = new RunResults(members, soups.EnsembleTestAccuracy, soups.AverageSoup, soups.GreedySoup, _samples, TrainingSeconds, phases);
        Log(LogLevel.InfoLevel, $"run complete: ensemble {results.EnsembleTestAccuracy:F4}, average soup {results.AverageSoup.TestAccuracy:F4}, greedy soup {results.GreedySoup.TestAccuracy:F4}");
        _commands.Add(new Notify(new RunCompleted(results)));
        EndRun(new RunEnded(Completed: true, $"average soup {results.AverageSoup.TestAccuracy:P2}, greedy soup {results.GreedySoup.TestAccuracy:P2}"));
    }

    private void Fail(string reason, string status = RunStatus.Failed)
    {
        Log(LogLevel.ErrorLevel, $"run {status}: {reason}");
        _commands.Add(new CancelAllTimers());
        _commands.Add(new Notify(new RunFailed(reason, status)));
        EndRun(new RunEnded(Completed: false, reason));
    }

    private void EndInterrupted(string reason)
    {
        Log(LogLevel.WarningLevel, $"run interrupted ({reason}); last checkpoint: {_budget.LastCheckpoint?.ToString() ?? "none"}");
        _commands.Add(new CancelAllTimers());
        _commands.Add(new Notify(new RunInterrupted(_budget.LastCheckpoint, reason)));
        EndRun(new RunEnded(Completed: false, $"interrupted: {reason}"));
    }

    private void EndRun(RunEnded ended)
    {
        _ended = ended;
        foreach (var member in _members.Present)
            Send(member, ended);
        Phase = RunPhase.Stopped;
    }

    // ---- Helpers

    /// <summary>An input's name in logs: the message's type for a received message.</summary>
    private static string NameOf(RunInput input) => input is Received<TPeer> r ? r.Message.GetType().Name : input.GetType().Name;

    private bool IsMember(int index, TPeer from) => _members.IsMember(index, from);

    private void StartTimeout(int round) => _commands.Add(new StartTimer(RunTimer.Round, round, _settings.RoundTimeout));

    private void Send(TPeer to, IPapaMessage message) => _commands.Add(new Send<TPeer>(to, message));

    private void Drop(object message, TPeer from) => _commands.Add(new DropStranger<TPeer>(message, from));

    private void Log(LogLevel level, string text) => _commands.Add(new Log(level, text));

    /// <summary>The indices that have not answered (or have no member).</summary>
    private static IEnumerable<int> Missing<T>(T?[] answers) where T : class =>
        answers.Select((a, i) => (a, i)).Where(x => x.a is null).Select(x => x.i);

    /// <summary>A stopwatch on the run's <see cref="TimeProvider"/>, so a test can move its time.</summary>
    private sealed class PhaseClock(TimeProvider time)
    {
        private long? _since;
        private TimeSpan _before;

        public TimeSpan Elapsed => _before + (_since is { } since ? time.GetElapsedTime(since) : TimeSpan.Zero);

        public void Start() => _since ??= time.GetTimestamp();

        public void Stop()
        {
            _before = Elapsed;
            _since = null;
        }

        public void Restart()
        {
            _before = TimeSpan.Zero;
            _since = time.GetTimestamp();
        }
    }
}

public enum RunPhase
{
    WaitingForMembers,
    Training,
    CollectingForReset,
    Interrupting,
    RollingBack,
    Finishing,
    Souping,
    Stopped,
}
