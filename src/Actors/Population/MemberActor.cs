using System.Diagnostics;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Security;
using PapaActors.Actors.Transfer;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// One population member: owns its model, optimizer and data stream on its own pinned thread (TorchSharp's
/// dispose scopes and grad mode are per thread), trains when asked, mixes, evaluates. It registers with the
/// Averager once its model is built (proving the run secret when challenged), and reports its own failure before
/// it stops. Its snapshots go to its node's <see cref="NodeReducer"/>, and its mixes come from there. It obeys only
/// the averager it registered with and the actors of its own node or the averager's (see <see cref="TrustedSenders"/>);
/// a message from anyone else is dropped.
/// </summary>
public sealed class MemberActor : BulkReceivingActor
{
    public const string DispatcherId = "akka.actor.papa-member-dispatcher";

    private readonly int _index;
    private readonly TrainingSettings _settings;
    private readonly FaultInjection _fault;
    private readonly DataSplits _data;
    private readonly string _device;
    private readonly IActorRef _averager;
    private readonly IActorRef _reducer;
    private readonly RunSecret? _secret;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    private MemberModel? _model;
    /// <summary>Runs while the member has nothing to do between two rounds' training.</summary>
    private readonly Stopwatch _idle = new();
    private double _mixSeconds;
    /// <summary>A late push (papa.push-delay-steps): the weights it is measured on, the steps trained since, and their results.</summary>
    private (WeightSnapshot MeasuredOn, int Steps, TrainResult Result)? _ahead;

    public MemberActor(int index, TrainingSettings settings, DataSplits data, string device, IActorRef averager, IActorRef reducer, FaultInjection? fault = null,
        RunSecret? secret = null)
    {
        _index = index;
        _settings = settings;
        _fault = fault ?? FaultInjection.None;
        _data = data;
        _device = device;
        _averager = averager;
        _reducer = reducer;
        _secret = secret;
        _strangers = new StrangerLog(_log);
        Ready();
    }

    public static Props Props(int index, TrainingSettings settings, DataSplits data, string device, IActorRef averager, IActorRef reducer, FaultInjection? fault = null,
        RunSecret? secret = null) =>
        Akka.Actor.Props.Create(() => new MemberActor(index, settings, data, device, averager, reducer, fault, secret)).WithDispatcher(DispatcherId);

    private void Ready()
    {
        DropStrangers();
        Receive<SecretChallenge>(OnChallenge);
        Receive<MemberAccepted>(_ => _log.Info("member {0} registered with the averager", _index));
        Receive<MemberRejected>(m => throw new RegistrationRefusedException(m.Index, m.Reason));
        Receive<RunEnded>(OnRunEnded);
        Receive<Train>(OnTrain);
        Receive<Mix>(m => _log.Debug("member {0}: dropping a mix of round {1} it did not wait for", _index, m.Round));
        Receive<CaptureState>(OnCapture);
        Receive<RestoreState>(OnRestore);
        Receive<Finish>(_ => OnFinish());
        Receive<EvaluateWeights>(OnEvaluateWeights);
        ReceiveLost();
    }

    /// <summary>
    /// After sending a snapshot: the mix comes by way of the reducer, and what the averager sent after it (the next
    /// Train, a checkpoint's CaptureState, Finish) comes straight here and may arrive first, so it waits.
    /// </summary>
    private void AwaitingMix(long attempt, int round)
    {
        DropStrangers();
        Receive<Mix>(m => m.Attempt == attempt && m.Round == round, m =>
        {
            OnMix(m);
            Become(Ready);
            Stash.UnstashAll();
        });
        Receive<Mix>(m => _log.Debug("member {0}: dropping a mix of round {1} from an abandoned attempt", _index, m.Round));
        // A reset within the round keeps waiting (and trains ahead again from the reset weights); a rollback abandons
        // the attempt and whatever was held back for it.
        Receive<RestoreState>(r => r.Attempt == attempt, r =>
        {
            OnRestore(r);
            if (_ahead is { } ahead)
                _ahead = (Model.Capture(), ahead.Steps, TrainSteps(ahead.Steps));
        });
        Receive<RestoreState>(r =>
        {
            Stash.ClearStash();
            _ahead = null;
            Become(Ready);
            OnRestore(r);
        });
        // Before the mix: the finite members' states, to reset a diverged one (a checkpoint asks for a later round).
        Receive<CaptureState>(c => c.Round == round, OnCapture);
        Receive<RunEnded>(OnRunEnded);
        ReceiveLost();
        ReceiveAny(_ => Stash.Stash());
    }

    /// <summary>Registered first in every behaviour: the network's messages count only from the run's own actors.</summary>
    private void DropStrangers() =>
        Receive<IPapaMessage>(_ => !Sender.Equals(_averager) && !TrustedSenders.MaySteer(Context.System, Sender), m => _strangers.Drop(m, Sender));

    private void ReceiveLost() =>
        Receive<TransferFailed>(f => throw new InvalidOperationException($"a message from {f.From} was lost: {f.Reason}"));

    private MemberModel Model => _model ?? throw new InvalidOperationException("the member's model is not built");

    protected override void PreStart()
    {
        try
        {
            _model = BuildModel();
        }
        catch (Exception e)
        {
            ReportFailure(e, restarting: false);
            throw;
        }
        _averager.Tell(Registration());
    }

    private RegisterMember Registration() => new(_index, Self, Model.Layout.Fingerprint, _reducer);

    private void OnChallenge(SecretChallenge challenge)
    {
        if (_secret is null)
            throw new RegistrationRefusedException(_index, "the run requires a run secret and this node has none (papa.cluster.secret-file or PAPA_CLUSTER_SECRET)");
        var registration = Registration();
        _averager.Tell(registration with { Proof = _secret.Prove(challenge.Nonce, RunSecret.Registration(registration)) });
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            // The supervisor restarts this member with a fresh model; the Averager rolls everyone back.
            ReportFailure(e, restarting: true);
            throw;
        }
    }

    protected override void PostStop()
    {
        _model?.Dispose();
        TorchRuntime.ReleaseFreedMemory();
    }

    private MemberModel BuildModel() => new(_index, _settings, _data, Devices.Resolve(_device));

    private void OnMix(Mix mix)
    {
        if (mix.Keep is not (>= 0 and <= 1)) // NaN too
            throw new InvalidOperationException($"member {_index}: the mix of round {mix.Round} has keep = {mix.Keep}, outside [0, 1]");
        _idle.Stop();
        double? before = mix.MeasureGain ? HeldOutAccuracy() : null;
        var watch = Stopwatch.StartNew();
        Model.Mix(mix.Weights, mix.Keep, mix.RepairTargets, mix.Round, _ahead?.MeasuredOn);
        _mixSeconds += watch.Elapsed.TotalSeconds;
        // To the mix's sender, the averager itself (the reducer passes it on), as the state a checkpoint asks for next:
        // in a cluster the member's own averager reference is the run's coordinator, which passes on only registrations.
        if (before is { } accuracy)
            Reply(new MixEvaluated(_index, mix.Round, mix.Attempt, accuracy, HeldOutAccuracy()));
        _idle.Start();
    }

    private double HeldOutAccuracy() => Model.Evaluate(DataSplit.HeldOut, keepLogits: false).Accuracy;

    private void OnTrain(Train train)
    {
        var (waited, mixed) = (_idle.Elapsed.TotalSeconds, _mixSeconds);
        _idle.Reset();
        _mixSeconds = 0;
        var result = TrainSteps(train.Steps);
        if (_ahead is { } ahead)
            result = ahead.Result.Then(result); // the steps trained ahead belong to this round
        _ahead = null;
        double? heldOut = train.EvaluateHeldOut ? HeldOutAccuracy() : null;
        var features = train.FeatureImages > 0 ? Model.PenultimateFeatures(train.FeatureImages) : null;
        var snapshot = train.SendSnapshot ? Model.Capture() : null;
        var statistics = train.MeasureRepairStatistics ? Model.MeasureRepairStatistics(train.Round) : null;
        var report = new Trained(_index, train.Round, Model.Step, result.MeanLoss, Model.LearningRate, result.Samples, result.Seconds, heldOut, snapshot, statistics,
            Finite: Model.IsFinite(), WaitSeconds: waited, MixSeconds: mixed, Attempt: train.Attempt, Features: features);
        _idle.Start();
        if (snapshot is null)
        {
            Reply(report);
            return;
        }
        _reducer.Tell(report);
        if (train.AheadSteps > 0)
            _ahead = (snapshot, train.AheadSteps, TrainSteps(train.AheadSteps));
        Become(() => AwaitingMix(train.Attempt, train.Round));
    }

    private TrainResult TrainSteps(int steps)
    {
        var first = Model.Step;
        InjectedFaults.ThrowIfDue(_fault, _index, first, steps);
        var result = Model.Train(steps);
        InjectedFaults.PoisonIfDue(_fault, _index, first, steps, Model);
        return result;
    }

    private void OnCapture(CaptureState capture) => Reply(new StateCaptured(capture.Round, Model.CaptureState()));

    private void OnRunEnded(RunEnded ended)
    {
        Context.Parent.Tell(ended);
        Context.Stop(Self);
    }

    /// <summary>Back to a checkpointed state, or (without one) to the initial state of a fresh member.</summary>
    private void OnRestore(RestoreState restore)
    {
        if (restore.State is { } state)
            Model.RestoreState(state);
        else
        {
            _model?.Dispose();
            _model = null;
            _model = BuildModel();
        }
        Reply(new StateRestored(_index, restore.Round));
    }

    private void OnFinish()
    {
        var test = Model.Evaluate(DataSplit.Test, keepLogits: true);
        var heldOut = Model.Evaluate(DataSplit.HeldOut, keepLogits: false);
        var statistics = _settings.Repair.Soups ? Model.MeasureRepairStatistics(MemberModel.SoupCalibration) : null;
        Reply(new MemberFinal(_index, Model.Capture(), test.Accuracy, heldOut.Accuracy, ImmutableCollectionsMarshal.AsImmutableArray(test.Logits!), statistics));
    }

    private void OnEvaluateWeights(EvaluateWeights request)
    {
        var slice = request.Test is { } test ? (test.Part, test.Parts) : ((int, int)?)null;
        var result = Model.EvaluateWeights(request.Weights, request.RecomputeBatchNorm, request.OnHeldOut, slice, request.ReturnWeights, request.RepairTargets);
        Reply(new WeightsEvaluated(request.RequestId, result.HeldOutAccuracy, result.TestCorrect, result.TestCount, result.Weights));
    }

    private void Reply(object message) => BulkTransport.For(Context.System).Send(Sender, message, Self);

    private void ReportFailure(Exception e, bool restarting)
    {
        var cause = e is ActorInitializationException { InnerException: { } inner } ? inner : e;
        _log.Error(cause, "member {0} failed", _index);
        if (cause is not RegistrationRefusedException)
            _averager.Tell(new MemberFailed(_index, $"{cause.GetType().Name}: {cause.Message}", restarting));
    }
}

/// <summary>The Averager refused this member (index out of range or taken, other weight layout).</summary>
public sealed class RegistrationRefusedException(int index, string reason) : Exception($"member {index} was refused by the averager: {reason}")
{
    public int Index { get; } = index;
}
