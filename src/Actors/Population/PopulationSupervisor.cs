using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Population;

/// <summary>
/// A whole population in one ActorSystem: the Averager and one MemberActor per member (devices assigned
/// round-robin). Members never restart: a restarted member would lose its weights and break determinism,
/// so a failing member is stopped (after reporting why to the Averager, which ends the run).
/// </summary>
public sealed class PopulationSupervisor : ReceiveActor
{
    public PopulationSupervisor(PapaSettings settings, DataSplits data, IActorRef listener)
    {
        var plan = SchedulePlan.For(settings, Models.Data.MemberBatches.StepsIn(data.Train.Count, settings.Training.BatchSize));
        var averager = Context.ActorOf(AveragerActor.Props(settings, plan, data.Test.LabelArray(), listener), "averager");
        for (var i = 0; i < settings.Population; i++)
        {
            var device = settings.Devices[i % settings.Devices.Count];
            Context.ActorOf(MemberActor.Props(i, settings.Training, data, device, averager), $"member-{i}");
        }
        Receive<Messages.RunEnded>(_ => { }); // members pass it up as they stop; the host ends the local run

    }

    public static Props Props(PapaSettings settings, DataSplits data, IActorRef listener) =>
        Akka.Actor.Props.Create(() => new PopulationSupervisor(settings, data, listener));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
