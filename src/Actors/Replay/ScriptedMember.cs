using System.Runtime.InteropServices;
using Akka.Actor;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Replay;

/// <summary>
/// A member without a model: it registers, answers Train at once (snapshots are <see cref="TracerWeights"/>),
/// answers Finish and soup evaluations with fixed figures, and reports every Mix it receives to an observer.
/// Lets the real Averager run a whole schedule in milliseconds.
/// </summary>
public sealed class ScriptedMember : ReceiveActor
{
    public ScriptedMember(int index, int population, int testSamples, IActorRef averager, IActorRef reducer, IActorRef observer)
    {
        Receive<MemberAccepted>(_ => { });
        Receive<MemberRejected>(r => throw new InvalidOperationException($"scripted member {index} refused: {r.Reason}"));
        // A snapshot goes to the node's reducer, as a real member's does.
        Receive<Train>(t => (t.SendSnapshot ? reducer : Sender).Tell(new Trained(index, t.Round, 0, 0, 0, t.Steps, 0,
            t.EvaluateHeldOut ? 0.5 : null, t.SendSnapshot ? TracerWeights.For(index, population) : null,
            t.MeasureRepairStatistics ? TracerWeights.Statistics(index, population) : null, Attempt: t.Attempt)));
        Receive<Mix>(m => observer.Tell(new MixReceived(index, m)));
        Receive<CaptureState>(c => Sender.Tell(new StateCaptured(c.Round, TracerWeights.State(index, population))));
        Receive<RestoreState>(r => Sender.Tell(new StateRestored(index, r.Round)));
        // With statistics, so a run with repair-soup replays too.
        Receive<Finish>(_ => Sender.Tell(new MemberFinal(index, TracerWeights.For(index, population), 0.5, 0.5, ImmutableCollectionsMarshal.AsImmutableArray(new float[testSamples * 2]),
            TracerWeights.Statistics(index, population))));
        Receive<EvaluateWeights>(e => Sender.Tell(new WeightsEvaluated(e.RequestId, e.OnHeldOut ? 0.5 : null, e.Test is null ? 0 : 1, e.Test is null ? 0 : 2,
            e.ReturnWeights ? e.Weights : null)));
        averager.Tell(new RegisterMember(index, Self, TracerWeights.Layout(population).Fingerprint, reducer));
    }

    public static Props Props(int index, int population, int testSamples, IActorRef averager, IActorRef reducer, IActorRef observer) =>
        Akka.Actor.Props.Create(() => new ScriptedMember(index, population, testSamples, averager, reducer, observer));
}

/// <summary>A Mix as one scripted member received it.</summary>
public sealed record MixReceived(int Member, Mix Mix) : INoSerializationVerificationNeeded;
