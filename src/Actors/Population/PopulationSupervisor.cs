using Akka.Actor;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Population;

/// <summary>
/// A whole population in one ActorSystem: the Averager, one MemberActor per member (devices assigned
/// round-robin) and the <see cref="NodeReducer"/> they share (so a local run mixes exactly as a cluster does),
/// supervised by <see cref="MemberSupervision"/> as on member nodes. It watches the Averager: should the
/// Averager ever stop, the listener hears it as a failed run instead of waiting forever. It passes an
/// <see cref="Interrupt"/> on to the Averager.
/// </summary>
public sealed class PopulationSupervisor : ReceiveActor
{
    private string? _stopCause;

    public PopulationSupervisor(PapaSettings settings, SchedulePlan plan, DataSplits data, IActorRef listener, Checkpoint? resumeFrom)
    {
        var averager = Context.ActorOf(AveragerActor.Props(settings, plan, data.Test.LabelArray(), listener, resumeFrom), "averager");
        Context.Watch(averager);
        var reducer = Context.ActorOf(NodeReducer.Props(), "reducer");
        for (var i = 0; i < settings.Population; i++)
        {
            var device = settings.Devices[i % settings.Devices.Count];
            try
            {
                Context.ActorOf(MemberActor.Props(i, settings.Training, data, device, averager, reducer, settings.Faults.Injection), $"member-{i}");
            }
            catch (Exception e)
            {
                // e.g. OutOfMemoryException starting the member's thread: thrown out of this constructor, it would only
                // be logged, and nothing would end the run.
                listener.Tell(new RunFailed($"the population could not be created: member {i} of {settings.Population} did not start ({e.GetType().Name}: {e.Message})"));
                break;
            }
        }
        Receive<RunEnded>(_ => { }); // members pass it up as they stop; the host ends the local run
        Receive<Interrupt>(averager.Forward);
        Receive<Terminated>(t => t.ActorRef.Equals(averager), _ => listener.Tell(new RunFailed($"the averager stopped: {_stopCause ?? "unknown cause"}")));
    }

    public static Props Props(PapaSettings settings, SchedulePlan plan, DataSplits data, IActorRef listener, Checkpoint? resumeFrom = null) =>
        Akka.Actor.Props.Create(() => new PopulationSupervisor(settings, plan, data, listener, resumeFrom));

    protected override SupervisorStrategy SupervisorStrategy() =>
        MemberSupervision.Strategy(cause => _stopCause = cause);
}
