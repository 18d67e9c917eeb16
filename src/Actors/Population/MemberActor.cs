using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Data;
using PapaActors.Models.Training;

namespace PapaActors.Actors.Population;

/// <summary>
/// One population member: owns its model, optimizer and data stream on its own pinned thread (TorchSharp's
/// dispose scopes and grad mode are per thread), trains when asked, mixes, evaluates. It registers with the
/// Averager once its model is built, and reports its own failure before it stops.
/// </summary>
public sealed class MemberActor : BulkReceivingActor
{
    public const string DispatcherId = "akka.actor.papa-member-dispatcher";

    private readonly int _index;
    private readonly TrainingSettings _settings;
    private readonly DataSplits _data;
    private readonly string _device;
    private readonly IActorRef _averager;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private MemberModel? _model;

    public MemberActor(int index, TrainingSettings settings, DataSplits data, string device, IActorRef averager)
    {
        _index = index;
        _settings = settings;
        _data = data;
        _device = device;
        _averager = averager;

        Receive<MemberAccepted>(_ => _log.Info("member {0} registered with the averager", _index));
        Receive<MemberRejected>(m => throw new RegistrationRefusedException(m.Index, m.Reason));
        Receive<RunEnded>(e =>
        {
            Context.Parent.Tell(e);
            Context.Stop(Self);
        });
        Receive<Train>(OnTrain);
        Receive<Mix>(m => Model.Mix(m.Weights, m.Keep, m.RepairTargets, m.Round));
        Receive<Finish>(_ => OnFinish());
        Receive<EvaluateWeights>(OnEvaluateWeights);
        Receive<TransferFailed>(f => throw new InvalidOperationException($"a message from {f.From} was lost: {f.Reason}"));
    }

    public static Props Props(int index, TrainingSettings settings, DataSplits data, string device, IActorRef averager) =>
        Akka.Actor.Props.Create(() => new MemberActor(index, settings, data, device, averager)).WithDispatcher(DispatcherId);

    private MemberModel Model => _model ?? throw new InvalidOperationException("the member's model is not built");

    protected override void PreStart()
    {
        try
        {
            _model = new MemberModel(_index, _settings, _data, Devices.Resolve(_device));
        }
        catch (Exception e)
        {
            ReportFailure(e);
            throw;
        }
        _averager.Tell(new RegisterMember(_index, Self, _model.Layout.Fingerprint));
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            ReportFailure(e);
            throw;
        }
    }

    protected override void PostStop() => _model?.Dispose();

    private void OnTrain(Train train)
    {
        var result = Model.Train(train.Steps);
        double? heldOut = train.EvaluateHeldOut ? Model.Evaluate(DataSplit.HeldOut, keepLogits: false).Accuracy : null;
        var snapshot = train.SendSnapshot ? Model.Capture() : null;
        var statistics = train.MeasureRepairStatistics ? Model.MeasureRepairStatistics(train.Round) : null;
        Reply(new Trained(_index, train.Round, Model.Step, result.MeanLoss, Model.LearningRate, result.Samples, result.Seconds, heldOut, snapshot, statistics));
    }

    private void OnFinish()
    {
        var test = Model.Evaluate(DataSplit.Test, keepLogits: true);
        var heldOut = Model.Evaluate(DataSplit.HeldOut, keepLogits: false);
        Reply(new MemberFinal(_index, Model.Capture(), test.Accuracy, heldOut.Accuracy, test.Logits!));
    }

    private void OnEvaluateWeights(EvaluateWeights request)
    {
        var result = Model.EvaluateWeights(request.Weights, request.RecomputeBatchNorm, request.OnTest, request.ReturnWeights);
        Reply(new WeightsEvaluated(request.RequestId, result.HeldOutAccuracy, result.TestAccuracy, result.Weights));
    }

    private void Reply(object message) => BulkTransport.For(Context.System).Send(Sender, message, Self);

    private void ReportFailure(Exception e)
    {
        var cause = e is ActorInitializationException { InnerException: { } inner } ? inner : e;
        _log.Error(cause, "member {0} failed", _index);
        if (cause is not RegistrationRefusedException)
            _averager.Tell(new MemberFailed(_index, $"{cause.GetType().Name}: {cause.Message}"));
    }
}

/// <summary>The Averager refused this member (index out of range or taken, other weight layout).</summary>
public sealed class RegistrationRefusedException(int index, string reason) : Exception($"member {index} was refused by the averager: {reason}")
{
    public int Index { get; } = index;
}
